//! Ships spooled batches to the store in order, retrying until they land. Consecutive batches
//! go together (one insert per table and day for all of them), and under light load the oldest
//! waits up to [`LINGER`] for company, so the store sees few, large inserts. A batch leaves the
//! spool only once the store has it; after a failed attempt its group is retried as uncertain,
//! so the store leaves out what already landed instead of inserting it twice. A group is
//! recorded in the spool before its first attempt and retried as it was, after a restart too:
//! a resent insert is then the same rows, which a replicated table drops by its block hash
//! even where the store's check for landed batches asks a replica that has not fetched them.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::spool::{Spool, SpooledBatch};
use crate::self_metrics::SelfMetrics;
use crate::store::{SpooledWrites, Store, StoreError};

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Attempts at a batch the store refuses before it is set aside: the refusal is about the
/// bytes, but a second opinion costs little.
const MAX_REFUSED_ATTEMPTS: u32 = 3;
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Most bytes of spooled batches shipped together.
const GROUP_BYTES: u64 = 16 * 1024 * 1024;
/// How long a small group may wait for more batches before it is shipped anyway.
const LINGER: Duration = Duration::from_millis(500);

pub(super) async fn run(
    spool: Arc<Spool>,
    store: Arc<dyn Store>,
    wake: Arc<Notify>,
    metrics: Arc<SelfMetrics>,
    shutdown: CancellationToken,
) {
    let Some(writes) = store.spooled() else {
        tracing::error!("the store does not take spooled batches; they stay in the spool");
        return;
    };
    let report = |spool: &Spool| {
        let (bytes, batches) = spool.usage();
        metrics.set_spool(bytes, batches);
    };
    report(&spool);
    loop {
        let group = spool.front(GROUP_BYTES);
        let Some(oldest) = group.first() else {
            tokio::select! {
                () = wake.notified() => continue,
                () = shutdown.cancelled() => return,
            }
        };
        let bytes: u64 = group.iter().map(|b| b.bytes).sum();
        let ship_by = oldest.spooled_at + LINGER;
        if bytes < GROUP_BYTES / 2 && Instant::now() < ship_by {
            tokio::select! {
                () = tokio::time::sleep_until(ship_by) => {}
                () = wake.notified() => {}
                () = shutdown.cancelled() => return,
            }
            continue;
        }
        match ship(&spool, writes, &group, &metrics, &shutdown).await {
            Shipped::Done => {}
            Shipped::Corrupt => {
                // Part of the group may have landed before the refusal (the tables are
                // separate inserts), so each batch goes on as uncertain.
                for batch in &group {
                    spool.mark_uncertain(batch.sequence);
                }
                let group: Vec<SpooledBatch> = group
                    .into_iter()
                    .map(|batch| SpooledBatch {
                        uncertain: true,
                        ..batch
                    })
                    .collect();
                // Ship one by one to find the unreadable batch and set it aside.
                for batch in &group {
                    if let Shipped::Stopped = ship(
                        &spool,
                        writes,
                        std::slice::from_ref(batch),
                        &metrics,
                        &shutdown,
                    )
                    .await
                    {
                        return;
                    }
                }
            }
            Shipped::Stopped => return,
        }
        report(&spool);
    }
}

enum Shipped {
    Done,
    /// One of several batches cannot be decoded or is refused: ship them one by one.
    Corrupt,
    Stopped,
}

