//! Running on a ClickHouse cluster (`--clickhouse-cluster NAME`, a cluster of the servers'
//! `remote_servers`): every table becomes a local table on each node (`ReplicatedMergeTree`
//! when shards have replicas, ZooKeeper/Keeper paths from the `{shard}`/`{replica}` macros)
//! and a `Distributed` table under the table's own name, which tracehouse writes and reads, so
//! every query runs unchanged. DDL goes `ON CLUSTER`.
//!
//! Rows are sharded by operation id (items without one by their own id), so one transaction
//! lives on one shard. tracehouse computes each row's shard itself, with the same hash as the
//! `Distributed` table's sharding key, and inserts every shard's rows of a chunk as their own
//! insert: each lands on its shard whole or not at all, which keeps "did this batch already
//! land?" answerable per shard when a shard is down half-way through a write.

use bytes::Bytes;

use super::encoded::Chunk;
use crate::store::StoreError;

/// The settings of every statement on a cluster: writes wait for the shard (so a stored
/// insert is stored, not queued on the node), subqueries over `Distributed` tables read every
/// shard once, and a read goes to the replica the writes went to while it is up.
pub fn with_cluster_settings(client: clickhouse::Client) -> clickhouse::Client {
    client
        .with_setting("insert_distributed_sync", "1")
        .with_setting("distributed_product_mode", "global")
        .with_setting("load_balancing", "in_order")
}

/// Suffix of the per-node tables beneath a `Distributed` table.
pub const LOCAL_SUFFIX: &str = "_local";

/// How long an `ON CLUSTER` statement waits for every host. A host that is down runs the
/// statement from the DDL queue when it returns, so past this wait the statement counts as
/// applied (see [`is_queued_for_absent_hosts`]).
pub const DDL_TIMEOUT_S: u32 = 20;

/// Inserts a replicated table remembers, to drop one sent again.
pub const DEDUPLICATION_WINDOW: u32 = 1_000;

/// A cluster as `system.clusters` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub name: String,
    /// Whether some shard has more than one replica (then tables are replicated).
    pub replicated: bool,
    /// Shard index (0-based, in `shard_num` order) of each weight slot: a row with sharding
    /// hash `h` goes to `slots[h % slots.len()]`, as the `Distributed` engine routes it.
    slots: Vec<usize>,
    /// Each shard's replicas as `remote()` takes them: `host:port|host:port` (native ports).
    replicas: Vec<String>,
}

/// One host of a cluster, a row of `system.clusters`.
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, serde::Deserialize)]
pub struct ClusterHost {
    pub shard_num: u32,
    pub shard_weight: u32,
    pub replica_num: u32,
    pub host_name: String,
    /// Its native (TCP) port.
    pub port: u16,
}

impl ClusterHost {
    /// `host:port`, an IPv6 address in brackets.
    fn address(&self) -> String {
        if self.host_name.contains(':') {
            format!("[{}]:{}", self.host_name, self.port)
        } else {
            format!("{}:{}", self.host_name, self.port)
        }
    }
}

impl Topology {
    /// From the cluster's rows of `system.clusters`.
    pub fn of(name: &str, hosts: &[ClusterHost]) -> Result<Self, StoreError> {
        if hosts.is_empty() {
            return Err(StoreError::Schema(format!(
                "clickhouse cluster {name:?} is not in the server's remote_servers"
            )));
        }
        let mut hosts = hosts.to_vec();
        hosts.sort_unstable_by_key(|host| (host.shard_num, host.replica_num));
        let mut slots = Vec::new();
        let mut replicas: Vec<String> = Vec::new();
        let mut shard_num = None;
        for host in &hosts {
            if shard_num == Some(host.shard_num) {
                let addresses = replicas.last_mut().expect("a shard before its replicas");
                addresses.push('|');
                addresses.push_str(&host.address());
                continue;
            }
            shard_num = Some(host.shard_num);
            slots.extend(std::iter::repeat_n(
                replicas.len(),
                host.shard_weight as usize,
            ));
            replicas.push(host.address());
        }
        if slots.is_empty() {
            return Err(StoreError::Schema(format!(
                "clickhouse cluster {name:?} has no shard with a weight above 0"
            )));
        }
        Ok(Topology {
            name: name.to_owned(),
            replicated: hosts.iter().any(|host| host.replica_num > 1),
            slots,
            replicas,
        })
    }

