//! The per-minute rollups on SQLite: added in each batch's transaction into one row per minute
//! and combination, read back and added up in Rust.

use rusqlite::{Connection, Transaction, params, params_from_iter};

use super::query::{read_observations, values};
use super::sqlite_error;
use crate::reads::binned::Partial;
use crate::reads::stats::BinnedGroups;
use crate::reads::{Selection, StatsQuery, StatsRow};
use crate::store::StoreError;
use crate::store::rollup::{self, RollupKey, RollupPlan};
use crate::store::sql::{self, Dialect};

const INSERT: &str = "INSERT INTO span_rollups (timestamp_ns, source, appName, cloud_RoleName, \
     name, operation_Name, resultCode, type, target, genai_provider, genai_operation, \
     genai_requestModel, genai_responseModel, success, items, failed, duration_sum_ms, \
     duration_min_ms, duration_max_ms, input_tokens, output_tokens, throttled, throttled_ms, \
     latest_ns, latest_operation_Id, buckets) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
     ON CONFLICT (source, timestamp_ns, appName, cloud_RoleName, name, operation_Name, \
                  resultCode, type, target, genai_provider, genai_operation, genai_requestModel, \
                  genai_responseModel, success) DO UPDATE SET \
       items = items + excluded.items, failed = failed + excluded.failed, \
       duration_sum_ms = duration_sum_ms + excluded.duration_sum_ms, \
       duration_min_ms = min(coalesce(duration_min_ms, excluded.duration_min_ms), \
                             coalesce(excluded.duration_min_ms, duration_min_ms)), \
       duration_max_ms = max(coalesce(duration_max_ms, excluded.duration_max_ms), \
                             coalesce(excluded.duration_max_ms, duration_max_ms)), \
       input_tokens = input_tokens + excluded.input_tokens, \
       output_tokens = output_tokens + excluded.output_tokens, \
       throttled = throttled + excluded.throttled, \
       throttled_ms = throttled_ms + excluded.throttled_ms, \
       latest_operation_Id = CASE WHEN (excluded.latest_ns, excluded.latest_operation_Id) \
         > (latest_ns, latest_operation_Id) THEN excluded.latest_operation_Id \
         ELSE latest_operation_Id END, \
       latest_ns = max(latest_ns, excluded.latest_ns), \
       buckets = rollup_buckets_merge(buckets, excluded.buckets)";

