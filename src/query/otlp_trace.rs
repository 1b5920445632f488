//! Stored rows → OpenTelemetry spans again, for the trace APIs Grafana speaks (Tempo, Jaeger).
//! Pure. Requests and dependencies become spans; their exceptions, log lines and custom events
//! become span events. What normalization kept (`_OTel.*`, `_MS.links`, the status message,
//! numeric attributes as measurements, the service's name where the role does not hold it)
//! makes the rebuilt span the one that was sent; rows from Application Insights envelopes get
//! the role and the columns they have.

use std::collections::HashSet;

use crate::model::otel_span::{
    KIND_KEY, LINKS_KEY, NAME_KEY, STATUS_KEY, STATUS_MESSAGE_KEY, SpanKind, SpanStatus, TYPES_KEY,
    parse_types,
};
use crate::reads::records::{OperationItems, SpanRecord, SpanTable};

pub use super::otlp_value::Value;

pub type Attributes = Vec<(String, Value)>;

#[derive(Debug, Clone, PartialEq)]
pub struct SpanEvent {
    pub time_ns: i64,
    pub name: String,
    pub attributes: Attributes,
}

/// One span, rebuilt. Ids are lower-case hex: 32 digits for the trace, 16 for spans (ids that
/// are not W3C hex, from older Application Insights SDKs, are hashed to that length).
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSpan {
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root.
    pub parent_span_id: String,
    pub name: String,
    pub kind: SpanKind,
    pub status: SpanStatus,
    pub status_message: String,
    pub start_ns: i64,
    pub end_ns: i64,
    /// `service.name` first.
    pub resource: Attributes,
    pub attributes: Attributes,
    pub events: Vec<SpanEvent>,
    /// (trace id, span id) of linked spans.
    pub links: Vec<(String, String)>,
    /// The app the span was stored under.
    pub app: String,
}

impl TraceSpan {
    pub fn service_name(&self) -> &str {
        match self.resource.first() {
            Some((key, Value::Str(name))) if key == "service.name" => name,
            _ => "",
        }
    }

    pub fn duration_ns(&self) -> i64 {
        self.end_ns.saturating_sub(self.start_ns)
    }
}

/// Resource semantic-convention namespaces: attributes under them describe the process, not
/// the operation. The stores keep a row's resource attributes beside its own, so this is how
/// they are told apart again.
const RESOURCE_PREFIXES: [&str; 18] = [
    "service.",
    "telemetry.",
    "host.",
    "os.",
    "process.",
    "k8s.",
    "container.",
    "cloud.",
    "deployment.",
    "device.",
    "faas.",
    "webengine.",
    "aws.ecs.",
    "aws.eks.",
    "aws.log.",
    "gcp.",
    "heroku.",
    "azure.resource",
];