    pub fn shards(&self) -> usize {
        self.replicas.len()
    }

    /// Shard `shard`'s replicas, `host:port|host:port`, for `remote()`.
    pub fn replicas_of(&self, shard: usize) -> &str {
        &self.replicas[shard]
    }

    /// The shard (0-based) a row with sharding hash `hash` is stored on.
    pub fn shard_of(&self, hash: u64) -> usize {
        self.slots[(hash % self.slots.len() as u64) as usize]
    }

    /// `table`'s local table on `shard` as a table function, read through one of the shard's
    /// replicas (tried in order) with `login`.
    pub fn local_table_on(
        &self,
        shard: usize,
        database: &str,
        table: &str,
        login: &Login,
    ) -> String {
        format!(
            "remote({}, `{database}`, `{table}{LOCAL_SUFFIX}`, {}, {})",
            string_literal(self.replicas_of(shard)),
            string_literal(&login.user),
            string_literal(&login.password)
        )
    }

    /// SQL that is true for rows of `table` stored on `shard`.
    pub fn on_shard(&self, table: &str, shard: usize) -> Result<String, StoreError> {
        let slots: Vec<String> = (0..self.slots.len())
            .filter(|slot| self.slots[*slot] == shard)
            .map(|slot| slot.to_string())
            .collect();
        Ok(format!(
            "{} % {} IN ({})",
            sharding_key(table)?,
            self.slots.len(),
            slots.join(", ")
        ))
    }
}

/// The user and password a node's `remote()` logs in to a shard with: tracehouse's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    pub password: String,
}

/// Where `operation_id`'s rows of `table` are read from, as SQL. On a cluster that is the
/// local table of the operation's shard through `remote()` with the shard's replicas (tried
/// in order, as `Distributed` does): one shard answers a transaction's lookup however many
/// there are. Rows without an operation are sharded by their own id, so an empty id reads the
/// `Distributed` table, as does a single server.
pub fn operation_source(
    topology: Option<&Topology>,
    database: &str,
    table: &str,
    operation_id: &str,
    login: &Login,
) -> String {
    match topology {
        Some(topology) if !operation_id.is_empty() => {
            let shard = topology.shard_of(row_hash(operation_id));
            topology.local_table_on(shard, database, table, login)
        }
        _ => format!("`{database}`.`{table}`"),
    }
}

/// `text` as a ClickHouse string literal.
fn string_literal(text: &str) -> String {
    let mut literal = String::with_capacity(text.len() + 2);
    literal.push('\'');
    for c in text.chars() {
        if matches!(c, '\'' | '\\') {
            literal.push('\\');
        }
        literal.push(c);
    }
    literal.push('\'');
    literal
}

/// A chunk's rows split by shard (`(shard, rows of it)`, in shard order), by its index;
/// a chunk without one (written for a single server) stays whole, as shard 0's.
pub fn split(chunk: &Chunk, topology: &Topology) -> Vec<(usize, Chunk)> {
    if chunk.index.is_empty() {
        return vec![(0, chunk.clone())];
    }
    let mut by_shard: Vec<(usize, Chunk, Vec<u8>)> = Vec::new();
    for (at, row) in chunk.index.iter().enumerate() {
        let start = row.offset as usize;
        let end = chunk
            .index
            .get(at + 1)
            .map_or(chunk.data.len(), |next| next.offset as usize);
        let shard = topology.shard_of(row.hash);
        let position = match by_shard.iter().position(|(s, _, _)| *s == shard) {
            Some(position) => position,
            None => {
                let part = Chunk {
                    table: chunk.table.clone(),
                    day: chunk.day,
                    rows: 0,
                    first_ns: chunk.first_ns,
                    last_ns: chunk.last_ns,
                    data: Bytes::new(),
                    index: Vec::new(),
                };
                by_shard.push((shard, part, Vec::new()));
                by_shard.len() - 1
            }
        };
        let (_, part, data) = &mut by_shard[position];
        part.rows += 1;
        data.extend_from_slice(&chunk.data[start..end]);
    }
    by_shard.sort_by_key(|(shard, _, _)| *shard);
    by_shard
        .into_iter()
        .map(|(shard, mut part, data)| {
            part.data = Bytes::from(data);
            (shard, part)
        })
        .collect()
}

