//! Failures, the application map and GenAI usage: each built from aggregate queries.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::access::Access;
use super::analysis::{stats_json, stats_page};
use super::params::{DIMENSION, FILTER, FROM, INTERVAL, LIMIT, ParamSpec, Params, TO};
use super::{ApiError, ApiState, ok};
use crate::query::throttling::{ModelKey, ThrottledCalls, per_model};
use crate::reads::{
    AppScope, Column, Filter, ScopedRange, Selection, Source, StatsQuery, StatsRow,
};
use crate::time::format_instant;

/// The rows of a bucketed query, by group, in bucket order.
fn series_by_group(rows: Vec<StatsRow>) -> HashMap<Vec<String>, Vec<StatsRow>> {
    let mut series: HashMap<Vec<String>, Vec<StatsRow>> = HashMap::new();
    for row in rows {
        series.entry(row.group.clone()).or_default().push(row);
    }
    series
}

/// Totals per group, with a `series` of counts per bucket when an interval is given.
async fn grouped_with_series(
    state: &ApiState,
    query: StatsQuery,
    interval_s: Option<u32>,
    limit: usize,
    bucket_value: fn(&StatsRow) -> Value,
) -> Result<(Vec<Value>, bool), ApiError> {
    let (rows, truncated) = stats_page(state, &query, limit).await?;
    let mut series = match interval_s {
        Some(bucket) => {
            let bucketed = StatsQuery {
                bucket_s: Some(bucket),
                ..query.clone()
            };
            series_by_group(state.store.stats(&bucketed, 200_000).await?)
        }
        None => HashMap::new(),
    };
    let values = rows
        .iter()
        .map(|row| {
            let mut value = stats_json(row, &query.group_by);
            if interval_s.is_some() {
                let points: Vec<Value> = series
                    .remove(&row.group)
                    .unwrap_or_default()
                    .iter()
                    .map(bucket_value)
                    .collect();
                value["series"] = json!(points);
            }
            value
        })
        .collect();
    Ok((values, truncated))
}

fn count_point(row: &StatsRow) -> Value {
    json!({
        "bucket": row.bucket_ns.map(format_instant),
        "count": row.count,
    })
}

/// Fields of an aggregate row that only spans have.
const SPAN_ONLY_FIELDS: [&str; 8] = [
    "failed",
    "failure_rate",
    "avg_ms",
    "p50_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
];

/// The three failure groupings, keyed as answered: failed requests by name and result code,
/// failing dependencies by type, target and result code, exceptions by type and problem id.
pub fn failure_queries(
    params: &Params,
    scope: &AppScope,
) -> Result<Vec<(&'static str, StatsQuery)>, ApiError> {
    let range = params.range()?;
    let mut queries = Vec::new();
    for (key, source, group_by) in [
        (
            "requests",
            Source::Requests,
            vec![Column::Name, Column::ResultCode],
        ),
        (
            "dependencies",
            Source::Dependencies,
            vec![Column::Type, Column::Target, Column::ResultCode],
        ),
        (
            "exceptions",
            Source::Exceptions,
            vec![Column::ExceptionType, Column::ProblemId],
        ),
    ] {
        let mut filters = params.filters(source)?;
        if source.is_span() {
            filters.push(Filter::Equals(Column::Success, "false".into()));
        }
        let query = StatsQuery {
            selection: Selection {
                source,
                range,
                scope: scope.clone(),
                filters,
            },
            group_by,
            bucket_s: None,
        };
        queries.push((key, query));
    }
    Ok(queries)
}

pub const FAILURES_PARAMS: &[ParamSpec] = &[FROM, TO, INTERVAL, FILTER, DIMENSION, LIMIT];

pub async fn failures(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), FAILURES_PARAMS, crate::clock::now_ns())?;
    let range = params.range()?;
    let interval_s = params.interval_s(range)?;
    let limit = params.limit(50, 1_000)?;
    let mut answer = serde_json::Map::new();
    for (key, query) in failure_queries(&params, &access.scope)? {
        let source = query.selection.source;
        let (mut rows, truncated) =
            grouped_with_series(&state, query, interval_s, limit, count_point).await?;
        if !source.is_span() {
            // Exceptions have no duration or success: those figures would be zeros that mean
            // nothing.
            for row in &mut rows {
                if let Some(object) = row.as_object_mut() {
                    for field in SPAN_ONLY_FIELDS {
                        object.remove(field);
                    }
                }
            }
        }
        answer.insert(key.into(), json!({ "rows": rows, "truncated": truncated }));
    }
    answer.insert("from".into(), json!(format_instant(range.from_ns)));
    answer.insert("to".into(), json!(format_instant(range.to_ns)));
    Ok(ok(Value::Object(answer)))
}

