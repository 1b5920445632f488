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

/// The `series` of one answer from `/api/v1/metrics/series`, by their group's `dim.state`.
async fn series_by_state(server: &TestServer, query: &str) -> Vec<(String, Vec<f64>)> {
    let body =
        common::scenario::ok(server, &format!("/api/v1/metrics/series?from=5m&{query}")).await;
    body["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|s| {
            let state = s["group"]["dim.state"].as_str().unwrap_or("").to_owned();
            let values = s["values"]
                .as_array()
                .expect("values")
                .iter()
                .filter_map(|v| v.as_f64())
                .collect();
            (state, values)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn python_system_metrics_come_back_as_series() {
    let server = TestServer::start().await;
    let endpoint = format!("http://{}", server.http);
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/system_metrics_app.py");
    tokio::task::spawn_blocking(move || {
        run_summary(
            Command::new(python())
                .arg(script)
                .args([endpoint.as_str(), "E2E-KEY"]),
            "the system metrics driver",
        )
    })
    .await
    .expect("driver");
    server.wait_until_shipped().await;
    let catalog = common::scenario::ok(&server, "/api/v1/metrics?from=5m").await;
    let names: Vec<&str> = catalog["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    for name in [
        "system.cpu.utilization",
        "system.memory.usage",
        "process.cpu.time",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }

    // CPU utilization per state, a fraction of one CPU.
    let cpu = series_by_state(
        &server,
        "name=system.cpu.utilization&aggregation=avg&group_by=dim.state&interval=1m",
    )
    .await;
    let states: Vec<&str> = cpu.iter().map(|(s, _)| s.as_str()).collect();
    assert!(
        states.contains(&"user") && states.contains(&"idle"),
        "{states:?}"
    );
    assert!(
        cpu.iter()
            .all(|(_, v)| !v.is_empty() && v.iter().all(|x| (0.0..=1.0).contains(x))),
        "{cpu:?}"
    );

    // Memory in use, in bytes, and the process's CPU time as a rate of CPU seconds a second.
    let memory = series_by_state(
        &server,
        "name=system.memory.usage&aggregation=max&group_by=dim.state&interval=1m",
    )
    .await;
    let used = memory
        .iter()
        .find(|(s, _)| s == "used")
        .expect("used memory");
    assert!(used.1.iter().all(|bytes| *bytes > 1e6), "{used:?}");
    let body = common::scenario::ok(
        &server,
        "/api/v1/metrics/series?from=5m&name=process.cpu.time&aggregation=rate&dim.type=user&interval=1m",
    )
    .await;
    let rates: Vec<f64> = body["series"][0]["values"]
        .as_array()
        .expect("values")
        .iter()
        .filter_map(|v| v.as_f64())
        .collect();
    assert!(
        !rates.is_empty() && rates.iter().all(|r| *r >= 0.0),
        "{body}"
    );
    assert!(
        rates.iter().any(|r| *r > 0.0),
        "the busy loop shows as CPU time: {body}"
    );
    server.stop().await;
}