pub fn is_resource_key(key: &str) -> bool {
    RESOURCE_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// Keys normalization adds to read a span back; never shown as attributes.
fn is_reserved_key(key: &str) -> bool {
    matches!(key, STATUS_MESSAGE_KEY | LINKS_KEY) || key.starts_with("_OTel.")
}

/// Every span of an operation, in stored order, each span id once.
pub fn rebuild(app: &str, items: &OperationItems) -> Vec<TraceSpan> {
    let mut seen = HashSet::new();
    let mut spans: Vec<TraceSpan> = items
        .spans
        .iter()
        .filter(|s| seen.insert(s.id.clone()))
        .map(|s| span(app, s))
        .collect();
    attach_events(&mut spans, items);
    spans
}

fn span(app: &str, row: &SpanRecord) -> TraceSpan {
    let dimension = |key: &str| {
        row.dimensions
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let is_request = row.table == SpanTable::Request;
    let kind = dimension(KIND_KEY)
        .and_then(SpanKind::from_name)
        .unwrap_or_else(|| SpanKind::implied(is_request, &row.dependency_type));
    let status = dimension(STATUS_KEY)
        .and_then(SpanStatus::from_name)
        .unwrap_or_else(|| SpanStatus::implied(row.success));
    let duration_ns = (row.duration_ms * 1e6).round();
    let duration_ns = if duration_ns.is_finite() && duration_ns >= 0.0 {
        duration_ns as i64
    } else {
        0
    };
    let mut attributes = typed_attributes(&row.dimensions, &row.measurement_keys);
    // Envelopes name their SDK (`py3:2.0`, `uxxx:otel1.2:…`); OTLP rows `otel-…` or nothing.
    if !row.sdk_version.is_empty() && !row.sdk_version.starts_with("otel") {
        attributes.extend(envelope_columns(row));
    }
    TraceSpan {
        trace_id: trace_id_hex(&row.operation_id),
        span_id: span_id_hex(&row.id),
        parent_span_id: if row.parent_id.is_empty() {
            String::new()
        } else {
            span_id_hex(&row.parent_id)
        },
        name: dimension(NAME_KEY).unwrap_or(&row.name).to_owned(),
        kind,
        status,
        status_message: dimension(STATUS_MESSAGE_KEY).unwrap_or_default().to_owned(),
        start_ns: row.timestamp_ns,
        end_ns: row.timestamp_ns.saturating_add(duration_ns),
        resource: resource(row),
        attributes,
        events: Vec::new(),
        links: dimension(LINKS_KEY).map(links).unwrap_or_default(),
        app: app.to_owned(),
    }
}

/// The row's own attributes, typed as sent: numbers by `customMeasurements`, other types by the
/// row's `_OTel.types` entry.
fn typed_attributes(dimensions: &[(String, String)], numeric: &[String]) -> Attributes {
    let types = dimensions
        .iter()
        .find(|(key, _)| key == TYPES_KEY)
        .map(|(_, entry)| parse_types(entry))
        .unwrap_or_default();
    dimensions
        .iter()
        .filter(|(key, _)| !is_resource_key(key) && !is_reserved_key(key))
        .map(|(key, text)| {
            let stored = types.iter().find(|(k, _)| k == key).map(|(_, t)| *t);
            let is_number = numeric.iter().any(|k| k == key);
            (key.clone(), Value::typed(text, is_number, stored))
        })
        .collect()
}

/// What an Application Insights envelope said in columns rather than attributes.
fn envelope_columns(row: &SpanRecord) -> Attributes {
    let columns = [
        ("appinsights.resultCode", &row.result_code),
        ("appinsights.type", &row.dependency_type),
        ("appinsights.target", &row.target),
        ("appinsights.data", &row.data),
    ];
    columns
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| (key.to_owned(), Value::Str(value.clone())))
        .collect()
}

/// The process the span ran in: the service's name as sent (the role where it was not kept
/// apart), the instance, version and SDK from their columns, then the resource attributes.
fn resource(row: &SpanRecord) -> Attributes {
    let dimension = |key: &str| {
        row.dimensions
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let text = |key: &str, value: &str| (key.to_owned(), Value::Str(value.to_owned()));
    let mut out = vec![text(
        "service.name",
        dimension("service.name").unwrap_or(&row.cloud_role_name),
    )];
    if let Some(namespace) = dimension("service.namespace") {
        out.push(text("service.namespace", namespace));
    }
    let instance = &row.cloud_role_instance;
    let instance_is_fallback = ["k8s.pod.name", "host.name"]
        .iter()
        .any(|key| dimension(key) == Some(instance.as_str()));
    if !instance.is_empty() && !instance_is_fallback {
        out.push(text("service.instance.id", instance));
    }
    if !row.application_version.is_empty() {
        out.push(text("service.version", &row.application_version));
    }
    let sdk = row.sdk_version.strip_prefix("otel").and_then(|rest| {
        let (language, version) = rest.split_once(':')?;
        Some((language.strip_prefix('-').unwrap_or(language), version))
    });
    if let Some((language, version)) = sdk {
        if !language.is_empty() {
            out.push(text("telemetry.sdk.language", language));
        }
        out.push(text("telemetry.sdk.name", "opentelemetry"));
        out.push(text("telemetry.sdk.version", version));
    }
    out.extend(
        row.dimensions
            .iter()
            .filter(|(key, _)| {
                is_resource_key(key)
                    && !matches!(key.as_str(), "service.name" | "service.namespace")
            })
            .map(|(key, value)| text(key, value)),
    );
    out
}

fn links(json: &str) -> Vec<(String, String)> {
    let Ok(serde_json::Value::Array(entries)) = serde_json::from_str(json) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let trace = entry.get("operation_Id")?.as_str()?;
            let span = entry.get("id")?.as_str()?;
            Some((trace_id_hex(trace), span_id_hex(span)))
        })
        .collect()
}

/// Exceptions, log lines and custom events under a span become its events, in time order;
/// those whose span is not stored are left out (the transaction view shows them as orphans).
fn attach_events(spans: &mut [TraceSpan], items: &OperationItems) {
    let mut events: Vec<(String, SpanEvent)> = Vec::new();
    for exception in &items.exceptions {
        let mut attributes: Attributes = [
            ("exception.type", &exception.exception_type),
            ("exception.message", &exception.message),
            ("exception.stacktrace", &exception.stack),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_owned(), Value::Str(v.clone())))
        .collect();
        attributes.extend(typed_attributes(&exception.dimensions, &[]));
        events.push((
            exception.parent_id.clone(),
            SpanEvent {
                time_ns: exception.timestamp_ns,
                name: "exception".to_owned(),
                attributes,
            },
        ));
    }
    for line in &items.traces {
        events.push((
            line.parent_id.clone(),
            SpanEvent {
                time_ns: line.timestamp_ns,
                name: line.message.clone(),
                attributes: typed_attributes(&line.dimensions, &[]),
            },
        ));
    }
    for event in &items.events {
        events.push((
            event.parent_id.clone(),
            SpanEvent {
                time_ns: event.timestamp_ns,
                name: event.name.clone(),
                attributes: typed_attributes(&event.dimensions, &[]),
            },
        ));
    }
    events.sort_by_key(|(_, e)| e.time_ns);
    for (parent, event) in events {
        let parent = span_id_hex(&parent);
        if let Some(span) = spans.iter_mut().find(|s| s.span_id == parent) {
            span.events.push(event);
        }
    }
}

/// A trace id as 32 lower-case hex digits.
pub fn trace_id_hex(id: &str) -> String {
    id_hex(id, 16)
}

/// A span id as 16 lower-case hex digits.
pub fn span_id_hex(id: &str) -> String {
    id_hex(id, 8)
}

fn id_hex(id: &str, bytes: usize) -> String {
    if id.len() == bytes * 2 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return id.to_ascii_lowercase();
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, id.as_bytes());
    hex::encode(&digest.as_ref()[..bytes])
}

/// Hex digits → bytes; `None` unless every pair is hex.
pub fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    hex::decode(hex).ok()
}

#[cfg(test)]
mod tests;
