//! When the store cannot keep up, the queue fills and clients get retryable errors at once,
//! and nothing that was acknowledged is lost.

mod common;

use std::sync::Arc;
use std::time::Duration;
use tracehouse::reads::alert_records::{AlertEventRow, AlertStateRow, HistoryQuery, LeaseClaim};

use async_trait::async_trait;
use common::{TestServer, fixture};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use tokio::sync::Semaphore;
use tracehouse::model::Batch;
use tracehouse::reads::histogram::DurationHistogram;
use tracehouse::reads::{
    AppScope, CallEdge, CallRecord, FailedCallsQuery, SampleQuery, SampleRecord, ScopedRange,
    SearchHit, SearchQuery, Selection, StatsQuery, StatsRow, throttling::GenAiThrottling,
};
use tracehouse::store::sqlite::SqliteStore;
use tracehouse::store::{
    KeyRecord, MetricQuery, MetricRecord, OperationItems, Store, StoreError, TokenRecord,
};

/// SQLite behind a gate: each write waits for a permit.
struct GatedStore {
    inner: SqliteStore,
    gate: Arc<Semaphore>,
}

#[async_trait]
impl Store for GatedStore {
    fn name(&self) -> &'static str {
        "gated"
    }
    async fn write(&self, batch: Arc<Batch>) -> Result<(), StoreError> {
        let permit = self
            .gate
            .acquire()
            .await
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        permit.forget();
        self.inner.write(batch).await
    }
    async fn operation(&self, app: &str, id: &str) -> Result<OperationItems, StoreError> {
        self.inner.operation(app, id).await
    }
    async fn operation_apps(&self, scope: &AppScope, id: &str) -> Result<Vec<String>, StoreError> {
        self.inner.operation_apps(scope, id).await
    }
    async fn metrics(&self, query: &MetricQuery) -> Result<Vec<MetricRecord>, StoreError> {
        self.inner.metrics(query).await
    }
    async fn metric_series(
        &self,
        query: &tracehouse::reads::metrics::SeriesQuery,
    ) -> Result<Vec<tracehouse::reads::metric_series::GroupSeries>, StoreError> {
        self.inner.metric_series(query).await
    }
    async fn metric_catalog(
        &self,
        query: &tracehouse::reads::metrics::CatalogQuery,
    ) -> Result<Vec<tracehouse::reads::metrics::MetricInfo>, StoreError> {
        self.inner.metric_catalog(query).await
    }
    async fn stats(&self, query: &StatsQuery, limit: usize) -> Result<Vec<StatsRow>, StoreError> {
        self.inner.stats(query, limit).await
    }
    async fn samples(&self, query: &SampleQuery) -> Result<Vec<SampleRecord>, StoreError> {
        self.inner.samples(query).await
    }
    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
        self.inner.search(query).await
    }
    async fn latest_keys(
        &self,
        selection: &Selection,
        key: tracehouse::reads::Column,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.inner.latest_keys(selection, key, limit).await
    }
    async fn call_edges(&self, window: &ScopedRange) -> Result<Vec<CallEdge>, StoreError> {
        self.inner.call_edges(window).await
    }
    async fn genai_throttling(&self, window: &ScopedRange) -> Result<GenAiThrottling, StoreError> {
        self.inner.genai_throttling(window).await
    }
    async fn duration_histogram(
        &self,
        selection: &Selection,
    ) -> Result<DurationHistogram, StoreError> {
        self.inner.duration_histogram(selection).await
    }
    async fn failed_calls(&self, query: &FailedCallsQuery) -> Result<Vec<CallRecord>, StoreError> {
        self.inner.failed_calls(query).await
    }
    fn dialect(&self) -> tracehouse::store::Dialect {
        self.inner.dialect()
    }
    async fn tabular(
        &self,
        statement: &tracehouse::store::TabularStatement,
    ) -> Result<Vec<Vec<tracehouse::store::Cell>>, StoreError> {
        self.inner.tabular(statement).await
    }
    async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.inner.keys().await
    }
    async fn save_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        self.inner.save_key(key).await
    }
    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.inner.tokens().await
    }
    async fn save_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        self.inner.save_token(token).await
    }
    async fn enforce_retention(&self, cutoff_ns: i64) -> Result<u64, StoreError> {
        self.inner.enforce_retention(cutoff_ns).await
    }
    async fn alert_states(&self) -> Result<Vec<AlertStateRow>, StoreError> {
        self.inner.alert_states().await
    }
    async fn save_alert_states(&self, rows: &[AlertStateRow]) -> Result<(), StoreError> {
        self.inner.save_alert_states(rows).await
    }
    async fn append_alert_events(&self, events: &[AlertEventRow]) -> Result<(), StoreError> {
        self.inner.append_alert_events(events).await
    }
    async fn alert_history(&self, query: &HistoryQuery) -> Result<Vec<AlertEventRow>, StoreError> {
        self.inner.alert_history(query).await
    }
    async fn save_scores(
        &self,
        scores: &[tracehouse::reads::scores::ScoreRecord],
    ) -> Result<(), StoreError> {
        self.inner.save_scores(scores).await
    }
    async fn scores(
        &self,
        query: &tracehouse::reads::scores::ScoreQuery,
    ) -> Result<Vec<tracehouse::reads::scores::ScoreRecord>, StoreError> {
        self.inner.scores(query).await
    }
    async fn take_lease(&self, claim: &LeaseClaim) -> Result<bool, StoreError> {
        self.inner.take_lease(claim).await
    }
    async fn release_lease(&self, claim: &LeaseClaim) -> Result<(), StoreError> {
        self.inner.release_lease(claim).await
    }
}

