//! Every query endpoint on both ClickHouse engines against SQLite: every group-by, with and
//! without `interval`, with the seed story and the fixtures loaded; batches resent 50 times;
//! and the read guards (time and memory limits) answering 503 without database text.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::TestServer;
use common::clickhouse::{Engine, database_for, on_both_engines};
use common::endpoints::assert_every_path_alike;
use common::scenario::*;
use tracehouse::store::sqlite::SqliteStore;
use tracehouse::store::{QueryLimits, Store};

on_both_engines!(
    every_endpoint_answers_alike_on_sqlite_and_clickhouse,
    resent_batches_scale_genai_and_map_linearly,
    reads_past_a_limit_answer_503_naming_it,
);

async fn every_endpoint_answers_alike_on_sqlite_and_clickhouse(engine: Engine) {
    let scenario = Scenario::new();
    let sqlite = TestServer::start().await;
    let clickhouse = TestServer::start_on_engine(engine, &database_for("endpoints"), |_| {}).await;
    for server in [&sqlite, &clickhouse] {
        load(server, &scenario).await;
        wait_until_stored(server, &scenario).await;
    }
    assert_every_path_alike(&scenario, &sqlite, &clickhouse, &format!("{engine:?}")).await;
    sqlite.stop().await;
    clickhouse.stop().await;
}

