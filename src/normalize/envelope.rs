//! Application Insights track envelopes (`/v2.1/track`) → rows. Bodies are a JSON array or
//! newline-delimited envelopes whatever the Content-Type says; each envelope is routed on
//! `data.baseType` and judged on its own, so one bad item never costs the others.

use std::collections::HashMap;
use std::sync::Arc;

use super::attributes::{DimensionsBuilder, truncate_in_place};
use super::exceptions::{ERROR_SEVERITY, problem_id, top_frame};
use super::known::Known;
use super::wire::{KeyValueRef, ValueRef};
use super::{Context, genai};
use crate::model::{
    Availability, Batch, Common, CustomEvent, CustomMetric, Dependency, Dimensions, Exception,
    GenAiColumns, Item, Measurements, PageView, PerformanceCounter, Request, Resource, Trace,
    item_count_for_sample_rate, performance_bucket,
};
use crate::time::parse_instant;
use schema::{BaseData, Envelope, Loose, Pairs};

mod schema;
mod split;

pub use split::split_body;

/// Breeze's per-item size limit.
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;
/// The metric that carries resource attributes, not a measurement.
const RESOURCE_METRIC: &str = "_OTELRESOURCE_";

/// A body that holds no envelopes at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BodyError {
    #[error("body is not a JSON array or newline-delimited JSON envelopes: {0}")]
    NotJson(String),
}

/// One rejected envelope, answered in the `errors` list of the track response.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemError {
    pub index: usize,
    /// 400: bad item, do not retry; 401: unknown instrumentation key.
    pub status: u16,
    pub message: String,
}

/// What a track body gave.
#[derive(Debug, Default)]
pub struct Track {
    pub batch: Batch,
    pub received: usize,
    pub accepted: usize,
    pub errors: Vec<ItemError>,
}

/// Normalizes a track body. `app_for_key` names the application of an instrumentation key
/// (lower-cased), or refuses it; a refused key is a 401 item error.
pub fn envelopes(
    body: &[u8],
    ctx: &Context<'_>,
    app_for_key: &dyn Fn(&str) -> Option<Arc<str>>,
) -> Result<Track, BodyError> {
    let items = split_body(body)?;
    let mut track = Track {
        received: items.len(),
        ..Track::default()
    };
    let mut resources: HashMap<ResourceKey, Arc<Resource>> = HashMap::new();
    // Bodies come from one app: its key is shared by every row, not copied into each.
    let mut last_key: Arc<str> = Arc::from("");
    for (index, item) in items.into_iter().enumerate() {
        let bad = |message: String| ItemError {
            index,
            status: 400,
            message,
        };
        let outcome = item.map_err(bad).and_then(|raw| {
            if raw.get().len() > MAX_ENVELOPE_BYTES {
                return Err(bad(format!(
                    "telemetry item length {} exceeds {MAX_ENVELOPE_BYTES}",
                    raw.get().len()
                )));
            }
            let envelope: Envelope<'_> = serde_json::from_str(raw.get()).map_err(|e| {
                bad(format!(
                    "envelope is not a JSON object of the track schema: {e}"
                ))
            })?;
            let key = envelope
                .ikey
                .as_ref()
                .map(|k| k.text().to_ascii_lowercase())
                .unwrap_or_default();
            let app = app_for_key(&key).ok_or_else(|| ItemError {
                index,
                status: 401,
                message: format!("unknown or revoked instrumentation key {key:?}"),
            })?;
            if *last_key != *key {
                last_key = Arc::from(key.as_str());
            }
            let key = Arc::clone(&last_key);
            route(&envelope, key, app, ctx, &mut resources, &mut track.batch).map_err(bad)
        });
        match outcome {
            Ok(()) => track.accepted += 1,
            Err(error) => track.errors.push(error),
        }
    }
    Ok(track)
}

#[derive(Hash, PartialEq, Eq)]
struct ResourceKey {
    role: String,
    instance: String,
    sdk: String,
    version: String,
}

/// An optional field as owned text, `""` when absent.
fn owned(field: &Option<Loose<'_>>) -> String {
    field
        .as_ref()
        .map(|v| v.text().into_owned())
        .unwrap_or_default()
}

