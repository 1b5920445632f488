//! The response schemas of the OpenAPI document: every field each endpoint answers with, its
//! type and unit. `tests/query_api.rs` checks real answers against them, so a field added to an
//! answer without its description fails the suite.

mod alerts;
mod components;
pub(super) mod genai;
mod infrastructure;

pub use components::component_schemas;
use components::{stats_fields, with};
use serde_json::{Map, Value, json};

pub(super) fn typed(kind: &str, description: &str) -> Value {
    json!({ "type": kind, "description": description })
}

pub(super) fn string(description: &str) -> Value {
    typed("string", description)
}

pub(super) fn integer(description: &str) -> Value {
    typed("integer", description)
}

pub(super) fn number(description: &str) -> Value {
    typed("number", description)
}

pub(super) fn boolean(description: &str) -> Value {
    typed("boolean", description)
}

pub(super) fn nullable(mut schema: Value) -> Value {
    schema["nullable"] = json!(true);
    schema
}

pub(super) fn array(items: Value, description: &str) -> Value {
    json!({ "type": "array", "items": items, "description": description })
}

pub(super) fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// Free-form string values by key (attributes, customDimensions, group columns).
pub(super) fn strings_by_key(description: &str) -> Value {
    json!({
        "type": "object",
        "additionalProperties": { "type": "string" },
        "description": description,
    })
}

pub(super) fn object(fields: &[(&str, Value)]) -> Value {
    let properties: Map<String, Value> = fields
        .iter()
        .map(|(name, schema)| ((*name).to_owned(), schema.clone()))
        .collect();
    json!({ "type": "object", "properties": properties })
}

