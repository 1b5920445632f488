//! Rolls up the spans a database held before it had rollups, inside the migration that adds
//! them: the spans are read back a slice at a time and rolled up as a written batch would be,
//! so every span is counted once.

use std::sync::Arc;

use rusqlite::Transaction;

use super::rollups;
use super::sqlite_error;
use crate::model::{Batch, Common, Dependency, GenAi, Item, Request, Resource};
use crate::store::StoreError;
use crate::store::rollup::rollups_of;

/// Spans rolled up together: bounds the memory a large database's migration takes.
const SLICE: usize = 50_000;

const COMMON: &str = "timestamp_ns, appName, cloud_RoleName, operation_Id, operation_Name, \
     itemCount, name, resultCode, success, duration_ms";

fn common(row: &rusqlite::Row<'_>) -> rusqlite::Result<Common> {
    Ok(Common {
        timestamp_ns: row.get(0)?,
        app_name: Arc::from(row.get::<_, String>(1)?),
        resource: Arc::new(Resource {
            cloud_role_name: row.get(2)?,
            ..Resource::default()
        }),
        operation_id: row.get(3)?,
        operation_name: row.get(4)?,
        item_count: row.get(5)?,
        ..Common::default()
    })
}

fn flush(transaction: &Transaction<'_>, batch: &mut Batch) -> Result<(), StoreError> {
    rollups::insert(transaction, &rollups_of(batch))?;
    *batch = Batch::default();
    Ok(())
}

pub fn roll_up_stored_spans(transaction: &Transaction<'_>) -> Result<(), StoreError> {
    let mut batch = Batch::default();
    let mut statement = transaction
        .prepare(&format!("SELECT {COMMON} FROM requests"))
        .map_err(sqlite_error)?;
    let mut rows = statement.query([]).map_err(sqlite_error)?;
    while let Some(row) = rows.next().map_err(sqlite_error)? {
        let item = (|| -> rusqlite::Result<Item<Request>> {
            Ok(Item {
                common: common(row)?,
                data: Request {
                    name: row.get(6)?,
                    result_code: row.get(7)?,
                    success: row.get(8)?,
                    duration_ms: row.get::<_, Option<f64>>(9)?.unwrap_or(f64::NAN),
                    ..Request::default()
                },
            })
        })()
        .map_err(sqlite_error)?;
        batch.requests.push(item);
        if batch.requests.len() >= SLICE {
            flush(transaction, &mut batch)?;
        }
    }
    let mut statement = transaction
        .prepare(&format!(
            "SELECT {COMMON}, type, target, genai_provider, genai_operation, \
                    genai_requestModel, genai_responseModel, genai_inputTokens, \
                    genai_outputTokens FROM dependencies"
        ))
        .map_err(sqlite_error)?;
    let mut rows = statement.query([]).map_err(sqlite_error)?;
    while let Some(row) = rows.next().map_err(sqlite_error)? {
        let item = (|| -> rusqlite::Result<Item<Dependency>> {
            let genai = GenAi {
                provider: row.get(12)?,
                operation: row.get(13)?,
                request_model: row.get(14)?,
                response_model: row.get(15)?,
                input_tokens: u64::try_from(row.get::<_, i64>(16)?).unwrap_or(0),
                output_tokens: u64::try_from(row.get::<_, i64>(17)?).unwrap_or(0),
                ..GenAi::default()
            };
            Ok(Item {
                common: common(row)?,
                data: Dependency {
                    name: row.get(6)?,
                    result_code: row.get(7)?,
                    success: row.get(8)?,
                    duration_ms: row.get::<_, Option<f64>>(9)?.unwrap_or(f64::NAN),
                    dependency_type: row.get(10)?,
                    target: row.get(11)?,
                    genai: if genai == GenAi::default() {
                        Default::default()
                    } else {
                        genai.into()
                    },
                    ..Dependency::default()
                },
            })
        })()
        .map_err(sqlite_error)?;
        batch.dependencies.push(item);
        if batch.dependencies.len() >= SLICE {
            flush(transaction, &mut batch)?;
        }
    }
    flush(transaction, &mut batch)
}