pub const MAP_PARAMS: &[ParamSpec] = &[FROM, TO, FILTER, DIMENSION, LIMIT];

fn role_node(role: &str) -> String {
    format!("role:{role}")
}

pub async fn map(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), MAP_PARAMS, crate::clock::now_ns())?;
    Ok(ok(map_answer(&state, &params, &access.scope).await?))
}

/// The application map `params` ask for, as the API answers it (the UI draws the same).
pub async fn map_answer(
    state: &ApiState,
    params: &Params,
    scope: &AppScope,
) -> Result<Value, ApiError> {
    let range = params.range()?;
    let limit = params.limit(1_000, 10_000)?;
    // The same filters narrow the roles (requests) and their calls (dependencies), so a
    // column must exist in both.
    let request_filters = params.filters(Source::Requests)?;
    let mut call_filters = params.filters(Source::Dependencies)?;
    // In-process spans (middleware, SDK internals) are work inside the role, not calls to
    // another service: Application Insights draws no node for them.
    call_filters.push(Filter::NotStartingWith(Column::Type, "InProc".into()));
    let stats_of = |source, group_by, filters| StatsQuery {
        selection: Selection {
            source,
            range,
            scope: scope.clone(),
            filters,
        },
        group_by,
        bucket_s: None,
    };
    let (roles, roles_truncated) = stats_page(
        state,
        &stats_of(Source::Requests, vec![Column::RoleName], request_filters),
        limit,
    )
    .await?;
    let (calls, calls_truncated) = stats_page(
        state,
        &stats_of(
            Source::Dependencies,
            vec![Column::RoleName, Column::Type, Column::Target],
            call_filters.clone(),
        ),
        limit,
    )
    .await?;
    let mut callees: HashMap<(String, String), String> = HashMap::new();
    let window = ScopedRange {
        range,
        scope: scope.clone(),
        filters: call_filters,
    };
    for edge in state.store.call_edges(&window).await? {
        callees
            .entry((edge.caller_role, edge.target))
            .or_insert(edge.callee_role);
    }
    let mut nodes: BTreeMap<String, Value> = BTreeMap::new();
    for row in &roles {
        let role = &row.group[0];
        let mut node = stats_json(row, &[]);
        node["id"] = json!(role_node(role));
        node["kind"] = json!("role");
        node["name"] = json!(role);
        nodes.insert(role_node(role), node);
    }
    let mut edges = Vec::new();
    for row in &calls {
        let [role, dependency_type, target] = [&row.group[0], &row.group[1], &row.group[2]];
        let to = match callees.get(&(role.clone(), target.clone())) {
            Some(callee) => role_node(callee),
            None => {
                let id = format!("external:{dependency_type}:{target}");
                nodes.entry(id.clone()).or_insert_with(|| {
                    json!({ "id": id, "kind": "external", "type": dependency_type, "name": target })
                });
                id
            }
        };
        nodes.entry(role_node(role)).or_insert_with(
            || json!({ "id": role_node(role), "kind": "role", "name": role, "count": 0 }),
        );
        let mut edge = stats_json(row, &[]);
        edge["from"] = json!(role_node(role));
        edge["to"] = json!(to);
        edge["type"] = json!(dependency_type);
        edge["target"] = json!(target);
        edges.push(edge);
    }
    for node in nodes.values_mut() {
        if let Some(object) = node.as_object_mut() {
            object.remove("group");
        }
    }
    for edge in &mut edges {
        if let Some(object) = edge.as_object_mut() {
            object.remove("group");
        }
    }
    Ok(json!({
        "from": format_instant(range.from_ns),
        "to": format_instant(range.to_ns),
        "nodes": nodes.into_values().collect::<Vec<_>>(),
        "edges": edges,
        "truncated": roles_truncated || calls_truncated,
    }))
}

pub const GENAI_PARAMS: &[ParamSpec] = &[FROM, TO, INTERVAL, FILTER, DIMENSION, LIMIT];

/// Per-minute peaks are computed over at most this range.
const PEAK_RANGE_NS: i64 = 31 * 86_400 * 1_000_000_000;

fn token_point(row: &StatsRow) -> Value {
    json!({
        "bucket": row.bucket_ns.map(format_instant),
        "calls": row.count,
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "throttled_calls": row.throttled,
    })
}

/// A usage row's throttling, as `query::throttling` defines it: calls with a throttled attempt
/// plus calls that ended 429 with no attempts recorded beneath them (each its own attempt),
/// and what the callers waited.
pub struct Throttled {
    pub calls: u64,
    pub attempts: u64,
    pub time_ms: f64,
}

