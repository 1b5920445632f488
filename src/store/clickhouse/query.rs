//! The aggregate and search reads on ClickHouse: aggregated on the server with
//! `quantilesExactWeighted`, whose nearest-rank definition the SQLite store reproduces.

use clickhouse::Row;
use clickhouse::query::Query;
use serde::Deserialize;

use super::ClickHouseStore;
use crate::reads::histogram::DurationHistogram;
use crate::reads::stats::sort_rows;
use crate::reads::throttling::{GenAiThrottling, ThrottledCalls};
use crate::reads::{
    CallEdge, CallRecord, Column, FailedCallsQuery, PERCENTILE_LEVELS, SampleQuery, SampleRecord,
    ScopedRange, SearchHit, SearchQuery, Selection, StatsQuery, StatsRow, merge_search_hits,
};
use crate::store::sql::{self, Condition, Dialect, Param};
use crate::store::{StoreError, rollup};

pub(super) fn bind_all(mut query: Query, params: &[Param]) -> Query {
    for param in params {
        query = match param {
            Param::Text(text) => query.bind(text.as_str()),
            Param::Int(n) => query.bind(*n),
            Param::Real(x) => query.bind(*x),
        };
    }
    query
}

/// A stats read's group (an array of texts) and bucket expressions; the bucket's two
/// parameters are bound first when `bucket_ns` is set.
pub(super) struct StatsGrouping {
    pub groups: String,
    pub bucket: &'static str,
    pub bucket_ns: Option<i64>,
}

impl StatsGrouping {
    pub fn of(query: &StatsQuery) -> Self {
        let groups = if query.group_by.is_empty() {
            "emptyArrayString()".to_owned()
        } else {
            let columns: Vec<String> = query
                .group_by
                .iter()
                .map(|&c| sql::group_expression(c, Dialect::ClickHouse))
                .collect();
            format!("[{}]", columns.join(", "))
        };
        let bucket_ns = query.bucket_s.map(|s| i64::from(s.max(1)) * 1_000_000_000);
        let bucket = if bucket_ns.is_some() {
            "toInt64(intDiv(timestamp_ns, ?) * ?)"
        } else {
            "toInt64(0)"
        };
        StatsGrouping {
            groups,
            bucket,
            bucket_ns,
        }
    }
}

#[derive(Debug, Row, Deserialize)]
struct StatsLine {
    group: Vec<String>,
    bucket_ns: i64,
    count: u64,
    failed: u64,
    duration_sum_ms: f64,
    duration_max_ms: f64,
    quantiles: Vec<f64>,
    input_tokens: u64,
    output_tokens: u64,
    throttled: u64,
    throttled_ms: f64,
    latest_operation_id: String,
    latest_timestamp_ns: i64,
}

pub async fn stats(
    store: &ClickHouseStore,
    query: &StatsQuery,
    limit: usize,
) -> Result<Vec<StatsRow>, StoreError> {
    if let Some(plan) = rollup::plan(query) {
        return super::rollups::stats(store, query, &plan, limit).await;
    }
    let source = query.selection.source;
    let m = sql::measures(source, Dialect::ClickHouse);
    let StatsGrouping {
        groups,
        bucket,
        bucket_ns,
    } = StatsGrouping::of(query);
    let levels: Vec<String> = PERCENTILE_LEVELS.iter().map(f64::to_string).collect();
    let quantiles = if query.percentiles.wanted() {
        format!(
            "quantilesExactWeighted({})({}, itemCount)",
            levels.join(", "),
            m.duration
        )
    } else {
        "emptyArrayFloat64()".to_owned()
    };
    let (prewhere, condition) = sql::clickhouse_prewhere(&query.selection);
    let order = if bucket_ns.is_some() {
        "grp, bucket_ns"
    } else {
        "cnt DESC, grp"
    };
    let statement = format!(
        "SELECT {groups} AS grp, {bucket} AS bucket_ns, sum(itemCount) AS cnt, \
                sumIf(itemCount, {success} = 0), sum({duration} * itemCount), max({duration}), \
                {quantiles}, \
                sum({input} * itemCount), sum({output} * itemCount), \
                sumIf(itemCount, {throttled}), sumIf({duration} * itemCount, {throttled}), \
                argMax(operation_Id, timestamp_ns), max(timestamp_ns) \
         FROM `{db}`.`{table}` {prewhere} WHERE {condition} \
         GROUP BY grp, bucket_ns ORDER BY {order} LIMIT ?",
        success = m.success,
        duration = m.duration,
        input = m.input_tokens,
        output = m.output_tokens,
        throttled = m.throttled,
        db = store.database,
        table = source.table(),
        prewhere = prewhere.sql,
        condition = condition.sql,
    );
    let mut q = store.reader().query(&statement);
    if let Some(b) = bucket_ns {
        q = q.bind(b).bind(b);
    }
    q = bind_all(q, &prewhere.params);
    let lines: Vec<StatsLine> = bind_all(q, &condition.params)
        .bind(u64::try_from(limit).unwrap_or(u64::MAX))
        .fetch_all()
        .await
        .map_err(|e| store.read_error(e))?;
    let mut rows: Vec<StatsRow> = lines
        .into_iter()
        .filter(|line| line.count > 0)
        .map(|line| StatsRow {
            group: line.group,
            bucket_ns: bucket_ns.map(|_| line.bucket_ns),
            count: line.count,
            failed: line.failed,
            duration_sum_ms: line.duration_sum_ms,
            duration_max_ms: line.duration_max_ms,
            percentiles_ms: std::array::from_fn(|i| line.quantiles.get(i).copied().unwrap_or(0.0)),
            input_tokens: line.input_tokens,
            output_tokens: line.output_tokens,
            throttled: line.throttled,
            throttled_ms: line.throttled_ms,
            latest_operation_id: line.latest_operation_id,
            latest_timestamp_ns: line.latest_timestamp_ns,
        })
        .collect();
    sort_rows(&mut rows, bucket_ns.is_some());
    Ok(rows)
}

