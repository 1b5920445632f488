//! `customDimensions` and `customMeasurements`: ordered key/value lists, serialized as maps.

use serde::ser::{Serialize, SerializeMap, Serializer};

/// String-valued attributes in arrival order (typed OTLP values are rendered as strings).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dimensions(pub Vec<(String, String)>);

/// Numeric attributes in arrival order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measurements(pub Vec<(String, f64)>);

impl Dimensions {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn push(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.push((key.into(), value.into()));
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    pub fn approx_bytes(&self) -> usize {
        self.0.iter().map(|(k, v)| 48 + k.len() + v.len()).sum()
    }
}

impl Measurements {
    pub fn get(&self, key: &str) -> Option<f64> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    pub fn push(&mut self, key: impl Into<String>, value: f64) {
        self.0.push((key.into(), value));
    }

    pub fn approx_bytes(&self) -> usize {
        self.0.iter().map(|(k, _)| 32 + k.len()).sum()
    }
}

impl Serialize for Dimensions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl Serialize for Measurements {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// An item's own dimensions followed by its resource's, leaving out resource keys the item
/// already has, so the stored map never holds a key twice.
pub(crate) struct Chained<'a>(pub &'a Dimensions, pub &'a Dimensions);

impl Serialize for Chained<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Chained(own, resource) = *self;
        let inherited: Vec<&(String, String)> = resource
            .0
            .iter()
            .filter(|(key, _)| !own.contains_key(key))
            .collect();
        let mut map = serializer.serialize_map(Some(own.0.len() + inherited.len()))?;
        for (key, value) in own.0.iter().chain(inherited) {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chained_dimensions_prefer_the_item_and_never_repeat_a_key() {
        let own = Dimensions(vec![("a".into(), "item".into())]);
        let resource = Dimensions(vec![
            ("a".into(), "resource".into()),
            ("b".into(), "resource".into()),
        ]);
        let json = serde_json::to_string(&Chained(&own, &resource)).unwrap_or_default();
        assert_eq!(json, r#"{"a":"item","b":"resource"}"#);
    }
}