impl Throttled {
    pub fn of(row: &StatsRow, inside: Option<&ThrottledCalls>) -> Self {
        let inside = inside.copied().unwrap_or_default();
        let ended_alone = row.throttled.saturating_sub(inside.ended_throttled);
        Throttled {
            calls: inside.calls.saturating_add(ended_alone),
            attempts: inside.attempts.saturating_add(ended_alone),
            time_ms: inside.throttled_ms + (row.throttled_ms - inside.ended_throttled_ms).max(0.0),
        }
    }
}

/// GenAI usage per provider, model and target, as the API and the UI show it.
pub struct GenAiUsage {
    pub rows: Vec<StatsRow>,
    pub truncated: bool,
    /// Most tokens in one minute, per group; `None` past [`PEAK_RANGE_NS`].
    pub peaks: Option<HashMap<Vec<String>, u64>>,
    /// Throttled attempts inside the calls and their time, per (provider, model, target).
    pub throttling: HashMap<ModelKey, ThrottledCalls>,
    /// Per-bucket rows by group, with an interval.
    pub series: HashMap<Vec<String>, Vec<StatsRow>>,
}

pub async fn genai_usage_of(
    state: &ApiState,
    params: &Params,
    scope: &AppScope,
) -> Result<GenAiUsage, ApiError> {
    let range = params.range()?;
    let mut genai_filters = params.filters(Source::Dependencies)?;
    genai_filters.push(Filter::NotEmpty(Column::GenAiProvider));
    let interval_s = params.interval_s(range)?;
    let limit = params.limit(100, 1_000)?;
    let query = StatsQuery {
        selection: Selection {
            source: Source::Dependencies,
            range,
            scope: scope.clone(),
            filters: genai_filters.clone(),
        },
        group_by: vec![Column::GenAiProvider, Column::GenAiModel, Column::Target],
        bucket_s: None,
    };
    let (rows, truncated) = stats_page(state, &query, limit).await?;
    let peaks: Option<HashMap<Vec<String>, u64>> = if range.to_ns - range.from_ns <= PEAK_RANGE_NS {
        let per_minute = StatsQuery {
            bucket_s: Some(60),
            ..query.clone()
        };
        let mut peaks: HashMap<Vec<String>, u64> = HashMap::new();
        for row in state.store.stats(&per_minute, 2_000_000).await? {
            let tokens = row.input_tokens.saturating_add(row.output_tokens);
            let peak = peaks.entry(row.group).or_default();
            *peak = (*peak).max(tokens);
        }
        Some(peaks)
    } else {
        None
    };
    let window = ScopedRange {
        range,
        scope: scope.clone(),
        filters: genai_filters,
    };
    let throttling = per_model(&state.store.genai_throttling(&window).await?);
    let series = match interval_s {
        Some(bucket) => series_by_group(
            state
                .store
                .stats(
                    &StatsQuery {
                        bucket_s: Some(bucket),
                        ..query.clone()
                    },
                    200_000,
                )
                .await?,
        ),
        None => HashMap::new(),
    };
    Ok(GenAiUsage {
        rows,
        truncated,
        peaks,
        throttling,
        series,
    })
}

pub async fn genai_usage(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), GENAI_PARAMS, crate::clock::now_ns())?;
    let range = params.range()?;
    let interval_s = params.interval_s(range)?;
    let GenAiUsage {
        rows,
        truncated,
        peaks,
        throttling,
        mut series,
    } = genai_usage_of(&state, &params, &access.scope).await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|row| {
            let key = (row.group[0].clone(), row.group[1].clone(), row.group[2].clone());
            let throttled = Throttled::of(row, throttling.get(&key));
            let [p50, _, p95, p99] = row.percentiles_ms;
            let mut value = json!({
                "provider": key.0,
                "model": key.1,
                "target": key.2,
                "calls": row.count,
                "failed": row.failed,
                "input_tokens": row.input_tokens,
                "output_tokens": row.output_tokens,
                "peak_tokens_per_minute": peaks.as_ref().map(|p| p.get(&row.group).copied().unwrap_or(0)),
                "throttled_calls": throttled.calls,
                "throttled_attempts": throttled.attempts,
                "throttled_time_ms": throttled.time_ms,
                "avg_ms": row.duration_sum_ms / row.count.max(1) as f64,
                "p50_ms": p50,
                "p95_ms": p95,
                "p99_ms": p99,
                "ms_per_output_token": (row.output_tokens > 0)
                    .then(|| row.duration_sum_ms / row.output_tokens as f64),
                "sample_operation_id": row.latest_operation_id,
            });
            if interval_s.is_some() {
                let points: Vec<Value> = series
                    .remove(&row.group)
                    .unwrap_or_default()
                    .iter()
                    .map(token_point)
                    .collect();
                value["series"] = json!(points);
            }
            value
        })
        .collect();
    Ok(ok(json!({
        "from": format_instant(range.from_ns),
        "to": format_instant(range.to_ns),
        "rows": items,
        "truncated": truncated,
    })))
}
