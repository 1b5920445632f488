//! ClickHouse keeps the 429 attempts of calls in a table of their own, written with each batch
//! (GenAI usage reads the throttled calls' ids there): on both engines, usage read with it
//! answers what SQLite answers, attempts stored before the table are copied by its migration
//! (once, however often it runs), and a batch an earlier version spooled without them gets
//! them when it is shipped (once, however often the shipment is retried).

mod common;

use std::sync::Arc;

use common::clickhouse::{Engine, both_stores, forget_migration, on_both_engines, query};
use tracehouse::model::{Batch, Common, Dependency, GenAi, Item};
use tracehouse::reads::throttling::GenAiThrottling;
use tracehouse::reads::{AppScope, Column, Filter, ScopedRange, TimeRange};
use tracehouse::store::Store;
use tracehouse::store::clickhouse::ClickHouseStore;

on_both_engines!(
    usage_reads_the_kept_attempts_as_sqlite_pairs_them,
    the_migration_copies_the_attempts_stored_before_it_once,
    a_batch_spooled_without_attempts_gets_them_when_shipped_once,
);

const CALLS: i64 = 40;
const SECOND: i64 = 1_000_000_000;

/// `CALLS` GenAI calls 10 s apart, each with an HTTP try beneath it; every 3rd call was
/// throttled first (one or two 429 tries, the 2nd stored twice as a resend would), every
/// 10th never got an answer and ended 429 itself. Durations are not whole ms, so that sums
/// in another order would differ.
fn batch(base_ns: i64) -> Batch {
    let mut batch = Batch::default();
    for i in 0..CALLS {
        let start = base_ns + i * 10 * SECOND;
        let common = |offset_ns: i64, parent: &str| Common {
            timestamp_ns: start + offset_ns,
            app_name: "chat".into(),
            operation_id: format!("{i:032x}"),
            operation_parent_id: parent.into(),
            item_count: 1,
            ..Common::default()
        };
        let call_id = format!("call{i:012}");
        let throttled = i % 3 == 0;
        let unanswered = i % 10 == 0;
        let attempt = |offset_ms: i64, code: &str, ms: f64| Item {
            common: common(offset_ms * 1_000_000, &call_id),
            data: Dependency {
                id: format!("try{i:08}{offset_ms:08}"),
                name: "POST /openai/deployments/gpt-4o/chat/completions".into(),
                dependency_type: "HTTP".into(),
                target: "myaoai.openai.azure.com".into(),
                result_code: code.into(),
                success: code == "200",
                duration_ms: ms,
                ..Dependency::default()
            },
        };
        let mut waited_ms = 0;
        if throttled {
            batch
                .dependencies
                .push(attempt(3, "429", 21.125 + i as f64));
            waited_ms = 1_203;
            if i % 2 == 0 {
                let second = attempt(1_203, "429", 18.0625);
                batch.dependencies.extend([second.clone(), second]);
                waited_ms = 3_407;
            }
        }
        if !unanswered {
            batch
                .dependencies
                .push(attempt(waited_ms + 3, "200", 640.3 + i as f64));
        }
        batch.dependencies.push(Item {
            common: common(0, "request"),
            data: Dependency {
                id: call_id.clone(),
                name: "chat gpt-4o".into(),
                target: "myaoai.openai.azure.com".into(),
                result_code: if unanswered { "429" } else { "200" }.into(),
                success: !unanswered,
                duration_ms: waited_ms as f64 + 700.7,
                genai: GenAi {
                    provider: "azure.ai.openai".into(),
                    request_model: "gpt-4o".into(),
                    ..GenAi::default()
                }
                .into(),
                ..Dependency::default()
            },
        });
    }
    batch
}

/// The 429 tries in [`batch`]: one per throttled call, two more (a resent pair) for the
/// even ones among them.
fn attempts_in_batch() -> u64 {
    (0..CALLS)
        .filter(|i| i % 3 == 0)
        .map(|i| if i % 2 == 0 { 3 } else { 1 })
        .sum()
}

fn base_ns() -> i64 {
    (tracehouse::clock::now_ns() - 2 * 3_600 * SECOND).div_euclid(60 * SECOND) * 60 * SECOND
}

