//! Retention on every ClickHouse version: whole day partitions past the cutoff are dropped
//! (newer servers also have a TTL). On a cluster, the days any shard's parts hold are dropped
//! on every node. Each shard is asked (not only the connected node's): a drop that failed on
//! one shard (a replica just restarted has no leader yet) is done by the next run even though
//! the other shards no longer hold the day.

use super::cluster::LOCAL_SUFFIX;
use super::{ClickHouseStore, ch_error};
use crate::store::StoreError;

impl ClickHouseStore {
    /// Drops whole days older than the retention period (on every version; newer servers also
    /// have a TTL). Returns how many partitions were dropped.
    pub async fn drop_partitions_before(&self, cutoff_day: i64) -> Result<u64, StoreError> {
        self.ready().await?;
        let db = &self.database;
        // On a cluster the parts are the local tables' on one replica of each live shard (a
        // shard that is down runs the drops from the DDL queue when it is back).
        let (parts, on_cluster) = match self.topology() {
            Some(topology) => (
                format!("cluster('{}', system, parts)", topology.name),
                format!(" ON CLUSTER `{}`", topology.name),
            ),
            None => ("system.parts".to_owned(), String::new()),
        };
        let rows: Vec<(String, String)> = self
            .client
            .query(&format!(
                "SELECT DISTINCT table, partition FROM {parts} WHERE database = ? AND active"
            ))
            .bind(db.as_str())
            .with_setting("skip_unavailable_shards", "1")
            .fetch_all()
            .await
            .map_err(ch_error)?;
        // One day that cannot be dropped now does not keep the others.
        let (mut dropped, mut failed) = (0, None);
        for (table, partition) in rows {
            let Some(day) = days_from_date_text(&partition) else {
                continue;
            };
            let name = table.strip_suffix(LOCAL_SUFFIX).unwrap_or(&table);
            if day >= cutoff_day || name == "schema_migrations" {
                continue;
            }
            let statement =
                format!("ALTER TABLE `{db}`.`{table}`{on_cluster} DROP PARTITION '{partition}'");
            match self.execute_ddl(&statement).await {
                Ok(()) => {
                    tracing::info!(%table, %partition, "dropped partition past retention");
                    dropped += 1;
                }
                Err(error) => {
                    tracing::warn!(%error, %table, %partition, "cannot drop partition yet");
                    failed.get_or_insert(error);
                }
            }
        }
        match failed {
            Some(error) => Err(error),
            None => Ok(dropped),
        }
    }
}

/// Days since the epoch of a `YYYY-MM-DD` partition value.
pub(super) fn days_from_date_text(text: &str) -> Option<i64> {
    crate::time::parse_instant(text).map(|ns| ns.div_euclid(86_400_000_000_000))
}
