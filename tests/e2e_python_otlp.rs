//! The real Python OpenTelemetry SDK (FastAPI + httpx instrumentation, OTLP gRPC and HTTP
//! exporters, versions pinned in tests/python/requirements.txt) sending to a real server.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{TestServer, python, run_summary};
use tracehouse::reads::records::{OperationItems, SpanRecord, SpanTable};

struct DriverOutput {
    work_trace_id: String,
    fail_trace_id: String,
    caller_span_id: String,
}

fn run_driver(protocol: &str, endpoint: &str) -> DriverOutput {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/otlp_app.py");
    let summary = run_summary(
        Command::new(python())
            .arg(script)
            .args([protocol, endpoint, "E2E-KEY"]),
        "the OTLP driver",
    );
    assert_eq!(summary["flushed"], true, "every provider flushed");
    let text = |key: &str| summary[key].as_str().unwrap_or_default().to_owned();
    DriverOutput {
        work_trace_id: text("work_trace_id"),
        fail_trace_id: text("fail_trace_id"),
        caller_span_id: text("caller_span_id"),
    }
}

fn request<'a>(items: &'a OperationItems, name: &str) -> &'a SpanRecord {
    items
        .spans
        .iter()
        .find(|s| s.table == SpanTable::Request && s.name == name)
        .unwrap_or_else(|| panic!("request {name} missing: {:#?}", items.spans))
}

async fn check(server: &TestServer, run: &DriverOutput) {
    let work = server
        .store
        .operation("", &run.work_trace_id)
        .await
        .expect("read");
    let root = request(&work, "GET /work");
    assert_eq!((root.result_code.as_str(), root.success), ("200", true));
    assert_eq!(root.parent_id, "");
    assert_eq!(root.cloud_role_name, "shop.e2e-api");
    assert_eq!(root.cloud_role_instance, "pod-1");
    let call = work
        .spans
        .iter()
        .find(|s| s.table == SpanTable::Dependency && s.dependency_type == "HTTP")
        .expect("httpx dependency");
    assert_eq!(call.name, "GET /downstream");
    assert_eq!(call.parent_id, root.id);
    assert!(call.target.starts_with("127.0.0.1:"), "{}", call.target);
    let downstream = request(&work, "GET /downstream");
    assert_eq!(
        downstream.parent_id, call.id,
        "server span continues the client span"
    );
    let line = work
        .traces
        .iter()
        .find(|t| t.message == "working hard")
        .expect("log line");
    assert_eq!(line.severity_level, 1);
    assert_eq!(line.operation_id, run.work_trace_id);
    assert!(
        work.spans.iter().any(|s| s.id == line.parent_id),
        "logged inside a span"
    );

    let fail = server
        .store
        .operation("", &run.fail_trace_id)
        .await
        .expect("read");
    let failed = request(&fail, "GET /fail");
    assert_eq!(
        (failed.result_code.as_str(), failed.success),
        ("500", false)
    );
    assert_eq!(
        failed.parent_id, run.caller_span_id,
        "remote parent from traceparent"
    );
    let exception = fail.exceptions.first().expect("exception stored");
    assert_eq!(exception.exception_type, "RuntimeError");
    assert_eq!(exception.message, "vector index unavailable");
    assert_eq!(exception.parent_id, failed.id);
    assert_eq!(exception.problem_id, "RuntimeError at fail");

    let counters = common::stored_metric(server, "work.done", 10).await;
    let counter = counters.first().expect("counter exported");
    assert_eq!(counter.value, 1.0);
    assert_eq!(counter.cloud_role_name, "shop.e2e-api");
    assert!(
        counter
            .dimensions
            .iter()
            .any(|(k, v)| k == "route" && v == "/work")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn python_sdk_over_otlp_grpc() {
    let server = TestServer::start().await;
    let endpoint = server.grpc_url();
    let run = tokio::task::spawn_blocking(move || run_driver("grpc", &endpoint))
        .await
        .expect("driver");
    check(&server, &run).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python_sdk_over_otlp_http() {
    let server = TestServer::start().await;
    let endpoint = format!("http://{}", server.http);
    let run = tokio::task::spawn_blocking(move || run_driver("http", &endpoint))
        .await
        .expect("driver");
    check(&server, &run).await;
    server.stop().await;
}
