//! The OpenTelemetry Node SDK (`@opentelemetry/sdk-node` with auto-instrumentations, pinned in
//! tests/node) in an Express service, configured only through the standard environment,
//! exporting traces, logs (pino) and metrics over OTLP HTTP/protobuf, HTTP/JSON and gRPC.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::scenario::{get, ok};
use common::{TestServer, run_summary};
use serde_json::Value;

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node")
}

/// Runs the app exporting with `protocol`; the order's trace id.
fn run_app(server: &TestServer, protocol: &str, service: &str) -> String {
    let endpoint = match protocol {
        "grpc" => server.grpc_url(),
        _ => server.http_url(""),
    };
    let mut command = Command::new("node");
    command
        .arg(node_dir().join("otlp_app.js"))
        .current_dir(node_dir())
        .env("OTEL_SERVICE_NAME", service)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .env("OTEL_TRACES_EXPORTER", "otlp")
        .env("OTEL_LOGS_EXPORTER", "otlp")
        .env("OTEL_METRICS_EXPORTER", "otlp");
    let summary = run_summary(
        &mut command,
        &format!("node otlp_app.js over {protocol} (npm ci --prefix tests/node installs the SDK)"),
    );
    assert_eq!(
        (
            summary["order_status"].as_u64(),
            summary["fail_status"].as_u64()
        ),
        (Some(200), Some(500)),
        "{protocol}"
    );
    summary["order_trace_id"]
        .as_str()
        .expect("trace id")
        .to_owned()
}

/// The order's transaction once both requests and their log line are in.
async fn order_transaction(server: &TestServer, trace_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = get(server, &format!("/api/v1/operations/{trace_id}")).await;
        let nodes = body["nodes"].as_array().map_or(0, Vec::len);
        let logs = body["nodes"].as_array().map_or(0, |nodes| {
            nodes
                .iter()
                .map(|n| n["logs"].as_array().map_or(0, Vec::len))
                .sum()
        });
        if status == 200 && nodes >= 9 && logs >= 1 || Instant::now() > deadline {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_node_sdk_exports_over_every_otlp_protocol() {
    let server = TestServer::start().await;
    for protocol in ["http/protobuf", "http/json", "grpc"] {
        let service = format!("shop-{}", protocol.replace('/', "-"));
        let trace_id = tokio::task::block_in_place(|| run_app(&server, protocol, &service));
        let tx = order_transaction(&server, &trace_id).await;
        let nodes = tx["nodes"].as_array().expect("nodes");
        let named = |name: &str| {
            nodes
                .iter()
                .find(|n| n["name"] == name)
                .unwrap_or_else(|| panic!("{protocol}: no {name:?} in {tx}"))
        };
        let root = named("GET /orders/:id");
        assert_eq!(
            (
                root["kind"].as_str(),
                root["parent"].is_null(),
                root["result_code"].as_str()
            ),
            (Some("request"), true, Some("200")),
            "{protocol}: {root}"
        );
        assert_eq!(root["role"], service.as_str());
        let handler = named("request handler - /orders/:id");
        assert_eq!(handler["type"], "InProc", "{protocol}: {handler}");
        let call = named("GET /inventory/42");
        assert_eq!(
            (
                call["kind"].as_str(),
                call["type"].as_str(),
                call["result_code"].as_str()
            ),
            (Some("dependency"), Some("HTTP"), Some("200")),
            "{protocol}: {call}"
        );
        assert_eq!(
            call["parent"], handler["index"],
            "{protocol}: the call is the handler's"
        );
        let served = named("GET /inventory/:id");
        assert_eq!(served["parent"], call["index"], "{protocol}: {served}");
        // The critical path runs from the request through the handler into the call it waited on.
        for node in [root, handler, call, served] {
            assert_eq!(
                node["on_critical_path"], true,
                "{protocol}: {}",
                node["name"]
            );
        }
        let logs: Vec<&Value> = nodes
            .iter()
            .flat_map(|n| n["logs"].as_array().into_iter().flatten())
            .collect();
        assert_eq!(logs.len(), 1, "{protocol}: {tx}");
        assert_eq!(logs[0]["message"], "order looked up");
        assert_eq!(
            handler["logs"].as_array().map(Vec::len),
            Some(1),
            "{protocol}: the log line is on the handler's span"
        );
        assert_eq!(tx["unattached"]["logs"], serde_json::json!([]));
    }

    // The throw, recorded by Express on every enclosing span, counts once per failed request,
    // under a problem id without line numbers.
    let failures = ok(&server, "/api/v1/failures?from=1h").await;
    let exceptions = failures["exceptions"]["rows"].as_array().expect("rows");
    assert_eq!(exceptions.len(), 1, "{failures}");
    assert_eq!(exceptions[0]["count"], 3, "one per protocol: {failures}");
    let problem = exceptions[0]["group"]["problem_id"].as_str().unwrap_or("");
    assert!(
        problem.starts_with("TypeError at ") && problem.ends_with("otlp_app.js"),
        "{problem}"
    );
    let failed = failures["requests"]["rows"].as_array().expect("rows");
    assert_eq!(
        (
            failed[0]["group"]["name"].as_str(),
            failed[0]["count"].as_u64()
        ),
        (Some("GET /fail"), Some(3)),
        "{failures}"
    );
    // No node for in-process spans on the map.
    let map = ok(&server, "/api/v1/map?from=1h").await;
    assert!(!map.to_string().contains("InProc"), "{map}");

    let deadline = Instant::now() + Duration::from_secs(20);
    let counted = loop {
        let points = common::stored_metric(&server, "orders.looked_up", 100).await;
        let roles: std::collections::BTreeSet<String> =
            points.iter().map(|p| p.cloud_role_name.clone()).collect();
        if roles.len() == 3 || Instant::now() > deadline {
            break roles;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        counted.len(),
        3,
        "the counter arrived over each protocol: {counted:?}"
    );
    server.stop().await;
}
