//! Application Insights track envelopes (`/v2.1/track`) → rows. Bodies are a JSON array or
//! newline-delimited envelopes whatever the Content-Type says; each envelope is routed on
//! `data.baseType` and judged on its own, so one bad item never costs the others.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::attributes::{DimensionsBuilder, truncate_in_place};
use super::exceptions::{problem_id, top_frame};
use super::known::Known;
use super::wire::{KeyValueRef, ValueRef};
use super::{Context, genai};
use crate::model::{
    Availability, Batch, Common, CustomEvent, CustomMetric, Dependency, Exception, GenAiColumns,
    Item, Measurements, PageView, PerformanceCounter, Request, Resource, Trace,
    item_count_for_sample_rate, performance_bucket,
};
use crate::query::time::parse_instant;

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

/// The envelopes of a body, in order, as raw JSON (a line that is not JSON is an error in its
/// place).
pub fn split_body(body: &[u8]) -> Result<Vec<Result<&RawValue, String>>, BodyError> {
    let text = std::str::from_utf8(body).map_err(|e| BodyError::NotJson(e.to_string()))?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        let items: Vec<&RawValue> =
            serde_json::from_str(trimmed).map_err(|e| BodyError::NotJson(e.to_string()))?;
        return Ok(items.into_iter().map(Ok).collect());
    }
    if !trimmed.is_empty() && !trimmed.starts_with('{') {
        return Err(BodyError::NotJson("expected `[` or `{`".into()));
    }
    Ok(text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str::<&RawValue>(line).map_err(|e| format!("invalid JSON: {e}"))
        })
        .collect())
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
    for (index, item) in items.into_iter().enumerate() {
        let result = item.and_then(|raw| {
            if raw.get().len() > MAX_ENVELOPE_BYTES {
                return Err(format!(
                    "telemetry item length {} exceeds {MAX_ENVELOPE_BYTES}",
                    raw.get().len()
                ));
            }
            let envelope: Map<String, Value> = serde_json::from_str(raw.get())
                .map_err(|e| format!("envelope is not a JSON object: {e}"))?;
            Ok(envelope)
        });
        let outcome = result.map_err(|message| ItemError {
            index,
            status: 400,
            message,
        });
        let outcome = outcome.and_then(|envelope| {
            let key = text(&envelope, "iKey").to_ascii_lowercase();
            let app = app_for_key(&key).ok_or_else(|| ItemError {
                index,
                status: 401,
                message: format!("unknown or revoked instrumentation key {key:?}"),
            })?;
            route(&envelope, key, app, ctx, &mut resources, &mut track.batch).map_err(|message| {
                ItemError {
                    index,
                    status: 400,
                    message,
                }
            })
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

fn text<'a>(object: &'a Map<String, Value>, key: &str) -> &'a str {
    object.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A value SDKs send as a string, a number or a boolean, as text.
fn loose_text(object: &Map<String, Value>, key: &str) -> String {
    match object.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn loose_f64(object: &Map<String, Value>, key: &str) -> Option<f64> {
    match object.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|v: &f64| v.is_finite())
}

fn loose_bool(object: &Map<String, Value>, key: &str, default: bool) -> bool {
    match object.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => default,
    }
}

/// All-zero ids (Python logs outside a span) mean none.
fn id(tags: &Map<String, Value>, key: &str) -> String {
    let value = text(tags, key);
    if value.bytes().all(|b| b == b'0') {
        String::new()
    } else {
        value.to_owned()
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
fn severity(object: &Map<String, Value>) -> u8 {
    match object.get("severityLevel") {
        Some(Value::Number(n)) => n.as_u64().map_or(0, |n| n.min(4) as u8),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "information" => 1,
            "warning" => 2,
            "error" => 3,
            "critical" => 4,
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

fn route(
    envelope: &Map<String, Value>,
    ikey: String,
    app: Arc<str>,
    ctx: &Context<'_>,
    resources: &mut HashMap<ResourceKey, Arc<Resource>>,
    batch: &mut Batch,
) -> Result<(), String> {
    let data = envelope
        .get("data")
        .and_then(Value::as_object)
        .ok_or("envelope has no data")?;
    let base_type = text(data, "baseType");
    if base_type.is_empty() {
        return Err("envelope has no data.baseType".into());
    }
    let base = data
        .get("baseData")
        .and_then(Value::as_object)
        .ok_or("envelope has no data.baseData")?;
    let time = text(envelope, "time");
    let timestamp_ns = parse_instant(time).ok_or_else(|| format!("invalid time {time:?}"))?;
    let oldest = ctx.now_ns.saturating_sub(ctx.limits.max_item_age_ns);
    let newest = ctx.now_ns.saturating_add(ctx.limits.max_item_future_ns);
    if timestamp_ns < oldest || timestamp_ns > newest {
        return Err(format!("time {time} is outside the accepted window"));
    }
    let empty = Map::new();
    let tags = envelope
        .get("tags")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let resource = resource_for(tags, resources);
    let (dimensions, measurements) = properties(base, ctx);
    let common = |item_id: String| Common {
        timestamp_ns,
        ikey: Arc::from(ikey.as_str()),
        app_name: Arc::clone(&app),
        item_id,
        operation_id: id(tags, "ai.operation.id"),
        operation_parent_id: id(tags, "ai.operation.parentId"),
        operation_name: text(tags, "ai.operation.name").to_owned(),
        resource: Arc::clone(&resource),
        user_id: text(tags, "ai.user.id").to_owned(),
        user_authenticated_id: text(tags, "ai.user.authUserId").to_owned(),
        session_id: text(tags, "ai.session.id").to_owned(),
        client_ip: text(tags, "ai.location.ip").to_owned(),
        item_count: loose_f64(envelope, "sampleRate").map_or(1, item_count_for_sample_rate),
        dimensions,
        measurements,
    };
    let duration = |object: &Map<String, Value>| -> Result<f64, String> {
        match object.get("duration") {
            Some(Value::String(s)) => {
                parse_duration(s).ok_or_else(|| format!("invalid duration {s:?}"))
            }
            Some(Value::Number(n)) => n
                .as_f64()
                .filter(|d| d.is_finite() && *d >= 0.0)
                .ok_or("invalid duration".into()),
            _ => Err("missing duration".into()),
        }
    };
    let generated_id = || {
        super::item_id(&[
            time.as_bytes(),
            base_type.as_bytes(),
            ikey.as_bytes(),
            text(tags, "ai.operation.id").as_bytes(),
            serde_json::to_string(base).unwrap_or_default().as_bytes(),
        ])
    };
    let max_text = ctx.limits.max_text_bytes;
    let limited = |mut s: String| {
        truncate_in_place(&mut s, max_text);
        s
    };
    match base_type {
        "RequestData" => {
            let duration_ms = duration(base)?;
            let code = loose_text(base, "responseCode");
            batch.requests.push(Item {
                common: common(text(base, "id").to_owned()),
                data: Request {
                    id: text(base, "id").to_owned(),
                    name: text(base, "name").to_owned(),
                    url: limited(text(base, "url").to_owned()),
                    source: text(base, "source").to_owned(),
                    success: loose_bool(base, "success", !code.starts_with(['4', '5'])),
                    result_code: if code.is_empty() { "0".into() } else { code },
                    duration_ms,
                    performance_bucket: performance_bucket(duration_ms),
                },
            });
        }
        "RemoteDependencyData" => {
            let duration_ms = duration(base)?;
            let name = text(base, "name");
            let item = common(text(base, "id").to_owned());
            let genai = genai_columns(base, name);
            // Exporters type LLM calls "N/A"; name them as OTLP ones are.
            let mut kind = dependency_type(text(base, "type"));
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
            batch.dependencies.push(Item {
                data: Dependency {
                    id: text(base, "id").to_owned(),
                    name: name.to_owned(),
                    dependency_type: kind,
                    target: text(base, "target").to_owned(),
                    data: limited(text(base, "data").to_owned()),
                    result_code: loose_text(base, "resultCode"),
                    success: loose_bool(base, "success", true),
                    duration_ms,
                    performance_bucket: performance_bucket(duration_ms),
                    genai,
                },
                common: item,
            });
        }
        "ExceptionData" => {
            let exception = exception(base, max_text)?;
            batch.exceptions.push(Item {
                common: common(generated_id()),
                data: exception,
            });
        }
        "MessageData" => {
            batch.traces.push(Item {
                common: common(generated_id()),
                data: Trace {
                    message: limited(loose_text(base, "message")),
                    severity_level: severity(base),
                },
            });
        }
        "EventData" => {
            let name = text(base, "name");
            if name.is_empty() {
                return Err("EventData has no name".into());
            }
            batch.custom_events.push(Item {
                common: common(generated_id()),
                data: CustomEvent {
                    name: name.to_owned(),
                },
            });
        }
        "MetricData" => metric(base, common(generated_id()), batch)?,
        "PageViewData" => {
            let duration_ms = duration(base).unwrap_or(0.0);
            batch.page_views.push(Item {
                common: common(text(base, "id").to_owned()),
                data: PageView {
                    id: text(base, "id").to_owned(),
                    name: text(base, "name").to_owned(),
                    url: limited(text(base, "url").to_owned()),
                    duration_ms,
                    performance_bucket: performance_bucket(duration_ms),
                },
            });
        }
        "AvailabilityData" => {
            batch.availability_results.push(Item {
                common: common(text(base, "id").to_owned()),
                data: Availability {
                    id: text(base, "id").to_owned(),
                    name: text(base, "name").to_owned(),
                    location: text(base, "runLocation").to_owned(),
                    message: limited(text(base, "message").to_owned()),
                    success: loose_bool(base, "success", true),
                    duration_ms: duration(base)?,
                },
            });
        }
        other => return Err(format!("unknown baseType {other:?}")),
    }
    Ok(())
}

fn resource_for(
    tags: &Map<String, Value>,
    resources: &mut HashMap<ResourceKey, Arc<Resource>>,
) -> Arc<Resource> {
    let key = ResourceKey {
        role: text(tags, "ai.cloud.role").to_owned(),
        instance: text(tags, "ai.cloud.roleInstance").to_owned(),
        sdk: text(tags, "ai.internal.sdkVersion").to_owned(),
        version: text(tags, "ai.application.ver").to_owned(),
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
fn properties(
    base: &Map<String, Value>,
    ctx: &Context<'_>,
) -> (crate::model::Dimensions, Measurements) {
    let empty = Map::new();
    let properties = base
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut builder = DimensionsBuilder::new(ctx.limits, properties.len());
    for (key, value) in properties {
        match value {
            Value::String(s) => builder.push(key, s),
            Value::Null => {}
            other => builder.push(key, &other.to_string()),
        }
    }
    let (dimensions, _) = builder.finish();
    let mut measurements = Measurements::default();
    if let Some(values) = base.get("measurements").and_then(Value::as_object) {
        for (key, value) in values.iter().take(ctx.limits.max_attributes_per_item) {
            if let Some(number) = value.as_f64().filter(|v| v.is_finite()) {
                measurements.push(key, number);
            }
        }
    }
    (dimensions, measurements)
}

/// GenAI columns from a dependency's properties (the distro copies span attributes there).
fn genai_columns(base: &Map<String, Value>, name: &str) -> GenAiColumns {
    let Some(properties) = base.get("properties").and_then(Value::as_object) else {
        return GenAiColumns(None);
    };
    let attributes: Vec<KeyValueRef<'_>> = properties
        .iter()
        .filter_map(|(key, value)| {
            value.as_str().map(|s| KeyValueRef {
                key,
                value: ValueRef::Str(s),
            })
        })
        .collect();
    GenAiColumns(genai::detect(&Known::index(&attributes), name).map(Box::new))
}

fn exception(base: &Map<String, Value>, max_text: usize) -> Result<Exception, String> {
    let details = base
        .get("exceptions")
        .and_then(Value::as_array)
        .filter(|list| !list.is_empty())
        .ok_or("ExceptionData has no exceptions")?;
    let detail = |d: &Value, key: &str| {
        d.as_object()
            .map(|o| loose_text(o, key))
            .unwrap_or_default()
    };
    let outer = &details[0];
    let inner = &details[details.len() - 1];
    let exception_type = Some(detail(outer, "typeName"))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "Exception".into());
    let mut message = Some(detail(outer, "message"))
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "Exception".into());
    truncate_in_place(&mut message, max_text);
    let mut stack = detail(outer, "stack");
    let parsed_method = outer
        .get("parsedStack")
        .and_then(Value::as_array)
        .and_then(|frames| frames.first())
        .and_then(|frame| frame.get("method"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let method = parsed_method
        .or_else(|| top_frame(&stack))
        .unwrap_or_default();
    truncate_in_place(&mut stack, max_text);
    let given_problem = text(base, "problemId");
    let mut details_json = Value::Array(details.clone()).to_string();
    truncate_in_place(&mut details_json, max_text);
    Ok(Exception {
        problem_id: if given_problem.is_empty() {
            problem_id(&exception_type, &method)
        } else {
            given_problem.to_owned()
        },
        outer_type: exception_type.clone(),
        outer_message: message.clone(),
        innermost_type: Some(detail(inner, "typeName"))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| exception_type.clone()),
        innermost_message: Some(detail(inner, "message"))
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| message.clone()),
        exception_type,
        message,
        method,
        assembly: String::new(),
        severity_level: if base.contains_key("severityLevel") {
            severity(base)
        } else {
            3
        },
        handled_at: String::new(),
        stack,
        details: details_json,
    })
}

/// The first data point of a MetricData envelope (the only one Breeze keeps).
fn metric(base: &Map<String, Value>, common: Common, batch: &mut Batch) -> Result<(), String> {
    let point = base
        .get("metrics")
        .and_then(Value::as_array)
        .and_then(|points| points.first())
        .and_then(Value::as_object)
        .ok_or("MetricData has no metrics")?;
    let name = text(point, "name");
    if name.is_empty() {
        return Err("metric has no name".into());
    }
    if name == RESOURCE_METRIC {
        return Ok(());
    }
    let value = loose_f64(point, "value").ok_or_else(|| format!("metric {name:?} has no value"))?;
    if let Some(counter) = performance_counter(name, value) {
        batch.performance_counters.push(Item {
            common,
            data: counter,
        });
        return Ok(());
    }
    let count = loose_f64(point, "count").map_or(1, |c| c.max(0.0) as u64);
    let aggregated = count > 1
        || point.contains_key("min")
        || matches!(point.get("kind"), Some(Value::Number(n)) if n.as_u64() == Some(1))
        || text(point, "kind") == "Aggregation";
    batch.custom_metrics.push(Item {
        common,
        data: CustomMetric {
            name: name.to_owned(),
            namespace: text(point, "ns").to_owned(),
            metric_type: if aggregated {
                "Aggregation"
            } else {
                "Measurement"
            },
            value,
            value_count: count,
            value_sum: value,
            value_min: loose_f64(point, "min").unwrap_or(value),
            value_max: loose_f64(point, "max").unwrap_or(value),
            value_std_dev: loose_f64(point, "stdDev").unwrap_or(0.0),
            ..CustomMetric::default()
        },
    });
    Ok(())
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
