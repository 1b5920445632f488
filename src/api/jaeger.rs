//! Jaeger's HTTP query API under `/jaeger` (what the Jaeger UI and Grafana's Jaeger data
//! source call): services, operations, trace search and lookup, and the service dependency
//! graph from the application map. Searches run as TraceQL through the same search as Tempo.

use std::collections::{BTreeMap, HashMap};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::StatusCode;
use serde_json::{Value as Json, json};

use super::access::Access;
use super::foreign_params::{duration_conditions, integer, query_map, range};
use super::tempo::load_trace;
use super::trace_search::{SERVICE_KQL, run_kql, search};
use super::{ApiError, ApiState, ok};
use crate::model::otel_span::{SpanKind, SpanStatus};
use crate::query::otlp_trace::{Attributes, TraceSpan, Value};
use crate::reads::{Column, ScopedRange, Selection, Source, StatsQuery, TimeRange};
use crate::traceql::print::string as traceql_string;

const MICROSECOND_NS: i64 = 1_000;
const HOUR_NS: i64 = 3_600 * 1_000_000_000;
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/services", get(services))
        .route(
            "/api/services/{service}/operations",
            get(service_operations),
        )
        .route("/api/operations", get(operations))
        .route("/api/traces", get(find_traces))
        .route("/api/traces/{id}", get(trace))
        .route("/api/dependencies", get(dependencies))
}

/// Jaeger's envelope: `{data, total, limit, offset, errors}`.
fn data(data: Json) -> Response {
    let total = data.as_array().map_or(0, Vec::len);
    ok(json!({ "data": data, "total": total, "limit": 0, "offset": 0, "errors": null }))
}

/// Everything stored: Jaeger lists services without a time range, and Grafana's connection
/// test wants one as soon as any data exists.
fn all_time() -> TimeRange {
    TimeRange {
        from_ns: 0,
        to_ns: crate::clock::now_ns().saturating_add(HOUR_NS),
    }
}

async fn services(State(state): State<ApiState>, access: Access) -> Result<Response, ApiError> {
    let text = format!(
        "union requests, dependencies | extend s = {SERVICE_KQL} | summarize n = count() by s \
         | order by s asc | take 10000"
    );
    let table = run_kql(&state, &access.scope, &text, all_time()).await?;
    let names: Vec<Json> = table
        .rows
        .into_iter()
        .filter_map(|r| r.into_iter().next())
        .collect();
    Ok(data(Json::Array(names)))
}

