//! Attribute values of rebuilt spans, typed again from the text `customDimensions` holds: numbers
//! by `customMeasurements`, the other types by the span's `_OTel.types` entry. Pure.

use base64::Engine as _;

use crate::model::otel_span::StoredType;

/// An attribute value, typed as it was sent where the store kept the type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    Kvlist(Vec<(String, Value)>),
}

impl Value {
    /// The value as text, as TraceQL compares strings and Jaeger shows tags: what the store
    /// holds (arrays and maps as JSON, bytes as base64).
    pub fn text(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Double(d) => d.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Bytes(b) => base64::engine::general_purpose::STANDARD.encode(b),
            Value::Array(_) | Value::Kvlist(_) => self.json().to_string(),
        }
    }

    pub fn number(&self) -> Option<f64> {
        match self {
            Value::Str(s) => s.parse().ok(),
            Value::Int(i) => Some(*i as f64),
            Value::Double(d) => Some(*d),
            _ => None,
        }
    }

    fn json(&self) -> serde_json::Value {
        use serde_json::Value as Json;
        match self {
            Value::Str(s) => Json::from(s.as_str()),
            Value::Int(i) => Json::from(*i),
            Value::Double(d) => serde_json::Number::from_f64(*d).map_or(Json::Null, Json::Number),
            Value::Bool(b) => Json::Bool(*b),
            Value::Bytes(_) => Json::from(self.text()),
            Value::Array(items) => Json::Array(items.iter().map(Value::json).collect()),
            Value::Kvlist(entries) => {
                Json::Object(entries.iter().map(|(k, v)| (k.clone(), v.json())).collect())
            }
        }
    }

    /// A stored attribute's value: `numeric` when `customMeasurements` has its key, `stored`
    /// when `_OTel.types` lists it. Text that does not parse as its type (cut by the value
    /// size limit) stays text.
    pub fn typed(text: &str, numeric: bool, stored: Option<StoredType>) -> Value {
        let parsed = match stored {
            Some(StoredType::Bool) => match text {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            Some(StoredType::Double) => text.parse().ok().map(Value::Double),
            Some(StoredType::Bytes) => base64::engine::general_purpose::STANDARD
                .decode(text)
                .ok()
                .map(Value::Bytes),
            Some(StoredType::Array | StoredType::Kvlist) => {
                serde_json::from_str(text).ok().map(|json| from_json(&json))
            }
            None if numeric => match (text.parse::<i64>(), text.parse::<f64>()) {
                (Ok(i), _) => Some(Value::Int(i)),
                (_, Ok(d)) => Some(Value::Double(d)),
                _ => None,
            },
            None => None,
        };
        parsed.unwrap_or_else(|| Value::Str(text.to_owned()))
    }
}

/// JSON as normalization wrote an array or map: integers stay integers, other numbers are
/// doubles (an integral double inside an array reads back as an integer), null as empty text.
fn from_json(json: &serde_json::Value) -> Value {
    use serde_json::Value as Json;
    match json {
        Json::Null => Value::Str(String::new()),
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .unwrap_or_else(|| Value::Double(n.as_f64().unwrap_or(f64::NAN))),
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(from_json).collect()),
        Json::Object(map) => {
            Value::Kvlist(map.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_text_reads_back_typed() {
        assert_eq!(Value::typed("200", true, None), Value::Int(200));
        assert_eq!(Value::typed("0.5", true, None), Value::Double(0.5));
        assert_eq!(Value::typed("200", false, None), Value::Str("200".into()));
        assert_eq!(
            Value::typed("2", true, Some(StoredType::Double)),
            Value::Double(2.0)
        );
        assert_eq!(
            Value::typed("true", false, Some(StoredType::Bool)),
            Value::Bool(true)
        );
        assert_eq!(
            Value::typed("AQI=", false, Some(StoredType::Bytes)),
            Value::Bytes(vec![1, 2])
        );
        assert_eq!(
            Value::typed(
                r#"["a",1,2.5,true,{"k":null}]"#,
                false,
                Some(StoredType::Array)
            ),
            Value::Array(vec![
                Value::Str("a".into()),
                Value::Int(1),
                Value::Double(2.5),
                Value::Bool(true),
                Value::Kvlist(vec![("k".into(), Value::Str(String::new()))]),
            ])
        );
        // Cut by the value limit: the text as stored.
        assert_eq!(
            Value::typed(r#"["a","b"#, false, Some(StoredType::Array)),
            Value::Str(r#"["a","b"#.into())
        );
        assert_eq!(
            Value::typed("maybe", false, Some(StoredType::Bool)),
            Value::Str("maybe".into())
        );
    }

    #[test]
    fn text_is_what_the_store_holds() {
        let array = Value::typed(r#"["a",1]"#, false, Some(StoredType::Array));
        assert_eq!(array.text(), r#"["a",1]"#);
        assert_eq!(Value::Bool(false).text(), "false");
        assert_eq!(Value::Bytes(vec![1, 2]).text(), "AQI=");
        assert_eq!(Value::Bool(true).number(), None);
    }
}
