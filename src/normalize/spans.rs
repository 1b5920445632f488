//! OTLP spans → `requests` and `dependencies`; span events → `exceptions` and `traces`.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::{Span, status::StatusCode};

use super::attributes::{DimensionsBuilder, as_str, truncate_in_place};
use super::known::Known;
use super::{
    Context, Normalized, Rejection, dependency, exceptions, genai, id_hex, item_id, request,
    resource, timestamp_in_window,
};
use crate::model::{
    Batch, Common, Dependency, GenAi, Item, Request, Resource, Trace, item_count_for_sample_rate,
    performance_bucket,
};

/// Span flag bits (OTLP 1.1): the parent's remoteness is known, and it is remote.
const FLAG_HAS_IS_REMOTE: u32 = 0x100;
const FLAG_IS_REMOTE: u32 = 0x200;
/// Application Insights caps `_MS.links` at about this many entries.
const MAX_LINKS: usize = 100;
/// Severity of a non-exception span event stored as a log line (Information).
const EVENT_SEVERITY: u8 = 1;

pub fn traces(request: ExportTraceServiceRequest, ctx: &Context<'_>) -> Normalized {
    let mut out = Normalized::default();
    for resource_spans in request.resource_spans {
        let resource = resource::from_otlp(resource_spans.resource, ctx.limits);
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                match span_rows(span, &resource, ctx, &mut out.batch) {
                    Ok(()) => out.accepted += 1,
                    Err(rejection) => out.reject(rejection),
                }
            }
        }
    }
    out
}

/// The span's row, decided before its attributes are moved into dimensions.
enum SpanRow {
    Request(Request),
    Dependency(Dependency),
}

fn span_rows(
    span: Span,
    resource: &Arc<Resource>,
    ctx: &Context<'_>,
    batch: &mut Batch,
) -> Result<(), Rejection> {
    let operation_id = required_id(
        &span.trace_id,
        16,
        Rejection::TraceIdLength,
        Rejection::ZeroTraceId,
    )?;
    let id = required_id(
        &span.span_id,
        8,
        Rejection::SpanIdLength,
        Rejection::ZeroSpanId,
    )?;
    let parent_id = match span.parent_span_id.len() {
        0 | 8 => id_hex(&span.parent_span_id),
        n => return Err(Rejection::ParentSpanIdLength(n)),
    };
    if span.end_time_unix_nano < span.start_time_unix_nano {
        return Err(Rejection::EndBeforeStart {
            start_ns: span.start_time_unix_nano,
            end_ns: span.end_time_unix_nano,
        });
    }
    let start_ns = timestamp_in_window(span.start_time_unix_nano, ctx)?;
    timestamp_in_window(span.end_time_unix_nano, ctx)?;
    let duration_ms = (span.end_time_unix_nano - span.start_time_unix_nano) as f64 / 1e6;

    let kind = SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified);
    let status_is_error = span
        .status
        .as_ref()
        .is_some_and(|s| s.code == StatusCode::Error as i32);
    let parent_is_remote =
        span.flags & (FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE) == (FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE);

    let known = Known::index(&span.attributes);
    let genai = genai::detect(&known, &span.name);
    let is_request = match kind {
        SpanKind::Server | SpanKind::Consumer => true,
        SpanKind::Internal | SpanKind::Unspecified => {
            genai.is_none() && (parent_id.is_empty() || parent_is_remote)
        }
        SpanKind::Client | SpanKind::Producer => false,
    };
    let item_count = known.sample_rate().map_or(1, item_count_for_sample_rate);
    let user_id = known.user_id().unwrap_or_default().to_owned();
    let authenticated_user_id = known.authenticated_user_id().unwrap_or_default().to_owned();
    let session_id = known.session_id().unwrap_or_default().to_owned();
    let mut row = if is_request {
        let classified = request::classify(&known, &span.name);
        SpanRow::Request(Request {
            id: id.clone(),
            name: classified.name,
            url: classified.url,
            source: classified.source,
            result_code: classified.result_code,
            success: request::success(status_is_error, known.http_status()),
            duration_ms,
            performance_bucket: performance_bucket(duration_ms),
        })
    } else {
        let classified = dependency::classify(kind, &known, &span.name, genai.as_ref());
        let failed_http = known.http_status().is_some_and(|code| code >= 400);
        SpanRow::Dependency(Dependency {
            id: id.clone(),
            name: classified.name,
            dependency_type: classified.dependency_type,
            target: classified.target,
            data: classified.data,
            result_code: classified.result_code,
            success: !status_is_error && !failed_http,
            duration_ms,
            performance_bucket: performance_bucket(duration_ms),
            genai: genai.unwrap_or_else(GenAi::default),
        })
    };
    let client_ip = match row {
        SpanRow::Request(_) => known.client_ip().unwrap_or_default().to_owned(),
        SpanRow::Dependency(_) => String::new(),
    };
    drop(known);
    limit_text_columns(&mut row, ctx.limits.max_text_bytes);

    let mut dimensions = DimensionsBuilder::new(ctx.limits, span.attributes.len() + 2);
    dimensions.push_all(span.attributes);
    if let Some(status) = span.status.filter(|s| !s.message.is_empty()) {
        dimensions.push("otel.status_description".to_owned(), status.message);
    }
    if !span.links.is_empty() {
        dimensions.push("_MS.links".to_owned(), links_json(&span.links));
    }
    let (dimensions, measurements) = dimensions.finish();

    let common = Common {
        timestamp_ns: start_ns,
        ikey: Arc::clone(&ctx.ikey),
        app_name: Arc::clone(&ctx.app_name),
        item_id: id,
        operation_id,
        operation_parent_id: parent_id,
        operation_name: String::new(),
        resource: Arc::clone(resource),
        user_id,
        user_authenticated_id: authenticated_user_id,
        session_id,
        client_ip,
        item_count,
        dimensions,
        measurements,
    };
    for (index, event) in span.events.into_iter().enumerate() {
        event_row(event, index, &common, ctx, batch);
    }
    match row {
        SpanRow::Request(data) => batch.requests.push(Item { common, data }),
        SpanRow::Dependency(data) => batch.dependencies.push(Item { common, data }),
    }
    Ok(())
}

