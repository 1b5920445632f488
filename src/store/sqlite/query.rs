//! The aggregate and search reads on SQLite. SQLite has no percentile functions, so rows are
//! read narrowed by the shared conditions and aggregated in Rust with the same definitions
//! ClickHouse uses.

use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

use super::sqlite_error;
use crate::reads::histogram::DurationHistogram;
use crate::reads::stats::{self, Observation};
use crate::reads::throttled::throttled_calls;
use crate::reads::throttling::GenAiThrottling;
use crate::reads::{
    CallEdge, CallRecord, Column, FailedCallsQuery, SampleQuery, SampleRecord, ScopedRange,
    SearchHit, SearchQuery, Selection, StatsQuery, StatsRow,
};
use crate::store::sql::{self, Condition, Dialect, Param};
use crate::store::{StoreError, rollup};

pub(super) fn values(params: &[Param]) -> Vec<Value> {
    params
        .iter()
        .map(|p| match p {
            Param::Text(text) => Value::Text(text.clone()),
            Param::Int(n) => Value::Integer(*n),
            Param::Real(x) => Value::Real(*x),
        })
        .collect()
}

pub fn stats(
    connection: &Connection,
    query: &StatsQuery,
    limit: usize,
) -> Result<Vec<StatsRow>, StoreError> {
    if let Some(plan) = rollup::plan(query) {
        return super::rollups::stats(connection, query, &plan, limit);
    }
    let mut groups = stats::ExactGroups::default();
    read_observations(connection, query, &mut |o| groups.add(o))?;
    Ok(groups.finish(query.bucket_s.is_some(), limit))
}

/// Streams the selection's spans to `sink` as observations of the query's groups and buckets.
pub(super) fn read_observations(
    connection: &Connection,
    query: &StatsQuery,
    sink: &mut dyn FnMut(Observation),
) -> Result<(), StoreError> {
    let source = query.selection.source;
    let measures = sql::measures(source, Dialect::Sqlite);
    let groups: Vec<String> = query
        .group_by
        .iter()
        .map(|&c| sql::group_expression(c, Dialect::Sqlite))
        .collect();
    let condition = sql::selection_condition(&query.selection, Dialect::Sqlite);
    let statement_sql = format!(
        "SELECT timestamp_ns, operation_Id, {duration}, itemCount, {success}, {throttled}, \
                {input}, {output}{comma}{groups} \
         FROM \"{table}\" WHERE {condition}",
        duration = measures.duration,
        success = measures.success,
        throttled = measures.throttled,
        input = measures.input_tokens,
        output = measures.output_tokens,
        comma = if groups.is_empty() { "" } else { ", " },
        groups = groups.join(", "),
        table = source.table(),
        condition = condition.sql,
    );
    let bucket_ns = query.bucket_s.map(|s| i64::from(s.max(1)) * 1_000_000_000);
    let mut statement = connection.prepare(&statement_sql).map_err(sqlite_error)?;
    let group_count = groups.len();
    let rows = statement
        .query_map(params_from_iter(values(&condition.params)), |row| {
            let timestamp_ns: i64 = row.get(0)?;
            let mut group = Vec::with_capacity(group_count);
            for i in 0..group_count {
                group.push(row.get::<_, Option<String>>(8 + i)?.unwrap_or_default());
            }
            Ok(Observation {
                group,
                bucket_ns: bucket_ns.map(|b| timestamp_ns.div_euclid(b) * b),
                timestamp_ns,
                operation_id: row.get(1)?,
                duration_ms: row.get::<_, Option<f64>>(2)?.unwrap_or(f64::NAN),
                item_count: row.get(3)?,
                success: row.get(4)?,
                result_code_429: row.get(5)?,
                input_tokens: u64::try_from(row.get::<_, i64>(6)?).unwrap_or(0),
                output_tokens: u64::try_from(row.get::<_, i64>(7)?).unwrap_or(0),
            })
        })
        .map_err(sqlite_error)?;
    for row in rows {
        sink(row.map_err(sqlite_error)?);
    }
    Ok(())
}

pub fn samples(
    connection: &Connection,
    query: &SampleQuery,
) -> Result<Vec<SampleRecord>, StoreError> {
    fetch(connection, sql::samples(query, Dialect::Sqlite), |row| {
        Ok(SampleRecord {
            timestamp_ns: row.get(0)?,
            id: row.get(1)?,
            operation_id: row.get(2)?,
            name: row.get(3)?,
            target: row.get(4)?,
            result_code: row.get(5)?,
            success: row.get(6)?,
            duration_ms: row.get::<_, Option<f64>>(7)?.unwrap_or(f64::NAN),
            role: row.get(8)?,
        })
    })
}

