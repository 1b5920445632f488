//! The ClickHouse store on both engines (Debian's 18.16 and chDB's current ClickHouse):
//! migrations with the version-gated extras, the row types against the migrated schema, every
//! table written and read back, replays that do not duplicate, retention and keys.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::clickhouse::{Engine, both_stores, database_for, on_both_engines, query};
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

on_both_engines!(
    migrations_apply_from_empty_rerun_and_race,
    row_types_match_the_migrated_schema,
    every_table_reads_back_as_sqlite_does,
    replaying_a_landed_batch_inserts_nothing_twice,
    a_resent_insert_is_deduplicated_where_the_server_has_tokens,
    retention_drops_whole_days,
    a_replayed_group_leaves_out_only_the_batches_that_landed,
    keys_read_back_with_their_latest_revocation_on_both_stores,
    tokens_read_back_with_their_latest_revocation_on_both_stores,
    the_printed_ddl_is_what_migrate_applies,
);

fn config(engine: Engine, database: &str) -> ClickHouseConfig {
    engine.config(database)
}

async fn sql(engine: Engine, statement: &str) -> String {
    query(&engine.url(), statement)
        .await
        .unwrap_or_else(|e| panic!("{engine:?}: {statement}: {e}"))
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

async fn migrations_apply_from_empty_rerun_and_race(engine: Engine) {
    let database = database_for("migrations");
    let mut settings = config(engine, &database);
    settings.retention_days = 30;
    let (a, b) = tokio::join!(
        ClickHouseStore::open(&settings),
        ClickHouseStore::open(&settings)
    );
    a.expect("first migrator");
    b.expect("concurrent migrator");
    let store = ClickHouseStore::open(&settings).await.expect("rerun");
    // The storage extras are on exactly where the engine has them, and in the tables.
    let features = store.features().expect("connected");
    let current = engine == Engine::Chdb;
    assert_eq!(
        (
            features.low_cardinality,
            features.codecs,
            features.ttl,
            features.skip_indexes,
            features.insert_dedup_token
        ),
        (current, current, current, current, current),
        "{engine:?}"
    );
    let ddl = sql(
        engine,
        &format!(
            "SELECT create_table_query FROM system.tables \
             WHERE database = '{database}' AND name = 'requests' FORMAT TSVRaw"
        ),
    )
    .await;
    for (on, text) in [
        (features.low_cardinality, "LowCardinality(String)"),
        (features.codecs, "CODEC("),
        (features.skip_indexes, "INDEX "),
        (features.ttl, "TTL "),
        (
            features.insert_dedup_token,
            "non_replicated_deduplication_window",
        ),
    ] {
        assert_eq!(ddl.contains(text), on, "{engine:?} {text}: {ddl}");
    }
    let versions = sql(
        engine,
        &format!(
            "SELECT DISTINCT version FROM {database}.schema_migrations ORDER BY version FORMAT TSV"
        ),
    )
    .await;
    let expected: Vec<String> = MIGRATIONS.iter().map(|(v, _, _)| v.to_string()).collect();
    assert_eq!(versions.lines().collect::<Vec<_>>(), expected);
    let tables = sql(
        engine,
        &format!("SELECT count() FROM system.tables WHERE database = '{database}' FORMAT TSV"),
    )
    .await;
    assert_eq!(
        tables.trim(),
        (tracehouse::model::TABLES.len() + 10).to_string(),
        "items, operations, keys, tokens, alert state, history and leases, scores, rollups, \
         429 attempts, migrations"
    );
    // A migrator that finds the columns of an ALTER already there (another instance added
    // them since it read the record) takes the migration as applied.
    sql(engine, &format!("DROP TABLE {database}.schema_migrations")).await;
    ClickHouseStore::open(&settings)
        .await
        .expect("rerun over columns already added");
    let versions = sql(
        engine,
        &format!(
            "SELECT DISTINCT version FROM {database}.schema_migrations ORDER BY version FORMAT TSV"
        ),
    )
    .await;
    assert_eq!(versions.lines().collect::<Vec<_>>(), expected);
}

async fn assert_columns<T: TableRow>(engine: Engine, database: &str) {
    let listed = sql(
        engine,
        &format!(
            "SELECT name, type FROM system.columns WHERE database = '{database}' AND table = '{}' \
         AND default_kind != 'MATERIALIZED' FORMAT TSV",
            T::TABLE
        ),
    )
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

async fn row_types_match_the_migrated_schema(engine: Engine) {
    let database = database_for("schema");
    ClickHouseStore::open(&config(engine, &database))
        .await
        .expect("open");
    assert_columns::<Request>(engine, &database).await;
    assert_columns::<Dependency>(engine, &database).await;
    assert_columns::<Exception>(engine, &database).await;
    assert_columns::<Trace>(engine, &database).await;
    assert_columns::<CustomEvent>(engine, &database).await;
    assert_columns::<CustomMetric>(engine, &database).await;
    assert_columns::<PageView>(engine, &database).await;
    assert_columns::<Availability>(engine, &database).await;
    assert_columns::<PerformanceCounter>(engine, &database).await;
}

async fn every_table_reads_back_as_sqlite_does(engine: Engine) {
    let database = database_for("roundtrip");
    let clickhouse = ClickHouseStore::open(&config(engine, &database))
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
            .operation("rag", operation)
            .await
            .expect("clickhouse read");
        let from_sqlite = sqlite
            .operation("rag", operation)
            .await
            .expect("sqlite read");
        assert!(!from_clickhouse.spans.is_empty());
        assert_eq!(from_clickhouse, from_sqlite, "{operation}");
    }
    let ok = clickhouse
        .operation("rag", "525c5c3e165dd9b6d4c8f046107e8324")
        .await
        .expect("read");
    assert_eq!(ok.traces.len(), 12);
    assert_eq!(ok.events.len(), 1);
    let metrics_query = MetricQuery {
        range: TimeRange {
            from_ns: 0,
            to_ns: i64::MAX,
        },
        scope: tracehouse::reads::AppScope::All,
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
        let count = sql(
            engine,
            &format!("SELECT count() FROM {database}.{table} FORMAT TSV"),
        )
        .await;
        assert_eq!(count.trim(), "1", "{table}");
    }
}

async fn replaying_a_landed_batch_inserts_nothing_twice(engine: Engine) {
    use tracehouse::store::SpooledWrites;
    let database = database_for("replay");
    let store = ClickHouseStore::open(&config(engine, &database))
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
            sql(
                engine,
                &format!("SELECT count() FROM {database}.{table} FORMAT TSV"),
            )
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

/// A spooled insert sent again as it was (same batch, not marked uncertain) is dropped by the
/// server where it has insert deduplication tokens; 18.16 has none and stores it twice, which
/// is why uncertain replays count rows by `_batch_id` first.
async fn a_resent_insert_is_deduplicated_where_the_server_has_tokens(engine: Engine) {
    use tracehouse::store::SpooledWrites;
    let database = database_for("dedup_token");
    let store = ClickHouseStore::open(&config(engine, &database))
        .await
        .expect("open");
    let payload = Bytes::from(store.encode(&fixture_batch(), 91).expect("encode"));
    let statement = format!("SELECT count() FROM {database}.requests FORMAT TSV");
    let count = || sql(engine, &statement);
    store
        .write_encoded(std::slice::from_ref(&payload), false)
        .await
        .expect("first insert");
    let once: u64 = count().await.trim().parse().expect("number");
    assert!(once > 0);
    store
        .write_encoded(&[payload], false)
        .await
        .expect("the same insert again");
    let after: u64 = count().await.trim().parse().expect("number");
    let tokens = store.features().expect("connected").insert_dedup_token;
    assert_eq!(tokens, engine == Engine::Chdb);
    assert_eq!(after, if tokens { once } else { 2 * once }, "{engine:?}");
}

async fn retention_drops_whole_days(engine: Engine) {
    let database = database_for("retention");
    let store = ClickHouseStore::open(&config(engine, &database))
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
    let count = sql(
        engine,
        &format!("SELECT count() FROM {database}.requests FORMAT TSV"),
    )
    .await;
    assert_eq!(count.trim(), "0");
    assert!(
        store
            .operation("rag", "525c5c3e165dd9b6d4c8f046107e8324")
            .await
            .expect("read")
            .is_empty()
    );
}

async fn a_replayed_group_leaves_out_only_the_batches_that_landed(engine: Engine) {
    use tracehouse::store::SpooledWrites;
    let database = database_for("group_replay");
    let store = ClickHouseStore::open(&config(engine, &database))
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
    let per_batch = sql(engine, &format!(
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

async fn keys_read_back_with_their_latest_revocation_on_both_stores(engine: Engine) {
    let (clickhouse, sqlite, _dir) = both_stores(engine, "keys").await;
    let stores: [&dyn Store; 2] = [&clickhouse, &sqlite];
    for store in stores {
        // Issued in the opposite order of their text, so the order checked is by creation.
        let mut key = KeyRecord {
            key: "1f8fad5b-d9cb-469f-a165-70867728950e".into(),
            app: "shop".into(),
            created_ns: 1_000,
            revoked_ns: None,
        };
        store.save_key(&key).await.expect("save");
        let other = KeyRecord {
            key: "0f8fad5b-d9cb-469f-a165-70867728950e".into(),
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

async fn tokens_read_back_with_their_latest_revocation_on_both_stores(engine: Engine) {
    let (clickhouse, sqlite, _dir) = both_stores(engine, "tokens").await;
    let stores: [&dyn Store; 2] = [&clickhouse, &sqlite];
    for store in stores {
        let grant = |apps: &[&str], all_apps| tracehouse::tokens::Grant {
            name: "grafana, \"prod\"".into(),
            apps: apps.iter().map(|a| (*a).to_owned()).collect(),
            all_apps,
            role: tracehouse::reads::records::TokenRole::Admin,
        };
        let (_, mut first) =
            tracehouse::tokens::issue(grant(&["shop", "a,b"], false), 1_000).expect("random");
        let (_, second) = tracehouse::tokens::issue(grant(&[], true), 2_000).expect("random");
        store.save_token(&first).await.expect("save");
        store.save_token(&second).await.expect("save");
        first.revoked_ns = Some(3_000);
        store.save_token(&first).await.expect("revoke");
        assert_eq!(
            store.tokens().await.expect("tokens"),
            [first, second],
            "{}",
            store.name()
        );
    }
}

/// `tracehouse migrate --print --clickhouse-version V` for the engine's own version, applied by
/// hand, builds the same tables as the store's migration.
async fn the_printed_ddl_is_what_migrate_applies(engine: Engine) {
    let version = sql(engine, "SELECT version() FORMAT TSV").await;
    let printed_database = database_for("printed");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tracehouse"))
        .args([
            "migrate",
            "--print",
            "--retention-days",
            "0",
            "--clickhouse-version",
        ])
        .arg(version.trim())
        .args(["--clickhouse-database", &printed_database])
        .output()
        .expect("tracehouse runs");
    assert!(output.status.success(), "{output:?}");
    let script = String::from_utf8(output.stdout).expect("utf-8");
    assert!(script.starts_with("-- ClickHouse "), "{script}");
    for statement in script.split(";\n") {
        let statement: Vec<&str> = statement
            .lines()
            .filter(|line| !line.trim_start().starts_with("--"))
            .collect();
        let statement = statement.join("\n");
        if !statement.trim().is_empty() {
            sql(engine, &statement).await;
        }
    }
    let migrated_database = database_for("migrated");
    ClickHouseStore::open(&config(engine, &migrated_database))
        .await
        .expect("migrate");
    // Each table's full definition (types, codecs, indexes, TTL, settings) as the server
    // reports it, with the database name taken out.
    let tables = |database: String| async move {
        sql(
            engine,
            &format!(
                "SELECT name, replaceAll(create_table_query, '{database}', 'db') \
                 FROM system.tables WHERE database = '{database}' ORDER BY name FORMAT TSV"
            ),
        )
        .await
    };
    let printed = tables(printed_database).await;
    assert_eq!(
        printed.lines().count(),
        tracehouse::model::TABLES.len() + 10,
        "{printed}"
    );
    assert_eq!(printed, tables(migrated_database).await, "{engine:?}");
}
