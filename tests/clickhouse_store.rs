//! The ClickHouse store against a real server (Debian's 18.16 in CI): migrations, the row types
//! against the migrated schema, every table written and read back, replays that do not
//! duplicate, and retention.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::clickhouse::{database_for, query, shared_url};
use common::fixture;
use tracehouse::model::{
    Availability, Batch, CustomEvent, CustomMetric, Dependency, Exception, Item, PageView,
    PerformanceCounter, Request, TableRow, Trace,
};
use tracehouse::normalize::{Context, Limits};
use tracehouse::store::clickhouse::schema::MIGRATIONS;
use tracehouse::store::clickhouse::{ClickHouseConfig, ClickHouseStore, rowbinary};
use tracehouse::store::sqlite::SqliteStore;
use tracehouse::store::{KeyRecord, MetricQuery, Store, TimeRange};

fn config(database: &str) -> ClickHouseConfig {
    ClickHouseConfig {
        url: shared_url(),
        user: None,
        password: None,
        database: database.to_owned(),
        retention_days: 0,
    }
}

async fn sql(statement: &str) -> String {
    query(&shared_url(), statement)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"))
}

/// Every fixture of the 429 scenario, normalized into one batch.
fn fixture_batch() -> Batch {
    let limits = Limits {
        max_item_age_ns: i64::MAX / 2,
        ..Limits::default()
    };
    let ctx = Context {
        limits: &limits,
        now_ns: tracehouse::clock::now_ns(),
        ikey: "k".into(),
        app_name: "rag".into(),
    };
    let mut batch = Batch::default();
    for name in ["otlp/rag-api-traces-2.json", "otlp/rag-api-traces-4.json"] {
        let request: opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest =
            serde_json::from_slice(&fixture(name)).expect("fixture");
        let body = prost::Message::encode_to_vec(&request);
        batch.append(
            tracehouse::normalize::traces(&body, &ctx)
                .expect("frames")
                .batch,
        );
    }
    for name in [
        "otlp/rag-api-logs-1.json",
        "otlp/rag-api-logs-3.json",
        "otlp/rag-api-logs-5.json",
    ] {
        let request: opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest =
            serde_json::from_slice(&fixture(name)).expect("fixture");
        let body = prost::Message::encode_to_vec(&request);
        batch.append(
            tracehouse::normalize::logs(&body, &ctx)
                .expect("frames")
                .batch,
        );
    }
    batch
}

/// One row in each table that the fixtures do not fill.
fn other_tables(batch: &mut Batch) {
    let common = batch.requests[0].common.clone();
    batch.custom_events.push(Item {
        common: common.clone(),
        data: CustomEvent {
            name: "AnswerRated".into(),
        },
    });
    batch.custom_metrics.push(Item {
        common: common.clone(),
        data: CustomMetric {
            name: "latency".into(),
            metric_type: "histogram",
            value: 3.0,
            value_count: 2,
            bucket_bounds: vec![1.0, 2.0],
            bucket_counts: vec![1, 0, 1],
            ..CustomMetric::default()
        },
    });
    batch.page_views.push(Item {
        common: common.clone(),
        data: PageView {
            name: "home".into(),
            ..PageView::default()
        },
    });
    batch.availability_results.push(Item {
        common: common.clone(),
        data: Availability {
            name: "ping".into(),
            success: true,
            ..Availability::default()
        },
    });
    batch.performance_counters.push(Item {
        common,
        data: PerformanceCounter {
            name: "\\Memory\\Available Bytes".into(),
            value: 1.0,
            ..PerformanceCounter::default()
        },
    });
}

#[tokio::test]
async fn migrations_apply_from_empty_rerun_and_race() {
    let database = database_for("migrations");
    let settings = config(&database);
    let (a, b) = tokio::join!(
        ClickHouseStore::open(&settings),
        ClickHouseStore::open(&settings)
    );
    a.expect("first migrator");
    b.expect("concurrent migrator");
    ClickHouseStore::open(&config(&database))
        .await
        .expect("rerun");
    let versions = sql(&format!(
        "SELECT DISTINCT version FROM {database}.schema_migrations ORDER BY version FORMAT TSV"
    ))
    .await;
    let expected: Vec<String> = MIGRATIONS.iter().map(|(v, _, _)| v.to_string()).collect();
    assert_eq!(versions.lines().collect::<Vec<_>>(), expected);
    let tables = sql(&format!(
        "SELECT count() FROM system.tables WHERE database = '{database}' FORMAT TSV"
    ))
    .await;
    assert_eq!(
        tables.trim(),
        (tracehouse::model::TABLES.len() + 3).to_string(),
        "items, operations, keys, migrations"
    );
}

