//! The three GenAI instrumentations of the openai SDK (pinned in tests/python/requirements.txt):
//! OpenInference, OpenLLMetry and opentelemetry-instrumentation-openai-v2, each with
//! `HTTPX2ClientInstrumentor` (openai 3 calls through httpx2), against a stand-in that answers
//! 429 three times and then 200. Each must give the model and tokens on the GenAI call and the
//! SDK's retries grouped under it in the transaction.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::scenario::ok;
use common::{TestServer, python, run_summary};
use serde_json::Value;

const KEY: &str = "6e6e6e6e-0000-4000-8000-000000000001";

/// The run's trace id and how long the stand-in saw the caller throttled: from the first
/// throttled attempt's arrival to the answered one's, in ms.
fn run(server: &TestServer, flavor: &str, stand_in_port: u16) -> (String, f64) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/genai_app.py");
    let summary = run_summary(
        Command::new(python())
            .env("STAND_IN_PORT", stand_in_port.to_string())
            .arg(script)
            .arg(flavor)
            .arg(server.http_url(""))
            .arg(KEY),
        flavor,
    );
    assert_eq!(summary["flushed"], true, "{flavor}");
    assert_eq!(
        summary["attempts"], 4,
        "{flavor}: three 429s, then the answer"
    );
    let arrivals: Vec<i64> = summary["arrivals_ns"]
        .as_array()
        .expect("arrivals")
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    let throttled_ms = (arrivals[3] - arrivals[0]) as f64 / 1e6;
    (
        summary["trace_id"].as_str().expect("trace id").to_owned(),
        throttled_ms,
    )
}

