//! Between normalization and the store: a queue bounded in bytes, batching by size and age, and
//! acknowledgement. A submission resolves only once its rows are durable (committed, or fsynced
//! to the spool), so awaiting it *is* the acknowledgement; when the queue is full it fails at
//! once with a retryable error instead of growing memory.

mod batcher;
mod shipper;
pub mod spool;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::{ErrorKind, HasErrorKind};
use crate::model::Batch;
use crate::self_metrics::SelfMetrics;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// Most bytes of rows waiting to be written; beyond it clients get retryable errors.
    pub max_queue_bytes: usize,
    /// A batch is flushed once it holds this many rows...
    pub max_batch_rows: usize,
    /// ...or this many bytes...
    pub max_batch_bytes: usize,
    /// ...or its oldest rows have waited this long.
    pub max_batch_delay: Duration,
    /// How long a failing store is retried before the batch's clients are told to retry.
    pub write_retry_window: Duration,
    /// Where batches for a remote store wait (ignored by stores that write locally).
    pub spool: Option<SpoolConfig>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    pub max_bytes: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            max_queue_bytes: 32 * 1024 * 1024,
            max_batch_rows: 50_000,
            max_batch_bytes: 16 * 1024 * 1024,
            max_batch_delay: Duration::from_millis(200),
            write_retry_window: Duration::from_secs(5),
            spool: None,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum PipelineError {
    #[error(
        "ingest queue is full ({needed_bytes} bytes needed, {max_bytes} bytes capacity); retry later"
    )]
    QueueFull {
        needed_bytes: usize,
        max_bytes: usize,
    },
    #[error("spool is full ({spool_bytes} of {max_bytes} bytes); retry later")]
    SpoolFull { spool_bytes: u64, max_bytes: u64 },
    #[error("tracehouse is shutting down; retry later")]
    ShuttingDown,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl HasErrorKind for PipelineError {
    fn kind(&self) -> ErrorKind {
        match self {
            PipelineError::QueueFull { .. } | PipelineError::SpoolFull { .. } => {
                ErrorKind::ResourceExhausted
            }
            PipelineError::ShuttingDown => ErrorKind::Unavailable,
            PipelineError::Store(e) => e.kind(),
        }
    }
}

/// A fresh, random id for a batch: unique across restarts, so a replayed batch can be told
/// apart from every other by the `_batch_id` its rows carry.
pub fn new_batch_id() -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0
}

/// Rows waiting for a flush, with the queue bytes they hold and who to tell when durable.
struct Submission {
    batch: Batch,
    permit: OwnedSemaphorePermit,
    ack: oneshot::Sender<Result<(), PipelineError>>,
}

/// Cheap to clone; the ingest side's way into the pipeline.
#[derive(Clone)]
pub struct PipelineHandle {
    submissions: mpsc::UnboundedSender<Submission>,
    permits: Arc<Semaphore>,
    max_queue_bytes: usize,
    metrics: Arc<SelfMetrics>,
}

impl PipelineHandle {
    /// Queues `batch` and resolves once it is durable. Fails at once when the queue is full.
    pub async fn submit(&self, batch: Batch) -> Result<(), PipelineError> {
        if batch.is_empty() {
            return Ok(());
        }
        let needed_bytes = batch.approx_bytes();
        // One submission larger than the whole queue waits for an empty queue instead of
        // never fitting.
        let permits = u32::try_from(needed_bytes.min(self.max_queue_bytes)).unwrap_or(u32::MAX);
        let permit = Arc::clone(&self.permits)
            .try_acquire_many_owned(permits)
            .map_err(|_| PipelineError::QueueFull {
                needed_bytes,
                max_bytes: self.max_queue_bytes,
            })?;
        self.report_queue();
        let (ack, acknowledged) = oneshot::channel();
        self.submissions
            .send(Submission { batch, permit, ack })
            .map_err(|_| PipelineError::ShuttingDown)?;
        let result = acknowledged
            .await
            .unwrap_or(Err(PipelineError::ShuttingDown));
        self.report_queue();
        result
    }

    fn report_queue(&self) {
        let available = self.permits.available_permits();
        self.metrics
            .set_queue_bytes(self.max_queue_bytes.saturating_sub(available));
    }
}

/// The running pipeline: its tasks and the means to stop them.
pub struct Pipeline {
    handle: PipelineHandle,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Pipeline {
    /// Starts the pipeline. A store that takes spooled writes gets the spool (and its shipper)
    /// when one is configured; otherwise batches are written to it directly.
    pub fn start(
        store: Arc<dyn Store>,
        config: PipelineConfig,
        metrics: Arc<SelfMetrics>,
    ) -> Result<Self, spool::SpoolError> {
        let (submissions, receiver) = mpsc::unbounded_channel();
        let permits = Arc::new(Semaphore::new(config.max_queue_bytes));
        let handle = PipelineHandle {
            submissions,
            permits,
            max_queue_bytes: config.max_queue_bytes,
            metrics: Arc::clone(&metrics),
        };
        let shutdown = CancellationToken::new();
        let mut tasks = Vec::new();
        let sink = match (&config.spool, store.spooled().is_some()) {
            (Some(spool_config), true) => {
                let spool = Arc::new(spool::Spool::open(
                    &spool_config.dir,
                    spool_config.max_bytes,
                )?);
                let wake = Arc::new(tokio::sync::Notify::new());
                tasks.push(tokio::spawn(shipper::run(
                    Arc::clone(&spool),
                    Arc::clone(&store),
                    Arc::clone(&wake),
                    Arc::clone(&metrics),
                    shutdown.clone(),
                )));
                batcher::Sink::Spooled { store, spool, wake }
            }
            _ => batcher::Sink::Direct(store),
        };
        tasks.extend(batcher::spawn(
            receiver,
            sink,
            config,
            metrics,
            shutdown.clone(),
        ));
        Ok(Pipeline {
            handle,
            shutdown,
            tasks,
        })
    }

    pub fn handle(&self) -> PipelineHandle {
        self.handle.clone()
    }

    /// Stops accepting, flushes what is queued and waits up to `timeout` for it to be durable.
    /// Returns whether everything drained in time.
    pub async fn shutdown(self, timeout: Duration) -> bool {
        self.shutdown.cancel();
        drop(self.handle);
        let drained = async {
            for task in self.tasks {
                let _ = task.await;
            }
        };
        tokio::time::timeout(timeout, drained).await.is_ok()
    }
}

#[cfg(test)]
mod tests;
