//! OTLP spans → `requests` and `dependencies`; span events → `exceptions` and `traces`.

use std::sync::Arc;

use super::attributes::{DimensionsBuilder, as_str, truncate_in_place, truncated};
use super::known::Known;
use super::wire::{self, EventRef, KeyValueRef, SpanRef, WireError};
use super::{
    Context, Normalized, Rejection, dependency, exceptions, genai, id_hex, item_id, request,
    resource, timestamp_in_window,
};
use crate::model::otel_span::{self, SpanKind, SpanStatus};
use crate::model::{
    Batch, Common, Dependency, GenAiColumns, Item, Request, Resource, Trace,
    item_count_for_sample_rate, performance_bucket,
};

/// Span flag bits (OTLP 1.1): the parent's remoteness is known, and it is remote.
const FLAG_HAS_IS_REMOTE: u32 = 0x100;
const FLAG_IS_REMOTE: u32 = 0x200;
/// Application Insights caps `_MS.links` at about this many entries.
const MAX_LINKS: usize = 100;
/// Severity of a non-exception span event stored as a log line (Information).
const EVENT_SEVERITY: u8 = 1;
/// `Span.SpanKind` values.
const KIND_INTERNAL: i32 = 1;
const KIND_SERVER: i32 = 2;
const KIND_CLIENT: i32 = 3;
const KIND_PRODUCER: i32 = 4;
const KIND_CONSUMER: i32 = 5;
/// `Status.StatusCode.STATUS_CODE_ERROR`.
const STATUS_ERROR: i32 = 2;

/// Normalizes an encoded `ExportTraceServiceRequest`. Fails only when the request itself
/// cannot be framed; a malformed span is rejected on its own.
pub fn traces(body: &[u8], ctx: &Context<'_>) -> Result<Normalized, WireError> {
    let mut out = Normalized::default();
    let mut groups = Vec::new();
    let mut span_count = 0;
    for group in wire::resource_groups(body)? {
        let resource = resource::from_wire(group.resource, ctx.limits);
        let scopes = group
            .scopes
            .into_iter()
            .map(wire::scope_group)
            .collect::<Result<Vec<_>, _>>()?;
        span_count += scopes.iter().map(|s| s.items.len()).sum::<usize>();
        groups.push((resource, scopes));
    }
    // Rows are large; growing the vector span by span would copy them over and over.
    out.batch.dependencies.reserve(span_count);
    // One view, reused: its attribute vector keeps its capacity from span to span.
    let mut view = SpanRef::default();
    for (resource, scopes) in groups {
        for scope in scopes {
            for span in scope.items {
                let result = match &resource {
                    Ok(resource) => view
                        .parse_into(span)
                        .map_err(Rejection::Malformed)
                        .and_then(|()| span_rows(&view, resource, ctx, &mut out.batch)),
                    Err(error) => Err(Rejection::MalformedResource(error.clone())),
                };
                match result {
                    Ok(()) => out.accepted += 1,
                    Err(rejection) => out.reject(rejection),
                }
            }
        }
    }
    super::rethrown::drop_rethrown_exceptions(&mut out.batch);
    super::sessions::inherit_session_and_user(&mut out.batch);
    super::genai_endpoint::endpoints_from_attempts(&mut out.batch);
    Ok(out)
}

/// The span's row, decided before its attributes become dimensions.
enum SpanRow {
    Request(Request),
    Dependency(Dependency),
}

