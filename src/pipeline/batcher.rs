//! Two tasks: the batcher gathers submissions into batches; the flusher makes each batch
//! durable and then answers every submission in it.
//!
//! Group commit: while the flusher is idle, a submission is flushed at once; while it is busy,
//! submissions gather into the next batch, which goes as soon as the flusher is free (or when it
//! reaches the row, byte or age limit). Batches are small when load is light and grow with it,
//! and an acknowledgement waits about one flush, not a fixed delay.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use tokio::sync::Notify;

use super::spool::{Spool, SpoolError};
use super::{PipelineConfig, PipelineError, Submission, new_batch_id};
use crate::error::HasErrorKind;
use crate::model::Batch;
use crate::self_metrics::SelfMetrics;
use crate::store::{Store, StoreError};

/// Where the flusher makes batches durable.
pub(super) enum Sink {
    /// Straight into a store that is durable when its write returns (SQLite).
    Direct(Arc<dyn Store>),
    /// Encoded for the store and fsynced to the spool; the shipper takes it from there.
    Spooled {
        store: Arc<dyn Store>,
        spool: Arc<Spool>,
        wake: Arc<Notify>,
    },
}

/// Longest pause between two attempts at writing one batch.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

pub(super) fn spawn(
    submissions: mpsc::UnboundedReceiver<Submission>,
    sink: Sink,
    config: PipelineConfig,
    metrics: Arc<SelfMetrics>,
    shutdown: CancellationToken,
) -> Vec<JoinHandle<()>> {
    let (flushes, flush_queue) = mpsc::channel(1);
    let idle = Arc::new(FlusherIdle::default());
    let batcher = tokio::spawn(run_batcher(
        submissions,
        flushes,
        Arc::clone(&idle),
        config.clone(),
        shutdown,
    ));
    let flusher = tokio::spawn(run_flusher(flush_queue, idle, sink, config, metrics));
    vec![batcher, flusher]
}

/// Whether the flusher waits for work, and a wake-up for the batcher when it starts waiting.
#[derive(Default)]
struct FlusherIdle {
    idle: AtomicBool,
    became_idle: Notify,
}

/// A batch being filled: its rows, the queue bytes they hold, and their waiting clients.
struct Pending {
    batch: Batch,
    rows: usize,
    bytes: usize,
    permits: Vec<OwnedSemaphorePermit>,
    waiters: Vec<oneshot::Sender<Result<(), PipelineError>>>,
    opened: Instant,
}

impl Pending {
    fn new() -> Self {
        Pending {
            batch: Batch::default(),
            rows: 0,
            bytes: 0,
            permits: Vec::new(),
            waiters: Vec::new(),
            opened: Instant::now(),
        }
    }

    fn add(&mut self, submission: Submission) {
        self.rows += submission.batch.row_count();
        self.bytes += submission.permit.num_permits();
        self.batch.append(submission.batch);
        self.permits.push(submission.permit);
        self.waiters.push(submission.ack);
    }

    fn is_full(&self, config: &PipelineConfig) -> bool {
        self.rows >= config.max_batch_rows || self.bytes >= config.max_batch_bytes
    }
}

async fn run_batcher(
    mut submissions: mpsc::UnboundedReceiver<Submission>,
    flushes: mpsc::Sender<Pending>,
    flusher: Arc<FlusherIdle>,
    config: PipelineConfig,
    shutdown: CancellationToken,
) {
    let mut pending: Option<Pending> = None;
    loop {
        let deadline = pending.as_ref().map(|p| p.opened + config.max_batch_delay);
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            submission = submissions.recv() => {
                let Some(submission) = submission else { break };
                let batch = pending.get_or_insert_with(Pending::new);
                batch.add(submission);
                if batch.is_full(&config) || flusher.idle.load(Ordering::Acquire) {
                    flush(&flushes, pending.take()).await;
                }
            }
            () = flusher.became_idle.notified(), if pending.is_some() => {
                flush(&flushes, pending.take()).await;
            }
            () = sleep_until(deadline), if deadline.is_some() => {
                flush(&flushes, pending.take()).await;
            }
        }
    }
    // Shutting down: refuse new submissions, then flush everything already queued.
    submissions.close();
    while let Some(submission) = submissions.recv().await {
        let batch = pending.get_or_insert_with(Pending::new);
        batch.add(submission);
        if batch.is_full(&config) {
            flush(&flushes, pending.take()).await;
        }
    }
    flush(&flushes, pending.take()).await;
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn flush(flushes: &mpsc::Sender<Pending>, pending: Option<Pending>) {
    let Some(pending) = pending else { return };
    if let Err(mpsc::error::SendError(pending)) = flushes.send(pending).await {
        // The flusher is gone only if it panicked; the clients must hear about it.
        answer(pending.waiters, Err(PipelineError::ShuttingDown));
    }
}