/// All-zero ids (Python logs outside a span) mean none.
fn id(tags: &Pairs<'_>, key: &str) -> String {
    let value = tags.text(key);
    if value.bytes().all(|b| b == b'0') {
        String::new()
    } else {
        value.into_owned()
    }
}

/// `[d.]hh:mm:ss[.fffffff]` (all SDK forms) in ms; under 1000 days.
pub fn parse_duration(text: &str) -> Option<f64> {
    let (days, clock) = match text.split_once(':') {
        Some((head, _)) if head.contains('.') => {
            let (days, _) = head.split_once('.')?;
            (days.parse::<u64>().ok()?, &text[days.len() + 1..])
        }
        _ => (0, text),
    };
    let mut parts = clock.splitn(3, ':');
    let hours: u64 = digits(parts.next()?, 1, 2)?;
    let minutes: u64 = digits(parts.next()?, 2, 2)?;
    let seconds_part = parts.next()?;
    let (seconds, fraction) = match seconds_part.split_once('.') {
        Some((s, f)) => (s, Some(f)),
        None => (seconds_part, None),
    };
    let seconds: u64 = digits(seconds, 2, 2)?;
    if days >= 1_000 || minutes > 59 || seconds > 59 || hours > 23 {
        return None;
    }
    let fraction_ms = match fraction {
        Some(f) if (1..=7).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()) => {
            f.parse::<u64>().ok()? as f64 / 10f64.powi(f.len() as i32) * 1_000.0
        }
        Some(_) => return None,
        None => 0.0,
    };
    let whole_seconds = ((days * 24 + hours) * 60 + minutes) * 60 + seconds;
    Some(whole_seconds as f64 * 1_000.0 + fraction_ms)
}