fn stored(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// Adds a batch's rollup rows into the stored ones (inside the batch's transaction: both land
/// or neither).
pub fn insert(
    transaction: &Transaction<'_>,
    rows: &[(RollupKey<'_>, Partial)],
) -> Result<(), StoreError> {
    let mut statement = transaction.prepare_cached(INSERT).map_err(sqlite_error)?;
    for (key, partial) in rows {
        let t = &key.text;
        let (latest_ns, latest_operation) = partial.latest.clone().unwrap_or_default();
        statement
            .execute(params![
                key.minute_ns,
                key.source.table(),
                t[0],
                t[1],
                t[2],
                t[3],
                t[4],
                t[5],
                t[6],
                t[7],
                t[8],
                t[9],
                t[10],
                key.success,
                stored(partial.count),
                stored(partial.failed),
                partial.duration_sum_ms,
                partial.duration_min_ms,
                partial.duration_max_ms,
                stored(partial.input_tokens),
                stored(partial.output_tokens),
                stored(partial.throttled),
                partial.throttled_ms,
                latest_ns,
                latest_operation,
                partial.encode_buckets(),
            ])
            .map_err(sqlite_error)?;
    }
    Ok(())
}

/// Reads the rollup rows of the plan's minutes: the partial (its fine buckets only when
/// `with_buckets`: decoding them is most of the read), its minute and `extra` columns.
fn read_partials(
    connection: &Connection,
    selection: &Selection,
    plan: &RollupPlan,
    with_buckets: bool,
    extra: &[String],
    sink: &mut dyn FnMut(Partial, i64, Vec<String>),
) -> Result<(), StoreError> {
    let condition = sql::rollup_minutes(selection, plan, Dialect::Sqlite);
    let statement_sql = format!(
        "SELECT items, failed, duration_sum_ms, duration_min_ms, duration_max_ms, input_tokens, \
                output_tokens, throttled, throttled_ms, latest_ns, latest_operation_Id, buckets, \
                timestamp_ns{comma}{extra} \
         FROM span_rollups WHERE {condition}",
        comma = if extra.is_empty() { "" } else { ", " },
        extra = extra.join(", "),
        condition = condition.sql,
    );
    let mut statement = connection.prepare(&statement_sql).map_err(sqlite_error)?;
    let mut rows = statement
        .query(params_from_iter(values(&condition.params)))
        .map_err(sqlite_error)?;
    let count = |value: i64| u64::try_from(value).unwrap_or(0);
    while let Some(row) = rows.next().map_err(sqlite_error)? {
        let read = || -> rusqlite::Result<(Partial, i64, Vec<String>)> {
            let mut partial = Partial {
                count: count(row.get(0)?),
                failed: count(row.get(1)?),
                // NaN is stored as NULL.
                duration_sum_ms: row.get::<_, Option<f64>>(2)?.unwrap_or(f64::NAN),
                duration_min_ms: row.get(3)?,
                duration_max_ms: row.get(4)?,
                input_tokens: count(row.get(5)?),
                output_tokens: count(row.get(6)?),
                throttled: count(row.get(7)?),
                throttled_ms: row.get::<_, Option<f64>>(8)?.unwrap_or(f64::NAN),
                latest: Some((row.get(9)?, row.get(10)?)),
                buckets: Default::default(),
            };
            if with_buckets {
                partial.add_encoded_buckets(row.get_ref(11)?.as_blob().unwrap_or_default());
            }
            let mut columns = Vec::with_capacity(extra.len());
            for i in 0..extra.len() {
                columns.push(row.get::<_, Option<String>>(13 + i)?.unwrap_or_default());
            }
            Ok((partial, row.get(12)?, columns))
        };
        let (partial, minute_ns, columns) = read().map_err(sqlite_error)?;
        sink(partial, minute_ns, columns);
    }
    Ok(())
}

/// A stats read the rollups answer: whole minutes from them, the range's ends from the spans.
pub fn stats(
    connection: &Connection,
    query: &StatsQuery,
    plan: &RollupPlan,
    limit: usize,
) -> Result<Vec<StatsRow>, StoreError> {
    let groups: Vec<String> = query
        .group_by
        .iter()
        .map(|&c| sql::group_expression(c, Dialect::Sqlite))
        .collect();
    let bucket_ns = query.bucket_s.map(|s| i64::from(s) * 1_000_000_000);
    let mut totals = BinnedGroups::default();
    read_partials(
        connection,
        &query.selection,
        plan,
        query.percentiles.wanted(),
        &groups,
        &mut |partial, minute, group| {
            totals.merge(group, bucket_ns.map(|b| minute.div_euclid(b) * b), partial);
        },
    )?;
    for edge in &plan.edges {
        read_observations(connection, &rollup::narrowed(query, *edge), &mut |o| {
            totals.add(o)
        })?;
    }
    Ok(totals.finish(bucket_ns.is_some(), limit))
}

/// The display histogram's `(bucket, items)` of the plan's whole minutes.
pub fn display_buckets(
    connection: &Connection,
    selection: &Selection,
    plan: &RollupPlan,
) -> Result<Vec<(i64, u64)>, StoreError> {
    let mut total = Partial::default();
    read_partials(
        connection,
        selection,
        plan,
        true,
        &[],
        &mut |partial, _, _| total.merge(partial),
    )?;
    Ok(total.display_buckets())
}
