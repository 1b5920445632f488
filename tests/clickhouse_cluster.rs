//! tracehouse on a ClickHouse cluster (`--clickhouse-cluster`): 2 shards × 2 replicas of
//! Debian's 18.16 with Debian's ZooKeeper (`scripts/local-cluster`), one cluster per test.
//! - the query conformance suite: every endpoint answers on the cluster as on SQLite (which
//!   answers as one ClickHouse node: `tests/query_engines.rs`), also after two migrations ran
//!   again across the cluster; each transaction on one shard; keys and tokens issued and
//!   revoked through one instance reaching a second one; a transaction's lookup answering with
//!   the other shard down (it reads only its own shard), and reading every shard while a row
//!   is on a shard the layout does not put it on; retention dropping days on every node; alert
//!   evaluation under a lease (two instances on different shards evaluate one at a time, and
//!   the other takes over);
//! - two tracehouse instances ingesting while a replica is killed and restarted, a whole shard
//!   is down, one instance is SIGKILLed and both are restarted one after the other: every
//!   acknowledged span is stored exactly once and clients see only 200 or retryable answers.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::TestServer;
use common::alert_rules::two_instances_evaluate_one_at_a_time;
use common::clickhouse::query;
use common::delivery::*;
use common::endpoints::assert_every_path_alike;
use common::local_cluster::{CLUSTER, LocalCluster};
use common::process::TracehouseProcess;
use common::scenario::*;
use tracehouse::store::clickhouse::ClickHouseStore;

