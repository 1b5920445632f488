//! The production store: ClickHouse over HTTP with the official `clickhouse` crate, rows sent
//! as RowBinary (lz4-framed unless `--clickhouse-compression none`), from 18.16 to current
//! releases.
//!
//! Writes go through the spool: the pipeline encodes a batch once ([`encoded`]), makes it
//! durable, acknowledges, and ships the same bytes here ([`write`]), retrying until they land.
//! Each chunk is one table and one day, so it is inserted whole or not at all; a retry after an
//! uncertain attempt first counts the chunk's rows by `_batch_id`, so nothing is inserted twice.
//! Reads go through a second client whose every statement carries the query limits.

mod alerts;
mod backfill;
pub mod cluster;
mod credentials;
pub mod encoded;
mod errors;
mod metrics;
mod migrate;
mod placement;
mod query;
mod read;
mod retention;
mod rollup_rows;
mod rollups;
pub mod rowbinary;
pub mod schema;
mod scores;
mod tabular;
mod throttled_rows;
mod write;

pub(crate) use errors::ch_error;
use errors::{MEMORY_LIMIT_CODE, TIME_LIMIT_CODES, server_code};

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use clickhouse::Client;

use super::{
    KeyRecord, LimitExceeded, MetricQuery, MetricRecord, OperationItems, QueryLimits,
    SpooledWrites, Store, StoreError, TokenRecord,
};
use crate::model::{Batch, Item, TableRow, TableVisitor};
use crate::reads::alert_records::{AlertEventRow, AlertStateRow, HistoryQuery, LeaseClaim};
use crate::reads::histogram::DurationHistogram;
use crate::reads::metric_series::GroupSeries;
use crate::reads::metrics::{CatalogQuery, MetricInfo, SeriesQuery};
use crate::reads::scores::{ScoreQuery, ScoreRecord};
use crate::reads::{
    AppScope, CallEdge, CallRecord, Column, FailedCallsQuery, SampleQuery, SampleRecord,
    ScopedRange, SearchHit, SearchQuery, Selection, StatsQuery, StatsRow,
    throttling::GenAiThrottling,
};
use encoded::{OPERATIONS_COLUMNS, OPERATIONS_TABLE};
use schema::{Features, Version};

/// Where and how to reach ClickHouse.
#[derive(Debug, Clone, PartialEq)]
pub struct ClickHouseConfig {
    /// HTTP interface, e.g. `http://localhost:8123`.
    pub url: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub database: String,
    /// Days of data kept; 0 keeps everything.
    pub retention_days: u32,
    /// How rows and answers travel over HTTP.
    pub compression: Compression,
    /// Guards on every read.
    pub query_limits: QueryLimits,
    /// Run on this cluster of the servers' `remote_servers` (local tables on every node,
    /// `Distributed` tables in front): [`cluster`].
    pub cluster: Option<String>,
}

impl ClickHouseConfig {
    /// The defaults for a server at `url` and `database`.
    pub fn new(url: &str, database: &str) -> Self {
        ClickHouseConfig {
            url: url.to_owned(),
            user: None,
            password: None,
            database: database.to_owned(),
            retention_days: 30,
            compression: Compression::Lz4,
            query_limits: QueryLimits::default(),
            cluster: None,
        }
    }
}

/// Compression of inserted rows (ClickHouse's lz4 block framing) and of answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    /// Plain bytes: for proxies and endpoints that do not speak ClickHouse's framing.
    None,
    /// lz4 blocks, as ClickHouse's own clients send them.
    Lz4,
}

pub struct ClickHouseStore {
    /// Writes, migrations and key management.
    client: Client,
    /// Reads, with the query limits as settings on every statement.
    reader: Client,
    /// The same, also cancelled by the server when the client leaves (servers from 20.1; 18.16
    /// refuses the setting).
    cancelling_reader: Client,
    query_limits: QueryLimits,
    database: String,
    /// Known once the server has answered and the schema is migrated; until then writes wait
    /// in the spool.
    ready: tokio::sync::OnceCell<Ready>,
    retention_days: u32,
    /// `INSERT` column lists by table.
    insert_columns: Arc<HashMap<&'static str, String>>,
    /// The cluster named in the configuration.
    cluster: Option<String>,
    /// Its shards and replicas, once the server has described it.
    topology: std::sync::OnceLock<cluster::Topology>,
    /// How a node reads another shard for tracehouse (`remote()`).
    login: cluster::Login,
    /// Whether a transaction's lookup may read only its operation's shard.
    placement: placement::Placement,
}

