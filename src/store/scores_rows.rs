//! Scores ↔ the columns both stores keep them in (`scores`, migration 7).

use crate::reads::scores::{ScoreRecord, ScoreType};

/// A stored row, in `sql::scores` column order.
pub type ScoreColumns = (
    String,
    i64,
    String,
    String,
    String,
    String,
    String,
    f64,
    String,
    String,
    String,
    String,
    String,
);

pub fn from_columns(columns: ScoreColumns) -> ScoreRecord {
    let (
        id,
        time_ns,
        app,
        operation_id,
        span_id,
        name,
        data_type,
        value,
        category,
        comment,
        source,
        model,
        prompt_version,
    ) = columns;
    ScoreRecord {
        id,
        time_ns,
        app,
        operation_id,
        span_id,
        name,
        // Only this module writes the column.
        data_type: ScoreType::parse(&data_type).unwrap_or(ScoreType::Numeric),
        value,
        category,
        comment,
        source,
        model,
        prompt_version,
    }
}