async fn assert_columns<T: TableRow>(database: &str) {
    let listed = sql(&format!(
        "SELECT name, type FROM system.columns WHERE database = '{database}' AND table = '{}' \
         AND default_kind != 'MATERIALIZED' FORMAT TSV",
        T::TABLE
    ))
    .await;
    let actual: Vec<(String, String)> = listed
        .lines()
        .map(|line| {
            let (name, ty) = line.split_once('\t').unwrap_or((line, ""));
            let ty = ty.replace("LowCardinality(String)", "String");
            (name.to_owned(), ty)
        })
        .collect();
    let expected: Vec<(String, String)> = rowbinary::columns::<T>()
        .into_iter()
        .map(|(name, ty)| (name, ty.to_owned()))
        .collect();
    assert_eq!(actual, expected, "{}", T::TABLE);
}

#[tokio::test]
async fn row_types_match_the_migrated_schema() {
    let database = database_for("schema");
    ClickHouseStore::open(&config(&database))
        .await
        .expect("open");
    assert_columns::<Request>(&database).await;
    assert_columns::<Dependency>(&database).await;
    assert_columns::<Exception>(&database).await;
    assert_columns::<Trace>(&database).await;
    assert_columns::<CustomEvent>(&database).await;
    assert_columns::<CustomMetric>(&database).await;
    assert_columns::<PageView>(&database).await;
    assert_columns::<Availability>(&database).await;
    assert_columns::<PerformanceCounter>(&database).await;
}

#[tokio::test]
async fn every_table_reads_back_as_sqlite_does() {
    let database = database_for("roundtrip");
    let clickhouse = ClickHouseStore::open(&config(&database))
        .await
        .expect("open");
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = SqliteStore::open(dir.path()).await.expect("sqlite");
    let mut batch = fixture_batch();
    other_tables(&mut batch);
    let batch = Arc::new(batch);
    clickhouse
        .write(Arc::clone(&batch))
        .await
        .expect("clickhouse write");
    sqlite
        .write(Arc::clone(&batch))
        .await
        .expect("sqlite write");

    for operation in [
        "525c5c3e165dd9b6d4c8f046107e8324",
        "233bb220b39d9a063db72d57fde61b76",
    ] {
        let from_clickhouse = clickhouse
            .operation(operation)
            .await
            .expect("clickhouse read");
        let from_sqlite = sqlite.operation(operation).await.expect("sqlite read");
        assert!(!from_clickhouse.spans.is_empty());
        assert_eq!(from_clickhouse, from_sqlite, "{operation}");
    }
    let ok = clickhouse
        .operation("525c5c3e165dd9b6d4c8f046107e8324")
        .await
        .expect("read");
    assert_eq!(ok.traces.len(), 12);
    assert_eq!(ok.events.len(), 1);
    let metrics_query = MetricQuery {
        range: TimeRange {
            from_ns: 0,
            to_ns: i64::MAX,
        },
        name: None,
        limit: 100,
    };
    let metrics = clickhouse.metrics(&metrics_query).await.expect("metrics");
    assert_eq!(
        metrics,
        sqlite
            .metrics(&metrics_query)
            .await
            .expect("sqlite metrics")
    );
    assert_eq!(metrics[0].bucket_counts, vec![1, 0, 1]);
    for table in [
        "pageViews",
        "availabilityResults",
        "performanceCounters",
        "customEvents",
    ] {
        let count = sql(&format!(
            "SELECT count() FROM {database}.{table} FORMAT TSV"
        ))
        .await;
        assert_eq!(count.trim(), "1", "{table}");
    }
}

