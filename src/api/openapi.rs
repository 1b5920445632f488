//! `GET /api/v1/openapi.json`, generated from the parameter tables the handlers validate with,
//! so the document cannot drift from what the API accepts.

use axum::Json;
use serde_json::{Value, json};

use super::params::{ParamSpec, ParamType};
use super::{
    alerts, analysis, distribution, genai, genai_sessions, insights, k8s, metrics, schemas, scores,
    transaction,
};

struct Endpoint {
    path: &'static str,
    summary: &'static str,
    params: &'static [ParamSpec],
}

const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        path: "/api/v1/operations/{operation_id}",
        summary: "One end-to-end transaction: spans as a pre-order tree with offsets, self time, the critical path, retries grouped, log lines and exceptions attached",
        params: transaction::PARAMS,
    },
    Endpoint {
        path: "/api/v1/performance",
        summary: "Count, failure rate, avg, p50/p90/p95/p99 and max duration per group, weighted by itemCount; a time series with `interval`",
        params: analysis::PERFORMANCE_PARAMS,
    },
    Endpoint {
        path: "/api/v1/performance/histogram",
        summary: "The duration distribution of requests or dependencies in log-spaced buckets (ten per factor of ten, identical on every store), weighted by itemCount",
        params: distribution::PARAMS,
    },
    Endpoint {
        path: "/api/v1/samples",
        summary: "The requests or dependencies in a percentile band or duration range, slowest or newest first, with their operation ids and the failed calls inside each operation",
        params: analysis::SAMPLES_PARAMS,
    },
    Endpoint {
        path: "/api/v1/failures",
        summary: "Failed requests by name and resultCode, failing dependencies by type, target and resultCode, exceptions by type and problemId",
        params: insights::FAILURES_PARAMS,
    },
    Endpoint {
        path: "/api/v1/map",
        summary: "Application map: roles and external targets as nodes, calls between them as edges with count, failure rate and percentiles",
        params: insights::MAP_PARAMS,
    },
    Endpoint {
        path: "/api/v1/genai/usage",
        summary: "Per provider, model and target: calls, tokens, peak tokens per minute, throttling, latency percentiles and latency per output token",
        params: genai::GENAI_PARAMS,
    },
    Endpoint {
        path: "/api/v1/genai/sessions",
        summary: "Sessions with LLM calls, latest first: requests, calls, tokens, cost, failures, models and users; filters narrow the calls",
        params: genai_sessions::PARAMS,
    },
    Endpoint {
        path: "/api/v1/genai/users",
        summary: "Users with LLM calls, latest first: requests, calls, tokens, cost, failures, models and sessions; filters narrow the calls",
        params: genai_sessions::PARAMS,
    },
    Endpoint {
        path: "/api/v1/scores",
        summary: "Scores per name, source and type: count, mean (a boolean's: the share true), range, categories, per bucket with `interval`. POST a score or an array of them (`{operation_id, span_id?, name, value: number | bool | category, comment?, source: human | llm-judge | api, id?}`) with the app's instrumentation key (x-instrumentation-key) to add them",
        params: scores::PARAMS,
    },
    Endpoint {
        path: "/api/v1/metrics",
        summary: "The stored metric names in a range: type, unit, temporality, points and the dimension keys (resource attributes included) their points carry",
        params: metrics::CATALOG_PARAMS,
    },
    Endpoint {
        path: "/api/v1/metrics/series",
        summary: "One series per group in fixed buckets: gauges aggregate their values, cumulative sums become increments (a drop is a restart from 0), delta sums add up, histograms give percentiles from merged buckets, summaries their quantiles",
        params: metrics::SERIES_PARAMS,
    },
    Endpoint {
        path: "/api/v1/k8s/nodes",
        summary: "Kubernetes nodes: readiness, CPU and memory against allocatable, pods (from the collector's kubelet_stats and k8s_cluster metrics)",
        params: k8s::INVENTORY_PARAMS,
    },
    Endpoint {
        path: "/api/v1/k8s/pods",
        summary: "Kubernetes pods: namespace, node, phase, restarts within the range, CPU and memory",
        params: k8s::INVENTORY_PARAMS,
    },
    Endpoint {
        path: "/api/v1/k8s/containers",
        summary: "Kubernetes containers: readiness, restarts within the range and in all, CPU and memory",
        params: k8s::INVENTORY_PARAMS,
    },
    Endpoint {
        path: "/api/v1/k8s/ready-nodes",
        summary: "The number of ready nodes per bucket",
        params: k8s::READY_PARAMS,
    },
    Endpoint {
        path: "/api/v1/alerts/rules",
        summary: "The alert rules and action groups in force (--alert-rules), the file's last reload error and each rule's latest evaluation error",
        params: alerts::RULES_PARAMS,
    },
    Endpoint {
        path: "/api/v1/alerts",
        summary: "The state of every alert series (one per rule and dimension values): Fired, Resolved, OK or NoData, the latest value and the last evaluations",
        params: alerts::ALERTS_PARAMS,
    },
    Endpoint {
        path: "/api/v1/alerts/history",
        summary: "Firings, resolutions, notifications sent or failed and evaluation failures, newest first",
        params: alerts::HISTORY_PARAMS,
    },
    Endpoint {
        path: "/api/v1/live",
        summary: "The latest Live Metrics data point of each role instance of the apps the token reads (with --live-metrics)",
        params: &[],
    },
    Endpoint {
        path: "/api/v1/search",
        summary: "Log lines and exceptions by text, severity, role, operation and time, newest first",
        params: analysis::SEARCH_PARAMS,
    },
];

