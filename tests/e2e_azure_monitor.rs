//! The real `azure-monitor-opentelemetry` distro (pinned in tests/python/requirements.txt),
//! configured only through `APPLICATIONINSIGHTS_CONNECTION_STRING`, sending to tracehouse's
//! track endpoint: a FastAPI chat service whose Azure OpenAI calls are throttled three times.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{TestServer, python, run_summary};
use tracehouse::reads::records::{OperationItems, SpanTable};

struct Run {
    chat_trace_id: String,
    fail_trace_id: String,
}

fn run_app(server: &TestServer) -> Run {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/azure_app.py");
    let endpoint = server.http_url("/");
    let connection_string = format!(
        "InstrumentationKey=00000000-0000-0000-0000-0000000000e2;IngestionEndpoint={endpoint};LiveEndpoint={endpoint}"
    );
    let mut command = Command::new(python());
    command
        .arg(script)
        .env("APPLICATIONINSIGHTS_CONNECTION_STRING", connection_string)
        .env("OTEL_SERVICE_NAME", "chat-api")
        // The distro's default rate-limited sampler would drop spans of this burst.
        .env("OTEL_TRACES_SAMPLER", "always_on")
        // Keep the SDK's own telemetry and settings polls at home.
        .env("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "true")
        .env("APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED", "true");
    let summary = run_summary(&mut command, "the Azure Monitor app");
    assert_eq!(summary["flushed"], true);
    assert_eq!(summary["attempts"], 4, "three 429s, then the answer");
    Run {
        chat_trace_id: summary["chat_trace_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        fail_trace_id: summary["fail_trace_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    }
}

async fn operation(
    server: &TestServer,
    id: &str,
    ready: impl Fn(&OperationItems) -> bool,
) -> OperationItems {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let items = server.store.operation("", id).await.expect("read");
        if ready(&items) || Instant::now() > deadline {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn configure_azure_monitor_sends_the_throttled_chat_story_unchanged() {
    let server = TestServer::start().await;
    let run = tokio::task::block_in_place(|| run_app(&server));

    let chat = operation(&server, &run.chat_trace_id, |items| {
        items.spans.len() >= 6 && !items.traces.is_empty()
    })
    .await;
    let request = chat
        .spans
        .iter()
        .find(|s| s.table == SpanTable::Request && s.name == "POST /chat")
        .unwrap_or_else(|| panic!("request missing: {:#?}", chat.spans));
    assert_eq!(
        (request.name.as_str(), request.result_code.as_str()),
        ("POST /chat", "200")
    );
    assert_eq!(request.cloud_role_name, "chat-api");
    let genai = chat
        .spans
        .iter()
        .find(|s| !s.genai.provider.is_empty())
        .unwrap_or_else(|| panic!("GenAI call missing: {:#?}", chat.spans));
    // request → fastapi.endpoint (InProc) → chat gpt-4o: the call sits under the request.
    let parent_of = |id: &str| {
        chat.spans
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.parent_id.clone())
    };
    let mut ancestor = genai.parent_id.clone();
    while ancestor != request.id {
        ancestor = parent_of(&ancestor)
            .unwrap_or_else(|| panic!("{} is not under the request", genai.name));
    }
    assert_eq!(genai.dependency_type, "GenAI | openai");
    assert_eq!(
        (genai.genai.input_tokens, genai.genai.output_tokens),
        (15, 12)
    );
    let attempts: Vec<&str> = chat
        .spans
        .iter()
        .filter(|s| s.parent_id == genai.id && s.dependency_type == "HTTP")
        .map(|s| s.result_code.as_str())
        .collect();
    assert_eq!(
        attempts.iter().filter(|c| **c == "429").count(),
        3,
        "{attempts:?}"
    );
    assert_eq!(
        attempts.iter().filter(|c| **c == "200").count(),
        1,
        "{attempts:?}"
    );
    let line = chat
        .traces
        .iter()
        .find(|t| t.message == "answered chat")
        .unwrap_or_else(|| panic!("log line missing: {:#?}", chat.traces));
    assert!(
        chat.spans.iter().any(|s| s.id == line.parent_id),
        "logged inside a span"
    );

    // The story in one request: the transaction groups the attempts as one throttled retry.
    let transaction: serde_json::Value =
        reqwest::get(server.api_url(&format!("/api/v1/operations/{}", run.chat_trace_id)))
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
    let retry = &transaction["retries"][0];
    assert_eq!(retry["throttled"], 3, "{transaction}");
    assert_eq!(retry["succeeded"], true);
    assert_eq!(
        transaction["nodes"][retry["parent"].as_u64().unwrap_or(0) as usize]["name"],
        "chat gpt-4o"
    );
    assert!(retry["time_before_success_ms"].as_f64().unwrap_or(0.0) > 0.0);
    // And states the diagnosis: three 429s on gpt-4o, the SDK's back-off included in the wait.
    let finding = &transaction["findings"][0];
    assert_eq!(
        (
            finding["kind"].as_str(),
            finding["model"].as_str(),
            finding["attempts"].as_u64()
        ),
        (Some("throttling"), Some("gpt-4o"), Some(3)),
        "{transaction}"
    );
    assert!(
        finding["throttled_ms"].as_f64().unwrap_or(0.0) >= 3.0 * 200.0 * 0.9,
        "three retries after retry-after-ms 200: {finding}"
    );

    let fail = operation(&server, &run.fail_trace_id, |items| {
        !items.exceptions.is_empty()
    })
    .await;
    let exception = fail
        .exceptions
        .first()
        .unwrap_or_else(|| panic!("exception missing: {fail:#?}"));
    assert_eq!(exception.exception_type, "RuntimeError");
    assert!(
        fail.spans.iter().any(|s| s.id == exception.parent_id),
        "on its request"
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    let metric = loop {
        let points = common::stored_metric(&server, "chat.answers", 10).await;
        if let Some(point) = points.into_iter().next() {
            break point;
        }
        assert!(Instant::now() < deadline, "custom metric missing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(metric.value, 1.0);
    assert_eq!(metric.cloud_role_name, "chat-api");
    server.stop().await;
}
