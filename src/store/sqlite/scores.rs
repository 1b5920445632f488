//! Scores in SQLite (`scores`, migration 7).

use rusqlite::{Connection, TransactionBehavior, params};

use super::{query, sqlite_error};
use crate::reads::scores::ScoreRecord;
use crate::store::StoreError;
use crate::store::scores_rows::from_columns;
use crate::store::sql::Condition;

pub fn save(connection: &mut Connection, scores: &[ScoreRecord]) -> Result<(), StoreError> {
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite_error)?;
    {
        let mut statement = transaction
            .prepare_cached(
                "INSERT INTO scores (time_ns, appName, id, operation_Id, span_id, name, \
                 data_type, value, category, comment, source) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .map_err(sqlite_error)?;
        for s in scores {
            statement
                .execute(params![
                    s.time_ns,
                    s.app,
                    s.id,
                    s.operation_id,
                    s.span_id,
                    s.name,
                    s.data_type.as_str(),
                    s.value,
                    s.category,
                    s.comment,
                    s.source
                ])
                .map_err(sqlite_error)?;
        }
    }
    transaction.commit().map_err(sqlite_error)
}

pub fn read(connection: &Connection, statement: Condition) -> Result<Vec<ScoreRecord>, StoreError> {
    query::fetch(connection, statement, |row| {
        Ok(from_columns((
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
            row.get(5)?,
            row.get(6)?,
            row.get(7)?,
            row.get(8)?,
            row.get(9)?,
            row.get(10)?,
            row.get(11)?,
            row.get(12)?,
        )))
    })
}