async fn text(url: &str, sql: &str) -> String {
    query(url, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Operation ids with rows in the local tables of `url`'s shard.
async fn local_operations(url: &str, database: &str) -> Vec<String> {
    let sql = format!(
        "SELECT DISTINCT operation_Id FROM (\
           SELECT operation_Id FROM {database}.requests_local \
           UNION ALL SELECT operation_Id FROM {database}.dependencies_local \
           UNION ALL SELECT operation_Id FROM {database}.operations_local) \
         WHERE operation_Id != '' ORDER BY operation_Id FORMAT TSV"
    );
    text(url, &sql).await.lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_endpoint_answers_on_the_cluster_as_on_sqlite() {
    let cluster = LocalCluster::start();
    let database = "conformance";
    let scenario = Scenario::new();
    let sqlite = TestServer::start().await;
    let store = Arc::new(ClickHouseStore::new(&cluster.config(1, database)).expect("store"));
    let clustered = TestServer::start_on_store(Arc::clone(&store), |_| {}).await;
    for server in [&sqlite, &clustered] {
        load(server, &scenario).await;
        wait_until_stored(server, &scenario).await;
    }
    clustered.wait_until_shipped().await;

    // Both shards hold rows, and no operation has rows on both.
    let (shard_1, shard_2) = (
        local_operations(&cluster.url(1), database).await,
        local_operations(&cluster.url(3), database).await,
    );
    assert!(
        shard_1.len() > 3 && shard_2.len() > 3,
        "{shard_1:?} / {shard_2:?}"
    );
    for operation in &shard_1 {
        assert!(!shard_2.contains(operation), "{operation} on both shards");
    }
    let tables = text(
        &cluster.url(4),
        &format!("SELECT engine, count() FROM system.tables WHERE database = '{database}' GROUP BY engine ORDER BY engine FORMAT TSV"),
    )
    .await;
    assert_eq!(
        tables,
        "Distributed\t19\nReplicatedMergeTree\t15\nReplicatedReplacingMergeTree\t4\n"
    );

    rerun_migrations(&cluster, database).await;
    assert_every_path_alike(&scenario, &sqlite, &clustered, "cluster").await;

    credentials_reach_another_instance(&cluster, database, &clustered).await;
    assert!(
        store.check_placement().await.expect("placement"),
        "every row is where the layout puts it: lookups read one shard"
    );

    // A transaction's lookup reads only its operation's shard: with all of shard 2 down, shard
    // 1's transactions answer as before, and shard 2's with a retryable error.
    let lookup = |operation: &String| format!("/api/v1/operations/{operation}");
    let mut answers = Vec::new();
    for operation in shard_1.iter().take(4) {
        answers.push((lookup(operation), get(&sqlite, &lookup(operation)).await));
    }
    cluster.kill(3);
    cluster.kill(4);
    for (path, expected) in &answers {
        assert_eq!(
            &get(&clustered, path).await,
            expected,
            "{path} with shard 2 down"
        );
    }
    let (status, body) = get(&clustered, &lookup(&shard_2[0])).await;
    assert_eq!(status, 503, "{body}");
    cluster.restart(3);
    cluster.restart(4);

    // A row on a shard the current layout does not put it on (as after shards are added)
    // makes lookups read every shard, and they answer as before.
    let moved = &shard_2[1];
    let copy = format!(
        "INSERT INTO {database}.operations_local SELECT * FROM \
         cluster('{CLUSTER}', {database}, operations_local) WHERE operation_Id = '{moved}'"
    );
    let node_1 = cluster.url(1);
    retry_while_shards_restart(|| query(&node_1, &copy)).await;
    let one_shard = retry_while_shards_restart(|| store.check_placement()).await;
    assert!(!one_shard, "a misplaced row found");
    let moved_answer = (lookup(moved), get(&sqlite, &lookup(moved)).await);
    for (path, expected) in answers.iter().chain([&moved_answer]) {
        let answer = retry_while_shards_restart(|| async {
            match get(&clustered, path).await {
                (503, body) => Err(body),
                answer => Ok(answer),
            }
        })
        .await;
        assert_eq!(&answer, expected, "{path} read from every shard");
    }

    // Retention drops the days from every node of both shards.
    let past_every_day = tracehouse::clock::now_ns() + 10 * 86_400_000_000_000;
    // Shard 2's replicas were just restarted: until they have elected a leader of each table,
    // a replicated DROP PARTITION fails (Code 292) and the next run does it. (What a failed
    // run dropped is gone; the nodes' counts below are the check.)
    retry_while_shards_restart(|| clustered.store.enforce_retention(past_every_day)).await;
    for node in 1..=4 {
        let left = text(
            &cluster.url(node),
            &format!(
                "SELECT (SELECT count() FROM {database}.requests_local) \
                 + (SELECT count() FROM {database}.dependencies_local) FORMAT TSV"
            ),
        )
        .await;
        assert_eq!(left.trim(), "0", "node {node}");
    }
    // With the misplaced row dropped too, lookups read one shard again.
    assert!(retry_while_shards_restart(|| store.check_placement()).await);
    sqlite.stop().await;
    clustered.stop().await;

    // Alert evaluation runs under a lease on the cluster too (the lease's row is on one shard,
    // read by both instances through their own nodes).
    two_instances_evaluate_one_at_a_time([
        cluster.config(1, "alerts"),
        cluster.config(3, "alerts"),
    ])
    .await;
}

/// Forgets migrations 6 (an `ALTER`) and 9 (a table and the rows derived from those stored
/// before it) on every node, as after a migration that failed half-way across the cluster;
/// the next instance to open runs them again, and answers stay as they were.
async fn rerun_migrations(cluster: &LocalCluster, database: &str) {
    text(
        &cluster.url(1),
        &format!(
            "ALTER TABLE {database}.schema_migrations_local ON CLUSTER {CLUSTER} \
             DELETE WHERE version IN (6, 9)"
        ),
    )
    .await;
    let recorded = |node: usize| {
        let url = cluster.url(node);
        async move {
            text(&url, &format!(
                "SELECT count() FROM {database}.schema_migrations_local WHERE version IN (6, 9) FORMAT TSV"
            ))
            .await
            .trim()
            .parse::<u32>()
            .expect("count")
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut left = 0;
        for node in 1..=4 {
            left += recorded(node).await;
        }
        if left == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{left} rows not deleted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ClickHouseStore::open(&cluster.config(3, database))
        .await
        .expect("the forgotten migrations run again");
    let (shard_1, shard_2) = (recorded(1).await, recorded(3).await);
    assert_eq!(
        (shard_1, shard_2),
        (1, 1),
        "both recorded again, one on each shard"
    );
}

/// `attempt`'s answer, tried again for up to a minute while it fails (shard 2's replicas were
/// just restarted).
async fn retry_while_shards_restart<T, E, F, A>(mut attempt: A) -> T
where
    E: std::fmt::Debug,
    F: Future<Output = Result<T, E>>,
    A: FnMut() -> F,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match attempt().await {
            Ok(answer) => return answer,
            Err(error) if std::time::Instant::now() < deadline => {
                eprintln!("{error:?}; again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => panic!("{error:?}"),
        }
    }
}

/// An OTLP request's status on `server` with instrumentation key `key`.
async fn ingest_with(server: &TestServer, key: &str) -> u16 {
    reqwest::Client::new()
        .post(server.http_url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .header("authorization", format!("InstrumentationKey {key}"))
        .body(numbered_request(1_000))
        .send()
        .await
        .expect("post")
        .status()
        .as_u16()
}

/// A read's status on `server` with bearer token `token`.
async fn read_with(server: &TestServer, token: &str) -> u16 {
    get_as(server, Some(token), "/api/v1/metrics").await.0
}

/// Waits up to `within_s` for `server` to answer `status` to an ingest with `key` and to a
/// read with `token`.
async fn answers_both(server: &TestServer, key: &str, token: &str, status: u16, within_s: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(within_s);
    loop {
        let answers = (
            ingest_with(server, key).await,
            read_with(server, token).await,
        );
        if answers == (status, status) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ingest and read answer {answers:?}, not {status}, after {within_s} s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A key and a token issued through one instance work on another instance of the cluster
/// within a second (a miss re-reads the store), and their revocations reach it within the
/// 10 s refresh (waited for up to 30 s, as on one server).
async fn credentials_reach_another_instance(
    cluster: &LocalCluster,
    database: &str,
    issuer: &TestServer,
) {
    use tracehouse::reads::records::{KeyRecord, TokenRole};
    let other = TestServer::start_on(cluster.config(3, database), |config| {
        config.require_keys = true;
        config.require_tokens = true;
    })
    .await;
    let mut key = KeyRecord {
        key: "2f8fad5b-d9cb-469f-a165-70867728950e".into(),
        app: "shop".into(),
        created_ns: tracehouse::clock::now_ns(),
        revoked_ns: None,
    };
    let grant = tracehouse::tokens::Grant {
        name: "cluster".into(),
        apps: Vec::new(),
        all_apps: true,
        role: TokenRole::Reader,
    };
    let (token, mut record) =
        tracehouse::tokens::issue(grant, tracehouse::clock::now_ns()).expect("random");
    assert_eq!(ingest_with(&other, &key.key).await, 401);
    assert_eq!(read_with(&other, &token).await, 401);
    issuer.store.save_key(&key).await.expect("issue key");
    issuer.store.save_token(&record).await.expect("issue token");
    answers_both(&other, &key.key, &token, 200, 5).await;
    key.revoked_ns = Some(tracehouse::clock::now_ns());
    record.revoked_ns = key.revoked_ns;
    issuer.store.save_key(&key).await.expect("revoke key");
    issuer
        .store
        .save_token(&record)
        .await
        .expect("revoke token");
    answers_both(&other, &key.key, &token, 401, 30).await;
    // Its accepted request is stored before retention runs.
    other.wait_until_shipped().await;
    other.stop().await;
}

/// Sends `requests` numbered requests (from `first`) to `endpoint`, counting acknowledgements.
fn sender(
    endpoint: String,
    first: u64,
    requests: u64,
    acknowledged: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<(usize, Vec<u64>)> {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let (mut retries, mut resent) = (0, Vec::new());
        for n in first..first + requests {
            let delivery = send_until_acknowledged(&client, &endpoint, numbered_request(n)).await;
            retries += delivery.retries;
            if !delivery.outcomes.is_empty() {
                // Shown when the test fails.
                eprintln!("request {n}: {:?}", delivery.outcomes);
            }
            if delivery.lost_an_answer {
                resent.push(n);
            }
            acknowledged.fetch_add(1, Ordering::Relaxed);
        }
        (retries, resent)
    })
}

async fn until(acknowledged: &AtomicU64, count: u64) {
    while acknowledged.load(Ordering::Relaxed) < count {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// Ignored in stop 32 as flaky; the causes found in stop 33 were the harness's: a node started
// before ZooKeeper served (18.16's DDL worker then crashed), a node restarted while the killed
// one's last thread still held its data directory, and ZooKeeper sessions of 4 s that expired
// on nodes starved of CPU (then 18.16 stored a resent batch twice, or lost track of one).
#[tokio::test(flavor = "multi_thread")]
async fn two_instances_lose_nothing_acknowledged_through_replica_shard_and_instance_failures() {
    let cluster = LocalCluster::start();
    let database = "faults";
    let instance = |node: usize, dir: &std::path::Path| {
        TracehouseProcess::start(
            dir,
            &[
                "--clickhouse-url",
                &cluster.url(node),
                "--clickhouse-cluster",
                CLUSTER,
                "--clickhouse-database",
                database,
            ],
        )
    };
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    // Both start (and migrate) at once.
    let (mut a, mut b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| instance(1, dir_a.path()));
        let b = scope.spawn(|| instance(3, dir_b.path()));
        (a.join().expect("a"), b.join().expect("b"))
    });
    let per_instance = 150u64;
    let acknowledged = Arc::new(AtomicU64::new(0));
    let senders = [
        sender(
            a.url("/v1/traces"),
            0,
            per_instance,
            Arc::clone(&acknowledged),
        ),
        sender(
            b.url("/v1/traces"),
            per_instance,
            per_instance,
            Arc::clone(&acknowledged),
        ),
    ];

    // A replica of shard 1 goes down and comes back.
    until(&acknowledged, 30).await;
    cluster.kill(2);
    until(&acknowledged, 60).await;
    cluster.restart(2);
    // Instance A is SIGKILLed and restarted on its spool.
    until(&acknowledged, 80).await;
    a.kill();
    a.restart();
    // All of shard 2 goes down: shard 1 keeps what lands there, the spools hold the rest.
    until(&acknowledged, 110).await;
    cluster.kill(3);
    cluster.kill(4);
    until(&acknowledged, 150).await;
    cluster.restart(3);
    cluster.restart(4);
    // A rolling restart of both instances.
    until(&acknowledged, 190).await;
    a.terminate();
    a.restart();
    until(&acknowledged, 230).await;
    b.terminate();
    b.restart();

    let mut resent = Vec::new();
    for sender in senders {
        let (_, lost) = sender.await.expect("sender");
        resent.extend(lost);
    }
    assert_stored_exactly_once(
        &cluster.url(1),
        database,
        2 * per_instance as usize * SPANS_PER_REQUEST,
        &resent,
    )
    .await;
    // Both replicas of each shard end up with the same rows.
    let local = |node: usize| {
        let url = cluster.url(node);
        async move {
            text(
                &url,
                &format!("SELECT count() FROM {database}.dependencies_local FORMAT TSV"),
            )
            .await
            .trim()
            .parse::<u64>()
            .expect("count")
        }
    };
    for (first, second) in [(1, 2), (3, 4)] {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (one, other) = (local(first).await, local(second).await);
            if one > 0 && one == other {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "replicas {first} and {second} hold {one} and {other} rows"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