/// The transaction once its six spans are in: the request, the GenAI call, four attempts.
async fn transaction(server: &TestServer, trace_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) =
            common::scenario::get(server, &format!("/api/v1/operations/{trace_id}")).await;
        let nodes = body["nodes"].as_array().map_or(0, Vec::len);
        if status == 200 && nodes >= 6 || Instant::now() > deadline {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_openai_instrumentation_shows_the_model_tokens_and_grouped_retries() {
    let server = TestServer::start().await;
    // Every run's stand-in listens here: one deployment, called through three instrumentations.
    let stand_in_port = common::free_port();
    for flavor in ["openinference", "openllmetry", "openai-v2"] {
        let (trace_id, stand_in_throttled_ms) =
            tokio::task::block_in_place(|| run(&server, flavor, stand_in_port));
        let tx = transaction(&server, &trace_id).await;
        let nodes = tx["nodes"].as_array().expect("nodes");
        let call = nodes
            .iter()
            .find(|n| n["genai"].is_object())
            .unwrap_or_else(|| panic!("{flavor}: no GenAI call in {tx}"));
        let genai = &call["genai"];
        assert_eq!(genai["request_model"], "gpt-4o", "{flavor}: {call}");
        assert_eq!(
            (
                genai["input_tokens"].as_u64(),
                genai["output_tokens"].as_u64()
            ),
            (Some(15), Some(12)),
            "{flavor}: {call}"
        );
        assert!(
            !genai["provider"].as_str().unwrap_or("").is_empty(),
            "{flavor}: {call}"
        );
        // The prompt and the completion, whichever way the instrumentation recorded them.
        let said: Vec<(&str, &str, &str)> = genai["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| {
                (
                    m["direction"].as_str().unwrap_or(""),
                    m["role"].as_str().unwrap_or(""),
                    m["content"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            said,
            [("input", "user", "Hi"), ("output", "assistant", "Hello!")],
            "{flavor}: {call}"
        );
        let retries = tx["retries"].as_array().expect("retries");
        assert_eq!(retries.len(), 1, "{flavor}: {tx}");
        let retry = &retries[0];
        assert_eq!(
            (
                retry["attempts"].as_array().map(Vec::len),
                retry["throttled"].as_u64(),
                retry["succeeded"].as_bool()
            ),
            (Some(4), Some(3), Some(true)),
            "{flavor}: {retry}"
        );
        assert_eq!(
            nodes[retry["parent"].as_u64().expect("parent") as usize]["id"],
            call["id"],
            "{flavor}: the attempts hang under the GenAI call"
        );
        let path: Vec<&str> = tx["critical_path"]
            .as_array()
            .expect("path")
            .iter()
            .filter_map(|i| nodes[i.as_u64().unwrap_or(0) as usize]["name"].as_str())
            .collect();
        assert_eq!(path.first(), Some(&"POST /chat"), "{flavor}: {path:?}");
        // The diagnosis: throttling of the call, as long as the stand-in saw it.
        let finding = &tx["findings"][0];
        assert_eq!(finding["kind"], "throttling", "{flavor}: {tx}");
        assert_eq!(finding["attempts"], 3, "{flavor}: {finding}");
        assert_eq!(finding["model"], "gpt-4o", "{flavor}: {finding}");
        let throttled_ms = finding["throttled_ms"].as_f64().unwrap_or(0.0);
        assert!(
            (throttled_ms - stand_in_throttled_ms).abs() <= 0.05 * stand_in_throttled_ms,
            "{flavor}: {throttled_ms} ms throttled, the stand-in saw {stand_in_throttled_ms} ms"
        );
        let share = finding["share_of_request"].as_f64().unwrap_or(0.0);
        assert!(share > 0.3 && share <= 1.0, "{flavor}: {finding}");
    }
    let usage = ok(&server, "/api/v1/genai/usage?from=1h").await;
    let rows = usage["rows"].as_array().expect("rows");
    let total = |field: &str| rows.iter().filter_map(|r| r[field].as_u64()).sum::<u64>();
    assert_eq!(
        (
            total("calls"),
            total("input_tokens"),
            total("throttled_calls"),
            total("throttled_attempts")
        ),
        (3, 45, 3, 9),
        "each instrumentation's call, throttled once with three attempts: {usage}"
    );
    let groups: std::collections::BTreeSet<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["model"].as_str().unwrap_or(""),
                r["target"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        groups.into_iter().collect::<Vec<_>>(),
        [("gpt-4o", format!("127.0.0.1:{stand_in_port}").as_str())],
        "one model at the one endpoint"
    );

    // Sessions: each run's call under its session and user, whether the instrumentation named
    // them on the LLM span (OpenInference) or the app on the server span above it.
    let sessions = ok(&server, "/api/v1/genai/sessions?from=1h").await;
    let rows = sessions["rows"].as_array().expect("rows");
    let mut names: Vec<&str> = rows
        .iter()
        .filter_map(|r| r["session_id"].as_str())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "session-openai-v2",
            "session-openinference",
            "session-openllmetry"
        ],
        "{sessions}"
    );
    for row in rows {
        let (input, output) = (
            row["input_tokens"].as_u64().unwrap_or(0),
            row["output_tokens"].as_u64().unwrap_or(0),
        );
        assert_eq!((row["calls"].as_u64(), input), (Some(1), 15), "{row}");
        // The app's `POST /chat` where the app named the session there; the stand-in's own
        // server spans under the attempts join when they were exported with them.
        let requests = row["requests"].as_u64().unwrap_or(0);
        if row["session_id"] != "session-openinference" {
            assert!(requests >= 1, "{row}");
        }
        assert_eq!(row["users"], serde_json::json!(["alice"]), "{row}");
        assert_eq!(row["models"], serde_json::json!(["gpt-4o"]), "{row}");
        // The built-in price of gpt-4o: $2.50 per million input tokens, $10 per million output.
        let expected = (input as f64 * 2.5 + output as f64 * 10.0) / 1e6;
        let cost = row["cost_usd"].as_f64().unwrap_or(-1.0);
        assert!(
            (cost - expected).abs() < 1e-12,
            "{cost} vs {expected}: {row}"
        );
    }
    let users = ok(&server, "/api/v1/genai/users?from=1h").await;
    let alice = &users["rows"][0];
    assert_eq!(
        (
            alice["user_id"].as_str(),
            alice["calls"].as_u64(),
            alice["sessions"].as_array().map(Vec::len)
        ),
        (Some("alice"), Some(3), Some(3)),
        "{users}"
    );
    // Every read of a session is a filter too: its operations' samples.
    let samples = ok(
        &server,
        "/api/v1/samples?from=1h&filter.session_id=session-openllmetry&filter.name=POST%20/chat",
    )
    .await;
    assert_eq!(
        samples["items"].as_array().map(Vec::len),
        Some(1),
        "{samples}"
    );
    assert_eq!(
        samples["items"][0]["role"], "genai-openllmetry",
        "{samples}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_content_capture_off_no_prompt_or_completion_is_stored() {
    let server = TestServer::start_with(
        |config| config.ingest.limits.capture_genai_content = false,
        None,
    )
    .await;
    for flavor in ["openinference", "openllmetry"] {
        let (trace_id, _) = tokio::task::block_in_place(|| run(&server, flavor, 0));
        let tx = transaction(&server, &trace_id).await;
        let call = tx["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .find(|n| n["genai"].is_object())
            .unwrap_or_else(|| panic!("{flavor}: no GenAI call in {tx}"))
            .clone();
        assert_eq!(call["genai"]["messages"], serde_json::json!([]), "{flavor}");
        let stored = call["attributes"].to_string();
        assert!(
            !stored.contains("Hi") && !stored.contains("Hello!"),
            "{flavor}: content stored: {stored}"
        );
        for key in [
            "input.value",
            "output.value",
            "gen_ai.input.messages",
            "gen_ai.output.messages",
        ] {
            assert!(
                call["attributes"].get(key).is_none(),
                "{flavor}: {key} kept"
            );
        }
        assert_eq!(
            call["genai"]["output_tokens"], 12,
            "{flavor}: the rest is kept"
        );
    }
    server.stop().await;
}