/// (operation name, span kind) of a service's spans.
async fn operations_of(
    state: &ApiState,
    access: &Access,
    service: &str,
) -> Result<Vec<(String, SpanKind)>, ApiError> {
    let text = format!(
        "union requests, dependencies | where {SERVICE_KQL} == {service} \
         | extend own = tostring(customDimensions[\"_OTel.name\"]), \
           k = tostring(customDimensions[\"_OTel.kind\"]), t = tostring(type) \
         | summarize n = count() by name, own, k, t, itemType | take 10000",
        service = crate::kql::print::string(service)
    );
    let table = run_kql(state, &access.scope, &text, all_time()).await?;
    let mut out: Vec<(String, SpanKind)> = Vec::new();
    for row in table.rows {
        let text = |i: usize| row.get(i).and_then(Json::as_str).unwrap_or_default();
        let name = if text(1).is_empty() { text(0) } else { text(1) };
        let kind = SpanKind::from_name(text(2))
            .unwrap_or_else(|| SpanKind::implied(text(4) == "request", text(3)));
        if !out.iter().any(|(n, k)| n == name && *k == kind) {
            out.push((name.to_owned(), kind));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

async fn service_operations(
    State(state): State<ApiState>,
    access: Access,
    Path(service): Path<String>,
) -> Result<Response, ApiError> {
    let mut names: Vec<String> = operations_of(&state, &access, &service)
        .await?
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    names.dedup();
    Ok(data(json!(names)))
}

async fn operations(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = query_map(raw.as_deref());
    let service = params
        .get("service")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid("service", "the service is required"))?;
    let kind = params.get("spanKind").filter(|k| !k.is_empty());
    let operations: Vec<Json> = operations_of(&state, &access, service)
        .await?
        .into_iter()
        .filter(|(_, k)| kind.is_none_or(|wanted| wanted == k.name()))
        .map(|(name, k)| json!({ "name": name, "spanKind": k.name() }))
        .collect();
    Ok(data(Json::Array(operations)))
}

/// The search parameters as the TraceQL they mean.
fn traceql_of(params: &HashMap<String, String>) -> Result<String, ApiError> {
    let mut conditions = Vec::new();
    if let Some(service) = params.get("service").filter(|s| !s.is_empty()) {
        conditions.push(format!(
            "resource.service.name = {}",
            traceql_string(service)
        ));
    }
    if let Some(operation) = params.get("operation").filter(|s| !s.is_empty()) {
        conditions.push(format!("name = {}", traceql_string(operation)));
    }
    if let Some(tags) = params.get("tags").filter(|s| !s.is_empty()) {
        let tags: BTreeMap<String, Json> = serde_json::from_str(tags).map_err(|_| {
            ApiError::invalid("tags", "must be a JSON object of tag names and values")
        })?;
        for (key, value) in tags {
            let value = match value {
                Json::String(s) => s,
                other => other.to_string(),
            };
            conditions.push(match (key.as_str(), value.as_str()) {
                ("error", "true") => "status = error".to_owned(),
                ("error", "false") => "status != error".to_owned(),
                _ => format!(".{} = {}", traceql_string(&key), traceql_string(&value)),
            });
        }
    }
    conditions.extend(duration_conditions(params, 1e3)?);
    Ok(format!("{{ {} }}", conditions.join(" && ")))
}

async fn find_traces(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = query_map(raw.as_deref());
    let text = traceql_of(&params)?;
    let query =
        crate::traceql::parse(&text).map_err(|e| ApiError::invalid("tags", &e.to_string()))?;
    let limit = integer(&params, "limit", 20)?.clamp(1, 1_500) as usize;
    let range = range(&params, MICROSECOND_NS, HOUR_NS, crate::clock::now_ns())?;
    let (found, _) = search(&state, &access.scope, &query, range, limit).await?;
    let traces: Vec<Json> = found.iter().map(|t| jaeger_trace(&t.spans)).collect();
    Ok(data(Json::Array(traces)))
}

async fn trace(
    State(state): State<ApiState>,
    access: Access,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match load_trace(&state, &access.scope, &id).await {
        Ok(spans) => Ok(data(json!([jaeger_trace(&spans)]))),
        Err(ApiError::NotFound(message)) => Ok((
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "data": null, "errors": [{ "code": 404, "msg": message }] })),
        )
            .into_response()),
        Err(other) => Err(other),
    }
}

fn tag(key: &str, value: &Value) -> Json {
    match value {
        Value::Str(s) => json!({ "key": key, "type": "string", "value": s }),
        Value::Int(i) => json!({ "key": key, "type": "int64", "value": i }),
        Value::Double(d) => json!({ "key": key, "type": "float64", "value": d }),
        Value::Bool(b) => json!({ "key": key, "type": "bool", "value": b }),
        Value::Bytes(_) => json!({ "key": key, "type": "binary", "value": value.text() }),
        Value::Array(_) | Value::Kvlist(_) => {
            json!({ "key": key, "type": "string", "value": value.text() })
        }
    }
}

fn tags(attributes: &Attributes) -> Vec<Json> {
    attributes.iter().map(|(k, v)| tag(k, v)).collect()
}