/// Ships `group` until it lands (or shutdown), then removes it from the spool.
async fn ship(
    spool: &Arc<Spool>,
    writes: &dyn SpooledWrites,
    group: &[SpooledBatch],
    metrics: &SelfMetrics,
    shutdown: &CancellationToken,
) -> Shipped {
    let mut uncertain = group.iter().any(|b| b.uncertain);
    let mut backoff = FIRST_BACKOFF;
    let mut refused = 0;
    loop {
        let started = Instant::now();
        let attempt = async {
            record(spool, group).await;
            let payloads = read_all(spool, group).await?;
            writes.write_encoded(&payloads, uncertain).await
        };
        let result = tokio::select! {
            result = attempt => result,
            // An interrupted insert may or may not land; the batches stay spooled and the next
            // start replays them as uncertain.
            () = shutdown.cancelled() => return Shipped::Stopped,
        };
        match result {
            Ok(()) => {
                for batch in group {
                    if let Err(error) = spool.remove(batch) {
                        tracing::error!(%error, "shipped batch could not be removed from the spool");
                    }
                }
                end_shipment(spool);
                return Shipped::Done;
            }
            Err(StoreError::Corrupt(reason)) if group.len() > 1 => {
                tracing::error!(%reason, "a spooled batch is unreadable; shipping one by one");
                return Shipped::Corrupt;
            }
            Err(StoreError::Corrupt(reason)) => {
                tracing::error!(%reason, batch_id = group[0].batch_id, "spooled batch is unreadable; moved to spool/corrupt");
                if let Err(error) = spool.quarantine(&group[0]) {
                    tracing::error!(%error, "could not quarantine a corrupt spooled batch");
                }
                end_shipment(spool);
                return Shipped::Done;
            }
            Err(StoreError::Rejected(reason)) if group.len() > 1 => {
                tracing::warn!(%reason, "the store refused a group of spooled batches; shipping one by one");
                return Shipped::Corrupt;
            }
            Err(StoreError::Rejected(reason)) if refused + 1 >= MAX_REFUSED_ATTEMPTS => {
                tracing::error!(%reason, batch_id = group[0].batch_id, attempts = refused + 1, "the store refuses a spooled batch; moved to spool/dead-letter");
                metrics.count_dead_letter();
                if let Err(error) = spool.dead_letter(&group[0]) {
                    tracing::error!(%error, "could not set a refused spooled batch aside");
                }
                end_shipment(spool);
                return Shipped::Done;
            }
            Err(error) => {
                if matches!(error, StoreError::Rejected(_)) {
                    refused += 1;
                }
                metrics.record_flush(0, started.elapsed(), false);
                tracing::warn!(%error, batches = group.len(), retry_in_ms = backoff.as_millis() as u64, "shipping spooled batches failed");
                uncertain = true;
                for batch in group {
                    spool.mark_uncertain(batch.sequence);
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shutdown.cancelled() => return Shipped::Stopped,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Forgets the shipment in flight once its batches left the spool.
fn end_shipment(spool: &Spool) {
    if let Err(error) = spool.end_shipment() {
        tracing::error!(%error, "the shipment record could not be removed from the spool");
    }
}

/// Names `group` in the spool as the shipment in flight, on a blocking thread (an fsync). A
/// record that cannot be written does not hold shipping up (on a full disk, shipping is what
/// frees space): the group goes anyway, and only a crash before it lands could then send its
/// batches again in another group, which only the store's check for landed batches catches.
async fn record(spool: &Arc<Spool>, group: &[SpooledBatch]) {
    let spool = Arc::clone(spool);
    let group = group.to_vec();
    let recorded = tokio::task::spawn_blocking(move || spool.record_shipment(&group)).await;
    match recorded {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, "the shipment could not be recorded; shipping it anyway")
        }
        Err(error) => tracing::warn!(%error, "recording the shipment stopped; shipping it anyway"),
    }
}

/// Reads the batches back on a blocking thread (the page cache usually still has them).
async fn read_all(spool: &Arc<Spool>, group: &[SpooledBatch]) -> Result<Vec<Bytes>, StoreError> {
    let spool = Arc::clone(spool);
    let group = group.to_vec();
    tokio::task::spawn_blocking(move || {
        group
            .iter()
            .map(|batch| {
                spool
                    .read(batch)
                    .map_err(|e| StoreError::Unavailable(e.to_string()))
            })
            .collect()
    })
    .await
    .map_err(|e| StoreError::Internal(e.to_string()))?
}