fn digits(text: &str, min: usize, max: usize) -> Option<u64> {
    if !(min..=max).contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Severity as Python (0–4) or JavaScript ("Warning") sends it.
fn severity(level: &Option<Loose<'_>>) -> u8 {
    match level {
        Some(Loose::Number(n)) if *n >= 0.0 => n.min(4.0) as u8,
        Some(Loose::Text(s)) => match s.to_ascii_lowercase().as_str() {
            "information" | "1" => 1,
            "warning" | "2" => 2,
            "error" | "3" => 3,
            "critical" | "4" => 4,
            _ => 0,
        },
        _ => 0,
    }
}

/// `Http`, `http` → `HTTP`, as the portal groups them.
fn dependency_type(raw: &str) -> String {
    if raw.eq_ignore_ascii_case("http") {
        "HTTP".to_owned()
    } else {
        raw.to_owned()
    }
}

/// Durations from 1,000 days on are refused: the text form cannot say them, and sums of
/// numbers near `f64::MAX` overflow to infinity in every aggregate.
const MAX_DURATION_MS: f64 = 1_000.0 * 86_400_000.0;

fn duration(base: &BaseData<'_>) -> Result<f64, String> {
    match &base.duration {
        Some(Loose::Text(s)) => parse_duration(s).ok_or_else(|| format!("invalid duration {s:?}")),
        Some(Loose::Number(n)) if n.is_finite() && (0.0..MAX_DURATION_MS).contains(n) => Ok(*n),
        Some(Loose::Number(n)) => Err(format!("duration {n} ms is out of range (0 to 1000 days)")),
        Some(_) => Err("invalid duration".into()),
        None => Err("missing duration".into()),
    }
}

fn route(
    envelope: &Envelope<'_>,
    ikey: Arc<str>,
    app: Arc<str>,
    ctx: &Context<'_>,
    resources: &mut HashMap<ResourceKey, Arc<Resource>>,
    batch: &mut Batch,
) -> Result<(), String> {
    let data = envelope.data.as_ref().ok_or("envelope has no data")?;
    let base_type = data.base_type.as_ref().map(Loose::text).unwrap_or_default();
    if base_type.is_empty() {
        return Err("envelope has no data.baseType".into());
    }
    let raw_base = data.base_data.ok_or("envelope has no data.baseData")?;
    let base: BaseData<'_> = serde_json::from_str(raw_base.get())
        .map_err(|e| format!("{base_type} does not follow the schema: {e}"))?;
    let time = envelope.time.as_ref().map(Loose::text).unwrap_or_default();
    let timestamp_ns = parse_instant(&time).ok_or_else(|| format!("invalid time {time:?}"))?;
    let oldest = ctx.now_ns.saturating_sub(ctx.limits.max_item_age_ns);
    let newest = ctx.now_ns.saturating_add(ctx.limits.max_item_future_ns);
    if timestamp_ns < oldest || timestamp_ns > newest {
        return Err(format!("time {time} is outside the accepted window"));
    }
    let tags = &envelope.tags;
    let resource = resource_for(tags, resources);
    let (dimensions, measurements) = properties(&base, ctx);
    let item_count = envelope
        .sample_rate
        .as_ref()
        .and_then(Loose::number)
        .map_or(1, item_count_for_sample_rate);
    let common = |item_id: String| Common {
        timestamp_ns,
        ikey: Arc::clone(&ikey),
        app_name: Arc::clone(&app),
        item_id,
        operation_id: id(tags, "ai.operation.id"),
        operation_parent_id: id(tags, "ai.operation.parentId"),
        operation_name: tags.text("ai.operation.name").into_owned(),
        resource: Arc::clone(&resource),
        user_id: tags.text("ai.user.id").into_owned(),
        user_authenticated_id: tags.text("ai.user.authUserId").into_owned(),
        session_id: tags.text("ai.session.id").into_owned(),
        client_ip: tags.text("ai.location.ip").into_owned(),
        item_count,
        dimensions,
        measurements,
    };
    // Items without an id of their own get a stable one from what identifies them.
    let generated_id = || {
        super::item_id(&[
            time.as_bytes(),
            base_type.as_bytes(),
            ikey.as_bytes(),
            tags.text("ai.operation.id").as_bytes(),
            raw_base.get().as_bytes(),
        ])
    };
    let max_text = ctx.limits.max_text_bytes;
    let limited = |mut s: String| {
        truncate_in_place(&mut s, max_text);
        s
    };
    match base_type.as_ref() {
        "RequestData" => {
            let duration_ms = duration(&base)?;
            let code = owned(&base.response_code);
            let id = owned(&base.id);
            batch.requests.push(Item {
                common: common(id.clone()),
                data: Request {
                    id,
                    name: owned(&base.name),
                    url: limited(owned(&base.url)),
                    source: owned(&base.source),
                    success: base
                        .success
                        .as_ref()
                        .and_then(Loose::flag)
                        .unwrap_or(!code.starts_with(['4', '5'])),
                    result_code: if code.is_empty() { "0".into() } else { code },
                    duration_ms,
                    performance_bucket: performance_bucket(duration_ms),
                },
            });
        }
        "RemoteDependencyData" => {
            let duration_ms = duration(&base)?;
            let name = owned(&base.name);
            let genai = genai_columns(&base, &name);
            // Exporters type LLM calls "N/A"; name them as OTLP ones are.
            let mut kind = dependency_type(&owned(&base.dependency_type));
            if let Some(g) = genai
                .0
                .as_ref()
                .filter(|_| matches!(kind.as_str(), "" | "N/A"))
            {
                kind = if g.provider.is_empty() {
                    "GenAI".into()
                } else {
                    format!("GenAI | {}", g.provider)
                };
            }
            let id = owned(&base.id);
            batch.dependencies.push(Item {
                common: common(id.clone()),
                data: Dependency {
                    id,
                    name,
                    dependency_type: kind,
                    target: owned(&base.target),
                    data: limited(owned(&base.data)),
                    result_code: owned(&base.result_code),
                    success: base.success.as_ref().and_then(Loose::flag).unwrap_or(true),
                    duration_ms,
                    performance_bucket: performance_bucket(duration_ms),
                    genai,
                },
            });
        }
        "ExceptionData" => {
            let exception = exception(&base, max_text)?;
            batch.exceptions.push(Item {
                common: common(generated_id()),
                data: exception,
            });
        }
        "MessageData" => {
            batch.traces.push(Item {
                common: common(generated_id()),
                data: Trace {
                    message: limited(owned(&base.message)),
                    severity_level: severity(&base.severity_level),
                },
            });
        }
        "EventData" => {
            let name = owned(&base.name);
            if name.is_empty() {
                return Err("EventData has no name".into());
            }
            batch.custom_events.push(Item {
                common: common(generated_id()),
                data: CustomEvent { name },
            });
        }
        "MetricData" => {
            if let Some(row) = metric(&base)? {
                let common = common(generated_id());
                match row {
                    MetricRow::Counter(data) => {
                        batch.performance_counters.push(Item { common, data })
                    }
                    MetricRow::Metric(data) => batch.custom_metrics.push(Item { common, data }),
                }
            }
        }
        "PageViewData" => {
            let duration_ms = duration(&base).unwrap_or(0.0);
            let id = owned(&base.id);
            batch.page_views.push(Item {
                common: common(id.clone()),
                data: PageView {
                    id,
                    name: owned(&base.name),
                    url: limited(owned(&base.url)),
                    duration_ms,
                    performance_bucket: performance_bucket(duration_ms),
                },
            });
        }
        "AvailabilityData" => {
            let id = owned(&base.id);
            batch.availability_results.push(Item {
                common: common(id.clone()),
                data: Availability {
                    id,
                    name: owned(&base.name),
                    location: owned(&base.run_location),
                    message: limited(owned(&base.message)),
                    success: base.success.as_ref().and_then(Loose::flag).unwrap_or(true),
                    duration_ms: duration(&base)?,
                },
            });
        }
        other => return Err(format!("unknown baseType {other:?}")),
    }
    Ok(())
}

fn resource_for(
    tags: &Pairs<'_>,
    resources: &mut HashMap<ResourceKey, Arc<Resource>>,
) -> Arc<Resource> {
    let key = ResourceKey {
        role: tags.text("ai.cloud.role").into_owned(),
        instance: tags.text("ai.cloud.roleInstance").into_owned(),
        sdk: tags.text("ai.internal.sdkVersion").into_owned(),
        version: tags.text("ai.application.ver").into_owned(),
    };
    Arc::clone(resources.entry(key).or_insert_with_key(|key| {
        Arc::new(Resource {
            cloud_role_name: key.role.clone(),
            cloud_role_instance: key.instance.clone(),
            sdk_version: key.sdk.clone(),
            application_version: key.version.clone(),
            ..Resource::default()
        })
    }))
}

/// `properties` → dimensions (bounded like OTLP attributes), `measurements` → measurements.
fn properties(base: &BaseData<'_>, ctx: &Context<'_>) -> (Dimensions, Measurements) {
    let mut builder = DimensionsBuilder::new(ctx.limits, base.properties.0.len());
    for (key, value) in &base.properties.0 {
        if *value != Loose::Null {
            builder.push(key, &value.text());
        }
    }
    let (dimensions, _) = builder.finish();
    let mut measurements = Measurements::default();
    for (key, value) in base
        .measurements
        .0
        .iter()
        .take(ctx.limits.max_attributes_per_item)
    {
        if let Some(number) = value.number() {
            measurements.push(key, number);
        }
    }
    (dimensions, measurements)
}

/// GenAI columns from a dependency's properties (the distro copies span attributes there).
fn genai_columns(base: &BaseData<'_>, name: &str) -> GenAiColumns {
    let attributes: Vec<KeyValueRef<'_>> = base
        .properties
        .0
        .iter()
        .filter_map(|(key, value)| {
            value.as_str().map(|s| KeyValueRef {
                key,
                value: ValueRef::Str(s),
            })
        })
        .collect();
    if attributes.is_empty() {
        return GenAiColumns(None);
    }
    GenAiColumns(genai::detect(&Known::index(&attributes), name).map(Box::new))
}

fn exception(base: &BaseData<'_>, max_text: usize) -> Result<Exception, String> {
    let details = base
        .exceptions
        .as_deref()
        .filter(|list| !list.is_empty())
        .ok_or("ExceptionData has no exceptions")?;
    let outer = &details[0];
    let inner = &details[details.len() - 1];
    let or = |field: &Option<Loose<'_>>, fallback: &str| {
        Some(owned(field))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| fallback.to_owned())
    };
    let exception_type = or(&outer.type_name, "Exception");
    let mut message = or(&outer.message, "Exception");
    truncate_in_place(&mut message, max_text);
    let mut stack = owned(&outer.stack);
    let parsed_method = outer
        .parsed_stack
        .as_deref()
        .and_then(|frames| frames.first())
        .and_then(|frame| frame.method.as_ref())
        .map(|m| m.text().into_owned());
    let method = parsed_method
        .or_else(|| top_frame(&stack))
        .unwrap_or_default();
    truncate_in_place(&mut stack, max_text);
    let given_problem = owned(&base.problem_id);
    let summary: Vec<serde_json::Value> = details
        .iter()
        .enumerate()
        .map(|(i, d)| {
            serde_json::json!({
                "id": i,
                "type": owned(&d.type_name),
                "message": owned(&d.message),
                "hasFullStack": d.stack.is_some(),
            })
        })
        .collect();
    let mut details_json = serde_json::Value::Array(summary).to_string();
    truncate_in_place(&mut details_json, max_text);
    Ok(Exception {
        problem_id: if given_problem.is_empty() {
            problem_id(&exception_type, &method)
        } else {
            given_problem
        },
        outer_type: exception_type.clone(),
        outer_message: message.clone(),
        innermost_type: or(&inner.type_name, &exception_type),
        innermost_message: or(&inner.message, &message),
        exception_type,
        message,
        method,
        assembly: String::new(),
        severity_level: if base.severity_level.is_some() {
            severity(&base.severity_level)
        } else {
            ERROR_SEVERITY
        },
        handled_at: String::new(),
        stack,
        details: details_json,
    })
}