/// One trace in Jaeger's shape: times in µs, one process per distinct resource.
pub fn jaeger_trace(spans: &[TraceSpan]) -> Json {
    let mut processes: Vec<&Attributes> = Vec::new();
    let mut out = Vec::with_capacity(spans.len());
    for span in spans {
        let index = match processes.iter().position(|r| **r == span.resource) {
            Some(i) => i,
            None => {
                processes.push(&span.resource);
                processes.len() - 1
            }
        };
        let mut span_tags = tags(&span.attributes);
        span_tags.push(tag("span.kind", &Value::Str(span.kind.name().to_owned())));
        if span.status != SpanStatus::Unset {
            let code = span.status.name().to_ascii_uppercase();
            span_tags.push(tag("otel.status_code", &Value::Str(code)));
        }
        if span.status == SpanStatus::Error {
            span_tags.push(json!({ "key": "error", "type": "bool", "value": true }));
        }
        if !span.status_message.is_empty() {
            span_tags.push(tag(
                "otel.status_description",
                &Value::Str(span.status_message.clone()),
            ));
        }
        let mut references = Vec::new();
        if !span.parent_span_id.is_empty() {
            references.push(json!({
                "refType": "CHILD_OF", "traceID": span.trace_id, "spanID": span.parent_span_id,
            }));
        }
        for (trace_id, span_id) in &span.links {
            references
                .push(json!({ "refType": "FOLLOWS_FROM", "traceID": trace_id, "spanID": span_id }));
        }
        let logs: Vec<Json> = span
            .events
            .iter()
            .map(|event| {
                let mut fields = vec![tag("event", &Value::Str(event.name.clone()))];
                fields.extend(tags(&event.attributes));
                json!({ "timestamp": event.time_ns / MICROSECOND_NS, "fields": fields })
            })
            .collect();
        out.push(json!({
            "traceID": span.trace_id,
            "spanID": span.span_id,
            "operationName": span.name,
            "references": references,
            "startTime": span.start_ns / MICROSECOND_NS,
            "duration": span.duration_ns() / MICROSECOND_NS,
            "tags": span_tags,
            "logs": logs,
            "processID": format!("p{}", index + 1),
            "warnings": null,
            "flags": 1,
        }));
    }
    let processes: serde_json::Map<String, Json> = processes
        .iter()
        .enumerate()
        .map(|(i, resource)| {
            let service = match resource.first() {
                Some((key, Value::Str(name))) if key == "service.name" => name.clone(),
                _ => String::new(),
            };
            let rest: Attributes = resource.iter().skip(1).cloned().collect();
            (
                format!("p{}", i + 1),
                json!({ "serviceName": service, "tags": tags(&rest) }),
            )
        })
        .collect();
    json!({
        "traceID": spans.first().map_or("", |s| s.trace_id.as_str()),
        "spans": out,
        "processes": processes,
        "warnings": null,
    })
}

/// `GET /api/dependencies?endTs=&lookback=` (ms): calls between services from the
/// application map; calls to a target no stored service served end at the target's name.
async fn dependencies(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = query_map(raw.as_deref());
    let now_ms = crate::clock::now_ns() / 1_000_000;
    let end_ms = integer(&params, "endTs", now_ms)?;
    let lookback_ms = integer(&params, "lookback", 24 * 3_600_000)?;
    let to_ns = end_ms
        .checked_mul(1_000_000)
        .ok_or_else(|| ApiError::invalid("endTs", "out of range"))?;
    let from_ns = to_ns.saturating_sub(lookback_ms.saturating_mul(1_000_000));
    let range = TimeRange { from_ns, to_ns };
    let stats = StatsQuery {
        selection: Selection {
            source: Source::Dependencies,
            range,
            scope: access.scope.clone(),
            filters: Vec::new(),
        },
        group_by: vec![Column::RoleName, Column::Target],
        bucket_s: None,
        // Only call counts are read: exact either way.
        percentiles: crate::reads::Percentiles::Binned,
    };
    let window = ScopedRange {
        range,
        scope: access.scope.clone(),
        filters: Vec::new(),
    };
    let (calls, edges) = tokio::try_join!(
        state.store.stats(&stats, 10_000),
        state.store.call_edges(&window)
    )?;
    let callee: HashMap<(String, String), String> = edges
        .into_iter()
        .map(|e| ((e.caller_role, e.target), e.callee_role))
        .collect();
    let mut links: BTreeMap<(String, String), u64> = BTreeMap::new();
    for row in calls {
        let [role, target] = [&row.group[0], &row.group[1]];
        if target.is_empty() {
            continue;
        }
        let child = callee
            .get(&(role.clone(), target.clone()))
            .unwrap_or(target)
            .clone();
        *links.entry((role.clone(), child)).or_default() += row.count;
    }
    let links: Vec<Json> = links
        .into_iter()
        .map(|((parent, child), count)| json!({ "parent": parent, "child": child, "callCount": count }))
        .collect();
    Ok(data(Json::Array(links)))
}
