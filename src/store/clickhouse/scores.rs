//! Scores in ClickHouse (`scores`, migration 7).

use clickhouse::Row;
use serde::Deserialize;

use super::{ClickHouseStore, ch_error, query};
use crate::reads::scores::{ScoreQuery, ScoreRecord};
use crate::store::StoreError;
use crate::store::scores_rows::from_columns;

pub async fn save(store: &ClickHouseStore, scores: &[ScoreRecord]) -> Result<(), StoreError> {
    if scores.is_empty() {
        return Ok(());
    }
    let placeholders = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; scores.len()].join(", ");
    let mut insert = store.client.query(&format!(
        "INSERT INTO `{}`.`scores` (time_ns, appName, id, operation_Id, span_id, name, \
         data_type, value, category, comment, source) VALUES {placeholders}",
        store.database
    ));
    for s in scores {
        insert = insert
            .bind(s.time_ns)
            .bind(s.app.as_str())
            .bind(s.id.as_str())
            .bind(s.operation_id.as_str())
            .bind(s.span_id.as_str())
            .bind(s.name.as_str())
            .bind(s.data_type.as_str())
            .bind(s.value)
            .bind(s.category.as_str())
            .bind(s.comment.as_str())
            .bind(s.source.as_str());
    }
    insert.execute().await.map_err(ch_error)
}

#[derive(Debug, Row, Deserialize)]
struct ScoreRow {
    id: String,
    time_ns: i64,
    app: String,
    operation_id: String,
    span_id: String,
    name: String,
    data_type: String,
    value: f64,
    category: String,
    comment: String,
    source: String,
    model: String,
    prompt_version: String,
}

pub async fn read(
    store: &ClickHouseStore,
    scores: &ScoreQuery,
) -> Result<Vec<ScoreRecord>, StoreError> {
    let statement = crate::store::sql::scores(scores, crate::store::sql::Dialect::ClickHouse);
    // One operation's scores and calls are on its shard.
    let statement = match &scores.operation {
        Some((_, operation_id)) => query::statement_over(store, &statement, |table| {
            store.operation_source(table, operation_id)
        }),
        None => query::statement(store, &statement),
    };
    let rows: Vec<ScoreRow> = statement
        .fetch_all()
        .await
        .map_err(|e| store.read_error(e))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            from_columns((
                r.id,
                r.time_ns,
                r.app,
                r.operation_id,
                r.span_id,
                r.name,
                r.data_type,
                r.value,
                r.category,
                r.comment,
                r.source,
                r.model,
                r.prompt_version,
            ))
        })
        .collect())
}
