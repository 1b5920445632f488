//! The shared parts of the response schemas: aggregate rows, transaction nodes and the records
//! attached to them.

use serde_json::{Map, Value};

use super::{array, boolean, integer, nullable, number, object, reference, string, strings_by_key};

/// The aggregate figures of a group of requests or dependencies, weighted by `itemCount`.
pub(super) fn stats_fields() -> Vec<(&'static str, Value)> {
    vec![
        ("count", integer("items, weighted by itemCount")),
        ("failed", integer("unsuccessful items")),
        ("failure_rate", number("failed / count, 0 to 1")),
        ("avg_ms", number("mean duration, ms")),
        ("p50_ms", number("median duration (nearest rank), ms")),
        ("p90_ms", number("90th percentile duration, ms")),
        ("p95_ms", number("95th percentile duration, ms")),
        ("p99_ms", number("99th percentile duration, ms")),
        ("max_ms", number("longest duration, ms")),
        (
            "sample_operation_id",
            string("the group's most recent operation, to open as an example"),
        ),
    ]
}

fn stats_row() -> Value {
    let mut fields = stats_fields();
    fields.extend([
        (
            "group",
            strings_by_key("the group's value of each group_by column"),
        ),
        (
            "bucket",
            string("start of the time bucket (ISO 8601), with interval"),
        ),
        (
            "series",
            array(
                object(&[
                    ("bucket", string("start of the bucket (ISO 8601)")),
                    ("count", integer("items in the bucket")),
                ]),
                "counts per bucket, with interval",
            ),
        ),
    ]);
    object(&fields)
}

fn record_fields() -> Vec<(&'static str, Value)> {
    vec![
        ("timestamp_ns", integer("UTC nanoseconds since the epoch")),
        ("item_id", string("the item's id")),
        ("operation_id", string("the operation (trace) id")),
        ("parent_id", string("the span it belongs to")),
        ("cloud_role_name", string("the role (service) that sent it")),
        ("cloud_role_instance", string("the instance that sent it")),
        ("item_count", integer("items it stands for (sampling)")),
        ("dimensions", strings_by_key("customDimensions")),
    ]
}