fn parameter(spec: &ParamSpec) -> Value {
    let schema = match spec.kind {
        ParamType::String => json!({ "type": "string" }),
        ParamType::Integer => json!({ "type": "integer", "minimum": 1 }),
        ParamType::Number => json!({ "type": "number", "minimum": 0 }),
    };
    match spec.name.strip_suffix('.') {
        // Prefixed parameters are a free-form object in OpenAPI 3.
        Some(prefix) => json!({
            "name": prefix,
            "in": "query",
            "description": spec.description,
            "style": "deepObject",
            "schema": { "type": "object", "additionalProperties": { "type": "string" } },
        }),
        None => json!({
            "name": spec.name,
            "in": "query",
            "description": spec.description,
            "schema": schema,
        }),
    }
}

pub fn build() -> Value {
    let mut component_schemas = schemas::component_schemas();
    component_schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "properties": { "error": { "type": "object", "properties": {
                "message": { "type": "string" },
                "parameter": { "type": "string", "nullable": true },
            }}},
        }),
    );
    let error = json!({
        "description": "invalid parameter (400), missing, unknown or revoked token (401, with WWW-Authenticate), server-wide data for a token scoped to some apps (403), unknown operation (404), store unavailable or query past --query-timeout / --query-max-memory (503, with Retry-After)",
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
    });
    let mut paths = serde_json::Map::new();
    for endpoint in ENDPOINTS {
        let mut parameters: Vec<Value> = endpoint.params.iter().map(parameter).collect();
        if endpoint.path.contains("{operation_id}") {
            parameters.push(json!({
                "name": "operation_id",
                "in": "path",
                "required": true,
                "schema": { "type": "string", "pattern": "^[A-Za-z0-9|.\\-_:]{1,128}$" },
            }));
        }
        paths.insert(
            endpoint.path.into(),
            json!({ "get": {
                "summary": endpoint.summary,
                "parameters": parameters,
                "responses": {
                    "200": { "description": "JSON answer", "content": { "application/json": { "schema": schemas::response(endpoint.path) } } },
                    "400": error,
                    "401": error,
                    "403": error,
                    "404": error,
                    "503": error,
                },
            }}),
        );
    }
    paths.insert("/api/v1/query".into(), kql_query(&error));
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "tracehouse query API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Times are ISO 8601 (or spans back from now like 1h), durations are milliseconds, pages continue with `cursor`. Every answer covers only the apps the bearer token reads (every app without a token, when the server does not require one).",
        },
        "paths": paths,
        "security": [{ "bearer": [] }],
        "components": {
        "securitySchemes": { "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from `tracehouse tokens create`; required with --require-tokens or --require-keys",
        }},
        "schemas": component_schemas,
        },
    })
}

/// `/api/v1/query`: KQL as a JSON body (POST) or `?query=` (GET), answered in the Log
/// Analytics query API's shape.
fn kql_query(error: &Value) -> Value {
    let kql_error = json!({
        "description": "the query cannot run (400): `code` is SyntaxError, SemanticError, NotSupported or BadArgument, `message` starts with the line and column",
        "content": { "application/json": { "schema": {
            "type": "object",
            "properties": { "error": { "type": "object", "properties": {
                "code": { "type": "string" },
                "message": { "type": "string" },
                "position": { "type": "object", "nullable": true, "properties": {
                    "line": { "type": "integer" }, "column": { "type": "integer" },
                }},
            }}},
        }}},
    });
    let answer = json!({
        "description": "the rows, at most 30,000 (`truncated` when more matched); `render` when the query ends in `render`",
        "content": { "application/json": { "schema": {
            "type": "object",
            "properties": {
                "tables": { "type": "array", "items": { "type": "object", "properties": {
                    "name": { "type": "string" },
                    "columns": { "type": "array", "items": { "type": "object", "properties": {
                        "name": { "type": "string" },
                        "type": { "type": "string", "enum": ["bool", "int", "long", "real", "string", "datetime", "timespan", "dynamic"] },
                    }}},
                    "rows": { "type": "array", "items": { "type": "array", "items": {} } },
                }}},
                "truncated": { "type": "boolean" },
                "render": { "type": "object", "properties": { "visualization": { "type": "string" } } },
            },
        }}},
    });
    let timespan = "ISO 8601 duration back from now (`PT1H`) or interval (`<start>/<end>`, `<start>/PT1H`) applied to every table; without it, the query's own time filter, else the last 24 hours";
    let responses = json!({ "200": answer, "400": kql_error, "401": error, "503": error });
    let summary = "KQL over every table (requests/AppRequests, dependencies/AppDependencies, …): where, project, extend, summarize with bin(), sort, top, take, count, distinct, join, union, let, render";
    json!({
        "get": {
            "summary": summary,
            "parameters": [
                { "name": "query", "in": "query", "required": true, "schema": { "type": "string" }, "description": "the KQL query" },
                { "name": "timespan", "in": "query", "schema": { "type": "string" }, "description": timespan },
            ],
            "responses": responses,
        },
        "post": {
            "summary": summary,
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object",
                "required": ["query"],
                "properties": {
                    "query": { "type": "string" },
                    "timespan": { "type": "string", "description": timespan },
                },
            }}}},
            "responses": responses,
        },
    })
}

pub async fn document() -> Json<Value> {
    Json(build())
}
