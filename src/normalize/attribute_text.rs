//! Attribute values as the text `customDimensions` stores (scalars as text, arrays and maps as
//! JSON, bytes as base64) and as JSON for structured log bodies.

use std::fmt::Write as _;

use base64::Engine as _;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value::Value};

use super::wire::{KeyValueRef, ValueRef};

/// Nesting depth past which arrays and maps are rendered as `"..."`, so rendering never
/// recurses as deep as a client chooses.
const MAX_RENDER_DEPTH: usize = 32;

/// Renders a value as stored in `customDimensions`: scalars as text, arrays and maps as JSON,
/// bytes as base64.
pub fn render(value: ValueRef<'_>) -> String {
    let mut out = String::new();
    render_into(value, &mut out);
    out
}

/// Appends the rendering of `value` to `out`.
pub fn render_into(value: ValueRef<'_>, out: &mut String) {
    match value {
        ValueRef::Empty => {}
        ValueRef::Str(s) => out.push_str(s),
        ValueRef::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        ValueRef::Int(i) => out.push_str(itoa::Buffer::new().format(i)),
        ValueRef::Double(d) => {
            let _ = write!(out, "{d}");
        }
        ValueRef::Bytes(b) => base64::engine::general_purpose::STANDARD.encode_string(b, out),
        ValueRef::Array(_) | ValueRef::Kvlist(_) => write_json(value, 0, out),
    }
}

/// Writes a value as JSON text directly, without building a `serde_json::Value`.
fn write_json(value: ValueRef<'_>, depth: usize, out: &mut String) {
    if depth > MAX_RENDER_DEPTH {
        out.push_str("\"...\"");
        return;
    }
    match value {
        ValueRef::Empty => out.push_str("null"),
        ValueRef::Str(s) => write_json_string(s, out),
        ValueRef::Bool(_) | ValueRef::Int(_) => render_into(value, out),
        ValueRef::Double(d) if d.is_finite() => render_into(value, out),
        ValueRef::Double(_) => out.push_str("null"),
        ValueRef::Bytes(b) => {
            out.push('"');
            base64::engine::general_purpose::STANDARD.encode_string(b, out);
            out.push('"');
        }
        ValueRef::Array(items) => {
            out.push('[');
            for (i, item) in ValueRef::array_items(items).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item.unwrap_or(ValueRef::Empty), depth + 1, out);
            }
            out.push(']');
        }
        ValueRef::Kvlist(entries) => {
            out.push('{');
            for (i, kv) in KeyValueRef::list(entries)
                .filter_map(Result::ok)
                .enumerate()
            {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(kv.key, out);
                out.push(':');
                write_json(kv.value, depth + 1, out);
            }
            out.push('}');
        }
    }
}

fn write_json_string(s: &str, out: &mut String) {
    // serde_json's escaping of a plain string cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

/// JSON form of a value, for structured log bodies and nested attributes.
pub fn to_json(value: ValueRef<'_>) -> serde_json::Value {
    json_at(value, 0)
}

fn json_at(value: ValueRef<'_>, depth: usize) -> serde_json::Value {
    use serde_json::Value as Json;
    if depth > MAX_RENDER_DEPTH {
        return Json::String("...".to_owned());
    }
    match value {
        ValueRef::Empty => Json::Null,
        ValueRef::Str(s) => Json::String(s.to_owned()),
        ValueRef::Bool(b) => Json::Bool(b),
        ValueRef::Int(i) => Json::from(i),
        ValueRef::Double(d) => serde_json::Number::from_f64(d).map_or(Json::Null, Json::Number),
        ValueRef::Bytes(b) => Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
        ValueRef::Array(items) => Json::Array(
            ValueRef::array_items(items)
                .map(|item| item.map_or(Json::Null, |v| json_at(v, depth + 1)))
                .collect(),
        ),
        ValueRef::Kvlist(entries) => Json::Object(
            KeyValueRef::list(entries)
                .filter_map(Result::ok)
                .map(|kv| (kv.key.to_owned(), json_at(kv.value, depth + 1)))
                .collect(),
        ),
    }
}

pub(super) fn proto_json(value: Option<&AnyValue>, depth: usize) -> serde_json::Value {
    use serde_json::Value as Json;
    if depth > MAX_RENDER_DEPTH {
        return Json::String("...".to_owned());
    }
    match value.and_then(|v| v.value.as_ref()) {
        None | Some(Value::StringValueStrindex(_)) => Json::Null,
        Some(Value::StringValue(s)) => Json::String(s.clone()),
        Some(Value::BoolValue(b)) => Json::Bool(*b),
        Some(Value::IntValue(i)) => Json::from(*i),
        Some(Value::DoubleValue(d)) => {
            serde_json::Number::from_f64(*d).map_or(Json::Null, Json::Number)
        }
        Some(Value::BytesValue(b)) => {
            Json::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Some(Value::ArrayValue(array)) => Json::Array(
            array
                .values
                .iter()
                .map(|v| proto_json(Some(v), depth + 1))
                .collect(),
        ),
        Some(Value::KvlistValue(list)) => Json::Object(
            list.values
                .iter()
                .map(|kv| (kv.key.clone(), proto_json(kv.value.as_ref(), depth + 1)))
                .collect(),
        ),
    }
}
