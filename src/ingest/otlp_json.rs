//! OTLP/JSON as the protobuf JSON mapping allows it: enum fields may be given by name
//! (`"kind": "SPAN_KIND_SERVER"`) as well as by number, as the OpenTelemetry Collector
//! accepts. The common, numeric form decodes directly; only a body that fails to is read again
//! with its enum names turned into numbers.

use opentelemetry_proto::tonic::logs::v1::SeverityNumber;
use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use serde::Deserialize as _;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::normalize::json_text::outside_strings;

/// JSON nesting a body may have (about 340 levels of nested attribute values; protobuf bodies
/// have no such limit, and both are cut at 32 levels when rendered). Past serde_json's own
/// limit of 128 the body is decoded again on a thread with [`DEEP_STACK_BYTES`] of stack.
const MAX_JSON_DEPTH: usize = 1_024;
const DEEP_STACK_BYTES: usize = 64 << 20;

/// Decodes an OTLP/JSON message, taking enum names where numbers are expected.
pub fn decode<M: DeserializeOwned + Send>(body: &[u8]) -> Result<M, serde_json::Error> {
    match decode_within_limit(body, true) {
        Err(error) if is_too_deep(&error) && json_depth(body) <= MAX_JSON_DEPTH => {
            std::thread::scope(|scope| {
                std::thread::Builder::new()
                    .name("otlp-json-deep".into())
                    .stack_size(DEEP_STACK_BYTES)
                    .spawn_scoped(scope, || decode_within_limit::<M>(body, false))
                    .ok()
                    .and_then(|thread| thread.join().ok())
            })
            .unwrap_or(Err(error))
        }
        other => other,
    }
}

/// One decode, with serde_json's recursion limit or (on a deep stack) without it.
fn decode_within_limit<M: DeserializeOwned>(
    body: &[u8],
    limited: bool,
) -> Result<M, serde_json::Error> {
    let parse = |body: &[u8]| -> Result<M, serde_json::Error> {
        let mut reader = serde_json::Deserializer::from_slice(body);
        if !limited {
            reader.disable_recursion_limit();
        }
        let message = M::deserialize(&mut reader)?;
        reader.end()?;
        Ok(message)
    };
    let first = match parse(body) {
        Ok(message) => return Ok(message),
        Err(error) => error,
    };
    let mut reader = serde_json::Deserializer::from_slice(body);
    if !limited {
        reader.disable_recursion_limit();
    }
    let Ok(mut value) = Value::deserialize(&mut reader) else {
        return Err(first);
    };
    if !number_enum_names(&mut value) {
        return Err(first);
    }
    serde_json::from_value(value).map_err(|_| first)
}

fn is_too_deep(error: &serde_json::Error) -> bool {
    error.to_string().starts_with("recursion limit exceeded")
}

/// The deepest nesting of arrays and objects in `body`, strings skipped.
fn json_depth(body: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for (_, byte) in outside_strings(body) {
        match byte {
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// The number of an enum name, for the OTLP fields that are enums.
fn enum_number(field: &str, name: &str) -> Option<i32> {
    match field {
        "kind" => SpanKind::from_str_name(name).map(|v| v as i32),
        "code" => StatusCode::from_str_name(name).map(|v| v as i32),
        "severityNumber" | "severity_number" => {
            SeverityNumber::from_str_name(name).map(|v| v as i32)
        }
        "aggregationTemporality" | "aggregation_temporality" => {
            AggregationTemporality::from_str_name(name).map(|v| v as i32)
        }
        _ => None,
    }
}

/// Replaces enum names by their numbers everywhere in `value`; whether any was replaced.
fn number_enum_names(value: &mut Value) -> bool {
    let mut replaced = false;
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::Object(fields) => {
                for (field, value) in fields.iter_mut() {
                    if let Value::String(name) = value
                        && let Some(number) = enum_number(field, name)
                    {
                        *value = Value::from(number);
                        replaced = true;
                    } else {
                        pending.push(value);
                    }
                }
            }
            Value::Array(items) => pending.extend(items.iter_mut()),
            _ => {}
        }
    }
    replaced
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    #[test]
    fn enum_names_decode_like_their_numbers() {
        let spans = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{
            "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
            "name":"GET /","kind":"SPAN_KIND_SERVER","status":{"code":"STATUS_CODE_ERROR"},
            "startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}"#;
        let request: ExportTraceServiceRequest = decode(spans).expect("names accepted");
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.kind, SpanKind::Server as i32);
        assert_eq!(
            span.status.as_ref().map(|s| s.code),
            Some(StatusCode::Error as i32)
        );
        let logs = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{
            "severityNumber":"SEVERITY_NUMBER_WARN","body":{"stringValue":"kind"}}]}]}]}"#;
        let request: ExportLogsServiceRequest = decode(logs).expect("names accepted");
        let record = &request.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(record.severity_number, SeverityNumber::Warn as i32);
    }

    proptest::proptest! {
        /// Arbitrary bytes, and JSON with enum-ish strings in arbitrary places, never panic.
        #[test]
        fn arbitrary_bodies_never_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            name in "(SPAN_KIND|STATUS_CODE|SEVERITY_NUMBER|AGGREGATION_TEMPORALITY)_[A-Z0-9]{0,12}",
        ) {
            let _ = decode::<ExportTraceServiceRequest>(&bytes);
            let body = format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"kind":"{name}","status":{{"code":"{name}"}}}}]}}]}}]}}"#);
            let _ = decode::<ExportTraceServiceRequest>(body.as_bytes());
            let _ = decode::<ExportLogsServiceRequest>(body.as_bytes());
        }
    }

    #[test]
    fn nesting_is_measured_outside_strings() {
        assert_eq!(json_depth(br#"{"a":[1,{"b":"[[[{"}]}"#), 3);
        assert_eq!(json_depth(br#"["\"[", []]"#), 2);
        assert_eq!(json_depth(b"1"), 0);
    }

    #[test]
    fn unknown_names_and_other_errors_keep_the_first_error() {
        let unknown =
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SPAN_KIND_SIDEWAYS"}]}]}]}"#;
        assert!(decode::<ExportTraceServiceRequest>(unknown).is_err());
        assert!(decode::<ExportTraceServiceRequest>(b"{not json").is_err());
    }
}