fn span_rows(
    span: &SpanRef<'_>,
    resource: &Arc<Resource>,
    ctx: &Context<'_>,
    batch: &mut Batch,
) -> Result<(), Rejection> {
    let operation_id = required_id(
        span.trace_id,
        16,
        Rejection::TraceIdLength,
        Rejection::ZeroTraceId,
    )?;
    let id = required_id(
        span.span_id,
        8,
        Rejection::SpanIdLength,
        Rejection::ZeroSpanId,
    )?;
    let parent_id = match span.parent_span_id.len() {
        0 | 8 => id_hex(span.parent_span_id),
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
    // Events and links are parsed up front, so a malformed one rejects the span before any of
    // its rows are kept.
    let events = if span.events.is_empty() {
        Vec::new()
    } else {
        span.events
            .iter()
            .map(|bytes| EventRef::parse(bytes))
            .collect::<Result<Vec<_>, _>>()?
    };
    let links = if span.links.is_empty() {
        Vec::new()
    } else {
        span.links
            .iter()
            .take(MAX_LINKS)
            .map(|bytes| wire::link_ids(bytes))
            .collect::<Result<Vec<_>, _>>()?
    };

    let status_is_error = span.status_code == STATUS_ERROR;
    let parent_is_remote =
        span.flags & (FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE) == (FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE);
    let known = Known::index(&span.attributes);
    let genai = genai::detect(&known, span.name);
    let is_request = match span.kind {
        KIND_SERVER | KIND_CONSUMER => true,
        KIND_CLIENT | KIND_PRODUCER => false,
        // INTERNAL, UNSPECIFIED and unknown kinds: entry points of this service are requests.
        _ => genai.is_none() && (parent_id.is_empty() || parent_is_remote),
    };
    let max_text = ctx.limits.max_text_bytes;
    let row = if is_request {
        let mut classified = request::classify(&known, span.name);
        truncate_in_place(&mut classified.name, max_text);
        truncate_in_place(&mut classified.url, max_text);
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
        let kind = if span.kind == KIND_INTERNAL || !(1..=5).contains(&span.kind) {
            dependency::Kind::Internal
        } else if span.kind == KIND_PRODUCER {
            dependency::Kind::Producer
        } else {
            dependency::Kind::Client
        };
        let mut classified = dependency::classify(kind, &known, span.name, genai.as_ref());
        for text in [
            &mut classified.name,
            &mut classified.target,
            &mut classified.data,
        ] {
            truncate_in_place(text, max_text);
        }
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
            genai: GenAiColumns(genai.map(Box::new)),
        })
    };

    let text_bytes = span.attribute_bytes + span.status_message.len() + span.name.len();
    let mut dimensions =
        DimensionsBuilder::sized(ctx.limits, &span.attributes, text_bytes, 6).keeping_types();
    dimensions.push_all(&span.attributes);
    if !span.status_message.is_empty() {
        dimensions.push(otel_span::STATUS_MESSAGE_KEY, span.status_message);
    }
    if !links.is_empty() {
        dimensions.push(otel_span::LINKS_KEY, &links_json(&links));
    }
    let (row_name, implied_kind, success) = match &row {
        SpanRow::Request(r) => (&r.name, SpanKind::implied(true, ""), r.success),
        SpanRow::Dependency(d) => (
            &d.name,
            SpanKind::implied(false, &d.dependency_type),
            d.success,
        ),
    };
    let span_name = truncated(span.name, max_text);
    for (key, value) in otel_span::reserved_entries(
        span_name,
        row_name,
        SpanKind::from_otlp(span.kind),
        implied_kind,
        SpanStatus::from_otlp(span.status_code),
        success,
    ) {
        dimensions.push_reserved(key, &value);
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
        user_id: known.user_id().unwrap_or_default().to_owned(),
        user_authenticated_id: known.authenticated_user_id().unwrap_or_default().to_owned(),
        session_id: known.session_id().unwrap_or_default().to_owned(),
        client_ip: match row {
            SpanRow::Request(_) => known.client_ip().unwrap_or_default().to_owned(),
            SpanRow::Dependency(_) => String::new(),
        },
        item_count: known.sample_rate().map_or(1, item_count_for_sample_rate),
        dimensions,
        measurements,
    };
    for (index, event) in events.into_iter().enumerate() {
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

fn links_json(links: &[(&[u8], &[u8])]) -> String {
    let linked: Vec<serde_json::Value> = links
        .iter()
        .map(|(trace_id, span_id)| {
            serde_json::json!({ "operation_Id": id_hex(trace_id), "id": id_hex(span_id) })
        })
        .collect();
    serde_json::Value::Array(linked).to_string()
}

/// A span event as its own row: `exception` events become exceptions, others log lines. Events
/// belong to their span, so their parent id is the span's id.
fn event_row(
    event: EventRef<'_>,
    index: usize,
    span: &Common,
    ctx: &Context<'_>,
    batch: &mut Batch,
) {
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
    let is_exception = event.name == "exception";
    let (dimensions, measurements) = event_dimensions(&event.attributes, ctx, is_exception);
    if is_exception {
        let find = |key: &str| {
            event
                .attributes
                .iter()
                .find(|kv| kv.key == key)
                .and_then(|kv| as_str(Some(kv.value)))
        };
        let data = exceptions::from_otel(
            find("exception.type"),
            find("exception.message"),
            find("exception.stacktrace"),
            exceptions::ERROR_SEVERITY,
            ctx.limits.max_text_bytes,
        );
        batch.exceptions.push(Item {
            common: common(dimensions, measurements),
            data,
        });
    } else {
        batch.traces.push(Item {
            common: common(dimensions, measurements),
            data: Trace {
                message: truncated(event.name, ctx.limits.max_text_bytes).to_owned(),
                severity_level: EVENT_SEVERITY,
            },
        });
    }
}

fn event_dimensions(
    attributes: &[KeyValueRef<'_>],
    ctx: &Context<'_>,
    is_exception: bool,
) -> (crate::model::Dimensions, crate::model::Measurements) {
    let mut dimensions = DimensionsBuilder::for_attributes(ctx.limits, attributes, 0);
    for kv in attributes {
        let mapped = matches!(
            kv.key,
            "exception.type" | "exception.message" | "exception.stacktrace"
        );
        if !(is_exception && mapped) {
            dimensions.push_ref(kv);
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
