//! Storage behind one trait: the embedded SQLite default and ClickHouse for production. Both
//! pass the same conformance suite, so every read answers the same on either.

pub mod cells;
pub mod clickhouse;
pub mod limits;
pub mod rollup;
pub mod scores_rows;
pub mod sql;
pub mod sqlite;
pub mod stored_token;

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{ErrorKind, HasErrorKind};
use crate::model::Batch;
use crate::reads::alert_records::{AlertEventRow, AlertStateRow, HistoryQuery, LeaseClaim};
use crate::reads::histogram::DurationHistogram;
use crate::reads::metric_series::GroupSeries;
use crate::reads::metrics::{CatalogQuery, MetricInfo, SeriesQuery};
pub use crate::reads::records::{KeyRecord, MetricRecord, OperationItems, TokenRecord};
use crate::reads::scores::{ScoreQuery, ScoreRecord};
pub use crate::reads::tabular::{Cell, Dialect, TabularStatement};
use crate::reads::{
    AppScope, CallEdge, CallRecord, Column, FailedCallsQuery, SampleQuery, SampleRecord,
    ScopedRange, SearchHit, SearchQuery, Selection, StatsQuery, StatsRow,
    throttling::GenAiThrottling,
};
pub use crate::reads::{MetricQuery, TimeRange};
pub use limits::{LimitExceeded, QueryLimits};

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is failing for now; retrying can succeed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The query was well-formed for the API but the store cannot answer it.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    #[error("schema mismatch: {0}")]
    Schema(String),
    #[error("store error: {0}")]
    Internal(String),
    /// Stored bytes that cannot be read back (a damaged spool file).
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// The store refuses the data itself (it cannot be parsed or does not fit the schema):
    /// sending the same bytes again can never succeed.
    #[error("the store refused the data: {0}")]
    Rejected(String),
    /// A read ran into one of its [`QueryLimits`].
    #[error("{0}")]
    LimitExceeded(LimitExceeded),
}

impl StoreError {
    /// What a client of the query API may be told. Database error text stays in the log: it
    /// can hold schema details and other tenants' values.
    pub fn public_message(&self) -> String {
        match self {
            StoreError::Unavailable(_) => "the store is unavailable; retry later".into(),
            StoreError::InvalidQuery(message) => format!("invalid query: {message}"),
            StoreError::LimitExceeded(limit) => limit.to_string(),
            StoreError::Schema(_)
            | StoreError::Internal(_)
            | StoreError::Corrupt(_)
            | StoreError::Rejected(_) => {
                "internal error reading the store; the server log has the details".into()
            }
        }
    }
}

impl HasErrorKind for StoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Unavailable(_) | StoreError::LimitExceeded(_) => ErrorKind::Unavailable,
            StoreError::InvalidQuery(_) => ErrorKind::InvalidArgument,
            StoreError::Schema(_)
            | StoreError::Internal(_)
            | StoreError::Corrupt(_)
            | StoreError::Rejected(_) => ErrorKind::Internal,
        }
    }
}

/// Writes that go through the durable spool: the pipeline encodes a batch once, makes the bytes
/// durable, acknowledges, and only then ships them to the store.
#[async_trait]
pub trait SpooledWrites: Send + Sync {
    /// The store's wire form of a batch, tagged with `batch_id` so a replay can tell whether an
    /// earlier attempt already landed.
    fn encode(&self, batch: &Batch, batch_id: u64) -> Result<Vec<u8>, StoreError>;

    /// Inserts encoded batches together (in as few inserts as the store can). `uncertain` says
    /// an earlier attempt may have landed some of them (after an error or a restart), so the
    /// store must check and not insert anything twice.
    async fn write_encoded(
        &self,
        payloads: &[bytes::Bytes],
        uncertain: bool,
    ) -> Result<(), StoreError>;
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Short name for logs and metrics: `sqlite` or `clickhouse`.
    fn name(&self) -> &'static str;

    /// Writes a batch; durable when it returns `Ok`.
    async fn write(&self, batch: Arc<Batch>) -> Result<(), StoreError>;

    /// `Some` when acknowledged batches must go through the spool before reaching this store.
    fn spooled(&self) -> Option<&dyn SpooledWrites> {
        None
    }

    /// Everything one app stored under one operation id, across tables and roles: a
    /// transaction is identified by both, so another app's spans never join it.
    async fn operation(&self, app: &str, operation_id: &str) -> Result<OperationItems, StoreError>;

