//! Rebuilt spans → OTLP `TracesData` (prost types): what Tempo's trace-by-id answers, as
//! protobuf or OTLP/JSON. Pure.

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, TracesData, span,
};

use super::otlp_trace::{Attributes, TraceSpan, Value, hex_bytes};

/// The spans grouped by resource, in the order their resources first appear.
pub fn traces_data(spans: &[TraceSpan]) -> TracesData {
    let mut groups: Vec<(&Attributes, Vec<Span>)> = Vec::new();
    for rebuilt in spans {
        let encoded = encode_span(rebuilt);
        match groups.iter_mut().find(|(r, _)| **r == rebuilt.resource) {
            Some((_, spans)) => spans.push(encoded),
            None => groups.push((&rebuilt.resource, vec![encoded])),
        }
    }
    TracesData {
        resource_spans: groups
            .into_iter()
            .map(|(resource, spans)| ResourceSpans {
                resource: Some(Resource {
                    attributes: key_values(resource),
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

pub fn key_values(attributes: &Attributes) -> Vec<KeyValue> {
    attributes
        .iter()
        .map(|(key, value)| KeyValue {
            key: key.clone(),
            value: Some(any_value_of(value)),
            ..Default::default()
        })
        .collect()
}

pub fn any_value_of(value: &Value) -> AnyValue {
    AnyValue {
        value: Some(match value {
            Value::Str(s) => any_value::Value::StringValue(s.clone()),
            Value::Int(i) => any_value::Value::IntValue(*i),
            Value::Double(d) => any_value::Value::DoubleValue(*d),
            Value::Bool(b) => any_value::Value::BoolValue(*b),
            Value::Bytes(b) => any_value::Value::BytesValue(b.clone()),
            Value::Array(items) => any_value::Value::ArrayValue(ArrayValue {
                values: items.iter().map(any_value_of).collect(),
            }),
            Value::Kvlist(entries) => any_value::Value::KvlistValue(KeyValueList {
                values: entries
                    .iter()
                    .map(|(key, value)| KeyValue {
                        key: key.clone(),
                        value: Some(any_value_of(value)),
                        ..Default::default()
                    })
                    .collect(),
            }),
        }),
    }
}

fn unix_ns(ns: i64) -> u64 {
    u64::try_from(ns).unwrap_or(0)
}

fn encode_span(rebuilt: &TraceSpan) -> Span {
    Span {
        trace_id: hex_bytes(&rebuilt.trace_id).unwrap_or_default(),
        span_id: hex_bytes(&rebuilt.span_id).unwrap_or_default(),
        parent_span_id: hex_bytes(&rebuilt.parent_span_id).unwrap_or_default(),
        name: rebuilt.name.clone(),
        kind: rebuilt.kind as i32,
        start_time_unix_nano: unix_ns(rebuilt.start_ns),
        end_time_unix_nano: unix_ns(rebuilt.end_ns),
        attributes: key_values(&rebuilt.attributes),
        events: rebuilt
            .events
            .iter()
            .map(|event| span::Event {
                time_unix_nano: unix_ns(event.time_ns),
                name: event.name.clone(),
                attributes: key_values(&event.attributes),
                ..Default::default()
            })
            .collect(),
        links: rebuilt
            .links
            .iter()
            .map(|(trace_id, span_id)| span::Link {
                trace_id: hex_bytes(trace_id).unwrap_or_default(),
                span_id: hex_bytes(span_id).unwrap_or_default(),
                ..Default::default()
            })
            .collect(),
        status: Some(Status {
            message: rebuilt.status_message.clone(),
            code: rebuilt.status as i32,
        }),
        ..Default::default()
    }
}
