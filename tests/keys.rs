//! Instrumentation keys end to end: issued and revoked with the `tracehouse keys` command,
//! checked on every ingest path when `--require-keys` is on, and recorded on every row.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{TestServer, fixture};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use serde_json::Value;

fn keys_command(server: &TestServer, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_tracehouse"))
        .arg("keys")
        .arg("--data-dir")
        .arg(server.dir.path())
        .args(args)
        .output()
        .expect("tracehouse keys runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "keys {args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn create_key(server: &TestServer, app: &str) -> String {
    let out = keys_command(
        server,
        &["create", "--app", app, "--endpoint", &server.http_url("/")],
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("APPLICATIONINSIGHTS_CONNECTION_STRING="))
        .expect("connection string printed");
    let key = line
        .split("InstrumentationKey=")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .expect("key in the connection string");
    assert!(
        line.contains(&format!("IngestionEndpoint={}", server.http_url("/"))),
        "{line}"
    );
    key.to_owned()
}

/// The track fixture with its envelopes' iKey replaced.
fn track_body(key: &str) -> Vec<u8> {
    let mut envelopes: Vec<Value> =
        serde_json::from_slice(&fixture("appinsights/rag-api-429-retries.json")).expect("fixture");
    for envelope in &mut envelopes {
        envelope["iKey"] = Value::from(key);
    }
    serde_json::to_vec(&envelopes).expect("json")
}

fn traces_body() -> Vec<u8> {
    let request: ExportTraceServiceRequest =
        serde_json::from_slice(&fixture("otlp/rag-api-traces-4.json")).expect("fixture");
    prost::Message::encode_to_vec(&request)
}

async fn track(server: &TestServer, key: &str) -> u16 {
    reqwest::Client::new()
        .post(server.http_url("/v2.1/track"))
        .body(track_body(key))
        .send()
        .await
        .expect("post")
        .status()
        .as_u16()
}

async fn otlp_http(server: &TestServer, key: Option<&str>) -> u16 {
    let mut request = reqwest::Client::new()
        .post(server.http_url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(traces_body());
    if let Some(key) = key {
        request = request.header("authorization", format!("InstrumentationKey {key}"));
    }
    request.send().await.expect("post").status().as_u16()
}

async fn otlp_grpc(server: &TestServer, key: &str) -> Result<(), tonic::Code> {
    let mut client = TraceServiceClient::connect(server.grpc_url())
        .await
        .expect("connect");
    let request: ExportTraceServiceRequest =
        serde_json::from_slice(&fixture("otlp/rag-api-traces-2.json")).expect("fixture");
    let mut request = tonic::Request::new(request);
    request
        .metadata_mut()
        .insert("x-instrumentation-key", key.parse().expect("metadata"));
    client
        .export(request)
        .await
        .map(|_| ())
        .map_err(|s| s.code())
}

/// Stored request counts per app (the key's application is recorded on each row).
async fn requests_by_app(server: &TestServer) -> Vec<(String, u64)> {
    let token = common::issue_token(&*server.store, &[], true).await;
    let (status, body) = common::scenario::get_as(
        server,
        Some(&token),
        "/api/v1/performance?group_by=app&from=2026-11-01T00:00:00Z&to=2026-12-31T00:00:00Z",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["group"]["app"].as_str().unwrap_or("").to_owned(),
                r["count"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn required_keys_guard_every_path_and_name_the_app() {
    let server = TestServer::start_with(|config| config.require_keys = true, None).await;
    let unknown = "0f8fad5b-d9cb-469f-a165-70867728950e";
    assert_eq!(track(&server, unknown).await, 401);
    assert_eq!(otlp_http(&server, Some(unknown)).await, 401);
    assert_eq!(otlp_http(&server, None).await, 401);
    assert_eq!(
        otlp_grpc(&server, unknown).await,
        Err(tonic::Code::Unauthenticated)
    );

    let key = tokio::task::block_in_place(|| create_key(&server, "shop"));
    // A new key works within a second (misses re-read the store at most once a second).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match track(&server, &key).await {
            200 => break,
            401 if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            status => panic!("track with a new key: {status}"),
        }
    }
    assert_eq!(
        otlp_http(&server, Some(&key.to_uppercase())).await,
        200,
        "keys compare case-insensitively"
    );
    assert_eq!(otlp_grpc(&server, &key).await, Ok(()));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let apps = requests_by_app(&server).await;
        // Nothing from the refused requests; everything accepted is the shop's.
        if apps.iter().map(|(_, n)| n).sum::<u64>() >= 3 {
            assert!(apps.iter().all(|(app, _)| app == "shop"), "{apps:?}");
            break;
        }
        assert!(Instant::now() < deadline, "{apps:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let listed = tokio::task::block_in_place(|| keys_command(&server, &["list"]));
    assert!(
        listed.contains(&key) && listed.contains("shop") && listed.contains("active"),
        "{listed}"
    );
    tokio::task::block_in_place(|| keys_command(&server, &["revoke", &key]));
    // Revocations reach the running server with its periodic key refresh.
    let deadline = Instant::now() + Duration::from_secs(30);
    while track(&server, &key).await != 401 {
        assert!(Instant::now() < deadline, "revoked key still accepted");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(otlp_http(&server, Some(&key)).await, 401);
    server.stop().await;
}

#[tokio::test]
async fn without_required_keys_any_key_is_accepted() {
    let server = TestServer::start().await;
    assert_eq!(track(&server, "whatever").await, 200);
    assert_eq!(otlp_http(&server, None).await, 200);
    server.stop().await;
}

#[test]
fn connection_strings_are_checked_as_sdks_read_them() {
    let output = Command::new(env!("CARGO_BIN_EXE_tracehouse"))
        .args(["keys", "check", "instrumentationkey=0f8fad5b-d9cb-469f-a165-70867728950e;EndpointSuffix=applicationinsights.azure.cn;"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("https://dc.applicationinsights.azure.cn/"),
        "{stdout}"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_tracehouse"))
        .args(["keys", "check", "InstrumentationKey=NOT-A-UUID"])
        .output()
        .expect("runs");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a lower-case UUID"));
}

/// Live Metrics takes a data point only with a valid key when keys are required, and the live
/// view names the key's app.
#[tokio::test(flavor = "multi_thread")]
async fn live_metrics_checks_keys_like_every_ingest_path() {
    let server = TestServer::start_with(
        |config| {
            config.require_keys = true;
            config.live_metrics = true;
        },
        None,
    )
    .await;
    let client = reqwest::Client::new();
    let post = |ikey: Option<String>, instance: &'static str| {
        let query = ikey.map(|k| format!("?ikey={k}")).unwrap_or_default();
        let point = serde_json::json!([{
            "Version": "1", "InvariantVersion": 5, "Instance": instance, "RoleName": "rag-api",
            "Metrics": [{"Name": "\\ApplicationInsights\\Requests/Sec", "Value": 123456.0, "Weight": 1}],
        }]);
        client
            .post(server.http_url(&format!("/QuickPulseService.svc/post{query}")))
            .header("content-type", "application/json")
            .body(point.to_string())
            .send()
    };
    let unknown = "0f8fad5b-d9cb-469f-a165-70867728950e";
    assert_eq!(post(None, "EVIL-1").await.expect("post").status(), 401);
    assert_eq!(
        post(Some(unknown.into()), "EVIL-2")
            .await
            .expect("post")
            .status(),
        401
    );
    let key = tokio::task::block_in_place(|| create_key(&server, "shop"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while post(Some(key.clone()), "pod-1")
        .await
        .expect("post")
        .status()
        != 200
    {
        assert!(
            Instant::now() < deadline,
            "a new key is taken within seconds"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::task::block_in_place(|| keys_command(&server, &["revoke", &key]));
    let deadline = Instant::now() + Duration::from_secs(30);
    while post(Some(key.clone()), "pod-1")
        .await
        .expect("post")
        .status()
        != 401
    {
        assert!(Instant::now() < deadline, "revoked key still accepted");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let after_revocation = post(Some(key.clone()), "EVIL-3").await.expect("post");
    assert_eq!(after_revocation.status(), 401);
    let token = common::issue_token(&*server.store, &[], true).await;
    let (status, live) = common::scenario::get_as(&server, Some(&token), "/api/v1/live").await;
    assert_eq!(status, 200, "{live}");
    let instances: Vec<(&str, &str)> = live["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .map(|i| {
            (
                i["instance"].as_str().unwrap_or(""),
                i["app"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(instances, [("pod-1", "shop")], "{live}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_issued_right_after_a_reload_works_on_its_first_use() {
    let server = TestServer::start_with(|config| config.require_keys = true, None).await;
    // An unknown key makes the server read the keys now…
    assert_eq!(
        otlp_http(&server, Some("00000000-0000-4000-8000-000000000000")).await,
        401
    );
    // …and a key issued within the second after that is accepted at once (it used to be
    // refused until the next reload was allowed).
    let key = create_key(&server, "checkout");
    assert_eq!(otlp_http(&server, Some(&key)).await, 200);
    server.stop().await;
}
