//! The values of a column whose rows are newest (the latest sessions or users), so a page of
//! them reads those values' rows only instead of grouping every row of the range.

use super::{Condition, Dialect, limit_param, selection_condition};
use crate::reads::{Column, Filter, Selection};

/// The distinct non-empty values of `key` in the selection, the one with the newest row
/// first (ties by value). ClickHouse groups and answers at most `limit` values; SQLite's
/// statement lists the rows newest first for the caller to stop reading after `limit`
/// distinct values (with the partial indexes of the key, a few rows whatever the range).
/// `{table}` stands for the table.
pub fn latest_keys(
    selection: &Selection,
    key: Column,
    limit: usize,
    dialect: Dialect,
) -> Condition {
    let mut selection = selection.clone();
    if !selection.filters.contains(&Filter::NotEmpty(key)) {
        selection.filters.push(Filter::NotEmpty(key));
    }
    let mut condition = selection_condition(&selection, dialect);
    let key = key.sql();
    let table = selection.source.table();
    condition.sql = match dialect {
        Dialect::ClickHouse => {
            condition.params.push(limit_param(limit));
            format!(
                "SELECT {key} FROM {{{table}}} WHERE {} GROUP BY {key} \
                 ORDER BY max(timestamp_ns) DESC, {key} LIMIT ?",
                condition.sql
            )
        }
        Dialect::Sqlite => format!(
            "SELECT {key} FROM {{{table}}} WHERE {} ORDER BY timestamp_ns DESC, {key}",
            condition.sql
        ),
    };
    condition
}