pub(super) fn with(
    mut fields: Vec<(&'static str, Value)>,
    more: Vec<(&'static str, Value)>,
) -> Value {
    fields.extend(more);
    object(&fields)
}

fn node() -> Value {
    object(&[
        ("index", integer("position in pre-order")),
        (
            "parent",
            nullable(integer("the parent node's index; null for a root")),
        ),
        ("depth", integer("0 for roots")),
        (
            "children",
            array(integer("node index"), "children's indices, in start order"),
        ),
        ("kind", string("`request` or `dependency`")),
        ("id", string("span id")),
        ("parent_id", string("the parent span id as sent")),
        ("operation_name", string("the root request's name")),
        ("name", string("span name")),
        (
            "type",
            string(
                "dependency type (`HTTP`, `SQL`, `GenAI | openai`, `InProc`, …); empty for requests",
            ),
        ),
        (
            "target",
            string("dependency target (host:port, database, model endpoint)"),
        ),
        (
            "data",
            string("request URL, or dependency data (URL, statement)"),
        ),
        ("result_code", string("HTTP status or other result code")),
        ("success", boolean("whether it succeeded")),
        ("role", string("cloud_RoleName")),
        ("role_instance", string("cloud_RoleInstance")),
        (
            "start_offset_ms",
            number("start relative to the transaction's start, ms"),
        ),
        ("duration_ms", number("duration, ms")),
        (
            "self_time_ms",
            number("duration not covered by any child, ms"),
        ),
        (
            "on_critical_path",
            boolean("whether it is on the critical path"),
        ),
        ("orphan", boolean("its parent span was not received")),
        ("item_count", integer("items it stands for (sampling)")),
        (
            "retry",
            object(&[
                ("group", integer("index into `retries`")),
                ("attempt", integer("1-based attempt number")),
            ]),
        ),
        ("genai", reference("GenAi")),
        ("attributes", strings_by_key("customDimensions of the span")),
        (
            "exceptions",
            array(reference("Exception"), "exceptions raised in the span"),
        ),
        (
            "logs",
            array(reference("Log"), "log lines written in the span"),
        ),
        (
            "events",
            array(reference("Event"), "custom events of the span"),
        ),
    ])
}

/// `components.schemas` of the document.
pub fn component_schemas() -> Map<String, Value> {
    let mut schemas = Map::new();
    schemas.insert("StatsRow".into(), stats_row());
    schemas.insert("Node".into(), node());
    schemas.insert(
        "GenAi".into(),
        object(&[
            ("provider", string("e.g. `openai`, `azure.ai.openai`")),
            ("operation", string("e.g. `chat`, `embeddings`")),
            ("request_model", string("the model asked for")),
            ("response_model", string("the model that answered")),
            ("input_tokens", integer("prompt tokens")),
            ("output_tokens", integer("completion tokens")),
            (
                "cached_input_tokens",
                integer("prompt tokens read from the provider's cache (part of input_tokens)"),
            ),
            (
                "reasoning_tokens",
                integer("completion tokens spent reasoning (part of output_tokens)"),
            ),
            ("finish_reason", string("why generation stopped")),
            (
                "prompt_name",
                string("the managed prompt the call used (gen_ai.prompt.name, langfuse.prompt.name)"),
            ),
            (
                "prompt_version",
                string("its version (gen_ai.prompt.version, langfuse.prompt.version, llm.prompt_template.version)"),
            ),
            (
                "cost_usd",
                nullable(number(
                    "the call's tokens × its model's price, US dollars; null when unpriced",
                )),
            ),
            (
                "messages",
                array(
                    object(&[
                        ("direction", string("`input` (prompt) or `output` (completion)")),
                        ("role", string("system, user, assistant, tool")),
                        ("content", string("the text")),
                        (
                            "tool_calls",
                            array(
                                object(&[
                                    ("name", string("the tool")),
                                    ("arguments", string("its arguments as sent, JSON")),
                                ]),
                                "tools the model called",
                            ),
                        ),
                    ]),
                    "the prompt and completion, whichever instrumentation recorded them; empty when none were (or --genai-capture-content off)",
                ),
            ),
        ]),
    );
    schemas.insert(
        "RetryGroup".into(),
        object(&[
            (
                "parent",
                integer("index of the node the attempts hang under"),
            ),
            ("name", string("the attempts' name")),
            ("type", string("dependency type")),
            ("target", string("dependency target")),
            (
                "attempts",
                array(integer("node index"), "the attempts, in start order"),
            ),
            ("throttled", integer("attempts answered 429")),
            ("failed", integer("other failed attempts")),
            ("succeeded", boolean("whether an attempt succeeded")),
            (
                "time_before_success_ms",
                number("from the first attempt's start to the successful one's start, ms"),
            ),
            (
                "throttled_time_ms",
                number("what the caller waited because of throttling: from the first 429's start to the successful attempt's start (or the last attempt's end), ms"),
            ),
        ]),
    );
    schemas.insert(
        "Finding".into(),
        object(&[
            (
                "kind",
                string("`throttling`, `failure`, `slow_dependency` or `retries_invisible`"),
            ),
            ("span", integer("node index of the call it is about")),
            ("name", string("the call's name")),
            ("target", string("the endpoint hit")),
            (
                "model",
                string("throttling, retries_invisible: the requested model"),
            ),
            ("attempts", integer("throttling: attempts answered 429")),
            ("status", integer("throttling: 429")),
            (
                "throttled_ms",
                number("throttling: what the caller waited because of it, ms"),
            ),
            (
                "share_of_request",
                number("throttling, slow_dependency: that time over the transaction's, 0 to 1"),
            ),
            (
                "succeeded",
                boolean("throttling: whether an attempt finally succeeded"),
            ),
            ("result_code", string("failure: the result code")),
            (
                "count",
                integer("failure: failed calls of this name, target and code"),
            ),
            (
                "duration_ms",
                number("slow_dependency, retries_invisible: the call's duration, ms"),
            ),
            (
                "output_tokens",
                integer("retries_invisible: tokens the call produced"),
            ),
            (
                "usual_ms",
                number("retries_invisible: the usual latency for that output, ms"),
            ),
            (
                "deployment",
                object(&[
                    (
                        "peak_tokens_per_minute",
                        integer("throttling: most tokens the deployment served in a minute around the transaction (this app's calls)"),
                    ),
                    (
                        "quota_tokens_per_minute",
                        nullable(integer("throttling: its quota, from --genai-quota")),
                    ),
                ]),
            ),
        ]),
    );
    schemas.insert(
        "Exception".into(),
        with(
            record_fields(),
            vec![
                (
                    "problem_id",
                    string("type and failing function, no line numbers"),
                ),
                ("exception_type", string("exception type")),
                ("message", string("exception message")),
                ("method", string("the function it was raised in")),
                ("stack", string("stack trace as sent")),
                ("severity_level", integer("0 verbose … 4 critical")),
            ],
        ),
    );
    schemas.insert(
        "Log".into(),
        with(
            record_fields(),
            vec![
                ("message", string("the log line")),
                ("severity_level", integer("0 verbose … 4 critical")),
            ],
        ),
    );
    schemas.insert(
        "Event".into(),
        with(record_fields(), vec![("name", string("event name"))]),
    );
    schemas
}
