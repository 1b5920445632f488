//! Whether a transaction's lookup may read only its operation's shard. That holds while every
//! shard's rows are where the current shards put them. When shards are added (or their weights
//! change), rows written before stay where the old layout put them, and an instance still
//! running with the old layout keeps writing by it until it restarts: the lookup then reads
//! every shard, until retention has dropped the rows the current layout would put elsewhere.
//!
//! Each instance checks in the background when it has connected, and again at a lookup once
//! the last check is [`RECHECK`] old (the lookup goes on with what is known): each shard's
//! `operations` lookup table, for a row of an operation the current layout puts on another
//! shard. The lookup starts from that table, so a transaction it finds there is found. Until a
//! first check has answered (tried again every [`RETRY`] while a shard does not answer), a
//! lookup reads every shard. The check reads one column of each shard's `operations` once,
//! stopping at the first misplaced row.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::cluster::{self, Login, Topology};
use super::{ClickHouseStore, ch_error};
use crate::store::StoreError;

/// How often an instance looks for rows the current layout would put on another shard.
pub const RECHECK: Duration = Duration::from_secs(300);
/// The wait before checking again after a check that failed.
pub const RETRY: Duration = Duration::from_secs(30);

impl ClickHouseStore {
    /// On a cluster, starts a placement check in the background when one is due.
    pub(super) fn check_placement_when_due(&self) {
        if let Some(topology) = self.topology() {
            self.placement
                .check_when_due(&self.reader, topology, &self.database, &self.login);
        }
    }

    /// Where `operation_id`'s rows of `table` are read from ([`cluster::operation_source`]).
    /// On a cluster, a lookup reads every shard while rows are not all where the current
    /// layout puts them (see this module's comment).
    pub(crate) fn operation_source(&self, table: &str, operation_id: &str) -> String {
        self.check_placement_when_due();
        let topology = self.topology().filter(|_| self.placement.one_shard());
        cluster::operation_source(topology, &self.database, table, operation_id, &self.login)
    }

    /// Whether a transaction's lookup reads only its operation's shard now (on a cluster,
    /// once a check found every row where the current layout puts it).
    pub fn lookups_read_one_shard(&self) -> bool {
        self.topology().is_some() && self.placement.one_shard()
    }

    /// Checks now whether every shard's rows are where the current layout puts them, and so
    /// whether lookups read one shard (always false on a single server).
    pub async fn check_placement(&self) -> Result<bool, StoreError> {
        self.ready().await?;
        match self.topology() {
            Some(topology) => {
                self.placement
                    .check_now(&self.reader, topology, &self.database, &self.login)
                    .await
            }
            None => Ok(false),
        }
    }
}

/// What an instance knows of where rows are, shared with its background checks.
#[derive(Debug, Default)]
pub struct Placement {
    state: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Every shard's rows are on the shard the current layout puts them on.
    one_shard: AtomicBool,
    /// A check has answered.
    answered: AtomicBool,
    /// A check is running.
    checking: AtomicBool,
    /// When the next check is due; none before the first.
    next_check: Mutex<Option<Instant>>,
}

impl Placement {
    /// Whether lookups read one shard (false until a check has found every row in place).
    pub fn one_shard(&self) -> bool {
        self.state.one_shard.load(Ordering::Acquire)
    }

    /// Starts a check in the background when one is due and none is running.
    pub fn check_when_due(
        &self,
        reader: &clickhouse::Client,
        topology: &Topology,
        database: &str,
        login: &Login,
    ) {
        let due = self
            .state
            .next_check
            .lock()
            .map(|next| next.is_none_or(|at| Instant::now() >= at))
            .unwrap_or(true);
        if !due || self.state.checking.swap(true, Ordering::AcqRel) {
            return;
        }
        let (reader, topology, database, login) = (
            reader.clone(),
            topology.clone(),
            database.to_owned(),
            login.clone(),
        );
        let state = Arc::clone(&self.state);
        tokio::spawn(async move {
            let found = misplaced_rows(&reader, &topology, &database, &login).await;
            record(&state, &found);
            state.checking.store(false, Ordering::Release);
        });
    }

    /// Checks now and records the answer: whether lookups read one shard.
    pub async fn check_now(
        &self,
        reader: &clickhouse::Client,
        topology: &Topology,
        database: &str,
        login: &Login,
    ) -> Result<bool, StoreError> {
        let found = misplaced_rows(reader, topology, database, login).await;
        record(&self.state, &found);
        found.map(|misplaced| !misplaced)
    }
}

