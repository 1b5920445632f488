//! `customDimensions` and `customMeasurements`: ordered key/value lists, serialized as maps.
//!
//! Both are packed: all text of one row lives in one buffer, with offsets per entry, so a row
//! with a dozen attributes costs two allocations instead of two dozen.

use serde::ser::{Serialize, SerializeMap, Serializer};

/// String-valued attributes in arrival order (typed OTLP values are rendered as strings).
#[derive(Clone, Default, PartialEq)]
pub struct Dimensions {
    text: String,
    /// End offsets in `text` of each key and of its value.
    ends: Vec<(u32, u32)>,
}

/// Numeric attributes in arrival order.
#[derive(Clone, Default, PartialEq)]
pub struct Measurements {
    keys: String,
    entries: Vec<(u32, f64)>,
}

impl Dimensions {
    pub fn with_capacity(entries: usize, text_bytes: usize) -> Self {
        Dimensions {
            text: String::with_capacity(text_bytes),
            ends: Vec::with_capacity(entries),
        }
    }

    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut dimensions = Dimensions::default();
        for (key, value) in pairs {
            dimensions.push(key.as_ref(), value.as_ref());
        }
        dimensions
    }

    pub fn push(&mut self, key: &str, value: &str) {
        self.text.push_str(key);
        let key_end = self.offset();
        self.text.push_str(value);
        self.ends.push((key_end, self.offset()));
    }

    fn offset(&self) -> u32 {
        // Rows are bounded far below 4 GiB by the request size limits.
        u32::try_from(self.text.len()).unwrap_or(u32::MAX)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let mut start = 0usize;
        self.ends.iter().map(move |&(key_end, value_end)| {
            let (key_end, value_end) = (key_end as usize, value_end as usize);
            let key = self.text.get(start..key_end).unwrap_or_default();
            let value = self.text.get(key_end..value_end).unwrap_or_default();
            start = value_end;
            (key, value)
        })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.iter().any(|(k, _)| k == key)
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn approx_bytes(&self) -> usize {
        self.text.len() + 8 * self.ends.len() + 48
    }
}

impl Measurements {
    pub fn with_capacity(entries: usize, key_bytes: usize) -> Self {
        Measurements {
            keys: String::with_capacity(key_bytes),
            entries: Vec::with_capacity(entries),
        }
    }

    pub fn push(&mut self, key: &str, value: f64) {
        self.keys.push_str(key);
        let end = u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
        self.entries.push((end, value));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> + '_ {
        let mut start = 0usize;
        self.entries.iter().map(move |&(end, value)| {
            let key = self.keys.get(start..end as usize).unwrap_or_default();
            start = end as usize;
            (key, value)
        })
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn approx_bytes(&self) -> usize {
        self.keys.len() + 16 * self.entries.len() + 48
    }
}

impl std::fmt::Debug for Dimensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl std::fmt::Debug for Measurements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Dimensions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (key, value) in self.iter() {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl Serialize for Measurements {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (key, value) in self.iter() {
            map.serialize_entry(key, &value)?;
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
        let inherited = || resource.iter().filter(|(key, _)| !own.contains_key(key));
        let mut map = serializer.serialize_map(Some(own.len() + inherited().count()))?;
        for (key, value) in own.iter().chain(inherited()) {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_entries_read_back_in_order() {
        let mut dims = Dimensions::default();
        dims.push("a", "1");
        dims.push("", "empty key");
        dims.push("é", "");
        assert_eq!(
            dims.iter().collect::<Vec<_>>(),
            vec![("a", "1"), ("", "empty key"), ("é", "")]
        );
        assert_eq!(dims.get("é"), Some(""));
        assert_eq!(dims.get("missing"), None);
        let mut measures = Measurements::default();
        measures.push("x", 1.5);
        measures.push("y", -2.0);
        assert_eq!(
            measures.iter().collect::<Vec<_>>(),
            vec![("x", 1.5), ("y", -2.0)]
        );
    }

    #[test]
    fn chained_dimensions_prefer_the_item_and_never_repeat_a_key() {
        let own = Dimensions::from_pairs([("a", "item")]);
        let resource = Dimensions::from_pairs([("a", "resource"), ("b", "resource")]);
        let json = serde_json::to_string(&Chained(&own, &resource)).unwrap_or_default();
        assert_eq!(json, r#"{"a":"item","b":"resource"}"#);
    }
}