pub fn search(connection: &Connection, query: &SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
    let mut hits = Vec::new();
    for (exceptions, wanted) in [(false, query.kinds.traces), (true, query.kinds.exceptions)] {
        if !wanted {
            continue;
        }
        let statement = sql::search(query, exceptions, Dialect::Sqlite);
        hits.extend(fetch(connection, statement, |row| {
            Ok(SearchHit {
                kind: if exceptions { "exception" } else { "trace" },
                timestamp_ns: row.get(0)?,
                item_id: row.get(1)?,
                operation_id: row.get(2)?,
                parent_id: row.get(3)?,
                severity_level: row.get(4)?,
                role: row.get(5)?,
                message: row.get(6)?,
                exception_type: row.get(7)?,
                problem_id: row.get(8)?,
            })
        })?);
    }
    Ok(crate::reads::merge_search_hits(hits, query.limit))
}

/// Prepares a statement from [`sql`], its `{table}` placeholders named as SQLite names them.
pub(super) fn prepare<'c>(
    connection: &'c Connection,
    statement_sql: &str,
) -> Result<rusqlite::Statement<'c>, StoreError> {
    let qualified = sql::qualify(statement_sql, |table| format!("\"{table}\""));
    connection.prepare(&qualified).map_err(sqlite_error)
}

/// Runs a statement from [`sql`] and maps its rows.
pub(super) fn fetch<T>(
    connection: &Connection,
    statement: Condition,
    map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut prepared = prepare(connection, &statement.sql)?;
    let rows = prepared
        .query_map(params_from_iter(values(&statement.params)), map)
        .map_err(sqlite_error)?;
    rows.collect::<Result<_, _>>().map_err(sqlite_error)
}

pub fn latest_keys(
    connection: &Connection,
    selection: &Selection,
    key: Column,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let statement = sql::latest_keys(selection, key, limit, Dialect::Sqlite);
    let mut prepared = prepare(connection, &statement.sql)?;
    let mut rows = prepared
        .query(params_from_iter(values(&statement.params)))
        .map_err(sqlite_error)?;
    // Newest rows first: stop at the `limit`-th distinct value.
    let mut keys: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    while keys.len() < limit
        && let Some(row) = rows.next().map_err(sqlite_error)?
    {
        let value: String = row.get(0).map_err(sqlite_error)?;
        if seen.insert(value.clone()) {
            keys.push(value);
        }
    }
    Ok(keys)
}

pub fn call_edges(
    connection: &Connection,
    window: &ScopedRange,
) -> Result<Vec<CallEdge>, StoreError> {
    fetch(
        connection,
        sql::call_edges(window, Dialect::Sqlite),
        |row| {
            Ok(CallEdge {
                caller_role: row.get(0)?,
                target: row.get(1)?,
                callee_role: row.get(2)?,
            })
        },
    )
}

/// A window's throttling: from the stored throttled calls when they answer it, otherwise from
/// the spans of the throttled operations, paired here.
pub fn genai_throttling(
    connection: &Connection,
    window: &ScopedRange,
) -> Result<GenAiThrottling, StoreError> {
    if super::throttling::answers(window) {
        return super::throttling::read(connection, window);
    }
    let spans = fetch(
        connection,
        sql::genai_throttling(window, Dialect::Sqlite),
        super::throttling::throttling_span,
    )?;
    Ok(GenAiThrottling::of_calls(&throttled_calls(
        &spans,
        sql::MAX_THROTTLED_CALLS,
    )))
}

pub fn duration_histogram(
    connection: &Connection,
    selection: &Selection,
) -> Result<DurationHistogram, StoreError> {
    let from_spans = |selection: &Selection| {
        fetch(
            connection,
            sql::duration_histogram(selection, Dialect::Sqlite),
            |row| {
                let items: i64 = row.get(1)?;
                Ok((row.get::<_, i64>(0)?, u64::try_from(items).unwrap_or(0)))
            },
        )
    };
    // The rollups' fine buckets add up to the display buckets exactly.
    let Some(plan) = rollup::plan_selection(selection) else {
        return Ok(DurationHistogram::from_buckets(from_spans(selection)?));
    };
    let mut buckets = super::rollups::display_buckets(connection, selection, &plan)?;
    for edge in &plan.edges {
        buckets.extend(from_spans(&Selection {
            range: *edge,
            ..selection.clone()
        })?);
    }
    Ok(DurationHistogram::from_buckets(buckets))
}

pub fn failed_calls(
    connection: &Connection,
    query: &FailedCallsQuery,
) -> Result<Vec<CallRecord>, StoreError> {
    if query.operation_ids.is_empty() {
        return Ok(Vec::new());
    }
    fetch(
        connection,
        sql::failed_calls(query, Dialect::Sqlite),
        |row| {
            Ok(CallRecord {
                app: row.get(0)?,
                operation_id: row.get(1)?,
                parent_id: row.get(2)?,
                id: row.get(3)?,
                target: row.get(4)?,
                result_code: row.get(5)?,
                success: row.get(6)?,
                timestamp_ns: row.get(7)?,
                duration_ms: row.get::<_, Option<f64>>(8)?.unwrap_or(0.0),
            })
        },
    )
}
