//! OTLP log records → `traces` (log lines), `exceptions` (records carrying `exception.*`) and
//! `customEvents` (records named by `microsoft.custom_event.name`).

use std::sync::Arc;

use super::attributes::{DimensionsBuilder, as_str, render, to_json, truncated};
use super::known::Known;
use super::wire::{self, LogRecordRef, ValueRef, WireError};
use super::{
    Context, Normalized, Rejection, exceptions, item_id, optional_span_id, optional_trace_id,
    resource, timestamp_in_window,
};
use crate::model::{Batch, Common, CustomEvent, Item, Resource, Trace, item_count_for_sample_rate};

/// Normalizes an encoded `ExportLogsServiceRequest`. Fails only when the request itself cannot
/// be framed; a malformed record is rejected on its own.
pub fn logs(body: &[u8], ctx: &Context<'_>) -> Result<Normalized, WireError> {
    let mut out = Normalized::default();
    for group in wire::resource_groups(body)? {
        let resource = resource::from_wire(group.resource, ctx.limits);
        for scope in group.scopes {
            let scope = wire::scope_group(scope)?;
            let logger = scope
                .scope
                .map(wire::scope_name)
                .transpose()?
                .unwrap_or_default();
            for record in scope.items {
                let result = match &resource {
                    Ok(resource) => LogRecordRef::parse(record)
                        .map_err(Rejection::Malformed)
                        .and_then(|record| {
                            record_row(record, logger, resource, ctx, &mut out.batch)
                        }),
                    Err(error) => Err(Rejection::MalformedResource(error.clone())),
                };
                match result {
                    Ok(()) => out.accepted += 1,
                    Err(rejection) => out.reject(rejection),
                }
            }
        }
    }
    Ok(out)
}

/// Application Insights severity level (0 Verbose … 4 Critical) of an OTLP severity number,
/// falling back to the severity text when the number is unset.
pub fn severity_level(severity_number: i32, severity_text: &str) -> u8 {
    match severity_number {
        1..=8 => 0,
        9..=12 => 1,
        13..=16 => 2,
        17..=20 => 3,
        21..=24 => 4,
        _ => match severity_text.to_ascii_lowercase().as_str() {
            "info" | "information" | "notice" => 1,
            "warn" | "warning" => 2,
            "error" | "err" => 3,
            "fatal" | "critical" | "crit" | "emergency" | "alert" => 4,
            _ => 0,
        },
    }
}

fn record_row(
    record: LogRecordRef<'_>,
    logger: &str,
    resource: &Arc<Resource>,
    ctx: &Context<'_>,
    batch: &mut Batch,
) -> Result<(), Rejection> {
    let operation_id = optional_trace_id(record.trace_id)?;
    let parent_id = optional_span_id(record.span_id)?;
    // The spec says: use the event time, else the observed time, else the receive time.
    let timestamp_ns = match (record.time_unix_nano, record.observed_time_unix_nano) {
        (0, 0) => ctx.now_ns,
        (0, observed) => timestamp_in_window(observed, ctx)?,
        (time, _) => timestamp_in_window(time, ctx)?,
    };
    let severity_level = severity_level(record.severity_number, record.severity_text);
    let body = message_of(record.body);
    let max_text = ctx.limits.max_text_bytes;

    let known = Known::index(&record.attributes);
    let event_name = as_str(known.custom_event_name).map(str::to_owned);
    let exception =
        (known.exception_type.is_some() || known.exception_message.is_some()).then(|| {
            exceptions::from_otel(
                as_str(known.exception_type),
                body.as_deref().or_else(|| as_str(known.exception_message)),
                as_str(known.exception_stacktrace),
                severity_level,
                max_text,
            )
        });
    let message = match body {
        Some(body) => truncated(&body, max_text).to_owned(),
        None if !record.event_name.is_empty() => truncated(record.event_name, max_text).to_owned(),
        None => "n/a".to_owned(),
    };
    let id = item_id(&[
        operation_id.as_bytes(),
        parent_id.as_bytes(),
        &timestamp_ns.to_le_bytes(),
        message.as_bytes(),
    ]);

    let mut dimensions = DimensionsBuilder::for_attributes(ctx.limits, &record.attributes, 3);
    for kv in &record.attributes {
        let mapped = match kv.key {
            "exception.type" | "exception.message" | "exception.stacktrace" => exception.is_some(),
            "microsoft.custom_event.name" | "enduser.id" | "enduser.pseudo.id" => true,
            _ => false,
        };
        if !mapped {
            dimensions.push_ref(kv);
        }
    }
    if !record.event_name.is_empty() {
        dimensions.push("event.name", record.event_name);
    }
    if !logger.is_empty() {
        dimensions.push("logger_name", logger);
    }
    if !record.severity_text.is_empty() {
        dimensions.push("severity_text", record.severity_text);
    }
    let (dimensions, measurements) = dimensions.finish();

    let common = Common {
        timestamp_ns,
        ikey: Arc::clone(&ctx.ikey),
        app_name: Arc::clone(&ctx.app_name),
        item_id: id,
        operation_id,
        operation_parent_id: parent_id,
        operation_name: as_str(known.ai_operation_name)
            .unwrap_or_default()
            .to_owned(),
        resource: Arc::clone(resource),
        user_id: known.user_id().unwrap_or_default().to_owned(),
        user_authenticated_id: known.authenticated_user_id().unwrap_or_default().to_owned(),
        session_id: known.session_id().unwrap_or_default().to_owned(),
        client_ip: known.client_ip().unwrap_or_default().to_owned(),
        item_count: known.sample_rate().map_or(1, item_count_for_sample_rate),
        dimensions,
        measurements,
    };
    if let Some(name) = event_name {
        batch.custom_events.push(Item {
            common,
            data: CustomEvent { name },
        });
    } else if let Some(data) = exception {
        batch.exceptions.push(Item { common, data });
    } else {
        batch.traces.push(Item {
            common,
            data: Trace {
                message,
                severity_level,
            },
        });
    }
    Ok(())
}

/// The body as text: strings as they are, structured bodies as JSON; `None` when empty.
fn message_of(body: ValueRef<'_>) -> Option<String> {
    match body {
        ValueRef::Empty => None,
        ValueRef::Str(s) if s.trim().is_empty() => None,
        ValueRef::Str(s) => Some(s.to_owned()),
        ValueRef::Kvlist([]) => None,
        ValueRef::Array(_) | ValueRef::Kvlist(_) => Some(to_json(body).to_string()),
        scalar => Some(render(scalar)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_severity_numbers_and_texts() {
        assert_eq!(severity_level(5, ""), 0);
        assert_eq!(severity_level(9, ""), 1);
        assert_eq!(severity_level(13, ""), 2);
        assert_eq!(severity_level(17, ""), 3);
        assert_eq!(severity_level(21, ""), 4);
        assert_eq!(severity_level(0, "WARNING"), 2);
        assert_eq!(severity_level(0, ""), 0);
        assert_eq!(severity_level(99, "error"), 3);
    }
}