/// The sharding hash of a row whose sharding key is `key`: ClickHouse's `sipHash64` (SipHash-2-4
/// with a zero key) of its bytes.
pub fn row_hash(key: &str) -> u64 {
    use std::hash::Hasher;
    let mut hasher = siphasher::sip::SipHasher24::new_with_keys(0, 0);
    hasher.write(key.as_bytes());
    hasher.finish()
}

/// The sharding key of an item: its operation id, or its own id when it has none (logs and
/// metrics outside any trace, spread over the shards instead of all on one).
pub fn item_key<'a>(operation_id: &'a str, item_id: &'a str) -> &'a str {
    if operation_id.is_empty() {
        item_id
    } else {
        operation_id
    }
}

/// The `Distributed` sharding key of `table`, which [`row_hash`] computes for the rows
/// tracehouse writes.
pub fn sharding_key(table: &str) -> Result<&'static str, StoreError> {
    Ok(match table {
        "requests"
        | "dependencies"
        | "exceptions"
        | "traces"
        | "customEvents"
        | "customMetrics"
        | "pageViews"
        | "availabilityResults"
        | "performanceCounters" => "sipHash64(if(operation_Id = '', itemId, operation_Id))",
        "operations" | "throttled_attempts" | "scores" => "sipHash64(operation_Id)",
        "span_rollups" => "sipHash64(name)",
        "instrumentation_keys" => "sipHash64(key)",
        "api_tokens" => "sipHash64(id)",
        "alert_state" | "alert_history" => "sipHash64(rule)",
        "leases" => "sipHash64(name)",
        "schema_migrations" => "version",
        other => {
            return Err(StoreError::Schema(format!(
                "table {other:?} has no sharding key"
            )));
        }
    })
}

/// One step of a migration on the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A statement to run as it is.
    Run(String),
    /// (Re)create the `Distributed` table over `table`'s local table with the local table's
    /// columns as they are now: after the local table is created, or altered (`replace`; 18.16
    /// refuses `ALTER … ON CLUSTER` of a table that is not replicated on a replicated cluster,
    /// so a `Distributed` table is dropped and created again instead).
    Distribute { table: String, replace: bool },
}

/// What a rendered migration statement becomes on the cluster: a `CREATE TABLE` becomes the
/// local table and its `Distributed` table, an `ALTER TABLE` alters the local table and
/// recreates the `Distributed` one, and everything else (the derived-rows `INSERT … SELECT`s)
/// runs through the `Distributed` tables as it is.
pub fn steps(
    statement: &str,
    database: &str,
    topology: &Topology,
) -> Result<Vec<Step>, StoreError> {
    let malformed = || StoreError::Schema(format!("cannot run on a cluster: {statement}"));
    let on = format!("ON CLUSTER `{}`", topology.name);
    if let Some(rest) = statement.strip_prefix("CREATE TABLE IF NOT EXISTS ") {
        let (table, definition) = table_name(rest, database).ok_or_else(malformed)?;
        let close = definition.rfind(") ENGINE = ").ok_or_else(malformed)?;
        let engine = &definition[close + ") ENGINE = ".len()..];
        sharding_key(table)?;
        let mut local = format!(
            "CREATE TABLE IF NOT EXISTS `{database}`.`{table}{LOCAL_SUFFIX}` {on} {}) ENGINE = {}",
            definition[..close].trim_start(),
            local_engine(engine, database, table, topology.replicated).ok_or_else(malformed)?
        );
        if topology.replicated {
            // Resent inserts are recognised among this many of the table's latest (100 by
            // default): enough for a shipper's retries while other instances keep inserting.
            local.push_str(
                if local.contains("\nSETTINGS ") || local.contains(" SETTINGS ") {
                    ", "
                } else {
                    " SETTINGS "
                },
            );
            local.push_str(&format!(
                "replicated_deduplication_window = {DEDUPLICATION_WINDOW}"
            ));
        }
        return Ok(vec![
            Step::Run(local),
            Step::Distribute {
                table: table.to_owned(),
                replace: false,
            },
        ]);
    }
    if let Some(rest) = statement.strip_prefix("ALTER TABLE ") {
        let (table, change) = table_name(rest, database).ok_or_else(malformed)?;
        return Ok(vec![
            Step::Run(format!(
                "ALTER TABLE `{database}`.`{table}{LOCAL_SUFFIX}` {on}{change}"
            )),
            Step::Distribute {
                table: table.to_owned(),
                replace: true,
            },
        ]);
    }
    Ok(vec![Step::Run(statement.to_owned())])
}

