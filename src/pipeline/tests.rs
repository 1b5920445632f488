use crate::reads::alert_records::{AlertEventRow, AlertStateRow, HistoryQuery, LeaseClaim};
use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::*;
use crate::model::{Item, Trace};
use crate::reads::histogram::DurationHistogram;
use crate::reads::{
    AppScope, CallEdge, CallRecord, FailedCallsQuery, SampleQuery, SampleRecord, ScopedRange,
    SearchHit, SearchQuery, Selection, StatsQuery, StatsRow, throttling::GenAiThrottling,
};
use crate::store::{
    KeyRecord, MetricQuery, MetricRecord, OperationItems, SpooledWrites, TokenRecord,
};

/// A store that records batches, fails on a script, and can be held shut; `spooled`, it
/// takes encoded batches (their trace messages) and refuses those saying "poison".
#[derive(Default)]
struct FakeStore {
    written: Mutex<Vec<usize>>,
    /// The `uncertain` flag of every spooled write that succeeded, in order.
    uncertain_writes: Mutex<Vec<bool>>,
    failures: Mutex<VecDeque<StoreError>>,
    gate: Option<Arc<Notify>>,
    spooled: bool,
}

#[async_trait]
impl SpooledWrites for FakeStore {
    fn encode(&self, batch: &Batch, _: u64) -> Result<Vec<u8>, StoreError> {
        let messages: Vec<&str> = batch
            .traces
            .iter()
            .map(|t| t.data.message.as_str())
            .collect();
        Ok(messages.join("\n").into_bytes())
    }

    async fn write_encoded(
        &self,
        payloads: &[bytes::Bytes],
        uncertain: bool,
    ) -> Result<(), StoreError> {
        if payloads
            .iter()
            .any(|p| p.windows(6).any(|w| w == b"poison"))
        {
            return Err(StoreError::Rejected("poison".into()));
        }
        self.uncertain_writes.lock().expect("lock").push(uncertain);
        let mut written = self.written.lock().expect("lock");
        written.extend(payloads.iter().map(|p| p.split(|&b| b == b'\n').count()));
        Ok(())
    }
}

#[async_trait]
impl Store for FakeStore {
    fn name(&self) -> &'static str {
        "fake"
    }
    async fn write(&self, batch: Arc<Batch>) -> Result<(), StoreError> {
        if let Some(gate) = &self.gate {
            gate.notified().await;
        }
        if let Some(error) = self.failures.lock().expect("lock").pop_front() {
            return Err(error);
        }
        self.written.lock().expect("lock").push(batch.row_count());
        Ok(())
    }
    async fn operation(&self, _: &str, _: &str) -> Result<OperationItems, StoreError> {
        Ok(OperationItems::default())
    }
    async fn operation_apps(&self, _: &AppScope, _: &str) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
    async fn metrics(&self, _: &MetricQuery) -> Result<Vec<MetricRecord>, StoreError> {
        Ok(Vec::new())
    }
    async fn metric_series(
        &self,
        _: &crate::reads::metrics::SeriesQuery,
    ) -> Result<Vec<crate::reads::metric_series::GroupSeries>, StoreError> {
        Ok(Vec::new())
    }
    async fn metric_catalog(
        &self,
        _: &crate::reads::metrics::CatalogQuery,
    ) -> Result<Vec<crate::reads::metrics::MetricInfo>, StoreError> {
        Ok(Vec::new())
    }
    async fn stats(&self, _: &StatsQuery, _: usize) -> Result<Vec<StatsRow>, StoreError> {
        Ok(Vec::new())
    }
    async fn samples(&self, _: &SampleQuery) -> Result<Vec<SampleRecord>, StoreError> {
        Ok(Vec::new())
    }
    async fn search(&self, _: &SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
        Ok(Vec::new())
    }
    async fn latest_keys(
        &self,
        _: &Selection,
        _: crate::reads::Column,
        _: usize,
    ) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
    async fn call_edges(&self, _: &ScopedRange) -> Result<Vec<CallEdge>, StoreError> {
        Ok(Vec::new())
    }
    async fn genai_throttling(&self, _: &ScopedRange) -> Result<GenAiThrottling, StoreError> {
        Ok(GenAiThrottling::default())
    }
    async fn duration_histogram(&self, _: &Selection) -> Result<DurationHistogram, StoreError> {
        Ok(DurationHistogram::from_buckets([]))
    }
    async fn failed_calls(&self, _: &FailedCallsQuery) -> Result<Vec<CallRecord>, StoreError> {
        Ok(Vec::new())
    }
    fn dialect(&self) -> crate::reads::tabular::Dialect {
        crate::reads::tabular::Dialect::Sqlite
    }
    async fn tabular(
        &self,
        _: &crate::reads::tabular::TabularStatement,
    ) -> Result<Vec<Vec<crate::reads::tabular::Cell>>, StoreError> {
        Ok(Vec::new())
    }
    async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        Ok(Vec::new())
    }
    async fn save_key(&self, _: &KeyRecord) -> Result<(), StoreError> {
        Ok(())
    }
    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        Ok(Vec::new())
    }
    async fn save_token(&self, _: &TokenRecord) -> Result<(), StoreError> {
        Ok(())
    }
    async fn enforce_retention(&self, _: i64) -> Result<u64, StoreError> {
        Ok(0)
    }
    async fn alert_states(&self) -> Result<Vec<AlertStateRow>, StoreError> {
        Ok(Vec::new())
    }
    async fn save_alert_states(&self, _: &[AlertStateRow]) -> Result<(), StoreError> {
        Ok(())
    }
    async fn append_alert_events(&self, _: &[AlertEventRow]) -> Result<(), StoreError> {
        Ok(())
    }
    async fn alert_history(&self, _: &HistoryQuery) -> Result<Vec<AlertEventRow>, StoreError> {
        Ok(Vec::new())
    }
    async fn save_scores(&self, _: &[crate::reads::scores::ScoreRecord]) -> Result<(), StoreError> {
        Ok(())
    }
    async fn scores(
        &self,
        _: &crate::reads::scores::ScoreQuery,
    ) -> Result<Vec<crate::reads::scores::ScoreRecord>, StoreError> {
        Ok(Vec::new())
    }
    async fn take_lease(&self, _: &LeaseClaim) -> Result<bool, StoreError> {
        Ok(true)
    }
    async fn release_lease(&self, _: &LeaseClaim) -> Result<(), StoreError> {
        Ok(())
    }
    fn spooled(&self) -> Option<&dyn SpooledWrites> {
        self.spooled.then_some(self as &dyn SpooledWrites)
    }
}

