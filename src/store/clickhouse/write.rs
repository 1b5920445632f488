//! Inserting spooled batches: each table and day of a group of batches as one INSERT (one
//! part: whole or nothing), leaving out, after an uncertain attempt, the batches that landed.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::cluster::Topology;
use super::encoded::{self, Chunk, OPERATIONS_TABLE};
use super::schema::Features;
use super::{ClickHouseStore, ch_error};
use super::{backfill, throttled_rows};
use crate::model::Batch;
use crate::reads::Source;
use crate::store::rollup;
use crate::store::{SpooledWrites, StoreError};

impl ClickHouseStore {
    /// Which of `batch_ids` already have rows in the group's table, day (and shard), from an
    /// earlier attempt.
    async fn landed_batches(
        &self,
        group: &ChunkGroup<'_>,
        batch_ids: &[u64],
    ) -> Result<Vec<u64>, StoreError> {
        let (table, day) = (group.table, group.day);
        let mut time_filter = if table == OPERATIONS_TABLE {
            "day = toDate(toDateTime(?, 'UTC'))".to_owned()
        } else {
            "timestamp >= toDateTime(?, 'UTC') AND timestamp < toDateTime(?, 'UTC')".to_owned()
        };
        // On a cluster, a batch's rows of one shard landed or not, whatever the other shards'.
        if let Some(topology) = self.topology() {
            time_filter = format!(
                "{time_filter} AND {}",
                topology.on_shard(table, group.shard)?
            );
        }
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
        if self.topology().is_some() {
            // Another shard being down must not stop this shard's rows: its answer is not
            // needed. (This shard being down skips it too, and then its insert fails.)
            query = query.with_setting("skip_unavailable_shards", "1");
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
            let mut token = format!("{}-{}-{}", ids.join("."), group.table, group.day);
            // Only on a cluster: a single server's tokens stay those of spooled retries
            // written by earlier versions.
            if self.topology().is_some() {
                token.push_str(&format!("-{}", group.shard));
            }
            insert = insert.with_setting("insert_deduplication_token", token);
        }
        insert.send(group.body()).await.map_err(ch_error)?;
        insert.end().await.map_err(ch_error)
    }
}

impl ClickHouseStore {
    /// Inserts a payload's rows straight into their shards' local tables, through one node of
    /// each shard (`shard_nodes`, in shard order): the insert path tracehouse does not take (it
    /// inserts through `Distributed`, needing one URL and no replica failover of its own),
    /// kept for the load generator to measure the two against each other.
    pub async fn insert_into_shard_nodes(
        &self,
        payload: Bytes,
        shard_nodes: &[clickhouse::Client],
    ) -> Result<(), StoreError> {
        let topology = self
            .topology()
            .ok_or_else(|| StoreError::InvalidQuery("the store is not on a cluster".into()))?;
        let batch = encoded::decode(payload)?;
        let parts: Vec<(usize, Chunk)> = batch
            .chunks
            .iter()
            .flat_map(|chunk| super::cluster::split(chunk, topology))
            .collect();
        let inserts = parts.into_iter().map(|(shard, part)| async move {
            let (Some(node), Some(columns)) = (
                shard_nodes.get(shard),
                self.insert_columns.get(part.table.as_str()),
            ) else {
                return Err(StoreError::InvalidQuery(format!(
                    "no node of shard {shard} or no columns of table {:?}",
                    part.table
                )));
            };
            let mut insert = node.insert_formatted_with(format!(
                "INSERT INTO `{}`.`{}{}` ({columns}) FORMAT RowBinary",
                self.database,
                part.table,
                super::cluster::LOCAL_SUFFIX
            ));
            insert.send(part.data).await.map_err(ch_error)?;
            insert.end().await.map_err(ch_error)
        });
        futures_util::future::try_join_all(inserts).await?;
        Ok(())
    }
}

#[async_trait]
impl SpooledWrites for ClickHouseStore {
    fn encode(&self, batch: &Batch, batch_id: u64) -> Result<Vec<u8>, StoreError> {
        let sharding = match self.cluster {
            Some(_) => encoded::Sharding::ByRow,
            None => encoded::Sharding::None,
        };
        encoded::encode(batch, batch_id, sharding)
    }

