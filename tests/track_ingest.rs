//! Application Insights ingestion over HTTP: the track endpoints with real SDK payloads, the
//! response shapes SDKs act on, bad bodies, and the Live Metrics endpoints.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, fixture, gzip};
use serde_json::{Value, json};

async fn post(
    server: &TestServer,
    path: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(server.http_url(path))
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The `index` of each item error in a track answer.
fn error_indexes(body: &Value) -> Vec<u64> {
    body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["index"].as_u64())
        .collect()
}

async fn wait_for_operation(server: &TestServer, operation_id: &str, spans: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let items = server
            .store
            .operation("", operation_id)
            .await
            .expect("read");
        if items.spans.len() >= spans {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{operation_id}: {} spans",
            items.spans.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn every_track_path_takes_the_python_distro_payload() {
    let server = TestServer::start().await;
    for path in ["/v2.1/track", "//v2.1/track", "/v2/track"] {
        let (status, body) = post(
            &server,
            path,
            fixture("appinsights/rag-api-429-retries.json"),
            &[("content-type", "application/json")],
        )
        .await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["itemsReceived"], 10, "{path}");
        assert_eq!(body["itemsAccepted"], 10, "{path}");
        assert_eq!(body["errors"], json!([]), "{path}");
    }
    wait_for_operation(&server, "1957330c99ecc7cab77772f305704791", 1).await;
    let items = server
        .store
        .operation("", "1957330c99ecc7cab77772f305704791")
        .await
        .expect("read");
    assert!(
        items
            .spans
            .iter()
            .any(|s| s.name == "POST /chat" && s.cloud_role_name == "rag-api")
    );
    server.stop().await;
}

#[tokio::test]
async fn gzip_and_ndjson_bodies_are_sniffed_not_labelled() {
    let server = TestServer::start().await;
    let envelopes: Vec<Value> =
        serde_json::from_slice(&fixture("appinsights/worker-logs-metrics-events.json"))
            .expect("fixture");
    let ndjson: String = envelopes.iter().map(|e| format!("{e}\n")).collect();
    let (status, body) = post(
        &server,
        "/v2/track",
        gzip(ndjson.as_bytes()),
        &[
            ("content-type", "application/x-json-stream"),
            ("content-encoding", "gzip"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["itemsAccepted"], envelopes.len());
    server.stop().await;
}

#[tokio::test]
async fn bad_items_get_206_with_their_index_and_bad_bodies_get_400() {
    let server = TestServer::start().await;
    let mut envelopes: Vec<Value> =
        serde_json::from_slice(&fixture("appinsights/rag-api-429-retries.json")).expect("fixture");
    envelopes.insert(1, json!({"iKey": "x", "data": {}}));
    envelopes.insert(
        3,
        json!({"data": {"baseType": "MessageData", "baseData": {"message": "x".repeat(70_000)}}}),
    );
    let (status, body) = post(
        &server,
        "/v2.1/track",
        serde_json::to_vec(&envelopes).expect("json"),
        &[],
    )
    .await;
    assert_eq!(status, 206, "{body}");
    assert_eq!(
        (
            body["itemsReceived"].as_u64(),
            body["itemsAccepted"].as_u64()
        ),
        (Some(12), Some(10))
    );
    let indexes = error_indexes(&body);
    assert_eq!(indexes, [1, 3]);
    assert!(
        body["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .all(|e| e["statusCode"] == 400)
    );

    // Invalid UTF-8 in one envelope and nesting past the JSON parser's depth in another cost
    // only those two.
    let mut raw = serde_json::to_vec(&envelopes[..3]).expect("json");
    raw.pop();
    raw.extend_from_slice(
        b", {\"data\": {\"baseType\": \"MessageData\", \"baseData\": {\"message\": \"",
    );
    raw.extend_from_slice(&[0xff, 0xfe]);
    raw.extend_from_slice(b"\"}}}, {\"data\": {\"baseType\": \"MessageData\", \"baseData\": {\"message\": \"m\", \"properties\": {\"deep\": ");
    raw.extend_from_slice("[".repeat(300).as_bytes());
    raw.extend_from_slice("]".repeat(300).as_bytes());
    raw.extend_from_slice(b"}}}}]");
    let (status, body) = post(&server, "/v2.1/track", raw, &[]).await;
    assert_eq!(status, 206, "{body}");
    let indexes = error_indexes(&body);
    assert_eq!(indexes, [1, 3, 4], "{body}");
    assert_eq!(body["itemsAccepted"], 2, "{body}");

    let (status, body) = post(&server, "/v2.1/track", b"[{\"data\":{}}]".to_vec(), &[]).await;
    assert_eq!(status, 400, "{body}");
    for bad in [&b"not json"[..], b"[1,", b"{\"a\":"] {
        let (status, body) = post(&server, "/v2.1/track", bad.to_vec(), &[]).await;
        assert_eq!(status, 400, "{bad:?}: {body}");
    }
    // A gzip bomb: small on the wire, over the limit once inflated.
    let bomb = gzip(&vec![b' '; 64 * 1024 * 1024]);
    let (status, _) = post(
        &server,
        "/v2.1/track",
        bomb,
        &[("content-encoding", "gzip")],
    )
    .await;
    assert_eq!(status, 413);
    // Still serving.
    let (status, _) = post(
        &server,
        "/v2.1/track",
        fixture("appinsights/rag-api-429-retries.json"),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test]
async fn live_metrics_pings_and_posts_are_answered_and_kept() {
    let server = TestServer::start_with(|config| config.live_metrics = true, None).await;
    let ping = "/QuickPulseService.svc/ping?api-version=2024-04-01-preview&ikey=00000000-0000-0000-0000-000000000001";
    let response = reqwest::Client::new()
        .post(server.http_url(ping))
        .header("content-type", "application/json")
        .header("x-ms-qps-configuration-etag", "")
        .body(fixture("appinsights/quickpulse-ping-body.json"))
        .send()
        .await
        .expect("ping");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-ms-qps-subscribed"], "true");
    let point = json!([{
        "Version": "1", "InvariantVersion": 5, "Instance": "pod-7", "RoleName": "rag-api",
        "Metrics": [{"Name": "\\ApplicationInsights\\Requests/Sec", "Value": 3.0, "Weight": 1}],
    }]);
    let (status, _) = post(
        &server,
        "/QuickPulseService.svc/post?ikey=k",
        point.to_string().into_bytes(),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    let live: Value = reqwest::get(server.api_url("/api/v1/live"))
        .await
        .expect("live")
        .json()
        .await
        .expect("json");
    let instances = live["instances"].as_array().expect("instances");
    let posted = instances
        .iter()
        .find(|i| i["instance"] == "pod-7")
        .expect("posted instance");
    assert_eq!(posted["data_point"]["Metrics"][0]["Value"], 3.0);
    assert!(
        instances
            .iter()
            .any(|i| i["role"] == "rag-api" && i["instance"] != "pod-7"),
        "the ping's instance"
    );
    let (status, _) = post(
        &server,
        "/QuickPulseService.svc/post",
        b"nope".to_vec(),
        &[],
    )
    .await;
    assert_eq!(status, 400);
    server.stop().await;
}
