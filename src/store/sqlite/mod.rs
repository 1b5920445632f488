//! The embedded default store: one SQLite file under the data directory, WAL mode, one writer
//! connection and a small pool of readers. All SQLite work runs on blocking threads.

mod alerts;
mod backfill;
mod bind;
mod credentials;
mod functions;
mod metrics;
mod migrate;
mod query;
mod read;
mod resources;
mod rollups;
mod scores;
mod tabular;
mod throttling;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::{
    KeyRecord, LimitExceeded, MetricQuery, MetricRecord, OperationItems, QueryLimits, Store,
    StoreError, TokenRecord,
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
use crate::store::rollup;

pub use bind::column_names;
pub use migrate::script as schema_script;

/// File name of the database inside the data directory.
pub const DATABASE_FILE: &str = "tracehouse.sqlite";
/// Reader connections kept open between queries.
const MAX_IDLE_READERS: usize = 4;

pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    query_limits: QueryLimits,
}

/// SQLite instructions between deadline checks: frequent enough to stop within milliseconds,
/// rare enough to cost nothing measurable.
const PROGRESS_CHECK_INSTRUCTIONS: std::ffi::c_int = 1_000;

impl SqliteStore {
    /// Opens (creating if needed) the database in `data_dir` and applies pending migrations.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_limits(data_dir, QueryLimits::default()).await
    }

    /// Opens with these guards on every read (SQLite enforces the deadline; memory is bounded
    /// by its page cache).
    pub async fn open_with_limits(
        data_dir: &Path,
        query_limits: QueryLimits,
    ) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Unavailable(format!(
                "creating data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(DATABASE_FILE);
        let writer_path = path.clone();
        let writer = blocking(move || {
            let mut connection = connect(&writer_path)?;
            migrate::apply(&mut connection)?;
            Ok(connection)
        })
        .await?;
        Ok(SqliteStore {
            path,
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Mutex::new(Vec::new())),
            query_limits,
        })
    }

    /// Runs `f` on a pooled reader connection on a blocking thread, interrupted at the
    /// deadline.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        let path = self.path.clone();
        let timeout = self.query_limits.timeout;
        let deadline = Instant::now() + timeout;
        blocking(move || {
            // A read that waited for a blocking thread past its deadline does not start.
            if Instant::now() >= deadline {
                return Err(StoreError::LimitExceeded(LimitExceeded::Time(timeout)));
            }
            let pooled = readers.lock().map_err(poisoned)?.pop();
            let mut connection = match pooled {
                Some(connection) => connection,
                None => connect(&path)?,
            };
            connection
                .progress_handler(
                    PROGRESS_CHECK_INSTRUCTIONS,
                    Some(move || Instant::now() >= deadline),
                )
                .map_err(sqlite_error)?;
            let mut result = f(&connection);
            let _ = connection.progress_handler(0, None::<fn() -> bool>);
            if result.is_err() && Instant::now() >= deadline {
                tracing::warn!(error = ?result.as_ref().err(), "sqlite read stopped at the time limit");
                result = Err(StoreError::LimitExceeded(LimitExceeded::Time(timeout)));
            }
            let mut idle = readers.lock().map_err(poisoned)?;
            if idle.len() < MAX_IDLE_READERS {
                idle.push(connection);
            }
            result
        })
        .await
    }

    /// Runs `f` on the writer connection on a blocking thread.
    async fn with_writer<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let writer = Arc::clone(&self.writer);
        blocking(move || {
            let mut connection = writer.lock().map_err(poisoned)?;
            f(&mut connection)
        })
        .await
    }
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_error)?;
    // FULL: a commit is on disk before the client is told its data was accepted.
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA busy_timeout = 5000;
             PRAGMA temp_store = MEMORY;",
        )
        .map_err(sqlite_error)?;
    functions::register(&connection).map_err(sqlite_error)?;
    Ok(connection)
}

async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Internal(format!("sqlite task failed: {e}")))?
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Internal("sqlite connection lock poisoned by a panic".into())
}

/// Busy, locked, full and I/O errors are transient; everything else is ours.
pub(crate) fn sqlite_error(error: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match error.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure
            | ErrorCode::CannotOpen
            | ErrorCode::OutOfMemory,
        ) => StoreError::Unavailable(error.to_string()),
        _ => StoreError::Internal(error.to_string()),
    }
}

