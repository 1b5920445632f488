//! Alert state, history and leases in the embedded store. One process owns a SQLite file, so
//! a lease is a row changed inside one immediate transaction.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::sqlite_error;
use crate::reads::alert_records::{AlertEventRow, AlertStateRow, HistoryQuery, LeaseClaim};
use crate::store::StoreError;

pub fn states(connection: &Connection) -> Result<Vec<AlertStateRow>, StoreError> {
    let mut statement = connection
        .prepare("SELECT rule, series, body FROM alert_state ORDER BY rule, series")
        .map_err(sqlite_error)?;
    let rows = statement
        .query_map([], |row| {
            Ok(AlertStateRow {
                rule: row.get(0)?,
                series: row.get(1)?,
                body: row.get(2)?,
            })
        })
        .map_err(sqlite_error)?;
    rows.collect::<Result<_, _>>().map_err(sqlite_error)
}

pub fn save_states(connection: &mut Connection, rows: &[AlertStateRow]) -> Result<(), StoreError> {
    let transaction = connection.transaction().map_err(sqlite_error)?;
    for row in rows {
        if row.body.is_empty() {
            transaction
                .execute(
                    "DELETE FROM alert_state WHERE rule = ?1 AND series = ?2",
                    params![row.rule, row.series],
                )
                .map_err(sqlite_error)?;
        } else {
            transaction
                .execute(
                    "INSERT OR REPLACE INTO alert_state (rule, series, body) VALUES (?1, ?2, ?3)",
                    params![row.rule, row.series, row.body],
                )
                .map_err(sqlite_error)?;
        }
    }
    transaction.commit().map_err(sqlite_error)
}

pub fn append_events(
    connection: &mut Connection,
    events: &[AlertEventRow],
) -> Result<(), StoreError> {
    let transaction = connection.transaction().map_err(sqlite_error)?;
    for event in events {
        transaction
            .execute(
                "INSERT INTO alert_history (time_ns, rule, series, kind, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    event.time_ns,
                    event.rule,
                    event.series,
                    event.kind,
                    event.body
                ],
            )
            .map_err(sqlite_error)?;
    }
    transaction.commit().map_err(sqlite_error)
}

pub fn history(
    connection: &Connection,
    query: &HistoryQuery,
) -> Result<Vec<AlertEventRow>, StoreError> {
    let rules = query
        .rules
        .as_ref()
        .map(|rules| serde_json::to_string(rules).unwrap_or_default());
    let mut statement = connection
        .prepare(
            "SELECT time_ns, rule, series, kind, body FROM alert_history \
             WHERE time_ns >= ?1 AND time_ns < ?2 \
             AND (?3 IS NULL OR rule IN (SELECT value FROM json_each(?3))) \
             ORDER BY time_ns DESC, rowid DESC LIMIT ?4",
        )
        .map_err(sqlite_error)?;
    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
    let rows = statement
        .query_map(params![query.from_ns, query.to_ns, rules, limit], |row| {
            Ok(AlertEventRow {
                time_ns: row.get(0)?,
                rule: row.get(1)?,
                series: row.get(2)?,
                kind: row.get(3)?,
                body: row.get(4)?,
            })
        })
        .map_err(sqlite_error)?;
    rows.collect::<Result<_, _>>().map_err(sqlite_error)
}

/// Takes the lease when it is free, expired or already the claimant's.
pub fn take_lease(connection: &mut Connection, claim: &LeaseClaim) -> Result<bool, StoreError> {
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite_error)?;
    let current: Option<(String, i64, i64)> = transaction
        .query_row(
            "SELECT holder, epoch, expires_ns FROM leases WHERE name = ?1",
            [&claim.name],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()
        .map_err(sqlite_error)?;
    let epoch = match &current {
        Some((holder, epoch, _)) if *holder == claim.holder => *epoch,
        Some((_, _, expires_ns)) if *expires_ns > claim.now_ns => return Ok(false),
        Some((_, epoch, _)) => epoch.saturating_add(1),
        None => 1,
    };
    transaction
        .execute(
            "INSERT OR REPLACE INTO leases (name, holder, epoch, expires_ns) VALUES (?1, ?2, ?3, ?4)",
            params![claim.name, claim.holder, epoch, claim.expires_ns()],
        )
        .map_err(sqlite_error)?;
    transaction.commit().map_err(sqlite_error)?;
    Ok(true)
}

/// Gives the lease up if the claimant holds it, so another instance need not wait it out.
pub fn release_lease(connection: &mut Connection, claim: &LeaseClaim) -> Result<(), StoreError> {
    connection
        .execute(
            "UPDATE leases SET expires_ns = ?3 WHERE name = ?1 AND holder = ?2",
            params![claim.name, claim.holder, claim.now_ns],
        )
        .map_err(sqlite_error)?;
    Ok(())
}
