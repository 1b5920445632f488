//! Runs a planned tabular statement (KQL) on ClickHouse. Its columns vary by query, so rows
//! come back as `JSONCompact` (available on every version from 18.16) rather than RowBinary.

use super::ClickHouseStore;
use super::query::bind_all;
use crate::reads::tabular::{Cell, TabularStatement};
use crate::store::StoreError;
use crate::store::sql;

/// Most bytes of JSON one tabular read may return (well above the answer's own limit).
const MAX_RESULT_BYTES: u64 = 256 << 20;

pub async fn run(
    store: &ClickHouseStore,
    statement: &TabularStatement,
) -> Result<Vec<Vec<Cell>>, StoreError> {
    let statement_sql = sql::qualify(&statement.sql, |table| {
        format!("`{}`.`{table}`", store.database)
    });
    let query = bind_all(store.reader().query(&statement_sql), &statement.params)
        .with_setting("output_format_json_quote_64bit_integers", "0")
        .with_setting("output_format_json_quote_denormals", "1")
        // The answer is read whole before it is cut to its row and byte limits: bound it.
        .with_setting("max_result_bytes", MAX_RESULT_BYTES.to_string())
        .with_setting("result_overflow_mode", "throw");
    let bytes = query
        .fetch_bytes("JSONCompact")
        .map_err(|e| store.read_error(e))?
        .collect()
        .await
        .map_err(|e| store.read_error(e))?;
    let mut body: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        StoreError::Internal(format!(
            "clickhouse answered a tabular read with bad JSON: {e}"
        ))
    })?;
    let serde_json::Value::Array(rows) = body["data"].take() else {
        return Err(StoreError::Internal(
            "clickhouse answered a tabular read without data".into(),
        ));
    };
    Ok(rows
        .into_iter()
        .map(|row| {
            let serde_json::Value::Array(values) = row else {
                return Vec::new();
            };
            values
                .into_iter()
                .zip(&statement.shapes)
                .map(|(value, shape)| Cell::from_json(value, *shape))
                .collect()
        })
        .collect())
}