fn request() -> ExportTraceServiceRequest {
    serde_json::from_slice(&fixture("otlp/rag-api-traces-4.json")).expect("fixture")
}

#[tokio::test]
async fn a_full_queue_answers_429_and_resource_exhausted_then_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gate = Arc::new(Semaphore::new(0));
    let store = Arc::new(GatedStore {
        inner: SqliteStore::open(dir.path()).await.expect("sqlite"),
        gate: Arc::clone(&gate),
    });
    let server = TestServer::start_with(
        |config| {
            // Smaller than one request's rows: the first takes the whole queue, the next
            // finds it full.
            config.pipeline.max_queue_bytes = 1_000;
        },
        Some(store),
    )
    .await;
    let client = reqwest::Client::new();
    let first = tokio::spawn({
        let url = server.http_url("/v1/traces");
        let client = client.clone();
        async move {
            client
                .post(url)
                .header("content-type", "application/json")
                .body(fixture("otlp/rag-api-traces-4.json"))
                .send()
                .await
                .expect("post")
                .status()
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    let refused = client
        .post(server.http_url("/v1/traces"))
        .header("content-type", "application/json")
        .body(fixture("otlp/rag-api-traces-4.json"))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "2");

    // Application Insights SDKs get the same: 429 with Retry-After, in the track answer shape.
    let track = client
        .post(server.http_url("/v2.1/track"))
        .body(fixture("appinsights/rag-api-429-retries.json"))
        .send()
        .await
        .expect("post");
    assert_eq!(track.status(), 429);
    assert_eq!(track.headers()["retry-after"], "2");
    let answer: serde_json::Value = track.json().await.expect("track answer");
    assert_eq!(answer["itemsAccepted"], 0);
    assert_eq!(answer["errors"][0]["statusCode"], 429);

    let mut grpc = TraceServiceClient::connect(server.grpc_url())
        .await
        .expect("connect");
    let status = grpc.export(request()).await.expect_err("queue full");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert!(
        !status.details().is_empty(),
        "RetryInfo tells exporters to retry"
    );

    gate.add_permits(100);
    assert_eq!(first.await.expect("task"), 200);
    let retried = grpc
        .export(request())
        .await
        .expect("accepted once there is room");
    assert_eq!(retried.into_inner().partial_success, None);
    let stored = server
        .store
        .operation("", "525c5c3e165dd9b6d4c8f046107e8324")
        .await
        .expect("read");
    assert_eq!(
        stored
            .spans
            .iter()
            .filter(|s| s.name == "POST /chat")
            .count(),
        2
    );
    server.stop().await;
}

#[tokio::test]
async fn too_many_requests_in_flight_answers_429() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gate = Arc::new(Semaphore::new(0));
    let store = Arc::new(GatedStore {
        inner: SqliteStore::open(dir.path()).await.expect("sqlite"),
        gate: Arc::clone(&gate),
    });
    let server = TestServer::start_with(
        |config| config.ingest.max_concurrent_requests = 1,
        Some(store),
    )
    .await;
    let client = reqwest::Client::new();
    // The first request holds the only decode slot while it waits for its acknowledgement.
    let first = tokio::spawn({
        let url = server.http_url("/v1/traces");
        let client = client.clone();
        async move {
            client
                .post(url)
                .header("content-type", "application/json")
                .body(fixture("otlp/rag-api-traces-4.json"))
                .send()
                .await
                .expect("post")
                .status()
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = client
        .post(server.http_url("/v1/logs"))
        .header("content-type", "application/json")
        .body(fixture("otlp/rag-api-logs-1.json"))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), 429);
    gate.add_permits(100);
    assert_eq!(first.await.expect("task"), 200);
    server.stop().await;
}

/// Streams beyond the decode slots are refused before their bodies are read. Were they queued
/// instead, their unread bodies would fill the connection's HTTP/2 window, the admitted streams
/// could never finish reading theirs, and the connection (and every slot) would hang.
#[tokio::test]
async fn many_large_streams_on_one_connection_all_get_an_answer() {
    let server =
        TestServer::start_with(|config| config.ingest.max_concurrent_requests = 2, None).await;
    let channel = tonic::transport::Endpoint::from_shared(server.grpc_url())
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let now = tracehouse::clock::now_ns() as u64;
    let request = tracehouse::workload::Workload::new(3).request(100, now);
    assert!(prost::Message::encoded_len(&request) > 150_000);
    let mut calls = Vec::new();
    for _ in 0..64 {
        let mut client =
            TraceServiceClient::new(channel.clone()).max_decoding_message_size(usize::MAX);
        let request = request.clone();
        calls.push(tokio::spawn(async move { client.export(request).await }));
    }
    let (mut accepted, mut refused) = (0, 0);
    for call in calls {
        match tokio::time::timeout(Duration::from_secs(30), call)
            .await
            .expect("every stream answered")
            .expect("task")
        {
            Ok(_) => accepted += 1,
            Err(status) => {
                assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status}");
                refused += 1;
            }
        }
    }
    assert!(
        accepted >= 1 && accepted + refused == 64,
        "{accepted} accepted, {refused} refused"
    );
    server.stop().await;
}
