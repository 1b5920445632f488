//! OTLP into ClickHouse through the spool, and the faults it must survive: ClickHouse killed
//! mid-ingest, tracehouse SIGKILLed mid-ingest, and a full spool. Clients retry as OTLP
//! exporters do; every acknowledged span must be stored exactly once.

mod common;

use std::time::{Duration, Instant};

use common::clickhouse::{ClickHouseServer, database_for, query, shared_url};
use common::process::TracehouseProcess;
use common::{TestServer, fixture};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

const SPANS_PER_REQUEST: usize = 10;

/// A request of distinct CLIENT spans in a trace of its own, numbered `n`.
fn numbered_request(n: u64) -> Vec<u8> {
    let now = tracehouse::clock::now_ns() as u64;
    let mut trace_id = vec![0xab; 8];
    trace_id.extend_from_slice(&n.to_be_bytes());
    let spans = (0..SPANS_PER_REQUEST as u64)
        .map(|i| Span {
            trace_id: trace_id.clone(),
            span_id: (i + 1).to_be_bytes().to_vec(),
            name: "GET".into(),
            kind: 3,
            start_time_unix_nano: now - 2_000_000,
            end_time_unix_nano: now - 1_000_000,
            attributes: vec![KeyValue {
                key: "http.request.method".into(),
                value: Some(AnyValue {
                    value: Some(Value::StringValue("GET".into())),
                }),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource::default()),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// Posts until acknowledged, retrying what OTLP exporters retry (429, 503, no connection).
async fn send_until_acknowledged(client: &reqwest::Client, url: &str, body: Vec<u8>) -> usize {
    let mut retries = 0;
    loop {
        let response = client
            .post(url)
            .header("content-type", "application/x-protobuf")
            .body(body.clone())
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        match response {
            Ok(r) if r.status() == 200 => return retries,
            Ok(r) if matches!(r.status().as_u16(), 429 | 503) => {}
            Ok(r) => panic!("unexpected status {}", r.status()),
            Err(_) => {}
        }
        retries += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `expected` spans are stored, then checks none is stored twice.
async fn assert_stored_exactly_once(url: &str, database: &str, expected: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let counts = loop {
        let counts = query(
            url,
            &format!("SELECT count(), uniqExact(operation_Id, id) FROM {database}.dependencies FORMAT TSV"),
        )
        .await
        .unwrap_or_default();
        let stored: usize = counts
            .split('\t')
            .next()
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(0);
        if stored >= expected || Instant::now() > deadline {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        counts.trim(),
        format!("{expected}\t{expected}"),
        "stored, distinct"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn otlp_lands_in_clickhouse_through_the_spool() {
    let database = database_for("through_spool");
    let server = TestServer::start_on_clickhouse(&shared_url(), &database, |_| {}).await;
    let client = reqwest::Client::new();
    for (path, name) in [
        ("/v1/traces", "otlp/rag-api-traces-4.json"),
        ("/v1/logs", "otlp/rag-api-logs-1.json"),
    ] {
        let response = client
            .post(server.http_url(path))
            .header("content-type", "application/json")
            .body(fixture(name))
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 200);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let items = loop {
        let items = server
            .store
            .operation("525c5c3e165dd9b6d4c8f046107e8324")
            .await
            .expect("read");
        if (items.spans.len(), items.traces.len()) == (4, 6) || Instant::now() > deadline {
            break items;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((items.spans.len(), items.traces.len()), (4, 6));
    let chat = items
        .spans
        .iter()
        .find(|s| s.name == "chat gpt-4o")
        .expect("genai span");
    assert_eq!(
        (chat.genai.input_tokens, chat.genai.output_tokens),
        (15, 12)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_clickhouse_mid_ingest_loses_nothing_acknowledged() {
    let mut clickhouse = ClickHouseServer::start();
    let database = database_for("clickhouse_killed");
    let server = TestServer::start_on_clickhouse(&clickhouse.url(), &database, |_| {}).await;
    let url = server.http_url("/v1/traces");
    let client = reqwest::Client::new();
    let requests = 120u64;
    for n in 0..requests {
        if n == 30 {
            clickhouse.kill();
        }
        if n == 90 {
            clickhouse.restart();
        }
        send_until_acknowledged(&client, &url, numbered_request(n)).await;
    }
    assert_stored_exactly_once(
        &clickhouse.url(),
        &database,
        requests as usize * SPANS_PER_REQUEST,
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkilling_tracehouse_mid_ingest_loses_nothing_acknowledged() {
    let url = shared_url();
    let database = database_for("tracehouse_killed");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut tracehouse = TracehouseProcess::start(
        dir.path(),
        &["--clickhouse-url", &url, "--clickhouse-database", &database],
    );
    let endpoint = tracehouse.url("/v1/traces");
    let client = reqwest::Client::new();
    let requests = 150u64;
    let sender = tokio::spawn({
        let client = client.clone();
        let endpoint = endpoint.clone();
        async move {
            let mut retries = 0;
            for n in 0..requests {
                retries += send_until_acknowledged(&client, &endpoint, numbered_request(n)).await;
            }
            retries
        }
    });
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        tracehouse.kill();
        tracehouse.restart();
    }
    let retries = sender.await.expect("sender");
    assert!(retries > 0, "the kills interrupted the client");
    assert_stored_exactly_once(&url, &database, requests as usize * SPANS_PER_REQUEST).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_spool_refuses_with_retryable_errors_and_bounded_memory() {
    // A ClickHouse URL where nothing listens: everything stays in the spool.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_url = format!("http://{}", dead.local_addr().expect("addr"));
    drop(dead);
    let dir = tempfile::tempdir().expect("tempdir");
    let tracehouse = TracehouseProcess::start(
        dir.path(),
        &["--clickhouse-url", &dead_url, "--spool-max-bytes", "2MiB"],
    );
    let client = reqwest::Client::new();
    let body = {
        let mut request =
            ExportTraceServiceRequest::decode(numbered_request(0).as_slice()).expect("request");
        let template = request.resource_spans[0].scope_spans[0].spans[0].clone();
        request.resource_spans[0].scope_spans[0].spans = (0..500u64)
            .map(|i| Span {
                span_id: (i + 1).to_be_bytes().to_vec(),
                ..template.clone()
            })
            .collect();
        request.encode_to_vec()
    };
    let mut refused = None;
    for _ in 0..500 {
        let response = client
            .post(tracehouse.url("/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(body.clone())
            .send()
            .await
            .expect("post");
        if response.status() != 200 {
            refused = Some(response);
            break;
        }
    }
    let refused = refused.expect("the spool filled up");
    assert_eq!(refused.status(), 429, "retryable");
    assert!(refused.headers().contains_key("retry-after"));
    let spooled: u64 = std::fs::read_dir(dir.path().join("spool"))
        .expect("spool dir")
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    assert!(
        spooled <= 2 * 1024 * 1024,
        "spool stays within its limit: {spooled}"
    );
    let peak_kib = tracehouse.peak_rss_kib();
    assert!(
        peak_kib > 0 && peak_kib < 256 * 1024,
        "peak RSS {peak_kib} KiB"
    );
}