#[derive(Debug, Row, Deserialize)]
struct SampleLine {
    timestamp_ns: i64,
    id: String,
    operation_id: String,
    name: String,
    target: String,
    result_code: String,
    success: u8,
    duration_ms: f64,
    role: String,
}

pub async fn samples(
    store: &ClickHouseStore,
    query: &SampleQuery,
) -> Result<Vec<SampleRecord>, StoreError> {
    let lines: Vec<SampleLine> = statement(store, &sql::samples(query, Dialect::ClickHouse))
        .fetch_all()
        .await
        .map_err(|e| store.read_error(e))?;
    Ok(lines
        .into_iter()
        .map(|line| SampleRecord {
            timestamp_ns: line.timestamp_ns,
            id: line.id,
            operation_id: line.operation_id,
            name: line.name,
            target: line.target,
            result_code: line.result_code,
            success: line.success != 0,
            duration_ms: line.duration_ms,
            role: line.role,
        })
        .collect())
}

#[derive(Debug, Row, Deserialize)]
struct SearchLine {
    timestamp_ns: i64,
    item_id: String,
    operation_id: String,
    parent_id: String,
    severity_level: u8,
    role: String,
    message: String,
    exception_type: String,
    problem_id: String,
}

pub async fn search(
    store: &ClickHouseStore,
    query: &SearchQuery,
) -> Result<Vec<SearchHit>, StoreError> {
    let mut hits = Vec::new();
    for (exceptions, wanted) in [(false, query.kinds.traces), (true, query.kinds.exceptions)] {
        if !wanted {
            continue;
        }
        let search = sql::search(query, exceptions, Dialect::ClickHouse);
        let lines: Vec<SearchLine> = statement(store, &search)
            .fetch_all()
            .await
            .map_err(|e| store.read_error(e))?;
        hits.extend(lines.into_iter().map(|line| SearchHit {
            kind: if exceptions { "exception" } else { "trace" },
            timestamp_ns: line.timestamp_ns,
            item_id: line.item_id,
            operation_id: line.operation_id,
            parent_id: line.parent_id,
            severity_level: line.severity_level,
            role: line.role,
            message: line.message,
            exception_type: line.exception_type,
            problem_id: line.problem_id,
        }));
    }
    Ok(merge_search_hits(hits, query.limit))
}

/// A statement from [`sql`] with this store's table names and its values bound.
pub(super) fn statement(store: &ClickHouseStore, statement: &Condition) -> Query {
    statement_over(store, statement, |table| {
        format!("`{}`.`{table}`", store.database)
    })
}

/// The statement with each `{table}` read from `source(table)`.
pub(super) fn statement_over(
    store: &ClickHouseStore,
    statement: &Condition,
    source: impl Fn(&str) -> String,
) -> Query {
    let sql = sql::qualify(&statement.sql, source);
    bind_all(store.reader().query(&sql), &statement.params)
}

