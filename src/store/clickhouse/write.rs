//! Inserting spooled batches: each table and day of a group of batches as one INSERT (one
//! part: whole or nothing), leaving out, after an uncertain attempt, the batches that landed.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::backfill;
use super::encoded::{self, Chunk, OPERATIONS_TABLE};
use super::schema::Features;
use super::{ClickHouseStore, ch_error};
use crate::model::Batch;
use crate::reads::Source;
use crate::store::rollup;
use crate::store::{SpooledWrites, StoreError};

impl ClickHouseStore {
    /// Which of `batch_ids` already have rows in `table` on `day`, from an earlier attempt.
    async fn landed_batches(
        &self,
        table: &str,
        day: i64,
        batch_ids: &[u64],
    ) -> Result<Vec<u64>, StoreError> {
        let time_filter = if table == OPERATIONS_TABLE {
            "day = toDate(toDateTime(?, 'UTC'))".to_owned()
        } else {
            "timestamp >= toDateTime(?, 'UTC') AND timestamp < toDateTime(?, 'UTC')".to_owned()
        };
        let ids: Vec<String> = batch_ids.iter().map(u64::to_string).collect();
        let sql = format!(
            "SELECT DISTINCT _batch_id FROM `{}`.`{table}` WHERE {time_filter} AND _batch_id IN ({})",
            self.database,
            ids.join(", ")
        );
        const DAY_S: i64 = 86_400;
        let mut query = self.client.query(&sql).bind(day * DAY_S);
        if table != OPERATIONS_TABLE {
            query = query.bind((day + 1) * DAY_S);
        }
        query.fetch_all().await.map_err(ch_error)
    }

    /// Inserts the chunks of one table and day (from one or more batches) as one INSERT, which
    /// creates one part: it lands whole or not at all.
    async fn insert_group(
        &self,
        group: &ChunkGroup<'_>,
        features: Features,
    ) -> Result<(), StoreError> {
        let columns = self.insert_columns.get(group.table).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "spooled batch names unknown table {:?}",
                group.table
            ))
        })?;
        let sql = format!(
            "INSERT INTO `{}`.`{}` ({columns}) FORMAT RowBinary",
            self.database, group.table
        );
        let mut insert = self.client.insert_formatted_with(sql).with_timeouts(
            Some(Duration::from_secs(30)),
            Some(Duration::from_secs(120)),
        );
        if features.insert_dedup_token {
            let ids: Vec<String> = group
                .chunks
                .iter()
                .map(|(id, _)| format!("{id:016x}"))
                .collect();
            insert = insert.with_setting(
                "insert_deduplication_token",
                format!("{}-{}-{}", ids.join("."), group.table, group.day),
            );
        }
        for (_, chunk) in &group.chunks {
            insert.send(chunk.data.clone()).await.map_err(ch_error)?;
        }
        insert.end().await.map_err(ch_error)
    }
}

#[async_trait]
impl SpooledWrites for ClickHouseStore {
    fn encode(&self, batch: &Batch, batch_id: u64) -> Result<Vec<u8>, StoreError> {
        encoded::encode(batch, batch_id)
    }

    async fn write_encoded(&self, payloads: &[Bytes], uncertain: bool) -> Result<(), StoreError> {
        let batches = payloads
            .iter()
            .map(|payload| encoded::decode(payload.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let features = self.ready().await?.features;
        // Tables are independent: insert them concurrently, each as one INSERT per day.
        let inserts = group_chunks(&batches)
            .into_iter()
            .map(|group| self.insert_unless_landed(group, uncertain, features));
        futures_util::future::try_join_all(inserts).await?;
        self.roll_up_unrolled(&batches).await
    }
}

impl ClickHouseStore {
    /// Rolls up, on the server, the batches spooled by a version without rollups (their
    /// payloads have span chunks but no rollup chunk), once their spans are stored.
    async fn roll_up_unrolled(&self, batches: &[encoded::EncodedBatch]) -> Result<(), StoreError> {
        let spans = |chunk: &&Chunk| {
            chunk.table == Source::Requests.table() || chunk.table == Source::Dependencies.table()
        };
        let unrolled: Vec<&encoded::EncodedBatch> = batches
            .iter()
            .filter(|batch| {
                batch.chunks.iter().any(|c| spans(&c))
                    && !batch.chunks.iter().any(|c| c.table == rollup::TABLE)
            })
            .collect();
        let chunks = || unrolled.iter().flat_map(|b| b.chunks.iter()).filter(spans);
        let (Some(first_ns), Some(last_ns)) = (
            chunks().map(|c| c.first_ns).min(),
            chunks().map(|c| c.last_ns).max(),
        ) else {
            return Ok(());
        };
        let ids: Vec<u64> = unrolled.iter().map(|b| b.batch_id).collect();
        let only = backfill::Spans::Batches {
            ids: &ids,
            from_s: first_ns.div_euclid(1_000_000_000),
            to_s: last_ns.div_euclid(1_000_000_000),
        };
        for source in [Source::Requests, Source::Dependencies] {
            self.execute(&backfill::statement(&self.database, source, &only))
                .await?;
        }
        tracing::info!(
            batches = ids.len(),
            "rolled up batches spooled without rollups"
        );
        Ok(())
    }

    /// Inserts a group, first leaving out batches an uncertain earlier attempt already stored.
    async fn insert_unless_landed(
        &self,
        mut group: ChunkGroup<'_>,
        uncertain: bool,
        features: Features,
    ) -> Result<(), StoreError> {
        if uncertain {
            let ids: Vec<u64> = group.chunks.iter().map(|(id, _)| *id).collect();
            let landed = self.landed_batches(group.table, group.day, &ids).await?;
            if !landed.is_empty() {
                tracing::info!(
                    table = group.table,
                    day = group.day,
                    landed = landed.len(),
                    "batches already stored; leaving them out"
                );
                group.chunks.retain(|(id, _)| !landed.contains(id));
            }
            if group.chunks.is_empty() {
                return Ok(());
            }
        }
        self.insert_group(&group, features).await
    }
}

/// The chunks of one table and day across batches, with the batch each came from.
struct ChunkGroup<'a> {
    table: &'a str,
    day: i64,
    chunks: Vec<(u64, &'a Chunk)>,
}

/// Groups the chunks of several batches by table and day, in first-seen order.
fn group_chunks(batches: &[encoded::EncodedBatch]) -> Vec<ChunkGroup<'_>> {
    let mut groups: Vec<ChunkGroup<'_>> = Vec::new();
    for batch in batches {
        for chunk in &batch.chunks {
            match groups
                .iter_mut()
                .find(|g| g.table == chunk.table && g.day == chunk.day)
            {
                Some(group) => group.chunks.push((batch.batch_id, chunk)),
                None => groups.push(ChunkGroup {
                    table: &chunk.table,
                    day: chunk.day,
                    chunks: vec![(batch.batch_id, chunk)],
                }),
            }
        }
    }
    groups
}