/// Throttled attempts and calls of the seed story's model, and the calls of every map edge.
async fn genai_and_map_counts(server: &TestServer, scenario: &Scenario) -> (u64, u64, Vec<u64>) {
    let range = scenario.range();
    let usage = ok(server, &format!("/api/v1/genai/usage?{range}")).await;
    let gpt = usage["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["target"] == AOAI))
        .unwrap_or_else(|| panic!("no {AOAI} row: {usage}"))
        .clone();
    let map = ok(server, &format!("/api/v1/map?{range}")).await;
    let edge_calls = map["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["count"].as_u64().unwrap_or(0))
        .collect();
    (
        gpt["throttled_attempts"].as_u64().unwrap_or(0),
        gpt["calls"].as_u64().unwrap_or(0),
        edge_calls,
    )
}

/// Requests and dependencies stored (ClickHouse makes each table visible on its own).
async fn stored(server: &TestServer, scenario: &Scenario) -> (u64, u64) {
    let mut counts = [0; 2];
    for (count, table) in counts.iter_mut().zip(["requests", "dependencies"]) {
        let path = format!("/api/v1/performance?table={table}&{}", scenario.range());
        *count = ok(server, &path).await["rows"]
            .as_array()
            .map_or(0, |rows| {
                rows.iter().filter_map(|r| r["count"].as_u64()).sum()
            });
    }
    (counts[0], counts[1])
}

async fn wait_until_counts(server: &TestServer, scenario: &Scenario, expected: (u64, u64)) {
    for _ in 0..600 {
        if stored(server, scenario).await == expected {
            server.wait_until_shipped().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "never stored {expected:?}: {:?}",
        stored(server, scenario).await
    );
}

/// OTLP clients resend batches whose answer they lost, so the same span ids can be stored many
/// times. Joins on span ids must grow with the stored rows, not with their square.
async fn resent_batches_scale_genai_and_map_linearly(engine: Engine) {
    const COPIES: u64 = 50;
    let scenario = Scenario::new();
    let traces = prost::Message::encode_to_vec(&scenario.traces_request());
    let guarded = |config: &mut tracehouse::config::ServeConfig| {
        config.query_limits.timeout = Duration::from_secs(20);
        if let Some(clickhouse) = &mut config.clickhouse {
            clickhouse.query_limits.timeout = Duration::from_secs(20);
        }
    };
    let once = TestServer::start().await;
    let sqlite = TestServer::start_with(guarded, None).await;
    let clickhouse = TestServer::start_on_engine(engine, &database_for("resent"), guarded).await;
    post(
        &once,
        "/v1/traces",
        "application/x-protobuf",
        traces.clone(),
    )
    .await;
    let (requests, dependencies) = stored(&once, &scenario).await;
    assert_eq!(requests, 2 * CALLS, "stored before the answer");
    let (attempts, calls, edges) = genai_and_map_counts(&once, &scenario).await;
    assert_eq!((attempts, calls), (3, CALLS));
    assert!(!edges.is_empty());
    for server in [&sqlite, &clickhouse] {
        for _ in 0..COPIES {
            post(
                server,
                "/v1/traces",
                "application/x-protobuf",
                traces.clone(),
            )
            .await;
        }
        wait_until_counts(
            server,
            &scenario,
            (COPIES * requests, COPIES * dependencies),
        )
        .await;
        let (resent_attempts, resent_calls, resent_edges) =
            genai_and_map_counts(server, &scenario).await;
        assert_eq!(
            (resent_attempts, resent_calls),
            (COPIES * attempts, COPIES * calls),
            "{engine:?}"
        );
        let scaled: Vec<u64> = edges.iter().map(|calls| COPIES * calls).collect();
        assert_eq!(resent_edges, scaled, "{engine:?}");
    }
    for server in [once, sqlite, clickhouse] {
        server.stop().await;
    }
}

/// The answer to a read past a limit: 503, the limit and its flag named, nothing from the
/// database.
async fn assert_limited(server: &TestServer, path: &str, limit: &str, flag: &str) {
    let (status, body) = get(server, path).await;
    assert_eq!(status, 503, "{path}: {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(limit) && message.contains(flag),
        "{path}: {message}"
    );
    let text = body.to_string().to_lowercase();
    for database_words in [
        "code:",
        "db::exception",
        "sqlite",
        "interrupt",
        "memory_limit",
    ] {
        assert!(!text.contains(database_words), "{path}: {body}");
    }
}

async fn reads_past_a_limit_answer_503_naming_it(engine: Engine) {
    let scenario = Scenario::new();
    let database = database_for("limits");
    let sqlite = TestServer::start().await;
    let clickhouse = TestServer::start_on_engine(engine, &database, |_| {}).await;
    for server in [&sqlite, &clickhouse] {
        load(server, &scenario).await;
        wait_until_stored(server, &scenario).await;
    }
    let paths = [
        format!(
            "/api/v1/performance?group_by=name&interval=1m&{}",
            scenario.range()
        ),
        format!("/api/v1/genai/usage?{}", scenario.range()),
        format!("/api/v1/operations/{}", operation_id(SEED)),
    ];

    // The same data, read through stores with tiny limits.
    let tiny_time = QueryLimits {
        timeout: Duration::from_micros(1),
        ..QueryLimits::default()
    };
    let sqlite_store = SqliteStore::open_with_limits(sqlite.dir.path(), tiny_time)
        .await
        .expect("second sqlite store on the same file");
    let slow_sqlite =
        TestServer::start_with(|_| {}, Some(Arc::new(sqlite_store) as Arc<dyn Store>)).await;
    let slow_clickhouse = TestServer::start_on_engine(engine, &database, |config| {
        if let Some(clickhouse) = &mut config.clickhouse {
            clickhouse.query_limits = tiny_time;
        }
    })
    .await;
    let small_clickhouse = TestServer::start_on_engine(engine, &database, |config| {
        if let Some(clickhouse) = &mut config.clickhouse {
            clickhouse.query_limits.max_memory_bytes = 1024;
        }
    })
    .await;
    for path in &paths {
        assert_limited(&slow_sqlite, path, "time limit of 1µs", "--query-timeout").await;
        assert_limited(
            &slow_clickhouse,
            path,
            "time limit of 1µs",
            "--query-timeout",
        )
        .await;
    }
    // Point lookups may fit in 1 KiB; aggregations do not.
    for path in &paths[..2] {
        assert_limited(
            &small_clickhouse,
            path,
            "memory limit of 1KiB",
            "--query-max-memory",
        )
        .await;
    }
    for server in [
        sqlite,
        clickhouse,
        slow_sqlite,
        slow_clickhouse,
        small_clickhouse,
    ] {
        server.stop().await;
    }
}
