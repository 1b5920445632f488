//! Attribute values → strings and numbers, and the bounded building of `customDimensions`.

use base64::Engine as _;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value};

use super::Limits;
use super::attribute_text::proto_json;
pub use super::attribute_text::{render, render_into, to_json};
use super::wire::{KeyValueRef, ValueRef};
use crate::model::otel_span::{self, StoredType};
use crate::model::{Dimensions, Measurements};

/// The type to record for a value whose stored text reads back as another type.
fn stored_type(value: ValueRef<'_>) -> Option<StoredType> {
    match value {
        ValueRef::Bool(_) => Some(StoredType::Bool),
        ValueRef::Double(d) if d.fract() == 0.0 || !d.is_finite() => Some(StoredType::Double),
        ValueRef::Bytes(_) => Some(StoredType::Bytes),
        ValueRef::Array(_) => Some(StoredType::Array),
        ValueRef::Kvlist(_) => Some(StoredType::Kvlist),
        _ => None,
    }
}

/// Dimension key listing the attributes whose values were cut to `max_attribute_value_bytes`.
pub const TRUNCATED_KEY: &str = "_tracehouse.truncated";
/// Dimension key counting the attributes dropped beyond `max_attributes_per_item`.
pub const DROPPED_KEY: &str = "_tracehouse.dropped_attributes";

pub fn as_str(value: Option<ValueRef<'_>>) -> Option<&str> {
    match value? {
        ValueRef::Str(s) => Some(s),
        _ => None,
    }
}

