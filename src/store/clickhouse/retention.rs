//! Retention on every ClickHouse version: whole day partitions past the cutoff are dropped
//! (newer servers also have a TTL).

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
        let mut dropped = 0;
        for (table, partition) in rows {
            let Some(day) = days_from_date_text(&partition) else {
                continue;
            };
            if day >= cutoff_day || table == "schema_migrations" {
                continue;
            }
            self.execute(&format!(
                "ALTER TABLE `{db}`.`{table}` DROP PARTITION '{partition}'"
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