    /// The apps in `scope` that stored anything under `operation_id`, sorted.
    async fn operation_apps(
        &self,
        scope: &AppScope,
        operation_id: &str,
    ) -> Result<Vec<String>, StoreError>;

    async fn metrics(&self, query: &MetricQuery) -> Result<Vec<MetricRecord>, StoreError>;

    /// The series of the query's metric points (read in order of series and time, folded as
    /// they stream in).
    async fn metric_series(&self, query: &SeriesQuery) -> Result<Vec<GroupSeries>, StoreError>;

    /// The stored metric names in a range, sorted.
    async fn metric_catalog(&self, query: &CatalogQuery) -> Result<Vec<MetricInfo>, StoreError>;

    /// Aggregates per group and bucket, in [`crate::reads::stats::sort_rows`] order, at most
    /// `limit` rows.
    async fn stats(&self, query: &StatsQuery, limit: usize) -> Result<Vec<StatsRow>, StoreError>;

    /// The distinct non-empty values of `key` among the selection's rows, the value with the
    /// newest row first (ties by value), at most `limit`.
    async fn latest_keys(
        &self,
        selection: &Selection,
        key: Column,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;

    /// A page of spans, newest or slowest first.
    async fn samples(&self, query: &SampleQuery) -> Result<Vec<SampleRecord>, StoreError>;

    /// Log lines and exceptions, newest first.
    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, StoreError>;

    /// Which role served the calls to each dependency target, where the called service's
    /// request was received too.
    async fn call_edges(&self, window: &ScopedRange) -> Result<Vec<CallEdge>, StoreError>;

    /// 429 attempts made inside GenAI calls, per provider, model and target of the call.
    async fn genai_throttling(&self, window: &ScopedRange) -> Result<GenAiThrottling, StoreError>;

    /// The selection's durations (a span table's) in the log-spaced histogram buckets.
    async fn duration_histogram(
        &self,
        selection: &Selection,
    ) -> Result<DurationHistogram, StoreError>;

    /// The failed dependency calls inside the query's operations; none asked, none answered.
    async fn failed_calls(&self, query: &FailedCallsQuery) -> Result<Vec<CallRecord>, StoreError>;

    /// The SQL dialect [`Store::tabular`] statements are written in.
    fn dialect(&self) -> Dialect;

    /// Runs a planned statement (a KQL query) and reads its rows back by their shapes.
    async fn tabular(&self, statement: &TabularStatement) -> Result<Vec<Vec<Cell>>, StoreError>;

    /// Stores scores; durable when it returns `Ok`.
    async fn save_scores(&self, scores: &[ScoreRecord]) -> Result<(), StoreError>;

    /// Scores of a range and scope (or of one operation), newest first.
    async fn scores(&self, query: &ScoreQuery) -> Result<Vec<ScoreRecord>, StoreError>;

    /// Every instrumentation key ever issued, revoked ones included.
    async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError>;

    /// Records a new key or a key's revocation.
    async fn save_key(&self, key: &KeyRecord) -> Result<(), StoreError>;

    /// Every query API token ever issued (hashes, never the tokens), revoked ones included.
    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Records a new token or a token's revocation.
    async fn save_token(&self, token: &TokenRecord) -> Result<(), StoreError>;

    /// Removes telemetry older than `cutoff_ns` (whole days where the store partitions by day).
    /// Returns how many rows or partitions went.
    async fn enforce_retention(&self, cutoff_ns: i64) -> Result<u64, StoreError>;

    /// The latest state of every alert series.
    async fn alert_states(&self) -> Result<Vec<AlertStateRow>, StoreError>;

    /// Saves alert series states; a row with an empty body forgets its series.
    async fn save_alert_states(&self, rows: &[AlertStateRow]) -> Result<(), StoreError>;

    async fn append_alert_events(&self, events: &[AlertEventRow]) -> Result<(), StoreError>;

    /// History events, newest first.
    async fn alert_history(&self, query: &HistoryQuery) -> Result<Vec<AlertEventRow>, StoreError>;

    /// Takes or renews the named lease for the claimant; `false` while another holds it.
    async fn take_lease(&self, claim: &LeaseClaim) -> Result<bool, StoreError>;

    /// Gives up the lease if the claimant holds it.
    async fn release_lease(&self, claim: &LeaseClaim) -> Result<(), StoreError>;
}
