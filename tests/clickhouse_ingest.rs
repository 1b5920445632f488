//! OTLP into ClickHouse through the spool (on both engines), and the faults it must survive
//! (on 18.16 servers of their own): ClickHouse killed mid-ingest, tracehouse SIGKILLed
//! mid-ingest, and a full spool. Clients retry as OTLP
//! exporters do; every acknowledged span must be stored exactly once (a request whose answer
//! was lost to the kill may be stored twice: the client resent it, as OTLP allows).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::clickhouse::{ClickHouseServer, Engine, database_for, on_both_engines, shared_url};
use common::delivery::*;
use common::process::TracehouseProcess;
use common::{TestServer, fixture};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

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