#[tokio::test]
async fn replaying_a_landed_batch_inserts_nothing_twice() {
    use tracehouse::store::SpooledWrites;
    let database = database_for("replay");
    let store = ClickHouseStore::open(&config(&database))
        .await
        .expect("open");
    let payload = Bytes::from(store.encode(&fixture_batch(), 77).expect("encode"));
    store
        .write_encoded(std::slice::from_ref(&payload), false)
        .await
        .expect("first attempt");
    let count = |table: &'static str| {
        let database = database.clone();
        async move {
            sql(&format!(
                "SELECT count() FROM {database}.{table} FORMAT TSV"
            ))
            .await
            .trim()
            .to_owned()
        }
    };
    let before = (
        count("requests").await,
        count("dependencies").await,
        count("traces").await,
    );
    store
        .write_encoded(std::slice::from_ref(&payload), true)
        .await
        .expect("uncertain replay");
    store
        .write_encoded(&[payload], true)
        .await
        .expect("second replay");
    assert_eq!(
        (
            count("requests").await,
            count("dependencies").await,
            count("traces").await
        ),
        before
    );

    let fresh = Bytes::from(store.encode(&fixture_batch(), 78).expect("encode"));
    store
        .write_encoded(&[fresh], true)
        .await
        .expect("uncertain first attempt");
    let after: u64 = count("requests").await.parse().expect("number");
    assert_eq!(
        after,
        2 * before.0.parse::<u64>().expect("number"),
        "an uncertain batch that never landed is inserted"
    );
}

#[tokio::test]
async fn retention_drops_whole_days() {
    let database = database_for("retention");
    let store = ClickHouseStore::open(&config(&database))
        .await
        .expect("open");
    let batch = Arc::new(fixture_batch());
    store.write(Arc::clone(&batch)).await.expect("write");
    let fixture_day = batch.requests[0].common.timestamp_ns / 86_400_000_000_000;
    const DAY_NS: i64 = 86_400_000_000_000;
    assert_eq!(
        store
            .enforce_retention(fixture_day * DAY_NS)
            .await
            .expect("keep"),
        0
    );
    let dropped = store
        .enforce_retention((fixture_day + 1) * DAY_NS)
        .await
        .expect("drop");
    assert!(
        dropped >= 4,
        "requests, dependencies, exceptions, traces, operations: {dropped}"
    );
    let count = sql(&format!(
        "SELECT count() FROM {database}.requests FORMAT TSV"
    ))
    .await;
    assert_eq!(count.trim(), "0");
    assert!(
        store
            .operation("525c5c3e165dd9b6d4c8f046107e8324")
            .await
            .expect("read")
            .is_empty()
    );
}

#[tokio::test]
async fn a_replayed_group_leaves_out_only_the_batches_that_landed() {
    use tracehouse::store::SpooledWrites;
    let database = database_for("group_replay");
    let store = ClickHouseStore::open(&config(&database))
        .await
        .expect("open");
    let landed = Bytes::from(store.encode(&fixture_batch(), 101).expect("encode"));
    let pending = Bytes::from(store.encode(&fixture_batch(), 102).expect("encode"));
    store
        .write_encoded(std::slice::from_ref(&landed), false)
        .await
        .expect("first batch alone");
    store
        .write_encoded(&[landed, pending], true)
        .await
        .expect("both, uncertain");
    let per_batch = sql(&format!(
        "SELECT _batch_id, count() FROM {database}.dependencies GROUP BY _batch_id ORDER BY _batch_id FORMAT TSV"
    ))
    .await;
    let rows: Vec<&str> = per_batch.lines().collect();
    assert_eq!(rows.len(), 2, "{per_batch}");
    let counts: Vec<&str> = rows
        .iter()
        .map(|r| r.split('\t').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(counts[0], counts[1], "each batch stored once: {per_batch}");
}

#[tokio::test]
async fn keys_read_back_with_their_latest_revocation_on_both_stores() {
    let database = database_for("keys");
    let clickhouse = ClickHouseStore::open(&config(&database))
        .await
        .expect("clickhouse");
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = SqliteStore::open(dir.path()).await.expect("sqlite");
    let stores: [&dyn Store; 2] = [&clickhouse, &sqlite];
    for store in stores {
        let mut key = KeyRecord {
            key: "0f8fad5b-d9cb-469f-a165-70867728950e".into(),
            app: "shop".into(),
            created_ns: 1_000,
            revoked_ns: None,
        };
        store.save_key(&key).await.expect("save");
        let other = KeyRecord {
            key: "1f8fad5b-d9cb-469f-a165-70867728950e".into(),
            app: "billing".into(),
            created_ns: 2_000,
            revoked_ns: None,
        };
        store.save_key(&other).await.expect("save");
        key.revoked_ns = Some(3_000);
        store.save_key(&key).await.expect("revoke");
        assert_eq!(
            store.keys().await.expect("keys"),
            [key.clone(), other],
            "{}",
            store.name()
        );
    }
}
