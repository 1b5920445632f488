//! OTLP `AnyValue` → strings and numbers, and the bounded building of `customDimensions`.

use base64::Engine as _;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};

use super::Limits;
use crate::model::{Dimensions, Measurements};

/// Dimension key listing the attributes whose values were cut to `max_attribute_value_bytes`.
pub const TRUNCATED_KEY: &str = "_tracehouse.truncated";
/// Dimension key counting the attributes dropped beyond `max_attributes_per_item`.
pub const DROPPED_KEY: &str = "_tracehouse.dropped_attributes";

/// Nesting depth past which arrays and maps are rendered as `"..."` (prost and serde_json cap
/// decoding depth too, but rendering must never be the thing that blows the stack).
const MAX_RENDER_DEPTH: usize = 32;

pub fn as_str(value: Option<&AnyValue>) -> Option<&str> {
    match value?.value.as_ref()? {
        Value::StringValue(s) => Some(s.as_str()),
        _ => None,
    }
}

/// Integer view: ints, integral doubles and numeric strings (old SDKs send status codes as text).
pub fn as_i64(value: Option<&AnyValue>) -> Option<i64> {
    match value?.value.as_ref()? {
        Value::IntValue(i) => Some(*i),
        Value::DoubleValue(d) if d.fract() == 0.0 && d.abs() < 9.0e15 => Some(*d as i64),
        Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub fn as_f64(value: Option<&AnyValue>) -> Option<f64> {
    match value?.value.as_ref()? {
        Value::IntValue(i) => Some(*i as f64),
        Value::DoubleValue(d) => Some(*d),
        Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A token count: non-negative integers only.
pub fn as_count(value: Option<&AnyValue>) -> Option<u64> {
    as_i64(value).and_then(|v| u64::try_from(v).ok())
}

/// Renders any value as the string stored in `customDimensions`: scalars as text, arrays and
/// maps as JSON, bytes as base64.
pub fn render(value: &AnyValue) -> String {
    match &value.value {
        Some(Value::StringValue(s)) => s.clone(),
        Some(other) => render_scalar_or_json(other),
        None => String::new(),
    }
}

/// Like [`render`], moving a string out instead of copying it.
pub fn render_owned(value: AnyValue) -> String {
    match value.value {
        Some(Value::StringValue(s)) => s,
        Some(other) => render_scalar_or_json(&other),
        None => String::new(),
    }
}

fn render_scalar_or_json(value: &Value) -> String {
    match value {
        Value::StringValue(s) => s.clone(),
        Value::BoolValue(b) => b.to_string(),
        Value::IntValue(i) => i.to_string(),
        Value::DoubleValue(d) => d.to_string(),
        Value::BytesValue(b) => base64::engine::general_purpose::STANDARD.encode(b),
        Value::StringValueStrindex(_) => String::new(),
        Value::ArrayValue(_) | Value::KvlistValue(_) => to_json(value, 0).to_string(),
    }
}

/// JSON form of a value, for structured log bodies and nested attributes.
pub fn to_json_value(value: &AnyValue) -> serde_json::Value {
    value
        .value
        .as_ref()
        .map_or(serde_json::Value::Null, |v| to_json(v, 0))
}

fn to_json(value: &Value, depth: usize) -> serde_json::Value {
    use serde_json::Value as Json;
    if depth > MAX_RENDER_DEPTH {
        return Json::String("...".to_owned());
    }
    match value {
        Value::StringValue(s) => Json::String(s.clone()),
        Value::BoolValue(b) => Json::Bool(*b),
        Value::IntValue(i) => Json::from(*i),
        Value::DoubleValue(d) => serde_json::Number::from_f64(*d).map_or(Json::Null, Json::Number),
        Value::BytesValue(b) => Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Value::StringValueStrindex(_) => Json::Null,
        Value::ArrayValue(array) => Json::Array(
            array
                .values
                .iter()
                .map(|item| {
                    item.value
                        .as_ref()
                        .map_or(Json::Null, |v| to_json(v, depth + 1))
                })
                .collect(),
        ),
        Value::KvlistValue(list) => Json::Object(
            list.values
                .iter()
                .map(|kv| {
                    let rendered = kv
                        .value
                        .as_ref()
                        .and_then(|v| v.value.as_ref())
                        .map_or(Json::Null, |v| to_json(v, depth + 1));
                    (kv.key.clone(), rendered)
                })
                .collect(),
        ),
    }
}

/// The first element of an array value, or the value itself (finish reasons arrive both ways).
pub fn first_string(value: Option<&AnyValue>) -> Option<String> {
    match value?.value.as_ref()? {
        Value::ArrayValue(array) => array.values.first().map(render),
        Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

/// Cuts `value` to at most `max_bytes`, on a character boundary. Returns whether it cut.
pub fn truncate_in_place(value: &mut String, max_bytes: usize) -> bool {
    if value.len() <= max_bytes {
        return false;
    }
    let mut end = max_bytes;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value.truncate(end);
    true
}

/// Collects attributes into dimensions and measurements within the configured limits, marking
/// what it had to cut.
pub struct DimensionsBuilder<'a> {
    limits: &'a Limits,
    dimensions: Dimensions,
    measurements: Measurements,
    truncated: Vec<String>,
    dropped: usize,
}

impl<'a> DimensionsBuilder<'a> {
    pub fn new(limits: &'a Limits, capacity: usize) -> Self {
        DimensionsBuilder {
            limits,
            dimensions: Dimensions(Vec::with_capacity(
                capacity.min(limits.max_attributes_per_item),
            )),
            measurements: Measurements::default(),
            truncated: Vec::new(),
            dropped: 0,
        }
    }

    pub fn push_key_value(&mut self, kv: KeyValue) {
        let Some(value) = kv.value else {
            return;
        };
        match value.value {
            Some(Value::IntValue(i)) => self.push_number(kv.key, i.to_string(), i as f64),
            Some(Value::DoubleValue(d)) => self.push_number(kv.key, d.to_string(), d),
            other => self.push(kv.key, render_owned(AnyValue { value: other })),
        }
    }

    pub fn push_all(&mut self, attributes: Vec<KeyValue>) {
        for kv in attributes {
            self.push_key_value(kv);
        }
    }

    fn push_number(&mut self, key: String, text: String, number: f64) {
        if self.dimensions.0.len() < self.limits.max_attributes_per_item {
            self.measurements.push(key.clone(), number);
        }
        self.push(key, text);
    }

    pub fn push(&mut self, mut key: String, mut value: String) {
        if self.dimensions.0.len() >= self.limits.max_attributes_per_item {
            self.dropped += 1;
            return;
        }
        truncate_in_place(&mut key, self.limits.max_attribute_key_bytes);
        if truncate_in_place(&mut value, self.limits.max_attribute_value_bytes) {
            self.truncated.push(key.clone());
        }
        self.dimensions.0.push((key, value));
    }

    pub fn finish(mut self) -> (Dimensions, Measurements) {
        if !self.truncated.is_empty() {
            let mut list = self.truncated.join(",");
            truncate_in_place(&mut list, self.limits.max_attribute_value_bytes);
            self.dimensions.0.push((TRUNCATED_KEY.to_owned(), list));
        }
        if self.dropped > 0 {
            self.dimensions
                .0
                .push((DROPPED_KEY.to_owned(), self.dropped.to_string()));
        }
        (self.dimensions, self.measurements)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    fn string(s: &str) -> AnyValue {
        AnyValue {
            value: Some(Value::StringValue(s.to_owned())),
        }
    }

    #[test]
    fn renders_structured_values_as_json() {
        let value = AnyValue {
            value: Some(Value::KvlistValue(KeyValueList {
                values: vec![KeyValue {
                    key: "reasons".into(),
                    value: Some(AnyValue {
                        value: Some(Value::ArrayValue(ArrayValue {
                            values: vec![string("stop")],
                        })),
                    }),
                    ..Default::default()
                }],
            })),
        };
        assert_eq!(render(&value), r#"{"reasons":["stop"]}"#);
    }

    #[test]
    fn deeply_nested_values_render_without_recursing_forever() {
        let mut value = string("leaf");
        for _ in 0..200 {
            value = AnyValue {
                value: Some(Value::ArrayValue(ArrayValue {
                    values: vec![value],
                })),
            };
        }
        let rendered = render(&value);
        assert!(rendered.contains("\"...\""));
        assert!(!rendered.contains("leaf"));
    }

    #[test]
    fn truncates_on_a_character_boundary() {
        let mut value = "aé".repeat(10);
        assert!(truncate_in_place(&mut value, 4));
        assert_eq!(value, "aéa");
        assert!(!truncate_in_place(&mut value, 100));
    }

    #[test]
    fn builder_marks_truncated_and_dropped_attributes() {
        let limits = Limits {
            max_attribute_value_bytes: 4,
            max_attributes_per_item: 2,
            ..Limits::default()
        };
        let mut builder = DimensionsBuilder::new(&limits, 3);
        builder.push("long".into(), "abcdefgh".into());
        builder.push_key_value(KeyValue {
            key: "n".into(),
            value: Some(AnyValue {
                value: Some(Value::IntValue(7)),
            }),
            ..Default::default()
        });
        builder.push("third".into(), "x".into());
        let (dims, measures) = builder.finish();
        assert_eq!(dims.get("long"), Some("abcd"));
        assert_eq!(dims.get("n"), Some("7"));
        assert_eq!(measures.get("n"), Some(7.0));
        assert_eq!(dims.get("third"), None);
        assert_eq!(dims.get(TRUNCATED_KEY), Some("long"));
        assert_eq!(dims.get(DROPPED_KEY), Some("1"));
    }

    #[test]
    fn integer_views_accept_text_and_integral_doubles() {
        assert_eq!(as_i64(Some(&string(" 429 "))), Some(429));
        let double = AnyValue {
            value: Some(Value::DoubleValue(200.0)),
        };
        assert_eq!(as_i64(Some(&double)), Some(200));
        assert_eq!(as_count(Some(&string("-3"))), None);
    }
}
