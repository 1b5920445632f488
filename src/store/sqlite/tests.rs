use std::sync::Arc;

use super::*;
use crate::model::{
    Availability, CustomEvent, CustomMetric, Dependency, Exception, PageView, PerformanceCounter,
    Request, Trace,
};
use crate::store::{MetricQuery, TimeRange};

fn table_columns(connection: &Connection, table: &str) -> Vec<String> {
    let mut statement = connection
        .prepare(&format!("PRAGMA table_info(\"{table}\")"))
        .expect("pragma");
    statement
        .query_map([], |row| row.get::<_, String>(1))
        .expect("columns")
        .collect::<Result<_, _>>()
        .expect("names")
}

#[tokio::test]
async fn migrated_schema_matches_the_row_structs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).await.expect("open");
    let expected: Vec<(&str, Vec<&str>)> = vec![
        (Request::TABLE, column_names::<Request>()),
        (Dependency::TABLE, column_names::<Dependency>()),
        (Exception::TABLE, column_names::<Exception>()),
        (Trace::TABLE, column_names::<Trace>()),
        (CustomEvent::TABLE, column_names::<CustomEvent>()),
        (CustomMetric::TABLE, column_names::<CustomMetric>()),
        (PageView::TABLE, column_names::<PageView>()),
        (Availability::TABLE, column_names::<Availability>()),
        (
            PerformanceCounter::TABLE,
            column_names::<PerformanceCounter>(),
        ),
    ];
    let connection = store.writer.lock().expect("lock");
    for (table, columns) in expected {
        assert_eq!(table_columns(&connection, table), columns, "{table}");
    }
}

#[tokio::test]
async fn reopening_applies_migrations_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(SqliteStore::open(dir.path()).await.expect("first open"));
    let store = SqliteStore::open(dir.path()).await.expect("second open");
    let count: i64 = store
        .writer
        .lock()
        .expect("lock")
        .query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0))
        .expect("count");
    assert_eq!(count as usize, migrate::MIGRATIONS.len());
}

#[tokio::test]
async fn writes_and_reads_back_an_operation_and_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).await.expect("open");
    let mut batch = Batch::default();
    let resource = Arc::new(crate::model::Resource {
        cloud_role_name: "api".into(),
        dimensions: crate::model::Dimensions::from_pairs([("env", "prod")]),
        ..Default::default()
    });
    let common = |ts: i64, parent: &str| crate::model::Common {
        timestamp_ns: ts,
        operation_id: "op1".into(),
        operation_parent_id: parent.into(),
        resource: Arc::clone(&resource),
        item_count: 1,
        dimensions: crate::model::Dimensions::from_pairs([("env", "test"), ("k", "v")]),
        ..Default::default()
    };
    batch.requests.push(Item {
        common: common(10, ""),
        data: Request {
            id: "r1".into(),
            name: "GET /".into(),
            result_code: "200".into(),
            success: true,
            duration_ms: 12.5,
            ..Default::default()
        },
    });
    batch.dependencies.push(Item {
        common: common(11, "r1"),
        data: Dependency {
            id: "d1".into(),
            name: "chat gpt-4o".into(),
            dependency_type: "GenAI | openai".into(),
            success: false,
            duration_ms: f64::NAN,
            genai: crate::model::GenAi {
                request_model: "gpt-4o".into(),
                input_tokens: 15,
                ..Default::default()
            }
            .into(),
            ..Default::default()
        },
    });
    batch.traces.push(Item {
        common: common(12, "d1"),
        data: Trace {
            message: "hello".into(),
            severity_level: 2,
        },
    });
    batch.custom_metrics.push(Item {
        common: common(13, ""),
        data: CustomMetric {
            name: "latency".into(),
            value: 3.0,
            value_count: 2,
            bucket_bounds: vec![1.0, 2.0],
            bucket_counts: vec![1, 0, 1],
            ..Default::default()
        },
    });
    store.write(Arc::new(batch)).await.expect("write");

    let items = store.operation("", "op1").await.expect("read");
    assert_eq!(items.spans.len(), 2);
    let request = &items.spans[0];
    assert_eq!(
        (request.id.as_str(), request.duration_ms, request.success),
        ("r1", 12.5, true)
    );
    assert_eq!(
        request.dimensions,
        vec![
            ("env".to_owned(), "test".to_owned()),
            ("k".to_owned(), "v".to_owned())
        ],
        "the item's value wins over the resource's"
    );
    let dependency = &items.spans[1];
    assert!(dependency.duration_ms.is_nan());
    assert_eq!(dependency.genai.input_tokens, 15);
    assert_eq!(items.traces[0].severity_level, 2);
    assert!(store.operation("", "other").await.expect("read").is_empty());

    let metrics = store
        .metrics(&MetricQuery {
            range: TimeRange {
                from_ns: 0,
                to_ns: 100,
            },
            scope: crate::reads::AppScope::All,
            name: Some("latency".into()),
            limit: 10,
        })
        .await
        .expect("metrics");
    assert_eq!(metrics.len(), 1);
    assert_eq!(metrics[0].bucket_counts, vec![1, 0, 1]);
    assert_eq!(metrics[0].bucket_bounds, vec![1.0, 2.0]);
}
