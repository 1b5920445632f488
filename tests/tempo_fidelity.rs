//! Fidelity of Tempo's trace by id: what real SDKs sent (`../shared/fixtures/otlp`) comes back
//! span by span, and attribute types the stored text does not say come back as sent.

mod common;

use std::collections::BTreeMap;

use common::TestServer;
use common::scenario::post;
use common::tempo::{protobuf_trace, spans_of};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::Value;

/// An attribute value in OTLP/JSON's shape (64-bit integers as strings), from either side.
fn value_json(value: &opentelemetry_proto::tonic::common::v1::AnyValue) -> Value {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    match &value.value {
        Some(Any::StringValue(s)) => serde_json::json!({ "stringValue": s }),
        Some(Any::IntValue(i)) => serde_json::json!({ "intValue": i.to_string() }),
        Some(Any::DoubleValue(d)) => serde_json::json!({ "doubleValue": d }),
        Some(Any::BoolValue(b)) => serde_json::json!({ "boolValue": b }),
        Some(Any::BytesValue(b)) => serde_json::json!({ "bytesValue": b }),
        Some(Any::ArrayValue(a)) => serde_json::json!({
            "arrayValue": { "values": a.values.iter().map(value_json).collect::<Vec<_>>() }
        }),
        Some(Any::KvlistValue(l)) => serde_json::json!({
            "kvlistValue": { "values": l.values.iter().map(|kv| serde_json::json!({
                "key": kv.key, "value": kv.value.as_ref().map(value_json) })).collect::<Vec<_>>() }
        }),
        Some(Any::StringValueStrindex(_)) | None => serde_json::json!({}),
    }
}

/// A fixture's OTLP/JSON attribute list as the same map (integers sent as JSON numbers too).
fn fixture_attributes(list: &Value) -> BTreeMap<String, Value> {
    fn normal(value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| match (k.as_str(), v) {
                        ("intValue", Value::Number(n)) => (k.clone(), Value::from(n.to_string())),
                        _ => (k.clone(), normal(v)),
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(normal).collect()),
            other => other.clone(),
        }
    }
    list.as_array()
        .into_iter()
        .flatten()
        .map(|kv| {
            (
                kv["key"].as_str().unwrap_or("").to_owned(),
                normal(&kv["value"]),
            )
        })
        .collect()
}

fn number_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What real SDKs sent (`../shared/fixtures/otlp`) comes back span by span from Tempo's
/// trace by id: ids, parents, names, kinds, start and end to the nanosecond, every attribute
/// with its type (the array the SDK sent included), event names and times.
async fn fixtures_round_trip(server: &TestServer) {
    let json_fixture = |name: &str| -> Value {
        serde_json::from_slice(&common::fixture(&format!("otlp/{name}"))).expect("fixture")
    };
    let mut sent = Vec::new();
    for name in ["rag-api-traces-2.json", "rag-api-traces-4.json"] {
        let request = json_fixture(name);
        post(
            server,
            "/v1/traces",
            "application/json",
            serde_json::to_vec(&request).expect("json"),
        )
        .await;
        for resource in request["resourceSpans"].as_array().expect("resources") {
            for scope in resource["scopeSpans"].as_array().expect("scopes") {
                sent.extend(scope["spans"].as_array().expect("spans").iter().cloned());
            }
        }
    }
    let mut by_trace: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for span in sent {
        let trace = span["traceId"].as_str().expect("trace id").to_owned();
        by_trace.entry(trace).or_default().push(span);
    }
    for (trace, spans) in &by_trace {
        let data = protobuf_trace(server, &format!("/tempo/api/traces/{trace}"), spans.len()).await;
        let got: BTreeMap<String, Span> = spans_of(&data)
            .into_iter()
            .map(|(_, s)| (hex::encode(&s.span_id), s))
            .collect();
        assert_eq!(got.len(), spans.len(), "{trace}");
        for sent in spans {
            let id = sent["spanId"].as_str().expect("span id");
            let back = &got[id];
            let name = sent["name"].as_str().expect("name");
            assert_eq!(back.name, name);
            assert_eq!(hex::encode(&back.trace_id), *trace);
            assert_eq!(
                hex::encode(&back.parent_span_id),
                sent["parentSpanId"].as_str().unwrap_or(""),
                "{name}"
            );
            assert_eq!(Value::from(back.kind), sent["kind"], "{name}");
            assert_eq!(
                back.start_time_unix_nano.to_string(),
                number_text(&sent["startTimeUnixNano"]),
                "{name}"
            );
            assert_eq!(
                back.end_time_unix_nano.to_string(),
                number_text(&sent["endTimeUnixNano"]),
                "{name}"
            );
            let back_attributes: BTreeMap<String, Value> = back
                .attributes
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        kv.value.as_ref().map(value_json).unwrap_or_default(),
                    )
                })
                .collect();
            assert_eq!(
                back_attributes,
                fixture_attributes(&sent["attributes"]),
                "{name}"
            );
            let events = |list: &Value| -> Vec<(String, String)> {
                list.as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| {
                        (
                            e["name"].as_str().unwrap_or("").to_owned(),
                            number_text(&e["timeUnixNano"]),
                        )
                    })
                    .collect()
            };
            let back_events: Vec<(String, String)> = back
                .events
                .iter()
                .map(|e| (e.name.clone(), e.time_unix_nano.to_string()))
                .collect();
            assert_eq!(back_events, events(&sent["events"]), "{name}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sdk_fixtures_round_trip_through_tempo() {
    let server = TestServer::start().await;
    fixtures_round_trip(&server).await;
    server.stop().await;
}