pub async fn latest_keys(
    store: &ClickHouseStore,
    selection: &Selection,
    key: Column,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let condition = sql::latest_keys(selection, key, limit, Dialect::ClickHouse);
    statement(store, &condition)
        .fetch_all()
        .await
        .map_err(|e| store.read_error(e))
}

pub async fn call_edges(
    store: &ClickHouseStore,
    window: &ScopedRange,
) -> Result<Vec<CallEdge>, StoreError> {
    let condition = sql::call_edges(window, Dialect::ClickHouse);
    let rows: Vec<(String, String, String)> = statement(store, &condition)
        .fetch_all()
        .await
        .map_err(|e| store.read_error(e))?;
    Ok(rows
        .into_iter()
        .map(|(caller_role, target, callee_role)| CallEdge {
            caller_role,
            target,
            callee_role,
        })
        .collect())
}

#[derive(Debug, Row, Deserialize)]
struct ModelThrottlingLine {
    provider: String,
    model: String,
    target: String,
    calls: u64,
    attempts: u64,
    waited_ns: i64,
    ended: u64,
    ended_ns: i64,
    minutes: Vec<i64>,
}

pub async fn genai_throttling(
    store: &ClickHouseStore,
    window: &ScopedRange,
) -> Result<GenAiThrottling, StoreError> {
    let condition = sql::genai_throttling(window, Dialect::ClickHouse);
    let lines: Vec<ModelThrottlingLine> = statement(store, &condition)
        .fetch_all()
        .await
        .map_err(|e| store.read_error(e))?;
    let mut throttling = GenAiThrottling::default();
    for line in lines {
        let key = (line.provider, line.model, line.target);
        throttling.per_model.insert(
            key.clone(),
            ThrottledCalls {
                calls: line.calls,
                attempts: line.attempts,
                throttled_ns: line.waited_ns,
                ended_throttled: line.ended,
                ended_throttled_ns: line.ended_ns,
            },
        );
        let mut minutes = line.minutes;
        minutes.sort_unstable();
        throttling.first_minutes.insert(key, minutes);
    }
    Ok(throttling)
}

pub async fn duration_histogram(
    store: &ClickHouseStore,
    selection: &Selection,
) -> Result<DurationHistogram, StoreError> {
    let from_spans = |selection: Selection| async move {
        let condition = sql::duration_histogram(&selection, Dialect::ClickHouse);
        statement(store, &condition)
            .fetch_all::<(i64, u64)>()
            .await
            .map_err(|e| store.read_error(e))
    };
    // The rollups' fine buckets add up to the display buckets exactly.
    let Some(plan) = rollup::plan_selection(selection) else {
        return Ok(DurationHistogram::from_buckets(
            from_spans(selection.clone()).await?,
        ));
    };
    let edges = plan.edges.iter().map(|edge| {
        from_spans(Selection {
            range: *edge,
            ..selection.clone()
        })
    });
    let (mut buckets, edges) = tokio::try_join!(
        super::rollups::display_buckets(store, selection, &plan),
        futures_util::future::try_join_all(edges)
    )?;
    buckets.extend(edges.into_iter().flatten());
    Ok(DurationHistogram::from_buckets(buckets))
}

#[derive(Debug, Row, Deserialize)]
struct CallLine {
    app: String,
    operation_id: String,
    parent_id: String,
    id: String,
    target: String,
    result_code: String,
    success: u8,
    timestamp_ns: i64,
    duration_ms: f64,
}

pub async fn failed_calls(
    store: &ClickHouseStore,
    query: &FailedCallsQuery,
) -> Result<Vec<CallRecord>, StoreError> {
    if query.operation_ids.is_empty() {
        return Ok(Vec::new());
    }
    let condition = sql::failed_calls(query, Dialect::ClickHouse);
    let lines: Vec<CallLine> = statement(store, &condition)
        .fetch_all()
        .await
        .map_err(|e| store.read_error(e))?;
    Ok(lines
        .into_iter()
        .map(|line| CallRecord {
            app: line.app,
            operation_id: line.operation_id,
            parent_id: line.parent_id,
            id: line.id,
            target: line.target,
            result_code: line.result_code,
            success: line.success != 0,
            timestamp_ns: line.timestamp_ns,
            duration_ms: line.duration_ms,
        })
        .collect())
}
