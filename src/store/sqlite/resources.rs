//! Resource attributes stored once per resource (`resources`, migration 5) instead of on every
//! row: the writer names each row's resource by a content id, and the item views append the
//! resource's attributes to the row's own `customDimensions` on read. The append is plain text
//! concatenation (no JSON parsing per row read), which is only right when the row has none of
//! its resource's keys; a row that overrides one is stored whole, as before migration 5.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ring::digest::{SHA256, digest};
use rusqlite::{Transaction, params};
use serde_json::{Map, Value as Json};

use super::sqlite_error;
use crate::model::{Common, Dimensions, Resource};
use crate::store::StoreError;

/// A resource's id: the first 16 bytes of SHA-256 over its app and attribute text. An id made
/// to collide would need 2^64 work; the views also match the app, so even then one app's
/// resource never reaches another app's rows.
pub type ResourceId = [u8; 16];

struct Pending {
    id: ResourceId,
    app: Arc<str>,
    dimensions: String,
    keys: HashSet<String>,
    last_ns: i64,
    /// Whether a row of this batch names it (rows overriding one of its keys do not).
    named: bool,
}

/// The resources of one written batch: rows of one resource share it by reference, so its id
/// is computed once per resource and app, and saved once per batch.
#[derive(Default)]
pub struct BatchResources {
    by_resource: HashMap<(*const Resource, Arc<str>), Pending>,
}

impl BatchResources {
    /// The id `common`'s row names, or `None` when the row is stored with its whole map: its
    /// resource adds no attributes, or the row has a key of its resource (its value wins, and
    /// the view's append would repeat the key).
    pub fn id_for(&mut self, common: &Common) -> Option<ResourceId> {
        if common.resource.dimensions.is_empty() {
            return None;
        }
        let key = (Arc::as_ptr(&common.resource), common.app_name.clone());
        let pending = match self.by_resource.entry(key) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let dimensions = dimensions_json(&common.resource.dimensions);
                let id = resource_id(&common.app_name, &dimensions);
                let keys = common
                    .resource
                    .dimensions
                    .iter()
                    .map(|(key, _)| key.to_owned())
                    .collect();
                entry.insert(Pending {
                    id,
                    app: common.app_name.clone(),
                    dimensions,
                    keys,
                    last_ns: i64::MIN,
                    named: false,
                })
            }
        };
        if common
            .dimensions
            .iter()
            .any(|(key, _)| pending.keys.contains(key))
        {
            return None;
        }
        pending.last_ns = pending.last_ns.max(common.timestamp_ns);
        pending.named = true;
        Some(pending.id)
    }

    /// Records every resource the batch's rows name, or moves its `last_ns` forward.
    pub fn save(&self, transaction: &Transaction<'_>) -> Result<(), StoreError> {
        if !self.by_resource.values().any(|p| p.named) {
            return Ok(());
        }
        let mut statement = transaction
            .prepare_cached(
                "INSERT INTO resources (id, appName, dimensions, last_ns) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (id) DO UPDATE SET last_ns = max(last_ns, excluded.last_ns)",
            )
            .map_err(sqlite_error)?;
        for pending in self.by_resource.values().filter(|p| p.named) {
            statement
                .execute(params![
                    &pending.id[..],
                    &*pending.app,
                    pending.dimensions,
                    pending.last_ns
                ])
                .map_err(sqlite_error)?;
        }
        Ok(())
    }
}

/// The attributes as the item tables store a map: a JSON object, first occurrence of a key
/// winning.
fn dimensions_json(dimensions: &Dimensions) -> String {
    let mut map = Map::new();
    for (key, value) in dimensions.iter() {
        map.entry(key)
            .or_insert_with(|| Json::String(value.to_owned()));
    }
    Json::Object(map).to_string()
}

fn resource_id(app: &str, dimensions: &str) -> ResourceId {
    let mut input = Vec::with_capacity(app.len() + 1 + dimensions.len());
    input.extend_from_slice(app.as_bytes());
    input.push(0);
    input.extend_from_slice(dimensions.as_bytes());
    let hash = digest(&SHA256, &input);
    let mut id = [0u8; 16];
    id.copy_from_slice(&hash.as_ref()[..16]);
    id
}