    async fn write_encoded(&self, payloads: &[Bytes], uncertain: bool) -> Result<(), StoreError> {
        let batches = payloads
            .iter()
            .map(|payload| encoded::decode(payload.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let features = self.ready().await?.features;
        // Tables are independent: insert them concurrently, each as one INSERT per day.
        let inserts = group_chunks(&batches, self.topology())
            .into_iter()
            .map(|group| self.insert_unless_landed(group, uncertain, features));
        futures_util::future::try_join_all(inserts).await?;
        self.derive_what_old_batches_lack(&batches).await
    }
}

impl ClickHouseStore {
    /// Derives, on the server, what batches spooled by an earlier version lack, once their
    /// spans are stored: rollups (payloads with span chunks but no rollup chunk) and 429
    /// attempts (dependencies but no `throttled_attempts` chunk, not even an empty one).
    async fn derive_what_old_batches_lack(
        &self,
        batches: &[encoded::EncodedBatch],
    ) -> Result<(), StoreError> {
        let spans = [Source::Requests.table(), Source::Dependencies.table()];
        if let Some(lacking) = Lacking::of(batches, &spans, rollup::TABLE) {
            for source in [Source::Requests, Source::Dependencies] {
                self.execute(&backfill::statement(
                    &self.database,
                    source,
                    &lacking.spans(),
                ))
                .await?;
            }
            tracing::info!(
                batches = lacking.ids.len(),
                "rolled up batches spooled without rollups"
            );
        }
        let dependencies = [Source::Dependencies.table()];
        if let Some(lacking) = Lacking::of(batches, &dependencies, throttled_rows::TABLE) {
            self.execute(&throttled_rows::derive_statement(
                &self.database,
                &lacking.spans(),
            ))
            .await?;
            tracing::info!(
                batches = lacking.ids.len(),
                "copied the 429 attempts of batches spooled without them"
            );
        }
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
            let landed = self.landed_batches(&group, &ids).await?;
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

/// Batches that have chunks of some tables but none of a table derived from them, and the
/// seconds their rows lie in.
struct Lacking {
    ids: Vec<u64>,
    from_s: i64,
    to_s: i64,
}

impl Lacking {
    fn of(batches: &[encoded::EncodedBatch], sources: &[&str], derived: &str) -> Option<Self> {
        let source = |chunk: &&Chunk| sources.contains(&chunk.table.as_str());
        let lacking: Vec<&encoded::EncodedBatch> = batches
            .iter()
            .filter(|batch| {
                batch.chunks.iter().any(|c| source(&c))
                    && !batch.chunks.iter().any(|c| c.table == derived)
            })
            .collect();
        let chunks = || lacking.iter().flat_map(|b| b.chunks.iter()).filter(source);
        let first_ns = chunks().map(|c| c.first_ns).min()?;
        let last_ns = chunks().map(|c| c.last_ns).max()?;
        Some(Lacking {
            ids: lacking.iter().map(|b| b.batch_id).collect(),
            from_s: first_ns.div_euclid(1_000_000_000),
            to_s: last_ns.div_euclid(1_000_000_000),
        })
    }

    fn spans(&self) -> backfill::Spans<'_> {
        backfill::Spans::Batches {
            ids: &self.ids,
            from_s: self.from_s,
            to_s: self.to_s,
        }
    }
}

/// The chunks of one table, day and shard across batches, with the batch each came from.
struct ChunkGroup<'a> {
    table: &'a str,
    day: i64,
    /// 0 on a single server.
    shard: usize,
    chunks: Vec<(u64, Chunk)>,
}

impl ChunkGroup<'_> {
    /// The rows of every chunk as one body, sent at once. ClickHouse 18.16 stores the rows it
    /// received before a client's connection dropped, when it drops between two rows (checked
    /// by hand: a RowBinary body cut between two HTTP chunks, inside one, or short of its
    /// Content-Length). Each send is its own chunk and its own LZ4 block, so batches sent one
    /// after another left, when the shipper was killed or stopped between them, the first ones
    /// stored as an insert of their own: not the group's rows, so its resend was not dropped as
    /// a duplicate. One send is one LZ4 block, which lands whole or not at all.
    fn body(&self) -> Bytes {
        if let [(_, chunk)] = self.chunks.as_slice() {
            return chunk.data.clone();
        }
        let mut body =
            bytes::BytesMut::with_capacity(self.chunks.iter().map(|(_, c)| c.data.len()).sum());
        for (_, chunk) in &self.chunks {
            body.extend_from_slice(&chunk.data);
        }
        body.freeze()
    }
}

/// Groups the chunks of several batches by table and day (and shard, on a cluster), in
/// first-seen order, leaving out empty ones (a batch's mark that it has no rows of a derived
/// table).
///
/// The shipper resends a group as it was, so every attempt at one table, day and shard is the
/// same rows in the same order. A replicated shard then drops a resent insert that already
/// landed (its block id is in ZooKeeper, for every replica), even when the replica it landed
/// on went down before the others fetched it and the landed check, failing over, could not
/// see it.
fn group_chunks<'a>(
    batches: &'a [encoded::EncodedBatch],
    topology: Option<&Topology>,
) -> Vec<ChunkGroup<'a>> {
    let mut groups: Vec<ChunkGroup<'a>> = Vec::new();
    for batch in batches {
        for chunk in batch.chunks.iter().filter(|chunk| chunk.rows > 0) {
            let parts = match topology {
                Some(topology) => super::cluster::split(chunk, topology),
                None => vec![(0, chunk.clone())],
            };
            for (shard, part) in parts {
                let joins = |g: &ChunkGroup<'_>| {
                    g.table == chunk.table && g.day == chunk.day && g.shard == shard
                };
                match groups.iter_mut().find(|g| joins(g)) {
                    Some(group) => group.chunks.push((batch.batch_id, part)),
                    None => groups.push(ChunkGroup {
                        table: &chunk.table,
                        day: chunk.day,
                        shard,
                        chunks: vec![(batch.batch_id, part)],
                    }),
                }
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Item, Request};
    use crate::store::clickhouse::cluster::ClusterHost;
    use crate::store::clickhouse::encoded::{Sharding, decode, encode};

    fn batch_of(operations: &[&str], batch_id: u64) -> encoded::EncodedBatch {
        let batch = Batch {
            requests: operations
                .iter()
                .map(|operation| {
                    let mut item = Item::<Request>::default();
                    item.common.operation_id = (*operation).into();
                    item.common.timestamp_ns = 5;
                    item
                })
                .collect(),
            ..Batch::default()
        };
        decode(
            encode(&batch, batch_id, Sharding::ByRow)
                .expect("encodes")
                .into(),
        )
        .expect("decodes")
    }

    /// A cluster groups batches per table, day and shard as one node does, and sends each
    /// group's rows as one body: the same rows in the same order on every attempt.
    #[test]
    fn a_cluster_groups_batches_per_shard_into_one_body() {
        let hosts: Vec<ClusterHost> = [(1, 1), (1, 2), (2, 1), (2, 2)]
            .map(|(shard_num, replica_num)| ClusterHost {
                shard_num,
                shard_weight: 1,
                replica_num,
                host_name: format!("h{shard_num}{replica_num}"),
                port: 9000,
            })
            .to_vec();
        let topology = Topology::of("tracehouse", &hosts).expect("topology");
        let operations: Vec<String> = (0..20).map(|n| format!("op{n}")).collect();
        let operations: Vec<&str> = operations.iter().map(String::as_str).collect();
        let batches = [
            batch_of(&operations[..10], 1),
            batch_of(&operations[10..], 2),
        ];
        let groups = group_chunks(&batches, Some(&topology));
        let requests: Vec<&ChunkGroup<'_>> =
            groups.iter().filter(|g| g.table == "requests").collect();
        assert_eq!(requests.len(), 2, "one group per shard");
        for group in requests {
            let ids: Vec<u64> = group.chunks.iter().map(|(id, _)| *id).collect();
            assert_eq!(ids, [1, 2], "both batches in the shard's one insert");
            let parts: Vec<u8> = group
                .chunks
                .iter()
                .flat_map(|(_, chunk)| chunk.data.to_vec())
                .collect();
            assert_eq!(group.body(), parts, "one body, the batches' rows in order");
        }
        assert_eq!(
            group_chunks(&batches[..1], None)[0].body(),
            batches[0].chunks[0].data
        );
    }
}
