//! Failures, the application map and GenAI usage: each built from aggregate queries.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::access::Access;
use super::analysis::{stats_json, stats_page};
use super::params::{DIMENSION, FILTER, FROM, INTERVAL, LIMIT, PERCENTILES, ParamSpec, Params, TO};
use super::{ApiError, ApiState, ok};
use crate::reads::{
    AppScope, Column, Filter, ScopedRange, Selection, Source, StatsQuery, StatsRow,
};
use crate::time::format_instant;

/// The rows of a bucketed query, by group, in bucket order.
pub(super) fn series_by_group(rows: Vec<StatsRow>) -> HashMap<Vec<String>, Vec<StatsRow>> {
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
            percentiles: params.percentiles()?,
        };
        queries.push((key, query));
    }
    Ok(queries)
}

pub const FAILURES_PARAMS: &[ParamSpec] =
    &[FROM, TO, INTERVAL, FILTER, DIMENSION, LIMIT, PERCENTILES];

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

pub const MAP_PARAMS: &[ParamSpec] = &[FROM, TO, FILTER, DIMENSION, LIMIT, PERCENTILES];

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
    let percentiles = params.percentiles()?;
    let stats_of = |source, group_by, filters| StatsQuery {
        selection: Selection {
            source,
            range,
            scope: scope.clone(),
            filters,
        },
        group_by,
        bucket_s: None,
        percentiles,
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
