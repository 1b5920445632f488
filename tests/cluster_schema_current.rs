//! The cluster schema on the current engine. The cluster tests run Debian's 18.16; users run
//! 25.x. Here every statement the migrations become on a cluster (`--clickhouse-cluster`) runs
//! on chDB (ClickHouse 26.9, with the storage extras 18.16 lacks: `LowCardinality`, codecs,
//! TTL, skip indexes) joined to the local cluster's ZooKeeper, with the local cluster as its
//! `remote_servers`: the replicated local tables register as replicas in ZooKeeper, and the
//! `Distributed` tables are built from the local tables' columns as 26.9 lists them.
//!
//! chDB runs no distributed DDL queue and no replication threads, so the statements run
//! without `ON CLUSTER`, its replicated tables refuse an `ALTER` as read-only (the one such
//! migration is counted, not applied), and the rows two migrations derive from rows stored
//! before them (`INSERT … SELECT` through the `Distributed` tables) are not run. What this checks is that 26.9 accepts every
//! table definition of cluster mode; a whole 25.x cluster is not run here (no such server in
//! Debian or PyPI), `deploy/docker-compose.cluster.yml` is the way to run one.

mod common;

use common::clickhouse::{query, start_chdb_in};
use common::local_cluster::{CLUSTER, LocalCluster};
use tracehouse::store::clickhouse::cluster::{self, ClusterHost, LocalColumn, Step, Topology};
use tracehouse::store::clickhouse::schema::{self, Features, MIGRATIONS, RenderContext, Version};

/// chDB's configuration: the local cluster's ZooKeeper and nodes, and macros of a replica of
/// its own.
fn chdb_config(cluster: &LocalCluster) -> String {
    let shard = |ports: &[u16]| {
        let replicas: String = ports
            .iter()
            .map(|port| format!("<replica><host>127.0.0.1</host><port>{port}</port></replica>"))
            .collect();
        format!("<shard><internal_replication>true</internal_replication>{replicas}</shard>")
    };
    format!(
        "<clickhouse>\n\
         <zookeeper><node><host>127.0.0.1</host><port>{}</port></node></zookeeper>\n\
         <macros><shard>1</shard><replica>chdb</replica></macros>\n\
         <remote_servers><{CLUSTER}>{}{}</{CLUSTER}></remote_servers>\n\
         </clickhouse>\n",
        cluster.zookeeper_port,
        shard(&cluster.tcp_ports[0..2]),
        shard(&cluster.tcp_ports[2..4]),
    )
}