/// Types the stored text does not say (booleans, integral doubles, bytes, arrays, maps) come
/// back as sent, decoded by prost's and by Python's OpenTelemetry definitions.
#[tokio::test(flavor = "multi_thread")]
async fn attribute_types_come_back_as_sent() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValueList};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
    let server = TestServer::start().await;
    let value = |v: Any| Some(AnyValue { value: Some(v) });
    let kv = |key: &str, v: Any| KeyValue {
        key: key.into(),
        value: value(v),
        ..Default::default()
    };
    let attributes = vec![
        kv("retry.enabled", Any::BoolValue(true)),
        kv("sampling.ratio", Any::DoubleValue(1.0)),
        kv("temperature", Any::DoubleValue(0.7)),
        kv("count", Any::IntValue(3)),
        kv("digest", Any::BytesValue(vec![0, 1, 254])),
        kv(
            "tags",
            Any::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(Any::StringValue("a".into())),
                }],
            }),
        ),
        kv(
            "labels",
            Any::KvlistValue(KeyValueList {
                values: vec![kv("team", Any::StringValue("ai".into()))],
            }),
        ),
        kv("note", Any::StringValue("true".into())),
    ];
    let now = tracehouse::clock::now_ns() as u64;
    let span = Span {
        trace_id: vec![0x7a; 16],
        span_id: vec![0x7b; 8],
        name: "typed".into(),
        kind: 1,
        start_time_unix_nano: now - 2_000_000,
        end_time_unix_nano: now - 1_000_000,
        attributes: attributes.clone(),
        ..Default::default()
    };
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    post(
        &server,
        "/v1/traces",
        "application/x-protobuf",
        request.encode_to_vec(),
    )
    .await;
    let data = protobuf_trace(
        &server,
        &format!("/tempo/api/traces/{}", "7a".repeat(16)),
        1,
    )
    .await;
    let (_, back) = &spans_of(&data)[0];
    assert_eq!(
        common::tempo::attributes(&back.attributes),
        common::tempo::attributes(&attributes)
    );
    // Python's opentelemetry-proto reads the same body into the same span.
    let url = server.api_url(&format!("/tempo/api/traces/{}", "7a".repeat(16)));
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/decode_tempo_trace.py"
    );
    let decoded = common::run_summary(
        std::process::Command::new(common::python())
            .arg(script)
            .arg(&url),
        "decode_tempo_trace.py",
    );
    let span = &decoded["spans"][0];
    assert_eq!(
        decoded["spans"].as_array().map(Vec::len),
        Some(1),
        "{decoded}"
    );
    assert_eq!(span["trace_id"], "7a".repeat(16));
    assert_eq!(span["span_id"], "7b".repeat(8));
    assert_eq!(span["parent_span_id"], "");
    assert_eq!(
        (&span["name"], &span["kind"]),
        (&Value::from("typed"), &Value::from(1))
    );
    assert_eq!(span["start"], (now - 2_000_000).to_string());
    assert_eq!(span["end"], (now - 1_000_000).to_string());
    assert_eq!(
        span["attributes"],
        serde_json::json!({
            "retry.enabled": ["bool", true],
            "sampling.ratio": ["double", 1.0],
            "temperature": ["double", 0.7],
            "count": ["int", "3"],
            "digest": ["bytes", "AAH+"],
            "tags": ["array", [["string", "a"]]],
            "labels": ["kvlist", {"team": ["string", "ai"]}],
            "note": ["string", "true"],
        }),
        "{decoded}"
    );
    server.stop().await;
}