fn rows(n: usize) -> Batch {
    rows_saying("x", n)
}

fn rows_saying(message: &str, n: usize) -> Batch {
    Batch {
        traces: (0..n)
            .map(|_| Item {
                common: Default::default(),
                data: Trace {
                    message: message.into(),
                    severity_level: 1,
                },
            })
            .collect(),
        ..Batch::default()
    }
}

fn config() -> PipelineConfig {
    PipelineConfig {
        max_queue_bytes: 1_000_000,
        max_batch_rows: 10,
        max_batch_bytes: 1_000_000,
        max_batch_delay: Duration::from_millis(200),
        write_retry_window: Duration::from_secs(5),
        spool: None,
    }
}

fn start(store: Arc<FakeStore>, config: PipelineConfig) -> Pipeline {
    Pipeline::start(store, config, Arc::new(SelfMetrics::default())).expect("starts")
}

#[tokio::test(start_paused = true)]
async fn an_idle_flusher_takes_a_submission_at_once() {
    let store = Arc::new(FakeStore::default());
    let pipeline = start(Arc::clone(&store), config());
    let started = Instant::now();
    pipeline.handle().submit(rows(2)).await.expect("durable");
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "no waiting for the batch age"
    );
    assert_eq!(*store.written.lock().expect("lock"), vec![2]);
    assert!(pipeline.shutdown(Duration::from_secs(1)).await);
}

#[tokio::test(start_paused = true)]
async fn submissions_during_a_flush_share_the_next_batch() {
    let gate = Arc::new(Notify::new());
    let store = Arc::new(FakeStore {
        gate: Some(Arc::clone(&gate)),
        ..FakeStore::default()
    });
    let pipeline = start(Arc::clone(&store), config());
    let handle = pipeline.handle();
    let submit = |n| {
        let handle = handle.clone();
        tokio::spawn(async move { handle.submit(rows(n)).await })
    };
    let first = submit(2);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (second, third) = (submit(3), submit(4));
    tokio::time::sleep(Duration::from_millis(5)).await;
    gate.notify_one();
    first.await.expect("task").expect("first durable");
    tokio::time::sleep(Duration::from_millis(5)).await;
    gate.notify_one();
    second.await.expect("task").expect("second durable");
    third.await.expect("task").expect("third durable");
    assert_eq!(
        *store.written.lock().expect("lock"),
        vec![2, 7],
        "grouped while the flusher was busy"
    );
    drop(handle);
    assert!(pipeline.shutdown(Duration::from_secs(1)).await);
}