async fn run_flusher(
    mut flush_queue: mpsc::Receiver<Pending>,
    flusher: Arc<FlusherIdle>,
    sink: Sink,
    config: PipelineConfig,
    metrics: Arc<SelfMetrics>,
) {
    loop {
        let pending = match flush_queue.try_recv() {
            Ok(pending) => pending,
            Err(mpsc::error::TryRecvError::Disconnected) => return,
            Err(mpsc::error::TryRecvError::Empty) => {
                flusher.idle.store(true, Ordering::Release);
                flusher.became_idle.notify_one();
                let next = flush_queue.recv().await;
                flusher.idle.store(false, Ordering::Release);
                match next {
                    Some(pending) => pending,
                    None => return,
                }
            }
        };
        let started = Instant::now();
        let batch = Arc::new(pending.batch);
        let result = match &sink {
            Sink::Direct(store) => write_with_retry(store.as_ref(), batch, &config, &metrics).await,
            Sink::Spooled { store, spool, wake } => {
                let spooled = spool_batch(Arc::clone(store), Arc::clone(spool), batch).await;
                if spooled.is_ok() {
                    wake.notify_one();
                    let (bytes, batches) = spool.usage();
                    metrics.set_spool(bytes, batches);
                }
                spooled
            }
        };
        metrics.record_flush(pending.rows, started.elapsed(), result.is_ok());
        answer(pending.waiters, result);
        drop(pending.permits);
    }
}

/// Writes the batch, retrying transient failures with backoff within the retry window.
async fn write_with_retry(
    store: &dyn Store,
    batch: Arc<Batch>,
    config: &PipelineConfig,
    metrics: &SelfMetrics,
) -> Result<(), PipelineError> {
    let give_up = Instant::now() + config.write_retry_window;
    let mut backoff = Duration::from_millis(50);
    loop {
        match store.write(Arc::clone(&batch)).await {
            Ok(()) => return Ok(()),
            Err(error) if error.kind().is_retryable() && Instant::now() + backoff < give_up => {
                tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "batch write failed");
                metrics.record_flush(0, Duration::ZERO, false);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(error) => {
                tracing::error!(%error, store = store.name(), "batch write failed; clients will retry");
                return Err(error.into());
            }
        }
    }
}

/// Encodes the batch for the store and makes it durable in the spool, on a blocking thread.
async fn spool_batch(
    store: Arc<dyn Store>,
    spool: Arc<Spool>,
    batch: Arc<Batch>,
) -> Result<(), PipelineError> {
    let work = move || -> Result<(), PipelineError> {
        let writes = store
            .spooled()
            .ok_or_else(|| StoreError::Internal("store does not take spooled writes".into()))?;
        let batch_id = new_batch_id();
        let payload = writes.encode(&batch, batch_id)?;
        spool
            .append(batch_id, &payload)
            .map_err(|error| match error {
                SpoolError::Full { used, max } => PipelineError::SpoolFull {
                    spool_bytes: used,
                    max_bytes: max,
                },
                SpoolError::Io { .. } => {
                    tracing::error!(%error, "spool write failed");
                    PipelineError::Store(StoreError::Unavailable(error.to_string()))
                }
            })?;
        Ok(())
    };
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| PipelineError::Store(StoreError::Internal(e.to_string())))?
}

fn answer(
    waiters: Vec<oneshot::Sender<Result<(), PipelineError>>>,
    result: Result<(), PipelineError>,
) {
    for waiter in waiters {
        // A client that hung up no longer needs the answer.
        let _ = waiter.send(result.clone());
    }
}
