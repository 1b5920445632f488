//! Clients that deliver numbered OTLP requests as exporters do (retrying 429, 503 and lost
//! answers), and the check that every acknowledged span is stored exactly once.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

use super::clickhouse::query;

pub const SPANS_PER_REQUEST: usize = 10;

/// A request of distinct CLIENT spans in a trace of its own, numbered `n`.
pub fn numbered_request(n: u64) -> Vec<u8> {
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
pub struct Delivery {
    pub retries: usize,
    /// An attempt got no answer: tracehouse may have stored it before dying, and the client,
    /// never told so, sent it again (OTLP delivery is at least once).
    pub lost_an_answer: bool,
    /// Every answer before the acknowledgement (status or error), for a failure's message.
    pub outcomes: Vec<String>,
}

/// Posts until acknowledged, retrying what OTLP exporters retry (429, 503, no connection).
pub async fn send_until_acknowledged(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
) -> Delivery {
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
            Ok(r) if matches!(r.status().as_u16(), 429 | 503) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                delivery.outcomes.push(format!("{status} {text}"));
            }
            Ok(r) => panic!("unexpected status {}", r.status()),
            Err(error) => {
                delivery.lost_an_answer = true;
                delivery.outcomes.push(format!("no answer: {error}"));
            }
        }
        delivery.retries += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `expected` spans are stored, then checks none is stored twice except spans of
/// the requests numbered in `resent`, whose answer the client never got.
pub async fn assert_stored_exactly_once(
    url: &str,
    database: &str,
    expected: usize,
    resent: &[u64],
) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let (distinct, answer) = loop {
        let answer = query(
            url,
            &format!("SELECT uniqExact(operation_Id, id) FROM {database}.dependencies FORMAT TSV"),
        )
        .await;
        let distinct: usize = answer
            .as_ref()
            .ok()
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(0);
        if distinct >= expected || Instant::now() > deadline {
            break (distinct, answer);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        distinct, expected,
        "distinct spans stored (last answer: {answer:?})"
    );
    // The batch ids and hosts of a duplicate tell a batch shipped twice (one id) from a
    // request spooled twice (two ids).
    let twice = query(
        url,
        &format!(
            "SELECT operation_Id, groupArray(_batch_id), groupArray(hostName()) \
             FROM {database}.dependencies GROUP BY operation_Id, id HAVING count() > 1 FORMAT TSV"
        ),
    )
    .await
    .expect("duplicates");
    let resent: Vec<String> = resent.iter().map(|&n| operation_id_of(n)).collect();
    for duplicate in twice.lines() {
        let operation = duplicate.split('\t').next().unwrap_or_default();
        assert!(
            resent.iter().any(|r| r == operation),
            "operation {operation} stored twice although its request was acknowledged once \
             (batch ids, hosts: {duplicate})"
        );
    }
}

pub fn operation_id_of(n: u64) -> String {
    format!("{}{n:016x}", "ab".repeat(8))
}
