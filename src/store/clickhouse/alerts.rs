//! Alert state, history and leases in ClickHouse. State rows are versions
//! (ReplacingMergeTree, read by `argMax`). ClickHouse has no compare-and-set, so a lease is
//! claimed by writing a claim for the next epoch, waiting [`LEASE_SETTLE`] for any rival claim
//! to become visible, and reading back who holds it: every instance applies the same rule
//! (the smallest holder name of the newest epoch) to the same claims.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::credentials::next_version;
use super::{ClickHouseStore, ch_error};
use crate::reads::alert_records::{
    AlertEventRow, AlertStateRow, HistoryQuery, LeaseClaim, LeaseEntry, lease_holder, newest_epoch,
};
use crate::store::StoreError;

/// How long a claimant waits before reading back a new claim. Rival claims written within it
/// are seen by both, which then agree; a claim delayed longer can overlap one evaluation.
const LEASE_SETTLE: Duration = Duration::from_secs(1);

/// Above every state version this process has read or written. A new evaluator reads the
/// states first, so its saves outrank the previous holder's even when its clock is behind.
static VERSION_FLOOR: AtomicU64 = AtomicU64::new(0);

fn state_version() -> u64 {
    loop {
        let floor = VERSION_FLOOR.load(Ordering::SeqCst);
        let version = next_version().max(floor.saturating_add(1));
        if VERSION_FLOOR
            .compare_exchange(floor, version, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return version;
        }
    }
}

pub async fn states(store: &ClickHouseStore) -> Result<Vec<AlertStateRow>, StoreError> {
    let newest: Vec<u64> = store
        .reader
        .query(&format!(
            "SELECT max(version) FROM `{}`.`alert_state`",
            store.database
        ))
        .fetch_all()
        .await
        .map_err(|e| store.read_error(e))?;
    VERSION_FLOOR.fetch_max(newest.first().copied().unwrap_or(0), Ordering::SeqCst);
    let rows: Vec<(String, String, String)> = store
        .reader
        .query(&format!(
            "SELECT rule, series, argMax(body, version) AS latest FROM `{}`.`alert_state` \
             GROUP BY rule, series HAVING latest != '' ORDER BY rule, series",
            store.database
        ))
        .fetch_all()
        .await
        .map_err(|e| store.read_error(e))?;
    Ok(rows
        .into_iter()
        .map(|(rule, series, body)| AlertStateRow { rule, series, body })
        .collect())
}

pub async fn save_states(
    store: &ClickHouseStore,
    rows: &[AlertStateRow],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let placeholders = vec!["(?, ?, ?, ?)"; rows.len()].join(", ");
    let mut query = store.client.query(&format!(
        "INSERT INTO `{}`.`alert_state` (rule, series, body, version) VALUES {placeholders}",
        store.database
    ));
    for row in rows {
        query = query
            .bind(row.rule.as_str())
            .bind(row.series.as_str())
            .bind(row.body.as_str())
            .bind(state_version());
    }
    query.execute().await.map_err(ch_error)
}

pub async fn append_events(
    store: &ClickHouseStore,
    events: &[AlertEventRow],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let placeholders = vec!["(?, ?, ?, ?, ?)"; events.len()].join(", ");
    let mut query = store.client.query(&format!(
        "INSERT INTO `{}`.`alert_history` (time_ns, rule, series, kind, body) VALUES {placeholders}",
        store.database
    ));
    for event in events {
        query = query
            .bind(event.time_ns)
            .bind(event.rule.as_str())
            .bind(event.series.as_str())
            .bind(event.kind.as_str())
            .bind(event.body.as_str());
    }
    query.execute().await.map_err(ch_error)
}

pub async fn history(
    store: &ClickHouseStore,
    query: &HistoryQuery,
) -> Result<Vec<AlertEventRow>, StoreError> {
    // 18.16 types `[]` as Array(Nothing), which `has` refuses: no rule reads nothing.
    if query.rules.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Vec::new());
    }
    let rules = if query.rules.is_some() {
        "AND has(?, rule)"
    } else {
        ""
    };
    let mut read = store
        .reader
        .query(&format!(
            "SELECT time_ns, rule, series, kind, body FROM `{}`.`alert_history` \
             WHERE time_ns >= ? AND time_ns < ? {rules} ORDER BY time_ns DESC LIMIT ?",
            store.database
        ))
        .bind(query.from_ns)
        .bind(query.to_ns);
    if let Some(names) = &query.rules {
        read = read.bind(names.as_slice());
    }
    let rows: Vec<(i64, String, String, String, String)> = read
        .bind(u64::try_from(query.limit).unwrap_or(u64::MAX))
        .fetch_all()
        .await
        .map_err(|e| store.read_error(e))?;
    Ok(rows
        .into_iter()
        .map(|(time_ns, rule, series, kind, body)| AlertEventRow {
            time_ns,
            rule,
            series,
            kind,
            body,
        })
        .collect())
}

async fn lease_entries(store: &ClickHouseStore, name: &str) -> Result<Vec<LeaseEntry>, StoreError> {
    let rows: Vec<(u64, String, i64)> = store
        .reader
        .query(&format!(
            "SELECT epoch, holder, argMax(expires_ns, version) FROM `{db}`.`leases` \
             WHERE name = ? AND epoch >= (SELECT max(epoch) FROM `{db}`.`leases` WHERE name = ?) \
             GROUP BY epoch, holder",
            db = store.database
        ))
        .bind(name)
        .bind(name)
        .fetch_all()
        .await
        .map_err(|e| store.read_error(e))?;
    Ok(rows
        .into_iter()
        .map(|(epoch, holder, expires_ns)| LeaseEntry {
            epoch,
            holder,
            expires_ns,
        })
        .collect())
}

async fn write_claim(
    store: &ClickHouseStore,
    claim: &LeaseClaim,
    epoch: u64,
    expires_ns: i64,
) -> Result<(), StoreError> {
    store
        .client
        .query(&format!(
            "INSERT INTO `{}`.`leases` (name, epoch, holder, expires_ns, version) \
             VALUES (?, ?, ?, ?, ?)",
            store.database
        ))
        .bind(claim.name.as_str())
        .bind(epoch)
        .bind(claim.holder.as_str())
        .bind(expires_ns)
        .bind(next_version())
        .execute()
        .await
        .map_err(ch_error)
}

pub async fn take_lease(store: &ClickHouseStore, claim: &LeaseClaim) -> Result<bool, StoreError> {
    let entries = lease_entries(store, &claim.name).await?;
    match lease_holder(&entries, claim.now_ns) {
        Some((epoch, owner)) if owner.holder == claim.holder => {
            write_claim(store, claim, epoch, claim.expires_ns()).await?;
            return Ok(true);
        }
        Some(_) => return Ok(false),
        None => {}
    }
    let epoch = newest_epoch(&entries).saturating_add(1);
    write_claim(store, claim, epoch, claim.expires_ns()).await?;
    tokio::time::sleep(LEASE_SETTLE).await;
    let entries = lease_entries(store, &claim.name).await?;
    Ok(matches!(
        lease_holder(&entries, claim.now_ns),
        Some((held, owner)) if held == epoch && owner.holder == claim.holder
    ))
}

pub async fn release_lease(store: &ClickHouseStore, claim: &LeaseClaim) -> Result<(), StoreError> {
    let entries = lease_entries(store, &claim.name).await?;
    if let Some((epoch, owner)) = lease_holder(&entries, claim.now_ns)
        && owner.holder == claim.holder
    {
        write_claim(store, claim, epoch, claim.now_ns).await?;
    }
    Ok(())
}
