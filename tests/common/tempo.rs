//! Reading traces back through the Tempo API, for the trace API tests.
// Each test binary uses a different part of the shared helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::{Span, TracesData};
use prost::Message;
use serde_json::Value;

use super::TestServer;

pub async fn get_raw(server: &TestServer, path: &str, accept: &str) -> (u16, Vec<u8>) {
    let response = reqwest::Client::new()
        .get(server.api_url(path))
        .header("accept", accept)
        .send()
        .await
        .expect("get");
    let status = response.status().as_u16();
    (status, response.bytes().await.expect("body").to_vec())
}

pub async fn get_json(server: &TestServer, path: &str) -> (u16, Value) {
    let (status, body) = get_raw(server, path, "application/json").await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// The trace's spans as Tempo gives them in protobuf, once every span has been stored.
pub async fn protobuf_trace(server: &TestServer, path: &str, sent: usize) -> TracesData {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, body) = get_raw(server, path, "application/protobuf").await;
        if status == 200 {
            let data = TracesData::decode(body.as_slice()).expect("TracesData");
            if spans_of(&data).len() >= sent {
                return data;
            }
        }
        assert!(std::time::Instant::now() < deadline, "{path}: {status}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

pub fn spans_of(data: &TracesData) -> Vec<(String, Span)> {
    let mut out = Vec::new();
    for resource in &data.resource_spans {
        let service = resource
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.clone())
            .map(|v| format!("{:?}", v.value))
            .unwrap_or_default();
        for scope in &resource.scope_spans {
            out.extend(scope.spans.iter().map(|s| (service.clone(), s.clone())));
        }
    }
    out
}

pub fn attributes(list: &[KeyValue]) -> BTreeMap<String, String> {
    list.iter()
        .map(|kv| (kv.key.clone(), format!("{:?}", kv.value)))
        .collect()
}