fn record(state: &State, found: &Result<bool, StoreError>) {
    let wait = match found {
        Ok(misplaced) => {
            let was_one_shard = state.one_shard.swap(!misplaced, Ordering::AcqRel);
            let first = !state.answered.swap(true, Ordering::AcqRel);
            if *misplaced && (was_one_shard || first) {
                tracing::warn!(
                    "rows of operations are on shards the cluster's current layout does not \
                     put them on (shards were added or reweighted): transaction lookups read \
                     every shard until retention has dropped them"
                );
            }
            RECHECK
        }
        // What is known stays as it was: a shard that is down does not make rows move. Until
        // a check has answered, lookups read every shard, so the next one comes sooner; after,
        // a check that fails on its time limit is not run again every few seconds.
        Err(error) => {
            tracing::warn!(%error, "checking where the cluster's rows are failed");
            if state.answered.load(Ordering::Acquire) {
                RECHECK
            } else {
                RETRY
            }
        }
    };
    if let Ok(mut next) = state.next_check.lock() {
        *next = Some(Instant::now() + wait);
    }
}

/// Whether some shard holds a row of `operations` that the current layout puts on another.
async fn misplaced_rows(
    reader: &clickhouse::Client,
    topology: &Topology,
    database: &str,
    login: &Login,
) -> Result<bool, StoreError> {
    let checks = (0..topology.shards()).map(|shard| {
        let sql = misplaced_rows_sql(topology, database, shard, login);
        async move {
            let sql = sql?;
            reader
                .query(&sql)
                .fetch_one::<u64>()
                .await
                .map_err(ch_error)
        }
    });
    let counts = futures_util::future::try_join_all(checks).await?;
    Ok(counts.iter().any(|count| *count > 0))
}

/// The statement that counts (up to one) rows of `operations` on `shard` that the current
/// layout would store on another shard.
pub fn misplaced_rows_sql(
    topology: &Topology,
    database: &str,
    shard: usize,
    login: &Login,
) -> Result<String, StoreError> {
    Ok(format!(
        "SELECT count() FROM (SELECT 1 FROM {} \
         WHERE operation_Id != '' AND NOT ({}) LIMIT 1)",
        topology.local_table_on(shard, database, "operations", login),
        topology.on_shard("operations", shard)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::clickhouse::cluster::ClusterHost;

    fn weighted() -> Topology {
        let host = |shard_num, shard_weight, replica_num, port| ClusterHost {
            shard_num,
            shard_weight,
            replica_num,
            host_name: "127.0.0.1".into(),
            port,
        };
        Topology::of(
            "c",
            &[
                host(1, 2, 1, 9001),
                host(1, 2, 2, 9002),
                host(2, 1, 1, 9003),
            ],
        )
        .expect("topology")
    }

    #[test]
    fn the_check_looks_on_each_shard_for_operations_another_shard_should_hold() {
        let login = Login {
            user: "tracehouse".into(),
            password: "it's".into(),
        };
        assert_eq!(
            misplaced_rows_sql(&weighted(), "db", 0, &login).expect("sql"),
            "SELECT count() FROM (SELECT 1 FROM remote('127.0.0.1:9001|127.0.0.1:9002', `db`, \
             `operations_local`, 'tracehouse', 'it\\'s') WHERE operation_Id != '' \
             AND NOT (sipHash64(operation_Id) % 3 IN (0, 1)) LIMIT 1)"
        );
        assert!(
            misplaced_rows_sql(&weighted(), "db", 1, &login)
                .expect("sql")
                .contains("remote('127.0.0.1:9003', `db`, `operations_local`")
        );
    }

    #[test]
    fn lookups_read_one_shard_only_after_a_check_found_every_row_in_place() {
        let state = State::default();
        assert!(!state.one_shard.load(Ordering::Acquire), "before any check");
        record(&state, &Err(StoreError::Unavailable("shard down".into())));
        assert!(
            !state.one_shard.load(Ordering::Acquire),
            "nothing known yet"
        );
        let next = state.next_check.lock().expect("lock").expect("due");
        assert!(
            next <= Instant::now() + RETRY,
            "unknown: checked again soon"
        );
        record(&state, &Ok(false));
        assert!(state.one_shard.load(Ordering::Acquire));
        // A shard that did not answer changes nothing.
        record(&state, &Err(StoreError::Unavailable("shard down".into())));
        assert!(state.one_shard.load(Ordering::Acquire));
        let next = state.next_check.lock().expect("lock").expect("due");
        assert!(
            next > Instant::now() + RETRY,
            "known: not checked again soon"
        );
        record(&state, &Ok(true));
        assert!(!state.one_shard.load(Ordering::Acquire), "rows misplaced");
        let next = state.next_check.lock().expect("lock").expect("due");
        assert!(next > Instant::now() + RECHECK - Duration::from_secs(5));
    }
}
