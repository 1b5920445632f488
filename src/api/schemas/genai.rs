//! Response schemas of the GenAI sessions, users and scores endpoints.

use serde_json::{Value, json};

use super::{array, boolean, integer, nullable, number, object, string};

/// `key`: the listed id and its description; `others`: the field naming the other side.
fn listing(key: (&str, &str), others: (&str, &str)) -> Value {
    let row = object(&[
        (key.0, string(key.1)),
        (others.0, array(string("id"), others.1)),
        (
            "requests",
            integer("server requests under the id, of every role, weighted by itemCount"),
        ),
        ("failed_requests", integer("failed requests")),
        ("calls", integer("LLM calls, weighted by itemCount")),
        ("failed_calls", integer("failed LLM calls")),
        ("input_tokens", integer("prompt tokens")),
        ("output_tokens", integer("completion tokens")),
        (
            "cost_usd",
            number("cost of the calls whose model has a price, USD"),
        ),
        (
            "unpriced_calls",
            integer("calls of models without a price (not in cost_usd)"),
        ),
        ("models", array(string("model"), "requested models used")),
        ("last_seen", string("the latest item (ISO 8601)")),
        (
            "sample_operation_id",
            string("the latest operation, to open as a transaction"),
        ),
    ]);
    object(&[
        ("from", string("start of the range (ISO 8601)")),
        ("to", string("end of the range, exclusive (ISO 8601)")),
        ("rows", array(row, "latest first")),
        (
            "truncated",
            boolean("whether rows were left out (raise `limit` or narrow the range)"),
        ),
        (
            "prices_as_of",
            string("when the prices in use were published (the built-in table or --genai-prices)"),
        ),
    ])
}

/// One stored score.
pub fn score() -> Value {
    object(&[
        ("id", string("the score's id (the client's, or generated)")),
        ("time_ns", integer("when it was posted, UTC nanoseconds")),
        ("app", string("the app of the key it was posted with")),
        ("operation_id", string("the scored operation")),
        (
            "span_id",
            string("the scored span; empty for the whole operation"),
        ),
        ("name", string("what was scored, e.g. helpfulness")),
        ("data_type", string("numeric, boolean or categorical")),
        (
            "value",
            number("the number; 1 or 0 for booleans; 0 for categories"),
        ),
        ("category", string("the category of a categorical score")),
        ("comment", string("as posted")),
        ("source", string("human, llm-judge or api")),
        (
            "model",
            string("the scored span's requested model when it is an LLM call; else empty"),
        ),
        (
            "prompt_version",
            string("the scored LLM call's prompt version; else empty"),
        ),
    ])
}

fn score_summaries() -> Value {
    let point = object(&[
        ("bucket_ns", integer("start of the bucket, UTC nanoseconds")),
        ("bucket", string("start of the bucket (ISO 8601)")),
        ("count", integer("scores in the bucket")),
        ("mean", nullable(number("their mean; null for categories"))),
    ]);
    object(&[
        ("from", string("start of the range (ISO 8601)")),
        ("to", string("end of the range, exclusive (ISO 8601)")),
        (
            "rows",
            array(
                object(&[
                    ("name", string("score name")),
                    ("source", string("human, llm-judge or api")),
                    ("data_type", string("numeric, boolean or categorical")),
                    (
                        "model",
                        string(
                            "with group_by=model: the scored LLM call's model (empty: not an LLM call)",
                        ),
                    ),
                    (
                        "prompt_version",
                        string(
                            "with group_by=prompt_version: the scored LLM call's prompt version",
                        ),
                    ),
                    ("count", integer("scores")),
                    (
                        "mean",
                        nullable(number(
                            "numbers: their mean; booleans: the share that were true; null for categories",
                        )),
                    ),
                    ("min", nullable(number("smallest value"))),
                    ("max", nullable(number("largest value"))),
                    (
                        "categories",
                        json!({
                            "type": "object",
                            "additionalProperties": { "type": "integer" },
                            "description": "how often each category was given",
                        }),
                    ),
                    ("latest_operation_id", string("the newest scored operation")),
                    ("series", array(point, "per bucket, with `interval`")),
                ]),
                "per name, source and type, most scores first",
            ),
        ),
        ("truncated", boolean("whether rows or scores were left out")),
    ])
}

pub fn response(path: &str) -> Option<Value> {
    match path {
        "/api/v1/scores" => Some(score_summaries()),
        "/api/v1/genai/sessions" => Some(listing(
            (
                "session_id",
                "session.id, langfuse.session.id, gen_ai.conversation.id or the session tag",
            ),
            ("users", "users seen in the session"),
        )),
        "/api/v1/genai/users" => Some(listing(
            (
                "user_id",
                "enduser.pseudo.id, user.id, langfuse.user.id or the user tag",
            ),
            ("sessions", "sessions of the user"),
        )),
        _ => None,
    }
}