async fn rows<T: serde::de::DeserializeOwned>(url: &str, sql: &str) -> Vec<T> {
    let text = query(url, &format!("{sql} FORMAT JSONEachRow"))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

/// What running one cluster statement on chDB came to.
#[derive(Debug, PartialEq)]
enum Outcome {
    Applied,
    /// An `ALTER` of a replicated table, which chDB's read-only replicas refuse.
    ReadOnly,
}

/// Runs `statement` on chDB as one node of the cluster would run it from the DDL queue.
async fn run_on_node(url: &str, statement: &str) -> Outcome {
    let on_cluster = format!(" ON CLUSTER `{CLUSTER}`");
    assert!(
        statement.contains(&on_cluster),
        "a cluster statement: {statement}"
    );
    let local = statement.replacen(&on_cluster, "", 1);
    match query(url, &local).await {
        Ok(_) => Outcome::Applied,
        Err(error) if error.contains("TABLE_IS_READ_ONLY") && local.starts_with("ALTER") => {
            Outcome::ReadOnly
        }
        Err(error) => panic!("26.9 refused {local}\n=> {error}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_current_engine_accepts_every_table_of_cluster_mode() {
    let cluster = LocalCluster::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.xml");
    std::fs::write(&config, chdb_config(&cluster)).expect("config");
    let url = start_chdb_in(&dir.path().join("data"), Some(&config));

    // The cluster as 26.9's `system.clusters` describes it, into the store's topology.
    let hosts: Vec<ClusterHost> = rows(
        &url,
        &format!(
            "SELECT toUInt32(shard_num) AS shard_num, toUInt32(shard_weight) AS shard_weight, \
             toUInt32(replica_num) AS replica_num, host_name, toUInt16(port) AS port \
             FROM system.clusters WHERE cluster = '{CLUSTER}'"
        ),
    )
    .await;
    let topology = Topology::of(CLUSTER, &hosts).expect("topology");
    assert_eq!((topology.shards(), topology.replicated), (2, true));
    let version_text = query(&url, "SELECT version()").await.expect("version");
    let features = Features::of(Version::parse(version_text.trim()).expect("version"));
    assert!(
        features.low_cardinality && features.codecs && features.ttl && features.skip_indexes,
        "{version_text}: {features:?}"
    );

    let database = "current_schema";
    run_on_node(&url, &cluster::create_database(database, &topology)).await;
    let [_, create_migrations] = schema::bootstrap(database);
    let ctx = RenderContext {
        database,
        features,
        retention_days: 30,
    };
    let statements = std::iter::once(create_migrations).chain(
        MIGRATIONS
            .iter()
            .flat_map(|(_, _, template)| schema::render(template, &ctx)),
    );
    let mut read_only = Vec::new();
    for statement in statements {
        for step in cluster::steps(&statement, database, &topology).expect("steps") {
            match step {
                Step::Run(sql) => {
                    if run_on_node(&url, &sql).await == Outcome::ReadOnly {
                        read_only.push(sql);
                    }
                }
                Step::Distribute { table, replace } => {
                    let columns: Vec<LocalColumn> = rows(
                        &url,
                        &format!(
                            "SELECT name, type, default_kind, default_expression FROM system.columns \
                             WHERE database = '{database}' AND table = '{table}_local'"
                        ),
                    )
                    .await;
                    assert!(!columns.is_empty(), "{table}_local");
                    let ddl =
                        cluster::distributed_table(database, &table, &columns, replace, &topology)
                            .expect("distributed table");
                    for sql in ddl {
                        run_on_node(&url, &sql).await;
                    }
                }
            }
        }
    }
    assert_eq!(read_only.len(), 1, "only migration 6 alters: {read_only:?}");

    let engines: Vec<(String, u64)> = rows::<serde_json::Value>(
        &url,
        &format!(
            "SELECT engine, toUInt32(count()) AS tables FROM system.tables WHERE database = '{database}' \
             GROUP BY engine ORDER BY engine"
        ),
    )
    .await
    .iter()
    .map(|row| {
        (
            row["engine"].as_str().unwrap_or("").to_owned(),
            row["tables"].as_u64().unwrap_or(0),
        )
    })
    .collect();
    // The same tables as on the 18.16 cluster (`tests/clickhouse_cluster.rs`).
    assert_eq!(
        engines,
        [
            ("Distributed".to_owned(), 19),
            ("ReplicatedMergeTree".to_owned(), 15),
            ("ReplicatedReplacingMergeTree".to_owned(), 4),
        ]
    );
    // Every Distributed table has its local table's columns (names and types, in order), a
    // derived one as ALIAS.
    let columns: Vec<serde_json::Value> = rows(
        &url,
        &format!(
            "SELECT table, name, type FROM system.columns WHERE database = '{database}' \
             ORDER BY table, position"
        ),
    )
    .await;
    let of_table = |table: &str| -> Vec<(String, String)> {
        columns
            .iter()
            .filter(|column| column["table"] == table)
            .map(|column| (column["name"].to_string(), column["type"].to_string()))
            .collect()
    };
    let distributed: Vec<String> = rows::<serde_json::Value>(
        &url,
        &format!(
            "SELECT name FROM system.tables WHERE database = '{database}' \
             AND engine = 'Distributed'"
        ),
    )
    .await
    .iter()
    .map(|table| table["name"].as_str().unwrap_or("").to_owned())
    .collect();
    for table in &distributed {
        let local = of_table(&format!("{table}_local"));
        assert!(!local.is_empty(), "{table}_local");
        assert_eq!(of_table(table), local, "{table}");
    }
    let requests = query(
        &url,
        &format!("SHOW CREATE TABLE {database}.requests FORMAT TSVRaw"),
    )
    .await
    .expect("show create");
    assert!(
        requests.contains(
            "`timestamp` DateTime('UTC') ALIAS toDateTime(intDiv(timestamp_ns, 1000000000), 'UTC')"
        ),
        "{requests}"
    );
    // chDB's replicas registered in the cluster's ZooKeeper, as a node's would (read through
    // an 18.16 node, which lists ZooKeeper's nodes).
    let replicas = query(
        &cluster.url(1),
        &format!(
            "SELECT name FROM system.zookeeper \
             WHERE path = '/clickhouse/tables/1/{database}/requests/replicas' FORMAT TSV"
        ),
    )
    .await
    .expect("zookeeper");
    assert_eq!(replicas.trim(), "chdb");
}
