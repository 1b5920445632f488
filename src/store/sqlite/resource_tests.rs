//! Resource attributes stored once (`resources`) and merged back by the item views.

use std::sync::Arc;

use super::*;
use crate::model::{Common, Dimensions, Request, Resource};

fn pod_resource(attributes: usize, value_bytes: usize) -> Arc<Resource> {
    let value = "x".repeat(value_bytes);
    Arc::new(Resource {
        cloud_role_name: "api".into(),
        dimensions: Dimensions::from_pairs(
            std::iter::once(("deployment.environment".to_owned(), "prod".to_owned()))
                .chain((0..attributes).map(|i| (format!("k8s.attr.{i}"), value.clone()))),
        ),
        ..Default::default()
    })
}

fn request(app: &str, resource: &Arc<Resource>, ts: i64, n: usize) -> Item<Request> {
    request_with(
        app,
        resource,
        ts,
        n,
        Dimensions::from_pairs([("env", "test"), ("own", "yes")]),
    )
}

fn request_with(
    app: &str,
    resource: &Arc<Resource>,
    ts: i64,
    n: usize,
    dimensions: Dimensions,
) -> Item<Request> {
    Item {
        common: Common {
            timestamp_ns: ts,
            app_name: app.into(),
            operation_id: format!("op{n}"),
            resource: Arc::clone(resource),
            item_count: 1,
            dimensions,
            ..Default::default()
        },
        data: Request {
            id: format!("r{n}"),
            name: "GET /".into(),
            success: true,
            duration_ms: 1.0,
            ..Default::default()
        },
    }
}

fn count(store: &SqliteStore, sql: &str) -> i64 {
    let connection = store.writer.lock().expect("lock");
    connection.query_row(sql, [], |row| row.get(0)).expect(sql)
}

fn stored_dimensions(store: &SqliteStore, app: &str) -> String {
    let connection = store.writer.lock().expect("lock");
    connection
        .query_row(
            "SELECT customDimensions FROM requests WHERE appName = ?1 LIMIT 1",
            [app],
            |row| row.get(0),
        )
        .expect("a row")
}

fn database_bytes(store: &SqliteStore) -> i64 {
    let connection = store.writer.lock().expect("lock");
    connection
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    let pragma = |name: &str| -> i64 {
        connection
            .query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))
            .expect(name)
    };
    (pragma("page_count") - pragma("freelist_count")) * pragma("page_size")
}

#[tokio::test]
async fn a_resource_is_stored_once_and_merged_back_on_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).await.expect("open");
    let before = database_bytes(&store);
    // 16 attributes of 256 bytes: 4 KiB of resource on each of 2,000 rows.
    let resource = pod_resource(16, 256);
    let mut batch = Batch::default();
    for n in 0..1_000 {
        batch
            .requests
            .push(request("alpha", &resource, 10 + n as i64, n));
        // The same attributes from another app: a resource of its own.
        batch
            .requests
            .push(request("beta", &resource, 10 + n as i64, n));
    }
    store.write(Arc::new(batch)).await.expect("write");

    assert_eq!(count(&store, "SELECT count(*) FROM resources"), 2);
    assert_eq!(count(&store, "SELECT count(*) FROM requests"), 2_000);
    let grown = database_bytes(&store) - before;
    assert!(
        grown < 2_000 * 4_096 / 8,
        "the database grew by {grown} bytes for 2,000 rows of a 4 KiB resource"
    );

    // Exactly what the writer stored on every row before migration 5: the row's own entries
    // first, then the resource's, in their order.
    let value = "x".repeat(256);
    let mut expected = serde_json::Map::new();
    expected.insert("env".into(), "test".into());
    expected.insert("own".into(), "yes".into());
    expected.insert("deployment.environment".into(), "prod".into());
    for i in 0..16 {
        expected.insert(format!("k8s.attr.{i}"), value.clone().into());
    }
    let expected = serde_json::Value::Object(expected).to_string();
    assert_eq!(stored_dimensions(&store, "alpha"), expected);
    assert_eq!(stored_dimensions(&store, "beta"), expected);

    let items = store.operation("alpha", "op7").await.expect("read");
    assert_eq!(items.spans.len(), 1);
    assert_eq!(items.spans[0].dimensions.len(), 19);
    assert_eq!(items.spans[0].dimensions[0], ("env".into(), "test".into()));

    // Filters on a resource key read it through the view.
    let filtered = count(
        &store,
        "SELECT count(*) FROM requests WHERE json_extract(customDimensions, '$.\"k8s.attr.3\"') \
         IS NOT NULL AND appName = 'beta'",
    );
    assert_eq!(filtered, 1_000);
}

#[tokio::test]
async fn rows_overriding_a_resource_key_or_without_their_own_read_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).await.expect("open");
    let resource = pod_resource(1, 3);
    let mut batch = Batch::default();
    let overriding = Dimensions::from_pairs([("k8s.attr.0", "mine"), ("a", "1")]);
    batch
        .requests
        .push(request_with("alpha", &resource, 1, 1, overriding));
    batch
        .requests
        .push(request_with("beta", &resource, 1, 2, Dimensions::default()));
    store.write(Arc::new(batch)).await.expect("write");
    assert_eq!(
        stored_dimensions(&store, "alpha"),
        r#"{"k8s.attr.0":"mine","a":"1","deployment.environment":"prod"}"#
    );
    assert_eq!(
        stored_dimensions(&store, "beta"),
        r#"{"deployment.environment":"prod","k8s.attr.0":"xxx"}"#
    );
    // Only beta's row names the resource; alpha's carries its whole map.
    assert_eq!(count(&store, "SELECT count(*) FROM resources"), 1);
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM requests_rows WHERE resource_id IS NULL"
        ),
        1
    );
}

