//! The per-minute rollups on every store: binned stats count exactly what exact stats count,
//! their percentiles stay within a fine bucket's width, the duration histogram read from the
//! rollups is the spans' own, on ranges aligned to minutes and cut through them; SQLite and
//! ClickHouse answer binned reads alike; and spans stored before the rollups existed are rolled
//! up by the migration that adds them.

mod common;

use std::sync::Arc;

use common::clickhouse::{Engine, both_stores, forget_migration, on_both_engines, query};
use tracehouse::model::{Batch, Common, Dependency, GenAi, Item, Request, Resource};
use tracehouse::reads::{
    AppScope, Column, Filter, Percentiles, Selection, Source, StatsQuery, StatsRow, TimeRange,
};
use tracehouse::store::Store;
use tracehouse::store::sqlite::SqliteStore;

on_both_engines!(
    clickhouse_buckets_durations_as_rust_does,
    binned_reads_count_what_exact_reads_count,
    clickhouse_rolls_up_what_it_stored_before_the_rollups,
    clickhouse_rolls_up_batches_spooled_without_rollups,
);

const MINUTE: i64 = 60_000_000_000;
const SPANS: i64 = 900;

/// 900 requests, one every 2.2 s over 33 minutes, across two roles and three names, each with
/// an Azure OpenAI call; every 7th call answered 429 first (its retry is a second call).
fn batch(base_ns: i64) -> Batch {
    let roles = [
        Arc::new(Resource {
            cloud_role_name: "chat-api".into(),
            ..Resource::default()
        }),
        Arc::new(Resource {
            cloud_role_name: "search-svc".into(),
            ..Resource::default()
        }),
    ];
    let mut batch = Batch::default();
    for i in 0..SPANS {
        let ts = base_ns + i * 2_200_000_000;
        let common = |offset_ns: i64| Common {
            timestamp_ns: ts + offset_ns,
            app_name: "shop".into(),
            operation_id: format!("{i:032x}"),
            operation_name: ["POST /chat", "GET /search", "GET /health"][(i % 3) as usize].into(),
            resource: roles[(i % 2) as usize].clone(),
            item_count: if i % 11 == 0 { 4 } else { 1 },
            ..Common::default()
        };
        let failed = i % 13 == 0;
        batch.requests.push(Item {
            common: common(0),
            data: Request {
                name: ["POST /chat", "GET /search", "GET /health"][(i % 3) as usize].into(),
                result_code: if failed { "500" } else { "200" }.into(),
                success: !failed,
                // Some durations on a bucket bound: every store must bucket them alike.
                duration_ms: if i % 50 == 0 {
                    tracehouse::reads::binned::fine_bounds()[(450 + i / 50) as usize]
                } else {
                    3.0 + ((i * 7_919) % 4_000) as f64 * 1.37
                },
                ..Request::default()
            },
        });
        let call = |offset_ns: i64, code: &str, ms: f64| Item {
            common: common(offset_ns),
            data: Dependency {
                name: "chat gpt-4o".into(),
                dependency_type: "HTTP".into(),
                target: "myaoai.openai.azure.com".into(),
                result_code: code.into(),
                success: code == "200",
                duration_ms: ms,
                genai: GenAi {
                    provider: "azure.ai.openai".into(),
                    request_model: "gpt-4o".into(),
                    input_tokens: 100 + (i % 50) as u64,
                    output_tokens: 20 + (i % 9) as u64,
                    ..GenAi::default()
                }
                .into(),
                ..Dependency::default()
            },
        };
        if i % 7 == 0 {
            batch
                .dependencies
                .push(call(1_000_000, "429", 250.0 + i as f64));
        }
        batch
            .dependencies
            .push(call(2_000_000, "200", 800.0 + ((i * 31) % 700) as f64));
    }
    batch
}