/// A column of a local table, as `system.columns` has it.
#[derive(Debug, Clone, clickhouse::Row, serde::Deserialize)]
pub struct LocalColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub default_kind: String,
    pub default_expression: String,
}

/// The statements that (re)create `table`'s `Distributed` table over its local table with
/// `columns`. Derived columns become `ALIAS` (a `Distributed` table that computed a
/// `MATERIALIZED` column would send it, and shards refuse it); codecs and skip indexes are
/// the local table's storage and stay there.
pub fn distributed_table(
    database: &str,
    table: &str,
    columns: &[LocalColumn],
    replace: bool,
    topology: &Topology,
) -> Result<Vec<String>, StoreError> {
    let on = format!("ON CLUSTER `{}`", topology.name);
    let definitions: Vec<String> = columns
        .iter()
        .map(|column| {
            let default = match column.default_kind.as_str() {
                "MATERIALIZED" | "ALIAS" => format!(" ALIAS {}", column.default_expression),
                "DEFAULT" => format!(" DEFAULT {}", column.default_expression),
                _ => String::new(),
            };
            format!("`{}` {}{default}", column.name, column.type_name)
        })
        .collect();
    let mut statements = Vec::new();
    if replace {
        statements.push(format!("DROP TABLE IF EXISTS `{database}`.`{table}` {on}"));
    }
    statements.push(format!(
        "CREATE TABLE IF NOT EXISTS `{database}`.`{table}` {on} ({}) \
         ENGINE = Distributed(`{}`, `{database}`, `{table}{LOCAL_SUFFIX}`, {})",
        definitions.join(", "),
        topology.name,
        sharding_key(table)?,
    ));
    Ok(statements)
}

/// `CREATE DATABASE` on every node.
pub fn create_database(database: &str, topology: &Topology) -> String {
    format!(
        "CREATE DATABASE IF NOT EXISTS `{database}` ON CLUSTER `{}`",
        topology.name
    )
}

/// Whether an `ON CLUSTER` statement failed only because some hosts did not run it within
/// the wait: it stays in the DDL queue, and they run it when they return.
pub fn is_queued_for_absent_hosts(error: &StoreError) -> bool {
    let text = error.to_string();
    // 159: the wait timed out; 341: "will be done asynchronously" (hosts not reachable).
    text.contains("Code: 159") || text.contains("Code: 341")
}

/// `(table, the rest of the statement)` of "`db`.`table` rest".
fn table_name<'a>(text: &'a str, database: &str) -> Option<(&'a str, &'a str)> {
    let rest = text.strip_prefix(&format!("`{database}`.`"))?;
    let end = rest.find('`')?;
    Some((&rest[..end], &rest[end + 1..]))
}

/// The engine clause of a local table: the template's engine, replicated when the cluster
/// has replicas, at a path unique to the database and table.
fn local_engine(engine: &str, database: &str, table: &str, replicated: bool) -> Option<String> {
    if !replicated {
        return Some(engine.to_owned());
    }
    let name_end = engine.find(|c: char| c == '(' || c.is_whitespace())?;
    let (name, rest) = engine.split_at(name_end);
    let (arguments, rest) = match rest.strip_prefix('(') {
        Some(inner) => {
            let close = inner.find(')')?;
            (format!(", {}", &inner[..close]), &inner[close + 1..])
        }
        None => (String::new(), rest),
    };
    Some(format!(
        "Replicated{name}('/clickhouse/tables/{{shard}}/{database}/{table}', '{{replica}}'{arguments}){rest}"
    ))
}

#[cfg(test)]
#[path = "cluster_tests.rs"]
mod tests;
