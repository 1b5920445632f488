//! The envelope as typed, borrowing serde structs: strings point into the request body where
//! JSON allows (no escapes), and every field any baseType uses is optional, so one struct reads
//! them all. SDKs disagree on scalar types (numbers as strings, severities as names), so scalar
//! fields are [`Loose`].

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

#[derive(Debug, Default, Deserialize)]
pub struct Envelope<'a> {
    #[serde(borrow, default)]
    pub time: Option<Loose<'a>>,
    #[serde(rename = "iKey", borrow, default)]
    pub ikey: Option<Loose<'a>>,
    #[serde(rename = "sampleRate", borrow, default)]
    pub sample_rate: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub tags: Pairs<'a>,
    #[serde(borrow, default)]
    pub data: Option<Data<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Data<'a> {
    #[serde(rename = "baseType", borrow, default)]
    pub base_type: Option<Loose<'a>>,
    #[serde(rename = "baseData", borrow, default)]
    pub base_data: Option<&'a RawValue>,
}

/// Every field of every baseData type.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BaseData<'a> {
    #[serde(borrow, default)]
    pub id: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub name: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub duration: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub response_code: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub result_code: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub success: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub url: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub source: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub data: Option<Loose<'a>>,
    #[serde(rename = "type", borrow, default)]
    pub dependency_type: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub target: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub message: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub severity_level: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub problem_id: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub run_location: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub properties: Pairs<'a>,
    #[serde(borrow, default)]
    pub measurements: Pairs<'a>,
    #[serde(borrow, default)]
    pub exceptions: Option<Vec<ExceptionDetails<'a>>>,
    #[serde(borrow, default)]
    pub metrics: Option<Vec<DataPoint<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionDetails<'a> {
    #[serde(borrow, default)]
    pub type_name: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub message: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub stack: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub parsed_stack: Option<Vec<StackFrame<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct StackFrame<'a> {
    #[serde(borrow, default)]
    pub method: Option<Loose<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataPoint<'a> {
    #[serde(borrow, default)]
    pub ns: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub name: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub kind: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub value: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub count: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub min: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub max: Option<Loose<'a>>,
    #[serde(borrow, default)]
    pub std_dev: Option<Loose<'a>>,
}

/// A scalar as whatever type the SDK chose; arrays and objects are kept as JSON text.
#[derive(Debug, Clone, PartialEq)]
pub enum Loose<'a> {
    Text(Cow<'a, str>),
    Number(f64),
    Bool(bool),
    Null,
    Json(String),
}

impl Loose<'_> {
    /// As text: strings as they are, numbers and booleans as JSON writes them.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Loose::Text(s) => Cow::Borrowed(s),
            Loose::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => {
                Cow::Owned((*n as i64).to_string())
            }
            Loose::Number(n) => Cow::Owned(n.to_string()),
            Loose::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Loose::Null => Cow::Borrowed(""),
            Loose::Json(json) => Cow::Borrowed(json),
        }
    }

    /// The string itself; other types are not text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Loose::Text(s) => Some(s),
            _ => None,
        }
    }

    /// Numbers, and strings holding one.
    pub fn number(&self) -> Option<f64> {
        match self {
            Loose::Number(n) => Some(*n),
            Loose::Text(s) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|n| n.is_finite())
    }

    /// Booleans, and `"true"`/`"false"` in any case.
    pub fn flag(&self) -> Option<bool> {
        match self {
            Loose::Bool(b) => Some(*b),
            Loose::Text(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Loose::Text(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LooseVisitor;
        impl<'de> Visitor<'de> for LooseVisitor {
            type Value = Loose<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Loose::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Loose::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Loose::Text(Cow::Owned(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Loose::Number(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Loose::Number(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Loose::Number(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Loose::Bool(v))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Loose::Null)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Loose::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                let value =
                    serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Loose::Json(value.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let value =
                    serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Loose::Json(value.to_string()))
            }
        }
        deserializer.deserialize_any(LooseVisitor)
    }
}

/// A JSON object's members in order (properties, measurements, tags); a `null` or non-object
/// reads as empty.
#[derive(Debug, Default)]
pub struct Pairs<'a>(pub Vec<(Cow<'a, str>, Loose<'a>)>);

impl<'a> Pairs<'a> {
    pub fn get(&self, key: &str) -> Option<&Loose<'a>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A member as text, or `""`.
    pub fn text(&self, key: &str) -> Cow<'_, str> {
        self.get(key).map_or(Cow::Borrowed(""), Loose::text)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Pairs<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor;
        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = Pairs<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(key) = map.next_key::<Loose<'de>>()? {
                    let key = match key {
                        Loose::Text(text) => text,
                        other => Cow::Owned(other.text().into_owned()),
                    };
                    pairs.push((key, map.next_value::<Loose<'de>>()?));
                }
                Ok(Pairs(pairs))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Pairs::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Pairs::default())
            }
        }
        deserializer.deserialize_any(PairsVisitor)
    }
}
