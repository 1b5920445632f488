//! Numbered schema migrations from `schema/sqlite/`, applied once each and recorded in
//! `schema_migrations`. Each runs in an immediate transaction, so two processes starting
//! together apply it once.

use rusqlite::{Connection, TransactionBehavior, params};

use super::sqlite_error;
use crate::store::StoreError;

/// `(version, name, sql)` in the order they apply.
pub(super) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "tables",
        include_str!("../../../schema/sqlite/001_tables.sql"),
    ),
    (
        2,
        "keys",
        include_str!("../../../schema/sqlite/002_keys.sql"),
    ),
    (
        3,
        "tokens",
        include_str!("../../../schema/sqlite/003_tokens.sql"),
    ),
    (
        4,
        "alerts",
        include_str!("../../../schema/sqlite/004_alerts.sql"),
    ),
    (
        5,
        "resources",
        include_str!("../../../schema/sqlite/005_resources.sql"),
    ),
    (
        6,
        "genai_prompts",
        include_str!("../../../schema/sqlite/006_genai_prompts.sql"),
    ),
    (
        7,
        "scores",
        include_str!("../../../schema/sqlite/007_scores.sql"),
    ),
    (
        ROLLUPS_VERSION,
        "span_rollups",
        include_str!("../../../schema/sqlite/008_span_rollups.sql"),
    ),
    (
        9,
        "sessions",
        include_str!("../../../schema/sqlite/009_sessions.sql"),
    ),
    (
        THROTTLED_CALLS_VERSION,
        "genai_throttled_calls",
        include_str!("../../../schema/sqlite/010_genai_throttled_calls.sql"),
    ),
];

/// The migration that adds the rollups; the rows stored before it are rolled up with it.
const ROLLUPS_VERSION: i64 = 8;

/// The migration that keeps throttled calls; those stored before it are found with it.
const THROTTLED_CALLS_VERSION: i64 = 10;

/// Every migration as one script, as `tracehouse migrate --print` shows it.
pub fn script() -> String {
    let mut out = String::new();
    for (version, name, sql) in MIGRATIONS {
        out.push_str(&format!(
            "-- migration {version}: {name}\n{}\n",
            sql.trim_end()
        ));
    }
    out
}

pub fn apply(connection: &mut Connection) -> Result<(), StoreError> {
    connection
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version INTEGER PRIMARY KEY,
                 name TEXT NOT NULL,
                 applied_ns INTEGER NOT NULL
             )",
        )
        .map_err(sqlite_error)?;
    for (version, name, sql) in MIGRATIONS {
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite_error)?;
        let applied: bool = transaction
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)",
                params![version],
                |row| row.get(0),
            )
            .map_err(sqlite_error)?;
        if !applied {
            transaction
                .execute_batch(sql)
                .map_err(|e| StoreError::Schema(format!("migration {version} ({name}): {e}")))?;
            if *version == ROLLUPS_VERSION {
                super::backfill::roll_up_stored_spans(&transaction)?;
            }
            if *version == THROTTLED_CALLS_VERSION {
                super::throttling::backfill(&transaction)?;
            }
            transaction
                .execute(
                    "INSERT INTO schema_migrations (version, name, applied_ns) VALUES (?1, ?2, ?3)",
                    params![version, name, crate::clock::now_ns()],
                )
                .map_err(sqlite_error)?;
            tracing::info!(version, name, "applied sqlite migration");
        }
        transaction.commit().map_err(sqlite_error)?;
    }
    Ok(())
}