#[tokio::test]
async fn a_resource_goes_with_its_last_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).await.expect("open");
    let resource = pod_resource(2, 10);
    for (ts, n) in [(10, 0), (20, 1)] {
        // Separate batches: the second moves the resource's `last_ns` forward.
        let mut batch = Batch::default();
        batch.requests.push(request("alpha", &resource, ts, n));
        store.write(Arc::new(batch)).await.expect("write");
    }
    assert_eq!(count(&store, "SELECT last_ns FROM resources"), 20);
    assert_eq!(store.enforce_retention(15).await.expect("retention"), 1);
    assert_eq!(count(&store, "SELECT count(*) FROM resources"), 1);
    assert!(stored_dimensions(&store, "alpha").contains("k8s.attr.1"));
    assert_eq!(store.enforce_retention(25).await.expect("retention"), 1);
    assert_eq!(count(&store, "SELECT count(*) FROM resources"), 0);
}

#[tokio::test]
async fn rows_written_before_the_resource_table_read_as_they_did() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old_dimensions = r#"{"env":"test","k8s.pod.name":"api-1"}"#;
    {
        let connection = Connection::open(dir.path().join(DATABASE_FILE)).expect("create");
        for (version, name, sql) in &migrate::MIGRATIONS[..4] {
            connection.execute_batch(sql).expect(name);
            connection
                .execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, \
                     name TEXT NOT NULL, applied_ns INTEGER NOT NULL)",
                    [],
                )
                .expect("migrations table");
            connection
                .execute(
                    "INSERT INTO schema_migrations VALUES (?1, ?2, 0)",
                    rusqlite::params![version, name],
                )
                .expect("record");
        }
        let columns = column_names::<Request>();
        let values: Vec<String> = columns
            .iter()
            .map(|column| match *column {
                "timestamp_ns" | "itemCount" | "success" | "duration_ms" => "1".to_owned(),
                "appName" => "'alpha'".to_owned(),
                "operation_Id" => "'old-op'".to_owned(),
                "customDimensions" => format!("'{old_dimensions}'"),
                "customMeasurements" => "'{}'".to_owned(),
                _ => "''".to_owned(),
            })
            .collect();
        connection
            .execute(
                &format!(
                    "INSERT INTO requests ({}) VALUES ({})",
                    columns.join(", "),
                    values.join(", ")
                ),
                [],
            )
            .expect("an old row");
    }
    let store = SqliteStore::open(dir.path()).await.expect("migrate");
    assert_eq!(stored_dimensions(&store, "alpha"), old_dimensions);
    let mut batch = Batch::default();
    batch
        .requests
        .push(request("alpha", &pod_resource(1, 4), 2, 9));
    store
        .write(Arc::new(batch))
        .await
        .expect("write after migrating");
    assert_eq!(count(&store, "SELECT count(*) FROM requests"), 2);
    let items = store.operation("alpha", "old-op").await.expect("read");
    assert_eq!(
        items.spans[0].dimensions,
        vec![
            ("env".to_owned(), "test".to_owned()),
            ("k8s.pod.name".to_owned(), "api-1".to_owned())
        ]
    );
}

/// The map every row stored before migration 5: own entries, then the resource's, the first
/// of a key winning.
fn merged_text(own: &Dimensions, resource: &Dimensions) -> String {
    let mut map = serde_json::Map::new();
    for (key, value) in own.iter().chain(resource.iter()) {
        map.entry(key)
            .or_insert_with(|| serde_json::Value::String(value.to_owned()));
    }
    serde_json::Value::Object(map).to_string()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// Whatever the keys and values (quotes, escapes, non-ASCII, empty, shared keys), a row
    /// reads back the text it was stored with before resources were kept apart.
    #[test]
    fn every_row_reads_back_its_old_map(
        rows in proptest::collection::vec(
            (
                proptest::collection::vec(("[a-c\"\\\\é]{0,2}", "[x\"\\\\\u{1}ü}{,]{0,3}"), 0..4),
                0usize..3,
            ),
            1..12,
        ),
        resources in proptest::collection::vec(
            proptest::collection::vec(("[a-d\"é.]{0,2}", "[y\"\\\\{}]{0,3}"), 0..5),
            3,
        ),
    ) {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let store = runtime.block_on(SqliteStore::open(dir.path())).expect("open");
        let resources: Vec<Arc<Resource>> = resources
            .into_iter()
            .map(|pairs| Arc::new(Resource { dimensions: Dimensions::from_pairs(pairs), ..Default::default() }))
            .collect();
        let mut batch = Batch::default();
        let mut expected = Vec::new();
        for (n, (own, which)) in rows.into_iter().enumerate() {
            let own = Dimensions::from_pairs(own);
            expected.push(merged_text(&own, &resources[which].dimensions));
            batch.requests.push(request_with("alpha", &resources[which], n as i64, n, own));
        }
        runtime.block_on(store.write(Arc::new(batch))).expect("write");
        let connection = store.writer.lock().expect("lock");
        let mut statement = connection
            .prepare("SELECT customDimensions FROM requests ORDER BY timestamp_ns")
            .expect("select");
        let stored: Vec<String> = statement
            .query_map([], |row| row.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("texts");
        proptest::prop_assert_eq!(stored, expected);
    }
}