/// Only plain identifiers are accepted as database names, since they are spliced into SQL.
fn valid_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

#[derive(Debug, Clone, Copy)]
struct Ready {
    version: Version,
    features: Features,
}

impl ClickHouseStore {
    /// Prepares the store without contacting the server, so tracehouse can start and spool
    /// while ClickHouse is down. The first write or read connects and migrates.
    pub fn new(config: &ClickHouseConfig) -> Result<Self, StoreError> {
        if !valid_identifier(&config.database) {
            return Err(StoreError::InvalidQuery(format!(
                "clickhouse database name {:?} must be letters, digits and underscores",
                config.database
            )));
        }
        let compression = match config.compression {
            Compression::None => clickhouse::Compression::None,
            Compression::Lz4 => clickhouse::Compression::Lz4,
        };
        let mut client = Client::default()
            .with_url(&config.url)
            .with_validation(false)
            .with_compression(compression);
        if let Some(user) = &config.user {
            client = client.with_user(user);
        }
        if let Some(password) = &config.password {
            client = client.with_password(password);
        }
        if let Some(name) = &config.cluster {
            if !valid_identifier(name) {
                return Err(StoreError::InvalidQuery(format!(
                    "clickhouse cluster name {name:?} must be letters, digits and underscores"
                )));
            }
            client = cluster::with_cluster_settings(client);
        }
        let mut insert_columns = InsertColumns(HashMap::new());
        let Ok(()) = Batch::default().visit(&mut insert_columns);
        insert_columns
            .0
            .insert(OPERATIONS_TABLE, OPERATIONS_COLUMNS.join(", "));
        insert_columns
            .0
            .insert(crate::store::rollup::TABLE, rollup_rows::COLUMNS.join(", "));
        insert_columns
            .0
            .insert(throttled_rows::TABLE, throttled_rows::COLUMNS.join(", "));
        let limits = config.query_limits;
        // Read-only (2: settings may still be set), which also lets servers that have the
        // setting cancel a read whose client left (tracehouse's deadline closes the connection).
        let reader = client
            .clone()
            .with_setting("readonly", "2")
            .with_setting("max_execution_time", limits.execution_time_s().to_string())
            .with_setting("max_memory_usage", limits.max_memory_bytes.to_string());
        let cancelling_reader = reader
            .clone()
            .with_setting("cancel_http_readonly_queries_on_client_close", "1");
        Ok(ClickHouseStore {
            client,
            reader,
            cancelling_reader,
            query_limits: limits,
            database: config.database.clone(),
            ready: tokio::sync::OnceCell::new(),
            retention_days: config.retention_days,
            insert_columns: Arc::new(insert_columns.0),
            cluster: config.cluster.clone(),
            topology: std::sync::OnceLock::new(),
            login: cluster::Login {
                user: config.user.clone().unwrap_or_else(|| "default".into()),
                password: config.password.clone().unwrap_or_default(),
            },
            placement: placement::Placement::default(),
        })
    }

    /// Connects and applies pending migrations now.
    pub async fn open(config: &ClickHouseConfig) -> Result<Self, StoreError> {
        let store = Self::new(config)?;
        store.ready().await?;
        Ok(store)
    }

    /// Asks the server its version without migrating anything.
    pub async fn server_version(config: &ClickHouseConfig) -> Result<Version, StoreError> {
        Self::new(config)?
            .version_text()
            .await
            .and_then(|text| Version::parse(&text))
    }

    async fn version_text(&self) -> Result<String, StoreError> {
        self.client
            .query("SELECT version()")
            .fetch_one()
            .await
            .map_err(ch_error)
    }