/// A required, non-zero id of exactly `len` bytes, as lower-case hex.
fn required_id(
    bytes: &[u8],
    len: usize,
    wrong_length: fn(usize) -> Rejection,
    zero: Rejection,
) -> Result<String, Rejection> {
    if bytes.len() != len {
        return Err(wrong_length(bytes.len()));
    }
    let hex = id_hex(bytes);
    if hex.is_empty() {
        return Err(zero);
    }
    Ok(hex)
}

fn limit_text_columns(row: &mut SpanRow, max_bytes: usize) {
    match row {
        SpanRow::Request(r) => {
            truncate_in_place(&mut r.name, max_bytes);
            truncate_in_place(&mut r.url, max_bytes);
        }
        SpanRow::Dependency(d) => {
            truncate_in_place(&mut d.name, max_bytes);
            truncate_in_place(&mut d.data, max_bytes);
            truncate_in_place(&mut d.target, max_bytes);
        }
    }
}

fn links_json(links: &[Link]) -> String {
    let linked: Vec<serde_json::Value> = links
        .iter()
        .take(MAX_LINKS)
        .map(|link| {
            serde_json::json!({
                "operation_Id": id_hex(&link.trace_id),
                "id": id_hex(&link.span_id),
            })
        })
        .collect();
    serde_json::Value::Array(linked).to_string()
}

/// A span event as its own row: `exception` events become exceptions, others log lines. Events
/// belong to their span, so their parent id is the span's id.
fn event_row(event: Event, index: usize, span: &Common, ctx: &Context<'_>, batch: &mut Batch) {
    // A bad event timestamp must not cost the span; the span start stands in for it.
    let timestamp_ns = timestamp_in_window(event.time_unix_nano, ctx).unwrap_or(span.timestamp_ns);
    let index_text = index.to_string();
    let common = |dimensions, measurements| Common {
        timestamp_ns,
        item_id: item_id(&[
            span.item_id.as_bytes(),
            index_text.as_bytes(),
            event.name.as_bytes(),
        ]),
        operation_parent_id: span.item_id.clone(),
        dimensions,
        measurements,
        ..span.clone_without_attributes()
    };
    if event.name == "exception" {
        let find = |key: &str| {
            event
                .attributes
                .iter()
                .find(|kv| kv.key == key)
                .and_then(|kv| as_str(kv.value.as_ref()))
        };
        let data = exceptions::from_otel(
            find("exception.type"),
            find("exception.message"),
            find("exception.stacktrace"),
            exceptions::ERROR_SEVERITY,
            ctx.limits.max_text_bytes,
        );
        let (dimensions, measurements) = event_dimensions(event.attributes, ctx, true);
        batch.exceptions.push(Item {
            common: common(dimensions, measurements),
            data,
        });
    } else {
        let (dimensions, measurements) = event_dimensions(event.attributes, ctx, false);
        let mut message = event.name.clone();
        truncate_in_place(&mut message, ctx.limits.max_text_bytes);
        batch.traces.push(Item {
            common: common(dimensions, measurements),
            data: Trace {
                message,
                severity_level: EVENT_SEVERITY,
            },
        });
    }
}

fn event_dimensions(
    attributes: Vec<KeyValue>,
    ctx: &Context<'_>,
    is_exception: bool,
) -> (crate::model::Dimensions, crate::model::Measurements) {
    let mut dimensions = DimensionsBuilder::new(ctx.limits, attributes.len());
    for kv in attributes {
        let mapped = matches!(
            kv.key.as_str(),
            "exception.type" | "exception.message" | "exception.stacktrace"
        );
        if !(is_exception && mapped) {
            dimensions.push_key_value(kv);
        }
    }
    dimensions.finish()
}

impl Common {
    /// The shared context of a row without its own attributes, for rows derived from it.
    pub(crate) fn clone_without_attributes(&self) -> Common {
        Common {
            timestamp_ns: self.timestamp_ns,
            ikey: Arc::clone(&self.ikey),
            app_name: Arc::clone(&self.app_name),
            item_id: String::new(),
            operation_id: self.operation_id.clone(),
            operation_parent_id: self.operation_parent_id.clone(),
            operation_name: self.operation_name.clone(),
            resource: Arc::clone(&self.resource),
            user_id: self.user_id.clone(),
            user_authenticated_id: self.user_authenticated_id.clone(),
            session_id: self.session_id.clone(),
            client_ip: self.client_ip.clone(),
            item_count: self.item_count,
            dimensions: Default::default(),
            measurements: Default::default(),
        }
    }
}
