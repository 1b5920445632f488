//! Builders and fixture loading shared by the normalization tests.

use std::path::PathBuf;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::wire::{KeyValueRef, ValueRef};

/// A string attribute as the wire reader yields it.
pub fn attr(key: &'static str, value: &'static str) -> KeyValueRef<'static> {
    KeyValueRef {
        key,
        value: ValueRef::Str(value),
    }
}

pub fn int_attr(key: &'static str, value: i64) -> KeyValueRef<'static> {
    KeyValueRef {
        key,
        value: ValueRef::Int(value),
    }
}

pub fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

pub fn int_kv(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

pub fn resource(attributes: Vec<KeyValue>) -> Resource {
    Resource {
        attributes,
        ..Default::default()
    }
}

/// `../shared/fixtures`, or `TRACEHOUSE_FIXTURES` when set.
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("TRACEHOUSE_FIXTURES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"),
        PathBuf::from,
    )
}

pub fn fixture(relative: &str) -> Vec<u8> {
    let path = fixtures_dir().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {} unreadable: {e}", path.display()))
}
