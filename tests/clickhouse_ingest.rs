//! OTLP into ClickHouse through the spool (on both engines), and the faults it must survive
//! (on 18.16 servers of their own): ClickHouse killed mid-ingest, tracehouse SIGKILLed
//! mid-ingest, and a full spool. Clients retry as OTLP
//! exporters do; every acknowledged span must be stored exactly once (a request whose answer
//! was lost to the kill may be stored twice: the client resent it, as OTLP allows).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::clickhouse::{
    ClickHouseServer, Engine, database_for, on_both_engines, query, shared_url,
};
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

/// How one request fared until it was acknowledged.
#[derive(Default)]
struct Delivery {
    retries: usize,
    /// An attempt got no answer: tracehouse may have stored it before dying, and the client,
    /// never told so, sent it again (OTLP delivery is at least once).
    lost_an_answer: bool,
}

/// Posts until acknowledged, retrying what OTLP exporters retry (429, 503, no connection).
async fn send_until_acknowledged(client: &reqwest::Client, url: &str, body: Vec<u8>) -> Delivery {
    let mut delivery = Delivery::default();
    loop {
        let response = client
            .post(url)
            .header("content-type", "application/x-protobuf")
            .body(body.clone())
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        match response {
            Ok(r) if r.status() == 200 => return delivery,
            Ok(r) if matches!(r.status().as_u16(), 429 | 503) => {}
            Ok(r) => panic!("unexpected status {}", r.status()),
            Err(_) => delivery.lost_an_answer = true,
        }
        delivery.retries += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `expected` spans are stored, then checks none is stored twice except spans of
/// the requests numbered in `resent`, whose answer the client never got.
async fn assert_stored_exactly_once(url: &str, database: &str, expected: usize, resent: &[u64]) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let distinct = loop {
        let distinct: usize = query(
            url,
            &format!("SELECT uniqExact(operation_Id, id) FROM {database}.dependencies FORMAT TSV"),
        )
        .await
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(0);
        if distinct >= expected || Instant::now() > deadline {
            break distinct;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(distinct, expected, "distinct spans stored");
    let twice = query(
        url,
        &format!("SELECT operation_Id FROM {database}.dependencies GROUP BY operation_Id, id HAVING count() > 1 FORMAT TSV"),
    )
    .await
    .expect("duplicates");
    let resent: Vec<String> = resent.iter().map(|&n| operation_id_of(n)).collect();
    for operation in twice.lines() {
        assert!(
            resent.iter().any(|r| r == operation),
            "operation {operation} stored twice although its request was acknowledged once"
        );
    }
}

fn operation_id_of(n: u64) -> String {
    format!("{}{n:016x}", "ab".repeat(8))
}

on_both_engines!(otlp_lands_in_clickhouse_through_the_spool);

async fn otlp_lands_in_clickhouse_through_the_spool(engine: Engine) {
    let database = database_for("through_spool");
    let server = TestServer::start_on_engine(engine, &database, |_| {}).await;
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
            .operation("", "525c5c3e165dd9b6d4c8f046107e8324")
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
    let mut resent = Vec::new();
    for n in 0..requests {
        if n == 30 {
            clickhouse.kill();
        }
        if n == 60 {
            // Long enough for the shipper to fail, back off and mark its batches uncertain.
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        if n == 90 {
            clickhouse.restart();
        }
        if send_until_acknowledged(&client, &url, numbered_request(n))
            .await
            .lost_an_answer
        {
            resent.push(n);
        }
    }
    assert_stored_exactly_once(
        &clickhouse.url(),
        &database,
        requests as usize * SPANS_PER_REQUEST,
        &resent,
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
    let requests = 300u64;
    let acknowledged = Arc::new(AtomicU64::new(0));
    let sender = tokio::spawn({
        let (client, endpoint, acknowledged) =
            (client.clone(), endpoint.clone(), Arc::clone(&acknowledged));
        async move {
            let (mut retries, mut resent) = (0, Vec::new());
            for n in 0..requests {
                let delivery =
                    send_until_acknowledged(&client, &endpoint, numbered_request(n)).await;
                retries += delivery.retries;
                if delivery.lost_an_answer {
                    resent.push(n);
                }
                acknowledged.fetch_add(1, Ordering::Relaxed);
            }
            (retries, resent)
        }
    });
    // Kill it twice while the client is mid-stream.
    for milestone in [60, 180] {
        while acknowledged.load(Ordering::Relaxed) < milestone {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tracehouse.kill();
        tracehouse.restart();
    }
    let (retries, resent) = sender.await.expect("sender");
    assert!(retries > 0, "the kills interrupted the client");
    assert_stored_exactly_once(
        &url,
        &database,
        requests as usize * SPANS_PER_REQUEST,
        &resent,
    )
    .await;
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
