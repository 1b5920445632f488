//! Tempo's HTTP query API under `/tempo`, so Grafana's built-in Tempo data source reads
//! tracehouse with no plugin: trace by id (OTLP protobuf or JSON), TraceQL search, tags and
//! tag values. Scoped like every read: a token sees its apps' traces only.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, header};
use prost::Message;
use serde_json::{Value as Json, json};

use super::access::Access;
use super::foreign_params::{duration_conditions, integer, logfmt_pairs, query_map, range};
use super::trace_search::{FoundTrace, search};
use super::{ApiError, ApiState, ok};
use crate::query::otlp_encode::{key_values, traces_data};
use crate::query::otlp_trace::{TraceSpan, rebuild, trace_id_hex};
use crate::reads::AppScope;
use crate::traceql::{self, Field, FieldExpr, SpansetExpr};

/// The Tempo release whose API this is; Grafana enables its v2 endpoints from 2.0 on.
pub const TEMPO_VERSION: &str = "2.6.0";
/// Search reads the last hour unless told.
const DEFAULT_SEARCH_NS: i64 = 3_600 * 1_000_000_000;
const SECOND_NS: i64 = 1_000_000_000;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/echo", get(|| async { "echo" }))
        .route("/api/status/buildinfo", get(buildinfo))
        .route("/api/traces/{id}", get(trace_v1))
        .route("/api/v2/traces/{id}", get(trace_v2))
        .route("/api/search", get(search_traces))
        .route("/api/search/tags", get(super::tempo_tags::tags_v1))
        .route("/api/v2/search/tags", get(super::tempo_tags::tags_v2))
        .route(
            "/api/search/tag/{tag}/values",
            get(super::tempo_tags::values_v1),
        )
        .route(
            "/api/v2/search/tag/{tag}/values",
            get(super::tempo_tags::values_v2),
        )
}

async fn buildinfo() -> Response {
    ok(json!({
        "version": TEMPO_VERSION,
        "revision": concat!("tracehouse-", env!("CARGO_PKG_VERSION")),
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    }))
}

/// Tempo's v2 answer: the trace wrapped in a message of its own (field 1).
#[derive(Clone, PartialEq, prost::Message)]
struct TraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    trace: Option<opentelemetry_proto::tonic::trace::v1::TracesData>,
}

async fn trace_v1(
    state: State<ApiState>,
    access: Access,
    path: Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    trace_by_id(state, access, path, headers, false).await
}

async fn trace_v2(
    state: State<ApiState>,
    access: Access,
    path: Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    trace_by_id(state, access, path, headers, true).await
}

async fn trace_by_id(
    State(state): State<ApiState>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
    v2: bool,
) -> Result<Response, ApiError> {
    let spans = load_trace(&state, &access.scope, &id).await?;
    let data = traces_data(&spans);
    let protobuf = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/protobuf"));
    if protobuf {
        let body = if v2 {
            TraceByIdResponse { trace: Some(data) }.encode_to_vec()
        } else {
            data.encode_to_vec()
        };
        return Ok(([(header::CONTENT_TYPE, "application/protobuf")], body).into_response());
    }
    let batches = serde_json::to_value(&data.resource_spans).map_err(|e| {
        ApiError::Store(crate::store::StoreError::Internal(format!(
            "trace json: {e}"
        )))
    })?;
    let trace = json!({ "batches": batches });
    Ok(ok(if v2 { json!({ "trace": trace }) } else { trace }))
}

/// A trace id as Tempo takes it: up to 32 hex digits, zero-padded on the left.
pub fn parse_trace_id(id: &str) -> Result<String, ApiError> {
    if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::invalid(
            "traceID",
            &format!("{id:?} is not a trace id (1 to 32 hex digits)"),
        ));
    }
    Ok(format!("{:0>32}", id.to_ascii_lowercase()))
}

/// Every span stored under the trace id by the apps in scope. A trace that crossed apps is
/// given back whole, as far as the caller may read it.
pub async fn load_trace(
    state: &ApiState,
    scope: &AppScope,
    id: &str,
) -> Result<Vec<TraceSpan>, ApiError> {
    let trace_id = parse_trace_id(id)?;
    let apps = state.store.operation_apps(scope, &trace_id).await?;
    let mut spans = Vec::new();
    for app in &apps {
        let items = state.store.operation(app, &trace_id).await?;
        spans.extend(rebuild(app, &items));
    }
    if spans.is_empty() {
        return Err(ApiError::NotFound(format!("trace {trace_id} not found")));
    }
    Ok(spans)
}

