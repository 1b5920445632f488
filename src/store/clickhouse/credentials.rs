//! Instrumentation keys and query API tokens in ClickHouse: each change is a newer version of
//! its row (ReplacingMergeTree), and reads take the latest version per key or token id.

use super::{ClickHouseStore, ch_error};
use crate::reads::records::{KeyRecord, TokenRecord};
use crate::store::StoreError;
use crate::store::stored_token::StoredToken;

/// A version that orders the changes one process makes: the clock, but always above the last
/// one given, so a revocation right after an insert is never the same version (which
/// ReplacingMergeTree and `argMax` would order arbitrarily).
pub(super) fn next_version() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = u64::try_from(crate::clock::now_ns()).unwrap_or(0);
    let previous = LAST
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
            Some(now.max(last + 1))
        })
        .unwrap_or(now);
    now.max(previous + 1)
}

pub async fn keys(store: &ClickHouseStore) -> Result<Vec<KeyRecord>, StoreError> {
    let rows: Vec<(String, String, i64, i64)> = store
        .reader
        .query(&format!(
            // Ordered by alias: 18.16 reads `ORDER BY 3` as the constant 3.
            "SELECT key, argMax(app, version), argMax(created_ns, version) AS created, \
             argMax(revoked_ns, version) FROM `{}`.`instrumentation_keys` \
             GROUP BY key ORDER BY created, key",
            store.database
        ))
        .fetch_all()
        .await
        .map_err(|e| store.read_error(e))?;
    Ok(rows
        .into_iter()
        .map(|(key, app, created_ns, revoked_ns)| KeyRecord {
            key,
            app,
            created_ns,
            revoked_ns: (revoked_ns != 0).then_some(revoked_ns),
        })
        .collect())
}

pub async fn save_key(store: &ClickHouseStore, key: &KeyRecord) -> Result<(), StoreError> {
    store
        .client
        .query(&format!(
            "INSERT INTO `{}`.`instrumentation_keys` (key, app, created_ns, revoked_ns, version) \
             VALUES (?, ?, ?, ?, ?)",
            store.database
        ))
        .bind(key.key.as_str())
        .bind(key.app.as_str())
        .bind(key.created_ns)
        .bind(key.revoked_ns.unwrap_or(0))
        .bind(next_version())
        .execute()
        .await
        .map_err(ch_error)
}

type TokenLine = (String, String, String, String, u8, String, i64, i64);

pub async fn tokens(store: &ClickHouseStore) -> Result<Vec<TokenRecord>, StoreError> {
    let rows: Vec<TokenLine> = store
        .reader
        .query(&format!(
            "SELECT id, argMax(hash, version), argMax(name, version), argMax(apps, version), \
             argMax(all_apps, version), argMax(role, version), \
             argMax(created_ns, version) AS created, argMax(revoked_ns, version) \
             FROM `{}`.`api_tokens` GROUP BY id ORDER BY created, id",
            store.database
        ))
        .fetch_all()
        .await
        .map_err(|e| store.read_error(e))?;
    rows.into_iter()
        .map(
            |(id, hash, name, apps, all_apps, role, created_ns, revoked_ns)| {
                StoredToken {
                    id,
                    hash,
                    name,
                    apps,
                    all_apps: all_apps != 0,
                    role,
                    created_ns,
                    revoked_ns: (revoked_ns != 0).then_some(revoked_ns),
                }
                .into_record()
            },
        )
        .collect()
}

pub async fn save_token(store: &ClickHouseStore, token: &TokenRecord) -> Result<(), StoreError> {
    let row = StoredToken::of(token);
    store
        .client
        .query(&format!(
            "INSERT INTO `{}`.`api_tokens` \
             (id, hash, name, apps, all_apps, role, created_ns, revoked_ns, version) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            store.database
        ))
        .bind(row.id.as_str())
        .bind(row.hash.as_str())
        .bind(row.name.as_str())
        .bind(row.apps.as_str())
        .bind(u8::from(row.all_apps))
        .bind(row.role.as_str())
        .bind(row.created_ns)
        .bind(row.revoked_ns.unwrap_or(0))
        .bind(next_version())
        .execute()
        .await
        .map_err(ch_error)
}