/// Inserts every table of a batch inside one transaction.
struct Inserter<'a> {
    transaction: &'a rusqlite::Transaction<'a>,
    resources: resources::BatchResources,
}

impl TableVisitor for Inserter<'_> {
    type Error = StoreError;
    fn visit<T: TableRow>(&mut self, rows: &[Item<T>]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut statement = self
            .transaction
            .prepare_cached(&insert_sql_for::<T>())
            .map_err(sqlite_error)?;
        for row in rows {
            let resource = self.resources.id_for(&row.common);
            bind::bind_row(&mut statement, row, resource)
                .map_err(|e| StoreError::Internal(format!("{}: {e}", T::TABLE)))?;
            statement.raw_execute().map_err(sqlite_error)?;
        }
        Ok(())
    }
}

/// `INSERT` statements are derived once per table from the row structs.
fn insert_sql_for<T: TableRow>() -> String {
    use std::any::TypeId;
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static CACHE: OnceLock<Mutex<HashMap<TypeId, String>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = match cache.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    cache
        .entry(TypeId::of::<T>())
        .or_insert_with(|| bind::insert_sql::<T>())
        .clone()
}

#[async_trait]
impl Store for SqliteStore {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn write(&self, batch: Arc<Batch>) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.with_writer(move |connection| {
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sqlite_error)?;
            let mut inserter = Inserter {
                transaction: &transaction,
                resources: Default::default(),
            };
            batch.visit(&mut inserter)?;
            inserter.resources.save(&transaction)?;
            rollups::insert(&transaction, &rollup::rollups_of(&batch))?;
            throttling::refresh(&transaction, &batch)?;
            transaction.commit().map_err(sqlite_error)
        })
        .await
    }

    async fn operation(&self, app: &str, operation_id: &str) -> Result<OperationItems, StoreError> {
        let (app, operation_id) = (app.to_owned(), operation_id.to_owned());
        self.read(move |connection| read::operation(connection, &app, &operation_id))
            .await
    }

    async fn operation_apps(
        &self,
        scope: &AppScope,
        operation_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let (scope, operation_id) = (scope.clone(), operation_id.to_owned());
        self.read(move |connection| read::operation_apps(connection, &scope, &operation_id))
            .await
    }

    async fn metrics(&self, query: &MetricQuery) -> Result<Vec<MetricRecord>, StoreError> {
        let query = query.clone();
        self.read(move |connection| read::metrics(connection, &query))
            .await
    }

    async fn metric_series(&self, query: &SeriesQuery) -> Result<Vec<GroupSeries>, StoreError> {
        let query = query.clone();
        self.read(move |connection| metrics::series(connection, &query))
            .await
    }

    async fn metric_catalog(&self, query: &CatalogQuery) -> Result<Vec<MetricInfo>, StoreError> {
        let query = query.clone();
        self.read(move |connection| metrics::catalog(connection, &query))
            .await
    }

    async fn stats(&self, query: &StatsQuery, limit: usize) -> Result<Vec<StatsRow>, StoreError> {
        let query = query.clone();
        self.read(move |connection| query::stats(connection, &query, limit))
            .await
    }

    async fn samples(&self, query: &SampleQuery) -> Result<Vec<SampleRecord>, StoreError> {
        let query = query.clone();
        self.read(move |connection| query::samples(connection, &query))
            .await
    }

    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
        let query = query.clone();
        self.read(move |connection| query::search(connection, &query))
            .await
    }

    async fn latest_keys(
        &self,
        selection: &Selection,
        key: Column,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let selection = selection.clone();
        self.read(move |connection| query::latest_keys(connection, &selection, key, limit))
            .await
    }

    async fn call_edges(&self, window: &ScopedRange) -> Result<Vec<CallEdge>, StoreError> {
        let window = window.clone();
        self.read(move |connection| query::call_edges(connection, &window))
            .await
    }

    async fn genai_throttling(&self, window: &ScopedRange) -> Result<GenAiThrottling, StoreError> {
        let window = window.clone();
        self.read(move |connection| query::genai_throttling(connection, &window))
            .await
    }

    async fn duration_histogram(
        &self,
        selection: &Selection,
    ) -> Result<DurationHistogram, StoreError> {
        let selection = selection.clone();
        self.read(move |connection| query::duration_histogram(connection, &selection))
            .await
    }

    async fn failed_calls(&self, query: &FailedCallsQuery) -> Result<Vec<CallRecord>, StoreError> {
        let query = query.clone();
        self.read(move |connection| query::failed_calls(connection, &query))
            .await
    }

    fn dialect(&self) -> crate::reads::tabular::Dialect {
        crate::reads::tabular::Dialect::Sqlite
    }

    async fn tabular(
        &self,
        statement: &crate::reads::tabular::TabularStatement,
    ) -> Result<Vec<Vec<crate::reads::tabular::Cell>>, StoreError> {
        let statement = statement.clone();
        self.read(move |connection| tabular::run(connection, &statement))
            .await
    }

    async fn save_scores(&self, scores: &[ScoreRecord]) -> Result<(), StoreError> {
        let scores = scores.to_vec();
        self.with_writer(move |connection| scores::save(connection, &scores))
            .await
    }

    async fn scores(&self, query: &ScoreQuery) -> Result<Vec<ScoreRecord>, StoreError> {
        let statement = crate::store::sql::scores(query, crate::store::sql::Dialect::Sqlite);
        self.read(move |connection| scores::read(connection, statement))
            .await
    }

    async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.read(credentials::keys).await
    }

    async fn save_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        let key = key.clone();
        self.with_writer(move |connection| credentials::save_key(connection, &key))
            .await
    }

    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.read(credentials::tokens).await
    }

    async fn save_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        let token = token.clone();
        self.with_writer(move |connection| credentials::save_token(connection, &token))
            .await
    }

    async fn alert_states(&self) -> Result<Vec<AlertStateRow>, StoreError> {
        self.read(alerts::states).await
    }

    async fn save_alert_states(&self, rows: &[AlertStateRow]) -> Result<(), StoreError> {
        let rows = rows.to_vec();
        self.with_writer(move |connection| alerts::save_states(connection, &rows))
            .await
    }

    async fn append_alert_events(&self, events: &[AlertEventRow]) -> Result<(), StoreError> {
        let events = events.to_vec();
        self.with_writer(move |connection| alerts::append_events(connection, &events))
            .await
    }

    async fn alert_history(&self, query: &HistoryQuery) -> Result<Vec<AlertEventRow>, StoreError> {
        let query = query.clone();
        self.read(move |connection| alerts::history(connection, &query))
            .await
    }

    async fn take_lease(&self, claim: &LeaseClaim) -> Result<bool, StoreError> {
        let claim = claim.clone();
        self.with_writer(move |connection| alerts::take_lease(connection, &claim))
            .await
    }

    async fn release_lease(&self, claim: &LeaseClaim) -> Result<(), StoreError> {
        let claim = claim.clone();
        self.with_writer(move |connection| alerts::release_lease(connection, &claim))
            .await
    }

    async fn enforce_retention(&self, cutoff_ns: i64) -> Result<u64, StoreError> {
        self.with_writer(move |connection| {
            let mut removed = 0;
            for table in crate::model::TABLES {
                removed += connection
                    .execute(
                        &format!("DELETE FROM \"{table}_rows\" WHERE timestamp_ns < ?1"),
                        [cutoff_ns],
                    )
                    .map_err(sqlite_error)? as u64;
            }
            // A minute's rollup goes once the whole minute has.
            connection
                .execute(
                    "DELETE FROM span_rollups WHERE timestamp_ns <= ?1",
                    [cutoff_ns.saturating_sub(rollup::MINUTE_NS)],
                )
                .map_err(sqlite_error)?;
            // Every row naming a resource is older than its `last_ns`.
            connection
                .execute("DELETE FROM resources WHERE last_ns < ?1", [cutoff_ns])
                .map_err(sqlite_error)?;
            connection
                .execute("DELETE FROM alert_history WHERE time_ns < ?1", [cutoff_ns])
                .map_err(sqlite_error)?;
            connection
                .execute("DELETE FROM scores WHERE time_ns < ?1", [cutoff_ns])
                .map_err(sqlite_error)?;
            throttling::enforce_retention(connection, cutoff_ns)?;
            Ok(removed)
        })
        .await
    }
}

#[cfg(test)]
mod resource_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod throttling_tests;