fn stats_query(
    source: Source,
    range: TimeRange,
    filters: Vec<Filter>,
    group_by: Vec<Column>,
    bucket_s: Option<u32>,
) -> StatsQuery {
    StatsQuery {
        selection: Selection {
            source,
            range,
            scope: AppScope::one("shop"),
            filters,
        },
        group_by,
        bucket_s,
        percentiles: Percentiles::Binned,
    }
}

/// Every read a page asks, over the given range.
fn queries(range: TimeRange) -> Vec<StatsQuery> {
    use Column::*;
    vec![
        stats_query(Source::Requests, range, vec![], vec![Name], None),
        stats_query(Source::Requests, range, vec![], vec![], Some(300)),
        stats_query(
            Source::Requests,
            range,
            vec![],
            vec![RoleName, ResultCode],
            Some(60),
        ),
        stats_query(
            Source::Requests,
            range,
            vec![Filter::Equals(Success, "false".into())],
            vec![ResultCode],
            None,
        ),
        stats_query(
            Source::Dependencies,
            range,
            vec![],
            vec![Type, Target],
            None,
        ),
        stats_query(
            Source::Dependencies,
            range,
            vec![Filter::NotEmpty(GenAiProvider)],
            vec![GenAiProvider, GenAiModel, Target],
            Some(60),
        ),
        stats_query(
            Source::Dependencies,
            range,
            vec![Filter::Equals(OperationName, "POST /chat".into())],
            vec![ResultCode],
            None,
        ),
    ]
}

fn assert_close(binned: &StatsRow, exact: &StatsRow, what: &str) {
    assert_eq!(
        (&binned.group, binned.bucket_ns, binned.count, binned.failed),
        (&exact.group, exact.bucket_ns, exact.count, exact.failed),
        "{what}"
    );
    assert_eq!(
        (binned.input_tokens, binned.output_tokens, binned.throttled),
        (exact.input_tokens, exact.output_tokens, exact.throttled),
        "{what}"
    );
    assert_eq!(binned.duration_max_ms, exact.duration_max_ms, "{what}");
    assert_eq!(
        (&binned.latest_operation_id, binned.latest_timestamp_ns),
        (&exact.latest_operation_id, exact.latest_timestamp_ns),
        "{what}"
    );
    let near = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    assert!(
        near(binned.duration_sum_ms, exact.duration_sum_ms),
        "{what}"
    );
    assert!(near(binned.throttled_ms, exact.throttled_ms), "{what}");
    // One fine bucket spans a factor of 10^(1/100).
    let width = 10f64.powf(0.01) * (1.0 + 1e-9);
    for (b, e) in binned.percentiles_ms.iter().zip(exact.percentiles_ms) {
        assert!(
            *b <= e * width && *b * width >= e,
            "{what}: {b} against {e}"
        );
    }
}

/// Binned against exact on one store; the binned rows for comparing stores.
async fn binned_against_exact(store: &dyn Store, ranges: &[TimeRange]) -> Vec<Vec<StatsRow>> {
    let mut answers = Vec::new();
    let mut estimated = 0;
    for range in ranges {
        for query in queries(*range) {
            let binned = store.stats(&query, 10_000).await.expect("binned");
            let exact_query = StatsQuery {
                percentiles: Percentiles::Exact,
                ..query.clone()
            };
            let exact = store.stats(&exact_query, 10_000).await.expect("exact");
            let what = format!("{} {query:?}", store.name());
            assert!(!exact.is_empty(), "{what}");
            assert_eq!(binned.len(), exact.len(), "{what}");
            for (b, e) in binned.iter().zip(&exact) {
                assert_close(b, e, &what);
                estimated += usize::from(b.percentiles_ms != e.percentiles_ms);
            }
            let histogram = store
                .duration_histogram(&query.selection)
                .await
                .expect("histogram");
            assert_eq!(
                histogram.total(),
                exact.iter().map(|r| r.count).sum::<u64>()
            );
            answers.push(binned);
        }
    }
    // The rollups answered (an exact read would match to the last digit).
    assert!(estimated > 0, "{}: every percentile exact", store.name());
    answers
}