    /// The server's version and features, connecting and migrating on first use.
    async fn ready(&self) -> Result<Ready, StoreError> {
        self.ready
            .get_or_try_init(|| async {
                let version_text = self.version_text().await?;
                let version = Version::parse(&version_text)?;
                let ready = Ready {
                    version,
                    features: Features::of(version),
                };
                if let Some(name) = &self.cluster {
                    let topology = self.describe_cluster(name).await?;
                    tracing::info!(
                        cluster = %name,
                        shards = topology.shards(),
                        replicated = topology.replicated,
                        "clickhouse cluster"
                    );
                    let _ = self.topology.set(topology);
                }
                self.migrate(ready.features).await?;
                self.check_placement_when_due();
                let f = ready.features;
                tracing::info!(
                    version = %version_text.trim(),
                    database = %self.database,
                    low_cardinality = f.low_cardinality,
                    codecs = f.codecs,
                    ttl = f.ttl,
                    skip_indexes = f.skip_indexes,
                    insert_dedup_token = f.insert_dedup_token,
                    "clickhouse ready; storage extras on where true"
                );
                Ok(ready)
            })
            .await
            .copied()
    }

    /// The server version, once connected.
    pub fn version(&self) -> Option<Version> {
        self.ready.get().map(|r| r.version)
    }

    /// The storage extras in use, once connected.
    pub fn features(&self) -> Option<Features> {
        self.ready.get().map(|r| r.features)
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    /// The cluster's shards and replicas, once connected in cluster mode.
    pub fn topology(&self) -> Option<&cluster::Topology> {
        self.topology.get()
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The client for reads: every statement carries the query limits.
    pub(crate) fn reader(&self) -> &Client {
        match self.version() {
            Some(version) if version.at_least(20, 1) => &self.cancelling_reader,
            _ => &self.reader,
        }
    }

    /// Maps a read's error, naming the limit when the server stopped it at one.
    pub(crate) fn read_error(&self, error: clickhouse::error::Error) -> StoreError {
        match server_code(&error) {
            Some(code) if TIME_LIMIT_CODES.contains(&code) => {
                tracing::warn!(%error, "clickhouse stopped a read at the time limit");
                StoreError::LimitExceeded(LimitExceeded::Time(self.query_limits.timeout))
            }
            Some(MEMORY_LIMIT_CODE) => {
                tracing::warn!(%error, "clickhouse stopped a read at the memory limit");
                StoreError::LimitExceeded(LimitExceeded::Memory(self.query_limits.max_memory_bytes))
            }
            _ => ch_error(error),
        }
    }

    /// Runs a read under the deadline too, for what the server's own check misses (18.16
    /// checks between blocks, in whole seconds).
    async fn guarded<T>(
        &self,
        read: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let timeout = self.query_limits.timeout;
        tokio::time::timeout(timeout, async {
            self.ready().await?;
            read.await
        })
        .await
        .unwrap_or(Err(StoreError::LimitExceeded(LimitExceeded::Time(timeout))))
    }

    async fn execute(&self, sql: &str) -> Result<(), StoreError> {
        self.client
            .query(sql)
            .with_setting("wait_end_of_query", "1")
            .execute()
            .await
            .map_err(ch_error)
    }
}

struct InsertColumns(HashMap<&'static str, String>);

impl TableVisitor for InsertColumns {
    type Error = std::convert::Infallible;
    fn visit<T: TableRow>(&mut self, _: &[Item<T>]) -> Result<(), Self::Error> {
        let names: Vec<String> = rowbinary::columns::<T>()
            .into_iter()
            .map(|(name, _)| format!("`{name}`"))
            .collect();
        self.0.insert(T::TABLE, names.join(", "));
        Ok(())
    }
}

#[async_trait]
impl Store for ClickHouseStore {
    fn name(&self) -> &'static str {
        "clickhouse"
    }

    /// Writes without the spool (tests and tools); the server itself always spools.
    async fn write(&self, batch: Arc<Batch>) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let batch_id = crate::pipeline::new_batch_id();
        let payload = SpooledWrites::encode(self, &batch, batch_id)?;
        self.write_encoded(&[Bytes::from(payload)], false).await
    }

    fn spooled(&self) -> Option<&dyn SpooledWrites> {
        Some(self)
    }

    async fn operation(&self, app: &str, operation_id: &str) -> Result<OperationItems, StoreError> {
        self.guarded(read::operation(self, app, operation_id)).await
    }

    async fn operation_apps(
        &self,
        scope: &AppScope,
        operation_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        self.guarded(read::operation_apps(self, scope, operation_id))
            .await
    }

    async fn metrics(&self, query: &MetricQuery) -> Result<Vec<MetricRecord>, StoreError> {
        self.guarded(read::metrics(self, query)).await
    }

    async fn metric_series(&self, query: &SeriesQuery) -> Result<Vec<GroupSeries>, StoreError> {
        self.guarded(metrics::series(self, query)).await
    }

    async fn metric_catalog(&self, query: &CatalogQuery) -> Result<Vec<MetricInfo>, StoreError> {
        self.guarded(metrics::catalog(self, query)).await
    }

    async fn stats(&self, query: &StatsQuery, limit: usize) -> Result<Vec<StatsRow>, StoreError> {
        self.guarded(query::stats(self, query, limit)).await
    }

    async fn samples(&self, query: &SampleQuery) -> Result<Vec<SampleRecord>, StoreError> {
        self.guarded(query::samples(self, query)).await
    }

    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
        self.guarded(query::search(self, query)).await
    }

