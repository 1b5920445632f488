//! Response schemas of the GenAI sessions and users endpoints.

use serde_json::Value;

use super::{array, boolean, integer, number, object, string};

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

pub fn response(path: &str) -> Option<Value> {
    match path {
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