fn ranges(base_ns: i64) -> Vec<TimeRange> {
    vec![
        // Whole minutes only.
        TimeRange {
            from_ns: base_ns - MINUTE,
            to_ns: base_ns + 40 * MINUTE,
        },
        // Cut through minutes at both ends (spans there are read from the table).
        TimeRange {
            from_ns: base_ns + 3 * MINUTE + 17_300_000_000,
            to_ns: base_ns + 21 * MINUTE + 41_100_000_000,
        },
        // Shorter than a minute: spans only.
        TimeRange {
            from_ns: base_ns + 5 * MINUTE + 1,
            to_ns: base_ns + 5 * MINUTE + 50_000_000_000,
        },
    ]
}

async fn binned_reads_count_what_exact_reads_count(engine: Engine) {
    let (clickhouse, sqlite, _dir) = both_stores(engine, "rollups").await;
    let now = tracehouse::clock::now_ns();
    let base_ns = (now - 2 * 3_600_000_000_000).div_euclid(MINUTE) * MINUTE;
    // Written twice, as two batches of the same minutes are: the rollups add both.
    let batch = Arc::new(batch(base_ns));
    for _ in 0..2 {
        clickhouse
            .write(batch.clone())
            .await
            .expect("clickhouse write");
        sqlite.write(batch.clone()).await.expect("sqlite write");
    }
    let ranges = ranges(base_ns);
    let on_clickhouse = binned_against_exact(&clickhouse, &ranges).await;
    let on_sqlite = binned_against_exact(&sqlite, &ranges).await;
    for (ch, lite) in on_clickhouse.iter().zip(&on_sqlite) {
        assert_eq!(ch.len(), lite.len());
        for (c, l) in ch.iter().zip(lite) {
            assert_close(c, l, &format!("{engine:?} against sqlite"));
        }
    }
    // A rollup row per minute and combination: far fewer rows than spans.
    let rows = query(
        &engine.url(),
        &format!(
            "SELECT count() FROM `{}`.`span_rollups`",
            clickhouse.database()
        ),
    )
    .await
    .expect("count");
    let rows: i64 = rows.trim().parse().expect("a count");
    // Two writes of 900 requests and their calls: fewer rows than requests written.
    assert!(rows > 0 && rows < 2 * SPANS, "{rows} rollup rows");
}

/// A database written before the rollups (their table and migration removed) gets them from
/// the migration that adds them, counted once.
#[tokio::test]
async fn sqlite_rolls_up_what_it_stored_before_the_rollups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = tracehouse::clock::now_ns();
    let base_ns = (now - 2 * 3_600_000_000_000).div_euclid(MINUTE) * MINUTE;
    {
        let store = SqliteStore::open(dir.path()).await.expect("open");
        store.write(Arc::new(batch(base_ns))).await.expect("write");
    }
    let file = dir.path().join(tracehouse::store::sqlite::DATABASE_FILE);
    let connection = rusqlite::Connection::open(&file).expect("connection");
    connection
        .execute_batch(
            "DROP TABLE span_rollups; DROP INDEX dependencies_throttled; \
             DELETE FROM schema_migrations WHERE version = 8;",
        )
        .expect("rollups removed");
    drop(connection);
    let store = SqliteStore::open(dir.path()).await.expect("reopen");
    binned_against_exact(&store, &ranges(base_ns)).await;
    // Opening again does not roll up twice.
    drop(store);
    let store = SqliteStore::open(dir.path()).await.expect("reopen");
    binned_against_exact(&store, &ranges(base_ns)).await;
    // Another batch of the same minutes adds into their rows: one row per minute and
    // combination however many batches were written.
    let rows = || {
        rusqlite::Connection::open(&file)
            .expect("connection")
            .query_row("SELECT count() FROM span_rollups", [], |row| {
                row.get::<_, i64>(0)
            })
            .expect("count")
    };
    let before = rows();
    store.write(Arc::new(batch(base_ns))).await.expect("write");
    assert_eq!(rows(), before);
    assert!(before < SPANS, "{before} rows");
    binned_against_exact(&store, &ranges(base_ns)).await;
}

