//! One throw, recorded once. Frameworks record an exception on every span it passes through
//! on its way up (Express and its router: the handler, the router layer, the request), so a
//! single failure would count three times. An exception whose span has a descendant in the
//! same request carrying the same exception (type, message and stack) is that exception
//! rethrown: only the innermost record is kept, where it was raised.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::model::Batch;

/// Ancestors followed from a span; deeper chains (or cycles) stop there.
const MAX_DEPTH: usize = 64;

fn exception_key(exception_type: &str, message: &str, stack: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    (exception_type, message, stack).hash(&mut hasher);
    hasher.finish()
}

pub fn drop_rethrown_exceptions(batch: &mut Batch) {
    if batch.exceptions.len() < 2 {
        return;
    }
    // (operation, span) → parent span, for the spans of this request.
    let parents: HashMap<(&str, &str), &str> = batch
        .requests
        .iter()
        .map(|r| &r.common)
        .chain(batch.dependencies.iter().map(|d| &d.common))
        .map(|c| {
            (
                (c.operation_id.as_str(), c.item_id.as_str()),
                c.operation_parent_id.as_str(),
            )
        })
        .collect();
    // (operation, span, exception) for every ancestor of a span that carries the exception.
    let mut rethrown: HashSet<(String, String, u64)> = HashSet::new();
    for exception in &batch.exceptions {
        let common = &exception.common;
        let data = &exception.data;
        let key = exception_key(&data.exception_type, &data.message, &data.stack);
        let operation = common.operation_id.as_str();
        let mut span = common.operation_parent_id.as_str();
        for _ in 0..MAX_DEPTH {
            match parents.get(&(operation, span)) {
                Some(parent) if !parent.is_empty() => {
                    rethrown.insert((operation.to_owned(), (*parent).to_owned(), key));
                    span = parent;
                }
                _ => break,
            }
        }
    }
    if rethrown.is_empty() {
        return;
    }
    batch.exceptions.retain(|exception| {
        let data = &exception.data;
        let key = exception_key(&data.exception_type, &data.message, &data.stack);
        !rethrown.contains(&(
            exception.common.operation_id.clone(),
            exception.common.operation_parent_id.clone(),
            key,
        ))
    });
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::span::Event;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    use super::super::test_support::{kv, resource};
    use super::super::{Context, Limits};

    const NOW_NS: u64 = 1_800_000_000_000_000_000;

    fn throwing(id: u8, parent: u8, message: &str) -> Span {
        let exception = Event {
            name: "exception".into(),
            time_unix_nano: NOW_NS - 1_500_000,
            attributes: vec![
                kv("exception.type", "TypeError"),
                kv("exception.message", message),
                kv(
                    "exception.stacktrace",
                    "TypeError: x\n    at /app/app.js:24:9",
                ),
            ],
            ..Default::default()
        };
        Span {
            trace_id: vec![1; 16],
            span_id: vec![id; 8],
            parent_span_id: if parent == 0 {
                Vec::new()
            } else {
                vec![parent; 8]
            },
            name: format!("span {id}"),
            kind: if parent == 0 { 2 } else { 1 },
            start_time_unix_nano: NOW_NS - 2_000_000,
            end_time_unix_nano: NOW_NS - 1_000_000,
            events: vec![exception],
            ..Default::default()
        }
    }

    #[test]
    fn a_throw_recorded_on_every_enclosing_span_is_kept_once_where_it_was_raised() {
        // Request 1 > router 2 > handler 3 all record the throw; sibling 4 throws on its own,
        // and 5 under it records a different message.
        let spans = vec![
            throwing(1, 0, "x is undefined"),
            throwing(2, 1, "x is undefined"),
            throwing(3, 2, "x is undefined"),
            throwing(4, 1, "y is undefined"),
            throwing(5, 4, "z is undefined"),
        ];
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(resource(vec![kv("service.name", "shop")])),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let limits = Limits::default();
        let ctx = Context {
            limits: &limits,
            now_ns: NOW_NS as i64,
            ikey: "".into(),
            app_name: "".into(),
        };
        let out =
            super::super::traces(&prost::Message::encode_to_vec(&request), &ctx).expect("frames");
        let mut kept: Vec<(String, String)> = out
            .batch
            .exceptions
            .iter()
            .map(|e| (e.common.operation_parent_id.clone(), e.data.message.clone()))
            .collect();
        kept.sort();
        assert_eq!(
            kept,
            [
                (hex::encode([3u8; 8]), "x is undefined".to_owned()),
                (hex::encode([4u8; 8]), "y is undefined".to_owned()),
                (hex::encode([5u8; 8]), "z is undefined".to_owned()),
            ]
        );
    }
}
