//! Breakdowns of a selection the aggregate rows do not give: its durations bucketed for a
//! histogram, and the failed (and retried) calls inside a page of operations.

use super::{Condition, Dialect, Param, selection_condition};
use crate::reads::{FailedCallsQuery, Selection, Source, histogram};

/// The histogram bucket of `column`, as SQL both stores evaluate alike: a binary search over the
/// bounds written as nested `CASE`s (neither SQLite's build nor every ClickHouse version offers
/// the same logarithm), so each row costs a handful of comparisons.
pub fn bucket_expression(column: &str) -> String {
    fn search(column: &str, bounds: &[f64], offset: usize) -> String {
        if bounds.is_empty() {
            return offset.to_string();
        }
        let middle = bounds.len() / 2;
        format!(
            "CASE WHEN {column} < {} THEN {} ELSE {} END",
            bounds[middle],
            search(column, &bounds[..middle], offset),
            search(column, &bounds[middle + 1..], offset + middle + 1)
        )
    }
    // A missing duration falls in the first bucket, as `histogram::bucket_of` puts NaN.
    format!(
        "CASE WHEN {column} IS NULL THEN 0 ELSE {} END",
        search(column, &histogram::bounds(), 0)
    )
}

/// `(bucket, items)` of the selection's durations, for [`histogram::DurationHistogram`].
pub fn duration_histogram(selection: &Selection, dialect: Dialect) -> Condition {
    let mut condition = selection_condition(selection, dialect);
    let bucket = bucket_expression("duration_ms");
    let (bucket, items) = match dialect {
        Dialect::ClickHouse => (format!("toInt64({bucket})"), "toUInt64(sum(itemCount))"),
        Dialect::Sqlite => (bucket, "SUM(itemCount)"),
    };
    condition.sql = format!(
        "SELECT {bucket} AS bucket, {items} AS items FROM {{{}}} WHERE {} GROUP BY bucket",
        selection.source.table(),
        condition.sql
    );
    condition
}

/// The failed dependency calls of the query's operations and the calls sharing a parent with a
/// throttled one, as [`crate::reads::CallRecord`] columns. Resent copies are one row. The
/// caller asks only with at least one operation. Parents are matched by span id alone (a set
/// of one column is far cheaper than one of tuples); the rows stay within the operations.
pub fn failed_calls(query: &FailedCallsQuery, dialect: Dialect) -> Condition {
    let window = selection_condition(
        &Selection {
            source: Source::Dependencies,
            range: query.window.range,
            scope: query.window.scope.clone(),
            filters: query.window.filters.clone(),
        },
        dialect,
    );
    let placeholders = vec!["?"; query.operation_ids.len()].join(", ");
    let ids = || query.operation_ids.iter().map(|id| Param::Text(id.clone()));
    let success = match dialect {
        Dialect::ClickHouse => "toUInt8(success)",
        Dialect::Sqlite => "success",
    };
    let sql = format!(
        "SELECT DISTINCT appName, operation_Id, operation_ParentId, id, target, resultCode, \
                {success}, timestamp_ns, duration_ms \
         FROM {{dependencies}} \
         WHERE {cond} AND operation_Id IN ({placeholders}) \
           AND (success = 0 OR operation_ParentId IN \
                (SELECT operation_ParentId FROM {{dependencies}} \
                 WHERE {cond} AND operation_Id IN ({placeholders}) AND resultCode = '429'))",
        cond = window.sql,
    );
    let mut params: Vec<Param> = window.params.clone();
    params.extend(ids());
    params.extend(window.params);
    params.extend(ids());
    Condition { sql, params }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reads::histogram::{bounds, bucket_of};
    use proptest::prelude::*;

    /// The SQL bucket, as SQLite computes it, of a duration.
    fn sqlite_bucket(connection: &rusqlite::Connection, ms: f64) -> usize {
        let sql = format!("SELECT {}", bucket_expression("?1"));
        let bucket: i64 = connection
            .query_row(&sql, [ms], |row| row.get(0))
            .expect("evaluates");
        usize::try_from(bucket).expect("non-negative")
    }

    #[test]
    fn every_bound_starts_its_bucket_in_sql() {
        let connection = rusqlite::Connection::open_in_memory().expect("opens");
        for (i, bound) in bounds().into_iter().enumerate() {
            assert_eq!(sqlite_bucket(&connection, bound), i + 1, "bound {bound}");
        }
        assert_eq!(sqlite_bucket(&connection, 0.0), 0);
    }

    proptest! {
        #[test]
        fn sql_buckets_agree_with_rust(ms in prop_oneof![0.0f64..10.0, 0.0f64..2e6]) {
            let connection = rusqlite::Connection::open_in_memory().expect("opens");
            prop_assert_eq!(sqlite_bucket(&connection, ms), bucket_of(ms, &bounds()));
        }
    }
}