/// Integer view: ints, integral doubles and numeric strings (old SDKs send status codes as text).
pub fn as_i64(value: Option<ValueRef<'_>>) -> Option<i64> {
    match value? {
        ValueRef::Int(i) => Some(i),
        ValueRef::Double(d) if d.fract() == 0.0 && d.abs() < 9.0e15 => Some(d as i64),
        ValueRef::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub fn as_f64(value: Option<ValueRef<'_>>) -> Option<f64> {
    match value? {
        ValueRef::Int(i) => Some(i as f64),
        ValueRef::Double(d) => Some(d),
        ValueRef::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A token count: non-negative integers only.
pub fn as_count(value: Option<ValueRef<'_>>) -> Option<u64> {
    as_i64(value).and_then(|v| u64::try_from(v).ok())
}

/// The first element of an array value, or the value itself (finish reasons arrive both ways).
pub fn first_string(value: Option<ValueRef<'_>>) -> Option<String> {
    match value? {
        ValueRef::Array(items) => ValueRef::array_items(items)
            .next()
            .and_then(Result::ok)
            .map(|item| render(item)),
        ValueRef::Str(s) => Some(s.to_owned()),
        _ => None,
    }
}

/// Cuts `value` to at most `max_bytes`, on a character boundary. Returns whether it cut.
pub fn truncate_in_place(value: &mut String, max_bytes: usize) -> bool {
    if value.len() <= max_bytes {
        return false;
    }
    value.truncate(char_boundary(value, max_bytes));
    true
}

/// The longest prefix of `value` within `max_bytes`, on a character boundary.
pub fn truncated(value: &str, max_bytes: usize) -> &str {
    &value[..char_boundary(value, max_bytes)]
}

fn char_boundary(value: &str, max_bytes: usize) -> usize {
    if value.len() <= max_bytes {
        return value.len();
    }
    let mut end = max_bytes;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// Collects attributes into dimensions and measurements within the configured limits, marking
/// what it had to cut.
pub struct DimensionsBuilder<'a> {
    limits: &'a Limits,
    dimensions: Dimensions,
    measurements: Measurements,
    truncated: Vec<String>,
    dropped: usize,
    /// Reused for values that need rendering.
    scratch: String,
    /// The `_OTel.types` entry being built, when asked to keep types.
    types: Option<String>,
}

impl<'a> DimensionsBuilder<'a> {
    pub fn new(limits: &'a Limits, entries: usize) -> Self {
        let entries = entries.min(limits.max_attributes_per_item);
        DimensionsBuilder {
            limits,
            dimensions: Dimensions::with_capacity(entries, entries * 32),
            measurements: Measurements::default(),
            truncated: Vec::new(),
            dropped: 0,
            scratch: String::new(),
            types: None,
        }
    }

    /// Adds one attribute; numbers also become measurements.
    pub fn push_ref(&mut self, kv: &KeyValueRef<'_>) {
        match kv.value {
            ValueRef::Str(s) => self.push(kv.key, s),
            ValueRef::Int(i) => {
                if self.has_room() {
                    self.measurements.push(kv.key, i as f64);
                }
                self.push(kv.key, itoa::Buffer::new().format(i));
            }
            value => {
                if let ValueRef::Int(_) | ValueRef::Double(_) = value
                    && self.has_room()
                    && let Some(number) = as_f64(Some(value))
                {
                    self.measurements.push(kv.key, number);
                }
                let mut rendered = std::mem::take(&mut self.scratch);
                rendered.clear();
                render_into(value, &mut rendered);
                let room = self.has_room();
                if let Some(types) = &mut self.types
                    && room
                    && let Some(stored) = stored_type(value)
                {
                    let key = truncated(kv.key, self.limits.max_attribute_key_bytes);
                    otel_span::append_type(types, key, stored);
                }
                self.push(kv.key, &rendered);
                self.scratch = rendered;
            }
        }
    }

    /// Also records the types the stored text will not say ([`otel_span::TYPES_KEY`]), so
    /// that the span can be given back with them.
    pub fn keeping_types(mut self) -> Self {
        self.types = Some(String::new());
        self
    }

    /// A builder sized for these attributes (`text_bytes` bounds their text) plus `extra`
    /// more entries, so its buffers are allocated once.
    pub fn sized(
        limits: &'a Limits,
        attributes: &[KeyValueRef<'_>],
        text_bytes: usize,
        extra: usize,
    ) -> Self {
        let entries = (attributes.len() + extra).min(limits.max_attributes_per_item);
        let mut numbers = 0;
        let mut number_key_bytes = 0;
        for kv in attributes {
            if let ValueRef::Int(_) | ValueRef::Double(_) = kv.value {
                numbers += 1;
                number_key_bytes += kv.key.len();
            }
        }
        DimensionsBuilder {
            limits,
            dimensions: Dimensions::with_capacity(entries, text_bytes + 64),
            measurements: Measurements::with_capacity(numbers, number_key_bytes),
            truncated: Vec::new(),
            dropped: 0,
            scratch: String::new(),
            types: None,
        }
    }

    /// Like [`sized`](Self::sized), estimating the text from the attributes themselves.
    pub fn for_attributes(
        limits: &'a Limits,
        attributes: &[KeyValueRef<'_>],
        extra: usize,
    ) -> Self {
        let text_bytes: usize = attributes
            .iter()
            .map(|kv| {
                kv.key.len()
                    + match kv.value {
                        ValueRef::Str(s) => s.len(),
                        ValueRef::Array(b) | ValueRef::Kvlist(b) | ValueRef::Bytes(b) => {
                            b.len() * 2
                        }
                        _ => 24,
                    }
            })
            .sum();
        Self::sized(limits, attributes, text_bytes, extra)
    }

    pub fn push_all(&mut self, attributes: &[KeyValueRef<'_>]) {
        for kv in attributes {
            self.push_ref(kv);
        }
    }

    /// Adds prost-decoded attributes (metrics are decoded with prost).
    pub fn push_proto(&mut self, attributes: &[KeyValue]) {
        for kv in attributes {
            let value = kv.value.as_ref().and_then(|v| v.value.as_ref());
            match value {
                Some(Value::StringValue(s)) => self.push(&kv.key, s),
                Some(Value::IntValue(i)) => self.push_ref(&KeyValueRef {
                    key: &kv.key,
                    value: ValueRef::Int(*i),
                }),
                Some(Value::DoubleValue(d)) => self.push_ref(&KeyValueRef {
                    key: &kv.key,
                    value: ValueRef::Double(*d),
                }),
                Some(Value::BoolValue(b)) => self.push(&kv.key, if *b { "true" } else { "false" }),
                Some(Value::BytesValue(b)) => {
                    self.push(
                        &kv.key,
                        &base64::engine::general_purpose::STANDARD.encode(b),
                    );
                }
                Some(Value::ArrayValue(_) | Value::KvlistValue(_)) => {
                    let json = proto_json(kv.value.as_ref(), 0).to_string();
                    self.push(&kv.key, &json);
                }
                Some(Value::StringValueStrindex(_)) | None => {}
            }
        }
    }

    fn has_room(&self) -> bool {
        self.dimensions.len() < self.limits.max_attributes_per_item
    }

    pub fn push(&mut self, key: &str, value: &str) {
        if !self.limits.capture_genai_content && super::genai::is_content_attribute(key) {
            return;
        }
        if !self.has_room() {
            self.dropped += 1;
            return;
        }
        let key = truncated(key, self.limits.max_attribute_key_bytes);
        let kept = truncated(value, self.limits.max_attribute_value_bytes);
        if kept.len() < value.len() {
            self.truncated.push(key.to_owned());
        }
        self.dimensions.push(key, kept);
    }

    /// Adds an entry tracehouse itself needs to read the row back (`_OTel.*`), whatever room
    /// the span's own attributes left: there are at most three of them, a few bytes each.
    pub fn push_reserved(&mut self, key: &str, value: &str) {
        let kept = truncated(value, self.limits.max_attribute_value_bytes);
        self.dimensions.push(key, kept);
    }

    pub fn finish(mut self) -> (Dimensions, Measurements) {
        if !self.truncated.is_empty() {
            let list = self.truncated.join(",");
            let list = truncated(&list, self.limits.max_attribute_value_bytes);
            self.dimensions.push(TRUNCATED_KEY, list);
        }
        if self.dropped > 0 {
            self.dimensions.push(DROPPED_KEY, &self.dropped.to_string());
        }
        if let Some(mut types) = self.types.take().filter(|t| !t.is_empty()) {
            types.push('}');
            self.push_reserved(otel_span::TYPES_KEY, &types);
        }
        (self.dimensions, self.measurements)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValueList};
    use prost::Message;

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
        let encoded = value.encode_to_vec();
        let parsed = ValueRef::parse(&encoded).expect("parses");
        assert_eq!(render(parsed), r#"{"reasons":["stop"]}"#);
        assert_eq!(
            proto_json(Some(&value), 0).to_string(),
            r#"{"reasons":["stop"]}"#
        );
    }

    #[test]
    fn deeply_nested_values_render_without_recursing_forever() {
        let mut value = string("leaf");
        for _ in 0..90 {
            value = AnyValue {
                value: Some(Value::ArrayValue(ArrayValue {
                    values: vec![value],
                })),
            };
        }
        let encoded = value.encode_to_vec();
        let rendered = render(ValueRef::parse(&encoded).expect("parses"));
        assert!(rendered.contains("\"...\""));
        assert!(!rendered.contains("leaf"));
    }

    #[test]
    fn truncates_on_a_character_boundary() {
        let mut value = "aé".repeat(10);
        assert!(truncate_in_place(&mut value, 4));
        assert_eq!(value, "aéa");
        assert!(!truncate_in_place(&mut value, 100));
        assert_eq!(truncated("éé", 3), "é");
    }

    #[test]
    fn builder_marks_truncated_and_dropped_attributes() {
        let limits = Limits {
            max_attribute_value_bytes: 4,
            max_attributes_per_item: 2,
            ..Limits::default()
        };
        let mut builder = DimensionsBuilder::new(&limits, 3);
        builder.push("long", "abcdefgh");
        builder.push_ref(&KeyValueRef {
            key: "n",
            value: ValueRef::Int(7),
        });
        builder.push("third", "x");
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
        assert_eq!(as_i64(Some(ValueRef::Str(" 429 "))), Some(429));
        assert_eq!(as_i64(Some(ValueRef::Double(200.0))), Some(200));
        assert_eq!(as_count(Some(ValueRef::Str("-3"))), None);
    }
}
