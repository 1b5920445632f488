//! The stored throttled calls against pairing the spans at read time: the same answer
//! whichever batches the call and its attempts arrive in, every stored copy counted, and the
//! calls a database held before the table found by its migration.

use std::sync::Arc;

use super::*;
use crate::model::{Common, Dependency, GenAi, Item};
use crate::reads::throttled::throttled_calls;
use crate::reads::{AppScope, Column, Filter, ScopedRange, TimeRange};

const MS: i64 = 1_000_000;

fn span(op: &str, id: &str, parent: &str, code: &str, at_ms: i64, ms: f64) -> Item<Dependency> {
    let call = parent == "request";
    Item {
        common: Common {
            timestamp_ns: 1_000_000 * MS + at_ms * MS,
            app_name: Arc::from("shop"),
            operation_id: op.into(),
            operation_parent_id: parent.into(),
            item_count: 1,
            ..Common::default()
        },
        data: Dependency {
            id: id.into(),
            target: "myaoai.openai.azure.com".into(),
            result_code: code.into(),
            success: code == "200",
            duration_ms: ms,
            genai: if call {
                GenAi {
                    provider: "azure.ai.openai".into(),
                    request_model: "gpt-4o".into(),
                    ..GenAi::default()
                }
                .into()
            } else {
                Default::default()
            },
            ..Dependency::default()
        },
    }
}

/// The seed story's call (three 429s, then the answer) and a call never throttled, in the
/// order an SDK exports them: attempts before their call.
fn story(op: &str) -> Vec<Item<Dependency>> {
    vec![
        span(op, "a1", "c1", "429", 10, 200.0),
        span(op, "a2", "c1", "429", 1_220, 210.0),
        span(op, "a3", "c1", "429", 3_440, 190.0),
        span(op, "a4", "c1", "200", 5_680, 1_650.0),
        span(op, "c1", "request", "200", 0, 7_400.0),
        span(op, "b1", "c2", "200", 8_000, 100.0),
        span(op, "c2", "request", "200", 7_990, 120.0),
    ]
}

fn window() -> ScopedRange {
    ScopedRange {
        range: TimeRange {
            from_ns: 0,
            to_ns: i64::MAX,
        },
        scope: AppScope::All,
        filters: Vec::new(),
    }
}

async fn write_in(store: &SqliteStore, batches: Vec<Vec<Item<Dependency>>>) {
    for dependencies in batches {
        let batch = Batch {
            dependencies,
            ..Batch::default()
        };
        store.write(Arc::new(batch)).await.expect("write");
    }
}

/// Throttling as pairing the stored spans at read time finds it.
fn paired(store: &SqliteStore) -> GenAiThrottling {
    let connection = store.writer.lock().expect("lock");
    let spans = query::fetch(
        &connection,
        crate::store::sql::genai_throttling(&window(), crate::store::sql::Dialect::Sqlite),
        throttling::throttling_span,
    )
    .expect("spans");
    GenAiThrottling::of_calls(&throttled_calls(&spans, usize::MAX))
}

#[tokio::test]
async fn stored_calls_answer_as_pairing_the_spans_in_any_batches() {
    let key = (
        "azure.ai.openai".to_owned(),
        "gpt-4o".to_owned(),
        "myaoai.openai.azure.com".to_owned(),
    );
    let spans = story("op1");
    let splits: Vec<Vec<Vec<Item<Dependency>>>> = vec![
        vec![spans.clone()],
        // 429s, then the answer, then the call: each in its own batch.
        vec![
            spans[..3].to_vec(),
            spans[3..4].to_vec(),
            spans[4..].to_vec(),
        ],
        // The call first, its attempts after.
        vec![spans[4..].to_vec(), spans[..4].to_vec()],
        // Everything resent: every stored copy of an attempt counts.
        vec![spans.clone(), spans.clone()],
    ];
    for (i, batches) in splits.into_iter().enumerate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path()).await.expect("open");
        write_in(&store, batches).await;
        let stored = store.genai_throttling(&window()).await.expect("read");
        assert_eq!(stored, paired(&store), "split {i}");
        // As the usage read asks (calls naming a provider): from the stored calls too.
        let mut usage = window();
        usage.filters = vec![Filter::NotEmpty(Column::GenAiProvider)];
        assert!(throttling::answers(&usage));
        assert_eq!(
            store.genai_throttling(&usage).await.expect("read"),
            stored,
            "split {i}"
        );
        let model = stored.per_model[&key];
        let copies = if i == 3 { 2 } else { 1 };
        assert_eq!(
            (model.calls, model.attempts, model.throttled_ms()),
            (1, 3 * copies, 5_670.0),
            "split {i}"
        );
        assert_eq!(stored.first_minutes[&key].len(), 1, "split {i}");
    }
}

#[tokio::test]
async fn calls_stored_before_the_table_are_found_by_its_migration_and_leave_with_retention() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).await.expect("open");
    write_in(&store, vec![story("op1"), story("op2")]).await;
    let expected = store.genai_throttling(&window()).await.expect("read");
    assert_eq!(expected.per_model.values().next().map(|m| m.calls), Some(2));
    {
        let mut connection = store.writer.lock().expect("lock");
        let transaction = connection.transaction().expect("transaction");
        transaction
            .execute("DELETE FROM genai_throttled_calls", [])
            .expect("emptied");
        throttling::backfill(&transaction).expect("backfill");
        transaction.commit().expect("commit");
    }
    assert_eq!(
        store.genai_throttling(&window()).await.expect("read"),
        expected
    );
    store
        .enforce_retention(1_000_000 * MS + 60_000 * MS)
        .await
        .expect("retention");
    assert_eq!(
        store.genai_throttling(&window()).await.expect("read"),
        GenAiThrottling::default()
    );
}