/// `GET /api/search`: TraceQL in `q`, or the legacy `tags`/`minDuration`/`maxDuration`.
async fn search_traces(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = query_map(raw.as_deref());
    let query = search_query(&params)?;
    let limit = integer(&params, "limit", 20)?.clamp(1, 1_000) as usize;
    let spans_per_set = integer(&params, "spss", 3)?.clamp(1, 1_000) as usize;
    let range = range(
        &params,
        SECOND_NS,
        DEFAULT_SEARCH_NS,
        crate::clock::now_ns(),
    )?;
    let (found, metrics) = search(&state, &access.scope, &query, range, limit).await?;
    let shown = shown_attributes(&query);
    let traces: Vec<Json> = found
        .iter()
        .map(|trace| trace_summary(trace, spans_per_set, &shown))
        .collect();
    Ok(ok(json!({
        "traces": traces,
        "metrics": {
            "inspectedTraces": metrics.inspected_traces,
            "inspectedBytes": "0",
            "totalBlocks": 0,
            "completedJobs": 1,
            "totalJobs": 1,
        },
    })))
}

fn search_query(params: &HashMap<String, String>) -> Result<SpansetExpr, ApiError> {
    let q = params.get("q").map(|q| q.trim()).filter(|q| !q.is_empty());
    let text = match q {
        Some(q) => q.to_owned(),
        None => legacy_query(params)?,
    };
    traceql::parse(&text).map_err(|e| ApiError::invalid("q", &e.to_string()))
}

/// The legacy search (`tags=service.name="x" http.status_code=500`, logfmt; `minDuration=100ms`) as
/// the TraceQL it means.
fn legacy_query(params: &HashMap<String, String>) -> Result<String, ApiError> {
    let mut conditions = Vec::new();
    let tags = params.get("tags").map(String::as_str).unwrap_or_default();
    let pairs = logfmt_pairs(tags)
        .map_err(|part| ApiError::invalid("tags", &format!("{part:?} is not key=value")))?;
    for (key, value) in &pairs {
        let (key, value) = (key.as_str(), value.as_str());
        let field = match key {
            "name" | "status" => key.to_owned(),
            _ => format!(".{}", traceql::print::string(key)),
        };
        let literal = if key == "status" {
            value.to_owned()
        } else {
            traceql::print::string(value)
        };
        conditions.push(format!("{field} = {literal}"));
    }
    conditions.extend(duration_conditions(params, 1e6)?);
    Ok(format!("{{ {} }}", conditions.join(" && ")))
}

/// The attributes a query names: the matched spans show them, as Tempo's do.
fn shown_attributes(query: &SpansetExpr) -> Vec<(crate::traceql::Scope, String)> {
    fn fields(expr: &FieldExpr, out: &mut Vec<(crate::traceql::Scope, String)>) {
        match expr {
            FieldExpr::And(l, r) | FieldExpr::Or(l, r) => {
                fields(l, out);
                fields(r, out);
            }
            FieldExpr::Compare(c) => {
                if let Field::Attribute { scope, name } = &c.field
                    && !out.iter().any(|(s, n)| s == scope && n == name)
                {
                    out.push((*scope, name.clone()));
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut stack = vec![query];
    while let Some(expr) = stack.pop() {
        match expr {
            SpansetExpr::Filter(f) => {
                if let Some(e) = &f.expr {
                    fields(e, &mut out);
                }
            }
            SpansetExpr::And(l, r) | SpansetExpr::Or(l, r) => {
                stack.push(l);
                stack.push(r);
            }
        }
    }
    out
}

fn trace_summary(
    trace: &FoundTrace,
    spans_per_set: usize,
    shown: &[(crate::traceql::Scope, String)],
) -> Json {
    let spans: Vec<Json> = trace
        .matched
        .iter()
        .take(spans_per_set)
        .filter_map(|&i| trace.spans.get(i))
        .map(|span| {
            let attributes: Vec<(String, crate::query::otlp_trace::Value)> = shown
                .iter()
                .filter_map(|(scope, name)| {
                    let find = |list: &[(String, crate::query::otlp_trace::Value)]| {
                        list.iter().find(|(k, _)| k == name).cloned()
                    };
                    match scope {
                        crate::traceql::Scope::Span => find(&span.attributes),
                        crate::traceql::Scope::Resource => find(&span.resource),
                        crate::traceql::Scope::Any => {
                            find(&span.attributes).or_else(|| find(&span.resource))
                        }
                    }
                })
                .collect();
            json!({
                "spanID": span.span_id,
                "name": span.name,
                "startTimeUnixNano": span.start_ns.to_string(),
                "durationNanos": span.duration_ns().to_string(),
                "attributes": serde_json::to_value(key_values(&attributes)).unwrap_or_default(),
            })
        })
        .collect();
    let span_set = json!({ "spans": spans, "matched": trace.matched.len() });
    json!({
        "traceID": trace_id_hex(trace.spans.first().map_or("", |s| s.trace_id.as_str())),
        "rootServiceName": trace.facts.root_service_name,
        "rootTraceName": trace.facts.root_name,
        "startTimeUnixNano": trace.start_ns().to_string(),
        "durationMs": trace.facts.duration_ns / 1_000_000,
        "spanSet": span_set,
        "spanSets": [span_set],
    })
}