/// The same on ClickHouse, where the migration rolls up on the server; run again (a migration
/// that failed half-way, or two instances), it adds nothing twice.
async fn clickhouse_rolls_up_what_it_stored_before_the_rollups(engine: Engine) {
    let (clickhouse, _sqlite, _dir) = both_stores(engine, "rollup_backfill").await;
    let database = clickhouse.database().to_owned();
    let now = tracehouse::clock::now_ns();
    let base_ns = (now - 2 * 3_600_000_000_000).div_euclid(MINUTE) * MINUTE;
    clickhouse
        .write(Arc::new(batch(base_ns)))
        .await
        .expect("write");
    drop(clickhouse);
    query(
        &engine.url(),
        &format!("DROP TABLE `{database}`.span_rollups"),
    )
    .await
    .expect("drop");
    forget_migration(engine, &database, 8).await;
    let reopen = || async {
        tracehouse::store::clickhouse::ClickHouseStore::open(&engine.config(&database))
            .await
            .expect("reopen")
    };
    let store = reopen().await;
    binned_against_exact(&store, &ranges(base_ns)).await;
    forget_migration(engine, &database, 8).await;
    let store = reopen().await;
    binned_against_exact(&store, &ranges(base_ns)).await;
}

/// The fine bucket ClickHouse computes for spans at a range's end is the one Rust computes,
/// on every bound, just beside it, and beyond both ends.
async fn clickhouse_buckets_durations_as_rust_does(engine: Engine) {
    use tracehouse::reads::binned::{fine_bounds, fine_bucket};
    let mut durations = vec![0.0, 1e-9, 5e-4, 12.5, 1e7, 3e9];
    for bound in fine_bounds() {
        durations.extend([*bound, bound.next_down(), bound.next_up()]);
    }
    let expected: Vec<String> = durations
        .iter()
        .map(|d| fine_bucket(*d).to_string())
        .collect();
    let list: Vec<String> = durations.iter().map(|d| format!("{d:e}")).collect();
    for chunk in (0..durations.len()).collect::<Vec<_>>().chunks(500) {
        let values: Vec<&str> = chunk.iter().map(|i| list[*i].as_str()).collect();
        let statement = format!(
            "SELECT {} FROM (SELECT arrayJoin([{}]) AS d) FORMAT TSV",
            tracehouse::store::sql::fine_bucket_clickhouse("d"),
            values.join(", ")
        );
        let answer = query(&engine.url(), &statement).await.expect("buckets");
        let wanted: Vec<&str> = chunk.iter().map(|i| expected[*i].as_str()).collect();
        assert_eq!(answer.lines().collect::<Vec<_>>(), wanted, "{engine:?}");
    }
}

/// A batch a previous version spooled (no rollup chunk) is rolled up when it is shipped, once
/// however often the shipment is retried.
async fn clickhouse_rolls_up_batches_spooled_without_rollups(engine: Engine) {
    use tracehouse::store::SpooledWrites;
    use tracehouse::store::clickhouse::encoded;
    let (clickhouse, _sqlite, _dir) = both_stores(engine, "rollup_spooled").await;
    let now = tracehouse::clock::now_ns();
    let base_ns = (now - 2 * 3_600_000_000_000).div_euclid(MINUTE) * MINUTE;
    let payload = clickhouse.encode(&batch(base_ns), 77).expect("encode");
    let mut decoded = encoded::decode(payload.into()).expect("decode");
    decoded.chunks.retain(|chunk| chunk.table != "span_rollups");
    let legacy = bytes::Bytes::from(encoded::frame(77, &decoded.chunks));
    for uncertain in [false, true] {
        clickhouse
            .write_encoded(std::slice::from_ref(&legacy), uncertain)
            .await
            .expect("shipped");
    }
    binned_against_exact(&clickhouse, &ranges(base_ns)).await;
}