#[tokio::test(start_paused = true)]
async fn full_batches_flush_without_waiting() {
    let store = Arc::new(FakeStore::default());
    let pipeline = start(Arc::clone(&store), config());
    let started = Instant::now();
    pipeline.handle().submit(rows(10)).await.expect("durable");
    assert!(started.elapsed() < Duration::from_millis(200));
    assert!(pipeline.shutdown(Duration::from_secs(1)).await);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_answers_at_once_with_a_retryable_error() {
    let gate = Arc::new(Notify::new());
    let store = Arc::new(FakeStore {
        gate: Some(Arc::clone(&gate)),
        ..FakeStore::default()
    });
    let one_batch = rows(10).approx_bytes();
    let pipeline = start(
        Arc::clone(&store),
        PipelineConfig {
            max_queue_bytes: one_batch + one_batch / 2,
            ..config()
        },
    );
    let handle = pipeline.handle();
    let first = tokio::spawn({
        let handle = handle.clone();
        async move { handle.submit(rows(10)).await }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let refused = handle.submit(rows(10)).await.expect_err("queue is full");
    assert!(matches!(refused, PipelineError::QueueFull { .. }));
    assert!(refused.kind().is_retryable());
    gate.notify_one();
    first.await.expect("task").expect("first batch durable");
    // The queue bytes are released once the batch is written.
    let second = tokio::spawn({
        let handle = handle.clone();
        async move { handle.submit(rows(10)).await }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    gate.notify_one();
    second.await.expect("task").expect("second batch durable");
    drop(handle);
    assert!(pipeline.shutdown(Duration::from_secs(1)).await);
}

#[tokio::test(start_paused = true)]
async fn transient_store_failures_are_retried() {
    let store = Arc::new(FakeStore::default());
    store.failures.lock().expect("lock").extend([
        StoreError::Unavailable("down".into()),
        StoreError::Unavailable("still down".into()),
    ]);
    let pipeline = start(Arc::clone(&store), config());
    pipeline
        .handle()
        .submit(rows(10))
        .await
        .expect("durable after retries");
    assert_eq!(*store.written.lock().expect("lock"), vec![10]);
    assert!(pipeline.shutdown(Duration::from_secs(1)).await);
}

#[tokio::test(start_paused = true)]
async fn a_store_down_past_the_retry_window_fails_the_batch_retryably() {
    let store = Arc::new(FakeStore::default());
    store
        .failures
        .lock()
        .expect("lock")
        .extend((0..100).map(|_| StoreError::Unavailable("down".into())));
    let pipeline = start(Arc::clone(&store), config());
    let error = pipeline
        .handle()
        .submit(rows(10))
        .await
        .expect_err("gives up");
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert!(store.written.lock().expect("lock").is_empty());
    assert!(pipeline.shutdown(Duration::from_secs(1)).await);
}

#[tokio::test(start_paused = true)]
async fn shutdown_flushes_what_is_queued_and_refuses_more() {
    let store = Arc::new(FakeStore::default());
    let pipeline = start(Arc::clone(&store), config());
    let handle = pipeline.handle();
    let queued = tokio::spawn({
        let handle = handle.clone();
        async move { handle.submit(rows(3)).await }
    });
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(pipeline.shutdown(Duration::from_secs(1)).await);
    queued.await.expect("task").expect("flushed on shutdown");
    assert_eq!(*store.written.lock().expect("lock"), vec![3]);
    let refused = handle.submit(rows(1)).await.expect_err("closed");
    assert!(matches!(refused, PipelineError::ShuttingDown));
}

/// A spooled batch the store refuses (bad data, not a bad moment) is set aside after a few
/// attempts, counted, and the batches after it ship: one poison batch cannot fill the spool.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_the_store_refuses_goes_to_dead_letter_and_the_rest_ship() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(FakeStore {
        spooled: true,
        ..FakeStore::default()
    });
    let mut config = config();
    config.spool = Some(SpoolConfig {
        dir: dir.path().join("spool"),
        max_bytes: 10_000_000,
    });
    let metrics = Arc::new(SelfMetrics::default());
    let pipeline = Pipeline::start(
        Arc::clone(&store) as Arc<dyn Store>,
        config,
        Arc::clone(&metrics),
    )
    .expect("starts");
    let handle = pipeline.handle();
    for (message, n) in [("a", 3), ("poison", 2), ("b", 4)] {
        handle
            .submit(rows_saying(message, n))
            .await
            .expect("spooled");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while metrics.dead_letter_batches() < 1 || metrics.spool_batches() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the poison batch was never set aside"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(metrics.dead_letter_batches(), 1);
    let written: usize = store.written.lock().expect("lock").iter().sum();
    assert_eq!(written, 7, "every other row shipped");
    // "b" always ships after a refusal of the group it was in (all three, or the last two
    // when "a" went alone); that refusal may have followed other tables' inserts that landed,
    // so the batches shipped after it are checked for what landed.
    assert_eq!(
        store.uncertain_writes.lock().expect("lock").last(),
        Some(&true),
        "the batches of a refused group ship as uncertain"
    );
    let aside = std::fs::read_dir(dir.path().join("spool").join(spool::DEAD_LETTER_DIR))
        .expect("dead-letter folder")
        .count();
    assert_eq!(aside, 1);
    assert!(
        metrics
            .render()
            .contains("tracehouse_dead_letter_batches_total 1")
    );
    assert!(pipeline.shutdown(Duration::from_secs(5)).await);
}