enum MetricRow {
    Counter(PerformanceCounter),
    Metric(CustomMetric),
}

/// The first data point of a MetricData envelope (the only one Breeze keeps); `None` for the
/// resource envelope, which is no metric.
fn metric(base: &BaseData<'_>) -> Result<Option<MetricRow>, String> {
    let point = base
        .metrics
        .as_deref()
        .and_then(|points| points.first())
        .ok_or("MetricData has no metrics")?;
    let name = owned(&point.name);
    if name.is_empty() {
        return Err("metric has no name".into());
    }
    if name == RESOURCE_METRIC {
        return Ok(None);
    }
    let number = |field: &Option<Loose<'_>>| field.as_ref().and_then(Loose::number);
    let value = number(&point.value).ok_or_else(|| format!("metric {name:?} has no value"))?;
    if let Some(counter) = performance_counter(&name, value) {
        return Ok(Some(MetricRow::Counter(counter)));
    }
    let count = number(&point.count).map_or(1, |c| c.max(0.0) as u64);
    let kind = point.kind.as_ref();
    let aggregated = count > 1
        || point.min.is_some()
        || kind.and_then(Loose::number) == Some(1.0)
        || kind.and_then(Loose::as_str) == Some("Aggregation");
    Ok(Some(MetricRow::Metric(CustomMetric {
        namespace: owned(&point.ns),
        metric_type: if aggregated {
            "Aggregation"
        } else {
            "Measurement"
        },
        value,
        value_count: count,
        value_sum: value,
        value_min: number(&point.min).unwrap_or(value),
        value_max: number(&point.max).unwrap_or(value),
        value_std_dev: number(&point.std_dev).unwrap_or(0.0),
        name,
        ..CustomMetric::default()
    })))
}

/// `\Category(instance)\Counter` or `\Category\Counter`.
fn performance_counter(name: &str, value: f64) -> Option<PerformanceCounter> {
    let rest = name.strip_prefix('\\')?;
    let (category_part, counter) = rest.rsplit_once('\\')?;
    let (category, instance) = match category_part.split_once('(') {
        Some((category, instance)) => (category, instance.strip_suffix(')')?),
        None => (category_part, ""),
    };
    Some(PerformanceCounter {
        category: category.to_owned(),
        counter: counter.to_owned(),
        instance: instance.to_owned(),
        name: name.to_owned(),
        value,
    })
}

#[cfg(test)]
mod tests;