/// GenAI usage's window over the batch: all of it, or a range cut through it.
fn windows(base_ns: i64) -> [ScopedRange; 2] {
    let window = |from_ns, to_ns| ScopedRange {
        range: TimeRange { from_ns, to_ns },
        scope: AppScope::All,
        filters: vec![Filter::NotEmpty(Column::GenAiProvider)],
    };
    [
        window(base_ns - 60 * SECOND, base_ns + (CALLS + 1) * 10 * SECOND),
        window(base_ns + 95 * SECOND, base_ns + 301 * SECOND),
    ]
}

async fn throttling(store: &dyn Store, window: &ScopedRange) -> GenAiThrottling {
    store.genai_throttling(window).await.expect("throttling")
}

async fn kept_attempts(engine: Engine, database: &str) -> u64 {
    let count = query(
        &engine.url(),
        &format!("SELECT count() FROM `{database}`.throttled_attempts"),
    )
    .await
    .expect("count");
    count.trim().parse().expect("a count")
}

/// On a range cut through calls SQLite (which keeps calls that started in the range) and
/// ClickHouse (attempts in the range) may differ; the whole batch they must answer alike.
async fn answers_as_sqlite(clickhouse: &ClickHouseStore, sqlite: &dyn Store, base_ns: i64) {
    let [whole, cut] = windows(base_ns);
    let expected = throttling(sqlite, &whole).await;
    let per_model = expected
        .per_model
        .values()
        .next()
        .copied()
        .expect("a model");
    assert_eq!(per_model.calls, 14, "{expected:?}");
    assert_eq!(per_model.attempts, attempts_in_batch());
    assert_eq!(per_model.ended_throttled, 2);
    assert_eq!(throttling(clickhouse, &whole).await, expected);
    let narrowed = throttling(clickhouse, &cut).await;
    assert!(
        narrowed
            .per_model
            .values()
            .all(|m| m.calls < per_model.calls),
        "{narrowed:?}"
    );
}

async fn usage_reads_the_kept_attempts_as_sqlite_pairs_them(engine: Engine) {
    let (clickhouse, sqlite, _dir) = both_stores(engine, "throttled_kept").await;
    let base_ns = base_ns();
    let batch = Arc::new(batch(base_ns));
    clickhouse.write(batch.clone()).await.expect("write");
    sqlite.write(batch).await.expect("write");
    answers_as_sqlite(&clickhouse, &sqlite, base_ns).await;
    assert_eq!(
        kept_attempts(engine, clickhouse.database()).await,
        attempts_in_batch()
    );
}

async fn the_migration_copies_the_attempts_stored_before_it_once(engine: Engine) {
    let (clickhouse, sqlite, _dir) = both_stores(engine, "throttled_backfill").await;
    let database = clickhouse.database().to_owned();
    let base_ns = base_ns();
    let batch = Arc::new(batch(base_ns));
    clickhouse.write(batch.clone()).await.expect("write");
    sqlite.write(batch).await.expect("write");
    drop(clickhouse);
    query(
        &engine.url(),
        &format!("DROP TABLE `{database}`.throttled_attempts"),
    )
    .await
    .expect("drop");
    for _ in 0..2 {
        forget_migration(engine, &database, 9).await;
        let store = ClickHouseStore::open(&engine.config(&database))
            .await
            .expect("reopen");
        answers_as_sqlite(&store, &sqlite, base_ns).await;
        assert_eq!(kept_attempts(engine, &database).await, attempts_in_batch());
    }
}

async fn a_batch_spooled_without_attempts_gets_them_when_shipped_once(engine: Engine) {
    use tracehouse::store::SpooledWrites;
    use tracehouse::store::clickhouse::encoded;
    let (clickhouse, sqlite, _dir) = both_stores(engine, "throttled_spooled").await;
    let base_ns = base_ns();
    let batch = batch(base_ns);
    let payload = clickhouse.encode(&batch, 78).expect("encode");
    let mut decoded = encoded::decode(payload.into()).expect("decode");
    decoded
        .chunks
        .retain(|chunk| chunk.table != "throttled_attempts");
    let legacy = bytes::Bytes::from(encoded::frame(78, &decoded.chunks));
    for uncertain in [false, true] {
        clickhouse
            .write_encoded(std::slice::from_ref(&legacy), uncertain)
            .await
            .expect("shipped");
    }
    sqlite.write(Arc::new(batch)).await.expect("write");
    answers_as_sqlite(&clickhouse, &sqlite, base_ns).await;
    assert_eq!(
        kept_attempts(engine, clickhouse.database()).await,
        attempts_in_batch()
    );
}
