//! Ships spooled batches to the store in order, one at a time, retrying each until it lands.
//! A batch leaves the spool only once the store has it; a batch whose attempt failed is retried
//! as uncertain, so the store checks what already landed instead of inserting it twice.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::spool::{Spool, SpooledBatch};
use crate::self_metrics::SelfMetrics;
use crate::store::{Store, StoreError};

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

pub(super) async fn run(
    spool: Arc<Spool>,
    store: Arc<dyn Store>,
    wake: Arc<Notify>,
    metrics: Arc<SelfMetrics>,
    shutdown: CancellationToken,
) {
    let report = |spool: &Spool| {
        let (bytes, batches) = spool.usage();
        metrics.set_spool(bytes, batches);
    };
    report(&spool);
    loop {
        let Some(batch) = spool.oldest() else {
            tokio::select! {
                () = wake.notified() => continue,
                () = shutdown.cancelled() => return,
            }
        };
        if !ship(&spool, store.as_ref(), &batch, &metrics, &shutdown).await {
            return;
        }
        report(&spool);
    }
}

/// Ships one batch; returns false when shutting down first.
async fn ship(
    spool: &Arc<Spool>,
    store: &dyn Store,
    batch: &SpooledBatch,
    metrics: &SelfMetrics,
    shutdown: &CancellationToken,
) -> bool {
    let Some(writes) = store.spooled() else {
        tracing::error!("the store does not take spooled batches; they stay in the spool");
        shutdown.cancelled().await;
        return false;
    };
    let mut uncertain = batch.uncertain;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let started = tokio::time::Instant::now();
        let attempt = async {
            let payload = blocking({
                let spool = Arc::clone(spool);
                let batch = batch.clone();
                move || {
                    spool
                        .read(&batch)
                        .map_err(|e| StoreError::Unavailable(e.to_string()))
                }
            })
            .await?;
            writes.write_encoded(payload, uncertain).await
        };
        let result = tokio::select! {
            result = attempt => result,
            // An interrupted insert may or may not land; the batch stays spooled and the next
            // start replays it as uncertain.
            () = shutdown.cancelled() => return false,
        };
        match result {
            Ok(()) => {
                let removed = blocking({
                    let spool = Arc::clone(spool);
                    let batch = batch.clone();
                    move || {
                        spool
                            .remove(&batch)
                            .map_err(|e| StoreError::Unavailable(e.to_string()))
                    }
                })
                .await;
                if let Err(error) = removed {
                    tracing::error!(%error, "shipped batch could not be removed from the spool");
                }
                return true;
            }
            Err(StoreError::Corrupt(reason)) => {
                tracing::error!(%reason, batch_id = batch.batch_id, "spooled batch is unreadable; moved to spool/corrupt");
                if let Err(error) = spool.quarantine(batch) {
                    tracing::error!(%error, "could not quarantine a corrupt spooled batch");
                }
                return true;
            }
            Err(error) => {
                metrics.record_flush(0, started.elapsed(), false);
                tracing::warn!(%error, batch_id = batch.batch_id, retry_in_ms = backoff.as_millis() as u64, "shipping a spooled batch failed");
                uncertain = true;
                spool.mark_uncertain(batch.sequence);
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shutdown.cancelled() => return false,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))?
}