/// The `200` body schema of each endpoint, by path.
pub fn response(path: &str) -> Value {
    if let Some(schema) = infrastructure::response(path) {
        return schema;
    }
    if let Some(schema) = alerts::response(path) {
        return schema;
    }
    if let Some(schema) = genai::response(path) {
        return schema;
    }
    let from_to = || {
        vec![
            ("from", string("start of the range (ISO 8601)")),
            ("to", string("end of the range, exclusive (ISO 8601)")),
        ]
    };
    let with_range = |more: Vec<(&'static str, Value)>| with(from_to(), more);
    let truncated = || boolean("whether rows were left out (raise `limit`)");
    match path {
        "/api/v1/operations/{operation_id}" => object(&[
            ("operation_id", string("the operation (trace) id")),
            ("operation_name", string("the root request's name")),
            ("app", string("the app whose transaction this is")),
            (
                "other_apps",
                array(
                    string("app"),
                    "other apps you may read with telemetry under the same id (`app=` opens theirs)",
                ),
            ),
            ("start", string("the first span's start (ISO 8601)")),
            (
                "start_ns",
                integer("the first span's start, UTC nanoseconds"),
            ),
            (
                "duration_ms",
                number("from the first start to the last end, ms"),
            ),
            ("roles", array(string("role"), "roles that took part")),
            (
                "nodes",
                array(reference("Node"), "spans as a pre-order tree"),
            ),
            (
                "critical_path",
                array(
                    integer("node index"),
                    "nodes on the critical path, root first",
                ),
            ),
            (
                "retries",
                array(
                    reference("RetryGroup"),
                    "repeated throttled or failing calls under one parent",
                ),
            ),
            (
                "cost_usd",
                nullable(number(
                    "the LLM calls' summed cost, US dollars; null without LLM calls",
                )),
            ),
            (
                "scores",
                array(
                    genai::score(),
                    "scores posted for the operation or its spans (POST /api/v1/scores), newest first",
                ),
            ),
            (
                "findings",
                array(
                    reference("Finding"),
                    "the diagnosis: throttling (longest wait first), failures, hidden retries, slow calls on the critical path",
                ),
            ),
            (
                "unattached",
                object(&[
                    (
                        "exceptions",
                        array(
                            reference("Exception"),
                            "exceptions whose span was not received",
                        ),
                    ),
                    (
                        "logs",
                        array(reference("Log"), "log lines whose span was not received"),
                    ),
                    (
                        "events",
                        array(reference("Event"), "events whose span was not received"),
                    ),
                ]),
            ),
        ]),
        "/api/v1/performance" => with_range(vec![
            ("table", string("`requests` or `dependencies`")),
            ("group_by", array(string("column"), "the group-by columns")),
            (
                "interval_s",
                nullable(integer("bucket width in seconds; null for totals")),
            ),
            (
                "rows",
                array(reference("StatsRow"), "one per group (and bucket)"),
            ),
            ("truncated", truncated()),
        ]),
        "/api/v1/performance/histogram" => with_range(vec![
            ("table", string("`requests` or `dependencies`")),
            ("total", integer("items in the selection")),
            (
                "buckets",
                array(
                    object(&[
                        (
                            "low_ms",
                            number("shortest duration in the bucket, ms (inclusive)"),
                        ),
                        (
                            "high_ms",
                            nullable(number(
                                "end of the bucket, ms (exclusive); null for the last",
                            )),
                        ),
                        ("count", integer("items, weighted by itemCount")),
                    ]),
                    "from the first to the last bucket holding anything",
                ),
            ),
        ]),
        "/api/v1/samples" => object(&[
            ("table", string("`requests` or `dependencies`")),
            (
                "band",
                nullable(object(&[
                    ("low_ms", number("shortest duration in the band, ms")),
                    ("high_ms", number("longest duration in the band, ms")),
                ])),
            ),
            (
                "items",
                array(
                    object(&[
                        ("timestamp_ns", integer("start, UTC nanoseconds")),
                        ("start", string("start (ISO 8601)")),
                        ("id", string("span id")),
                        (
                            "operation_id",
                            string("open it at /api/v1/operations/{operation_id}"),
                        ),
                        ("name", string("span name")),
                        ("target", string("dependency target; empty for requests")),
                        ("result_code", string("result code")),
                        ("success", boolean("whether it succeeded")),
                        ("duration_ms", number("duration, ms")),
                        ("role", string("cloud_RoleName")),
                        (
                            "failed_calls",
                            array(
                                object(&[
                                    ("target", string("dependency target")),
                                    ("result_code", string("result code")),
                                    ("calls", integer("failed calls (resent copies once)")),
                                    ("duration_ms", number("their summed duration, ms")),
                                    (
                                        "throttled_ms",
                                        number(
                                            "for 429s: what the callers waited, from the first 429 to the answering attempt, ms; else 0",
                                        ),
                                    ),
                                ]),
                                "failed dependency calls inside the operation, most first: its cause where the data shows one",
                            ),
                        ),
                    ]),
                    "the spans, slowest or newest first",
                ),
            ),
            (
                "next_cursor",
                nullable(string("pass as `cursor` for the next page")),
            ),
        ]),
        "/api/v1/failures" => {
            let section = || {
                object(&[
                    (
                        "rows",
                        array(
                            reference("StatsRow"),
                            "groups of failed items; exception groups carry counts only",
                        ),
                    ),
                    ("truncated", truncated()),
                ])
            };
            with_range(vec![
                ("requests", section()),
                ("dependencies", section()),
                ("exceptions", section()),
            ])
        }
        "/api/v1/map" => {
            let mut node_fields = stats_fields();
            node_fields.extend([
                ("id", string("`role:<name>` or `external:<type>:<target>`")),
                ("kind", string("`role` or `external`")),
                ("name", string("role name or target")),
                ("type", string("dependency type of an external node")),
            ]);
            let mut edge_fields = stats_fields();
            edge_fields.extend([
                ("from", string("calling node id")),
                ("to", string("called node id")),
                ("type", string("dependency type")),
                ("target", string("dependency target")),
            ]);
            with_range(vec![
                (
                    "nodes",
                    array(
                        object(&node_fields),
                        "roles and the external targets they call",
                    ),
                ),
                (
                    "edges",
                    array(
                        object(&edge_fields),
                        "calls between nodes, with their figures",
                    ),
                ),
                ("truncated", truncated()),
            ])
        }
        "/api/v1/genai/usage" => with_range(vec![
            (
                "rows",
                array(
                    object(&[
                        ("provider", string("GenAI provider")),
                        ("model", string("requested model")),
                        ("target", string("endpoint")),
                        ("calls", integer("calls, weighted by itemCount")),
                        ("failed", integer("failed calls")),
                        ("input_tokens", integer("prompt tokens")),
                        ("output_tokens", integer("completion tokens")),
                        (
                            "peak_tokens_per_minute",
                            nullable(integer(
                                "most tokens in one minute; null over ranges past 31 days",
                            )),
                        ),
                        (
                            "throttled_calls",
                            integer(
                                "calls with an attempt answered 429 (or that ended 429 themselves)",
                            ),
                        ),
                        (
                            "throttled_attempts",
                            integer("429 attempts inside the calls (the SDK's retries)"),
                        ),
                        (
                            "throttled_time_ms",
                            number(
                                "what the callers waited because of throttling: from each throttled call's first 429 to its answering attempt, back-off included, ms",
                            ),
                        ),
                        (
                            "cost_usd",
                            nullable(number(
                                "tokens × the model's price (US dollars); null when the model has no price",
                            )),
                        ),
                        (
                            "quota",
                            nullable(object(&[
                                (
                                    "tokens_per_minute",
                                    nullable(integer("the deployment's token quota")),
                                ),
                                (
                                    "requests_per_minute",
                                    nullable(integer("the deployment's request quota")),
                                ),
                                (
                                    "peak_tokens_per_minute",
                                    integer("most tokens in one minute"),
                                ),
                                (
                                    "peak_requests_per_minute",
                                    integer("most calls in one minute"),
                                ),
                                (
                                    "peak_share",
                                    number("the peak over the tighter limit (1 = at the quota)"),
                                ),
                                (
                                    "minutes_over_80_percent",
                                    integer("minutes past 80 % of a limit"),
                                ),
                                (
                                    "throttled_calls_in_those_minutes",
                                    integer("throttled calls first throttled in those minutes"),
                                ),
                            ])),
                        ),
                        ("avg_ms", number("mean call duration, ms")),
                        ("p50_ms", number("median call duration, ms")),
                        ("p95_ms", number("95th percentile call duration, ms")),
                        ("p99_ms", number("99th percentile call duration, ms")),
                        (
                            "ms_per_output_token",
                            nullable(number("summed duration / output tokens, ms")),
                        ),
                        (
                            "sample_operation_id",
                            string("the most recent call's operation"),
                        ),
                        (
                            "series",
                            array(
                                object(&[
                                    ("bucket", string("start of the bucket (ISO 8601)")),
                                    (
                                        "cost_usd",
                                        nullable(number("the bucket's cost, US dollars")),
                                    ),
                                    ("calls", integer("calls")),
                                    ("input_tokens", integer("prompt tokens")),
                                    ("output_tokens", integer("completion tokens")),
                                    ("throttled_calls", integer("calls that ended in 429")),
                                ]),
                                "per bucket, with interval",
                            ),
                        ),
                    ]),
                    "per provider, model and target",
                ),
            ),
            ("truncated", truncated()),
            (
                "prices_as_of",
                string(
                    "when the prices in use were published (the built-in table or --genai-prices)",
                ),
            ),
        ]),
        "/api/v1/search" => object(&[
            (
                "items",
                array(
                    object(&[
                        ("kind", string("`trace` (log line) or `exception`")),
                        ("timestamp_ns", integer("UTC nanoseconds")),
                        ("time", string("ISO 8601")),
                        ("item_id", string("the item's id")),
                        ("operation_id", string("the operation it belongs to")),
                        ("parent_id", string("the span it belongs to")),
                        ("severity_level", integer("0 verbose … 4 critical")),
                        ("role", string("cloud_RoleName")),
                        ("message", string("log line or exception message")),
                        (
                            "exception_type",
                            string("exception type; empty for log lines"),
                        ),
                        (
                            "problem_id",
                            string("exception problem id; empty for log lines"),
                        ),
                    ]),
                    "newest first",
                ),
            ),
            (
                "next_cursor",
                nullable(string("pass as `cursor` for the next page")),
            ),
        ]),
        "/api/v1/live" => object(&[(
            "instances",
            array(
                object(&[
                    ("app", string("the app of the instance's key")),
                    ("role", string("role name")),
                    ("instance", string("instance name")),
                    ("received", string("when the data point arrived (ISO 8601)")),
                    (
                        "data_point",
                        json!({ "type": "object", "description": "the Live Metrics data point as the SDK posted it" }),
                    ),
                ]),
                "the latest data point of each instance",
            ),
        )]),
        _ => json!({ "type": "object" }),
    }
}
