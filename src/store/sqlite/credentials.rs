//! Instrumentation keys and query API tokens in the embedded store.

use rusqlite::{Connection, params};

use super::sqlite_error;
use crate::reads::records::{KeyRecord, TokenRecord};
use crate::store::StoreError;
use crate::store::stored_token::StoredToken;

pub fn keys(connection: &Connection) -> Result<Vec<KeyRecord>, StoreError> {
    let mut statement = connection
        .prepare(
            "SELECT key, app, created_ns, revoked_ns FROM instrumentation_keys \
             ORDER BY created_ns, key",
        )
        .map_err(sqlite_error)?;
    let rows = statement
        .query_map([], |row| {
            Ok(KeyRecord {
                key: row.get(0)?,
                app: row.get(1)?,
                created_ns: row.get(2)?,
                revoked_ns: row.get(3)?,
            })
        })
        .map_err(sqlite_error)?;
    rows.collect::<Result<_, _>>().map_err(sqlite_error)
}

pub fn save_key(connection: &Connection, key: &KeyRecord) -> Result<(), StoreError> {
    connection
        .execute(
            "INSERT OR REPLACE INTO instrumentation_keys (key, app, created_ns, revoked_ns) \
             VALUES (?1, ?2, ?3, ?4)",
            params![key.key, key.app, key.created_ns, key.revoked_ns],
        )
        .map_err(sqlite_error)?;
    Ok(())
}

pub fn tokens(connection: &Connection) -> Result<Vec<TokenRecord>, StoreError> {
    let mut statement = connection
        .prepare(
            "SELECT id, hash, name, apps, all_apps, role, created_ns, revoked_ns \
             FROM api_tokens ORDER BY created_ns, id",
        )
        .map_err(sqlite_error)?;
    let rows = statement
        .query_map([], |row| {
            Ok(StoredToken {
                id: row.get(0)?,
                hash: row.get(1)?,
                name: row.get(2)?,
                apps: row.get(3)?,
                all_apps: row.get(4)?,
                role: row.get(5)?,
                created_ns: row.get(6)?,
                revoked_ns: row.get(7)?,
            })
        })
        .map_err(sqlite_error)?;
    let mut tokens = Vec::new();
    for row in rows {
        tokens.push(row.map_err(sqlite_error)?.into_record()?);
    }
    Ok(tokens)
}

pub fn save_token(connection: &Connection, token: &TokenRecord) -> Result<(), StoreError> {
    let row = StoredToken::of(token);
    connection
        .execute(
            "INSERT OR REPLACE INTO api_tokens \
             (id, hash, name, apps, all_apps, role, created_ns, revoked_ns) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                row.id,
                row.hash,
                row.name,
                row.apps,
                row.all_apps,
                row.role,
                row.created_ns,
                row.revoked_ns
            ],
        )
        .map_err(sqlite_error)?;
    Ok(())
}
