//! Retention on every ClickHouse version: whole day partitions past the cutoff are dropped
//! (newer servers also have a TTL). On a cluster, the days this node's parts hold are dropped
//! on every node: rows are spread over the shards by hash, so every shard holds every day.

use super::cluster::LOCAL_SUFFIX;
use super::{ClickHouseStore, ch_error};
use crate::store::StoreError;

impl ClickHouseStore {
    /// Drops whole days older than the retention period (on every version; newer servers also
    /// have a TTL). Returns how many partitions were dropped.
    pub async fn drop_partitions_before(&self, cutoff_day: i64) -> Result<u64, StoreError> {
        self.ready().await?;
        let db = &self.database;
        let rows: Vec<(String, String)> = self
            .client
            .query(
                "SELECT DISTINCT table, partition FROM system.parts WHERE database = ? AND active",
            )
            .bind(db.as_str())
            .fetch_all()
            .await
            .map_err(ch_error)?;
        // On a cluster the parts are the local tables'; dropping a day there on every node
        // drops it from the whole cluster.
        let on_cluster = self
            .topology()
            .map(|topology| format!(" ON CLUSTER `{}`", topology.name))
            .unwrap_or_default();
        let mut dropped = 0;
        for (table, partition) in rows {
            let Some(day) = days_from_date_text(&partition) else {
                continue;
            };
            let name = table.strip_suffix(LOCAL_SUFFIX).unwrap_or(&table);
            if day >= cutoff_day || name == "schema_migrations" {
                continue;
            }
            self.execute_ddl(&format!(
                "ALTER TABLE `{db}`.`{table}`{on_cluster} DROP PARTITION '{partition}'"
            ))
            .await?;
            tracing::info!(%table, %partition, "dropped partition past retention");
            dropped += 1;
        }
        Ok(dropped)
    }
}

/// Days since the epoch of a `YYYY-MM-DD` partition value.
pub(super) fn days_from_date_text(text: &str) -> Option<i64> {
    crate::time::parse_instant(text).map(|ns| ns.div_euclid(86_400_000_000_000))
}