    async fn latest_keys(
        &self,
        selection: &Selection,
        key: Column,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.guarded(query::latest_keys(self, selection, key, limit))
            .await
    }

    async fn call_edges(&self, window: &ScopedRange) -> Result<Vec<CallEdge>, StoreError> {
        self.guarded(query::call_edges(self, window)).await
    }

    async fn genai_throttling(&self, window: &ScopedRange) -> Result<GenAiThrottling, StoreError> {
        self.guarded(query::genai_throttling(self, window)).await
    }

    async fn duration_histogram(
        &self,
        selection: &Selection,
    ) -> Result<DurationHistogram, StoreError> {
        self.guarded(query::duration_histogram(self, selection))
            .await
    }

    async fn failed_calls(&self, query: &FailedCallsQuery) -> Result<Vec<CallRecord>, StoreError> {
        self.guarded(query::failed_calls(self, query)).await
    }

    fn dialect(&self) -> crate::reads::tabular::Dialect {
        crate::reads::tabular::Dialect::ClickHouse
    }

    async fn tabular(
        &self,
        statement: &crate::reads::tabular::TabularStatement,
    ) -> Result<Vec<Vec<crate::reads::tabular::Cell>>, StoreError> {
        self.guarded(tabular::run(self, statement)).await
    }

    async fn save_scores(&self, scores: &[ScoreRecord]) -> Result<(), StoreError> {
        self.ready().await?;
        scores::save(self, scores).await
    }

    async fn scores(&self, query: &ScoreQuery) -> Result<Vec<ScoreRecord>, StoreError> {
        self.guarded(scores::read(self, query)).await
    }

    async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.ready().await?;
        credentials::keys(self).await
    }

    async fn save_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        self.ready().await?;
        credentials::save_key(self, key).await
    }

    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.ready().await?;
        credentials::tokens(self).await
    }

    async fn save_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        self.ready().await?;
        credentials::save_token(self, token).await
    }

    async fn alert_states(&self) -> Result<Vec<AlertStateRow>, StoreError> {
        self.ready().await?;
        alerts::states(self).await
    }

    async fn save_alert_states(&self, rows: &[AlertStateRow]) -> Result<(), StoreError> {
        self.ready().await?;
        alerts::save_states(self, rows).await
    }

    async fn append_alert_events(&self, events: &[AlertEventRow]) -> Result<(), StoreError> {
        self.ready().await?;
        alerts::append_events(self, events).await
    }

    async fn alert_history(&self, query: &HistoryQuery) -> Result<Vec<AlertEventRow>, StoreError> {
        self.ready().await?;
        alerts::history(self, query).await
    }

    async fn take_lease(&self, claim: &LeaseClaim) -> Result<bool, StoreError> {
        self.ready().await?;
        alerts::take_lease(self, claim).await
    }

    async fn release_lease(&self, claim: &LeaseClaim) -> Result<(), StoreError> {
        self.ready().await?;
        alerts::release_lease(self, claim).await
    }

    async fn enforce_retention(&self, cutoff_ns: i64) -> Result<u64, StoreError> {
        // Only days entirely before the cutoff go.
        self.drop_partitions_before(cutoff_ns.div_euclid(86_400_000_000_000))
            .await
    }
}

#[cfg(test)]
mod tests;
