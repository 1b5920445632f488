//! A real tracehouse on `127.0.0.1:0` listeners, its store, and fixture loading.
#![allow(dead_code)]

pub mod alert_peers;
pub mod alert_rules;
pub mod alert_traffic;
pub mod clickhouse;
pub mod cluster;
pub mod delivery;
pub mod endpoints;
pub mod local_cluster;
pub mod process;
pub mod scenario;
pub mod tempo;

/// Every stored point of metric `name` (at most `limit`), over all time and apps.
pub async fn stored_metric(
    server: &TestServer,
    name: &str,
    limit: usize,
) -> Vec<tracehouse::store::MetricRecord> {
    server
        .store
        .metrics(&tracehouse::store::MetricQuery {
            range: tracehouse::store::TimeRange {
                from_ns: 0,
                to_ns: i64::MAX,
            },
            scope: tracehouse::reads::AppScope::All,
            name: Some(name.into()),
            limit,
        })
        .await
        .expect("metrics")
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tracehouse::app::{self, Listeners, Running};
use tracehouse::config::ServeConfig;
use tracehouse::store::Store;

/// Fixtures are from a fixed day; tests accept items from any recent decade.
const TEST_ITEM_AGE_NS: i64 = 10 * 365 * 86_400 * 1_000_000_000;

pub struct TestServer {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub api: SocketAddr,
    pub store: Arc<dyn Store>,
    running: Option<Running>,
    pub dir: tempfile::TempDir,
}

pub fn test_config(data_dir: PathBuf) -> ServeConfig {
    let mut config = ServeConfig::with_data_dir(data_dir);
    // Fixtures are from a fixed day; retention would remove them as that day recedes.
    config.retention_days = 0;
    config.ingest.limits.max_item_age_ns = TEST_ITEM_AGE_NS;
    config.pipeline.max_batch_delay = Duration::from_millis(20);
    config
}

/// Acknowledged batches wait in a spool under the server's data directory.
fn spooled(config: &mut ServeConfig) {
    config.pipeline.spool = Some(tracehouse::pipeline::SpoolConfig {
        dir: config.data_dir.join("spool"),
        max_bytes: 256 * 1024 * 1024,
    });
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}, None).await
    }

    /// Starts with a tweaked config, on the given store or a fresh SQLite one.
    pub async fn start_with(
        tweak: impl FnOnce(&mut ServeConfig),
        store: Option<Arc<dyn Store>>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(dir.path().to_path_buf());
        tweak(&mut config);
        let bind = || async { TcpListener::bind("127.0.0.1:0").await.expect("bind") };
        let listeners = Listeners {
            grpc: bind().await,
            http: bind().await,
            api: bind().await,
        };
        let (grpc, http, api) = (
            listeners.grpc.local_addr().expect("addr"),
            listeners.http.local_addr().expect("addr"),
            listeners.api.local_addr().expect("addr"),
        );
        let running = match store {
            Some(store) => app::start_with_store(config, listeners, store).await,
            None => app::start(config, listeners).await,
        }
        .expect("server starts");
        TestServer {
            grpc,
            http,
            api,
            store: Arc::clone(&running.store),
            running: Some(running),
            dir,
        }
    }

    /// A server storing in the 18.16 ClickHouse at `url` (spooled), in a database of its own.
    pub async fn start_on_clickhouse(
        url: &str,
        database: &str,
        tweak: impl FnOnce(&mut ServeConfig),
    ) -> Self {
        let mut clickhouse = tracehouse::store::clickhouse::ClickHouseConfig::new(url, database);
        clickhouse.retention_days = 0;
        Self::start_on(clickhouse, tweak).await
    }

    /// A server storing in `engine`'s shared ClickHouse (spooled), in a database of its own.
    pub async fn start_on_engine(
        engine: clickhouse::Engine,
        database: &str,
        tweak: impl FnOnce(&mut ServeConfig),
    ) -> Self {
        Self::start_on(engine.config(database), tweak).await
    }

    pub async fn start_on(
        clickhouse: tracehouse::store::clickhouse::ClickHouseConfig,
        tweak: impl FnOnce(&mut ServeConfig),
    ) -> Self {
        // The store is opened from the tweaked config: tweaks may change its settings.
        Self::start_with(
            move |config| {
                config.clickhouse = Some(clickhouse);
                spooled(config);
                tweak(config);
            },
            None,
        )
        .await
    }

    /// A server storing in `store` (spooled); the test keeps the store to call what only a
    /// ClickHouse store has.
    pub async fn start_on_store(
        store: Arc<tracehouse::store::clickhouse::ClickHouseStore>,
        tweak: impl FnOnce(&mut ServeConfig),
    ) -> Self {
        Self::start_with(
            move |config| {
                spooled(config);
                tweak(config);
            },
            Some(store),
        )
        .await
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    pub fn api_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.api)
    }

    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc)
    }

    pub fn metrics(&self) -> &tracehouse::self_metrics::SelfMetrics {
        &self.running.as_ref().expect("running").metrics
    }

    /// Waits until every acknowledged batch has left the spool for the store (ClickHouse
    /// makes each table's insert visible on its own, so counting one table is not enough).
    pub async fn wait_until_shipped(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while self.metrics().spool_batches() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the spool never drained"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("clean stop");
        }
    }
}

/// The virtualenv `scripts/test` creates, or `TRACEHOUSE_TEST_PYTHON`.
/// Issues a query API token straight into `store`, as `tracehouse tokens create` does.
pub async fn issue_token(store: &dyn Store, apps: &[&str], all_apps: bool) -> String {
    let grant = tracehouse::tokens::Grant {
        name: "test".into(),
        apps: apps.iter().map(|a| (*a).to_owned()).collect(),
        all_apps,
        role: tracehouse::reads::records::TokenRole::Reader,
    };
    let (token, record) =
        tracehouse::tokens::issue(grant, tracehouse::clock::now_ns()).expect("random");
    store.save_token(&record).await.expect("save token");
    token
}

/// Runs a client program that prints a JSON summary as its last line of output, and returns
/// the summary; a failed run fails the test with what the program printed.
pub fn run_summary(command: &mut std::process::Command, what: &str) -> serde_json::Value {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what} runs: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{what} failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{what} printed no JSON summary ({e}): {stdout}"))
}

pub fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("TRACEHOUSE_TEST_PYTHON") {
        return PathBuf::from(python);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/test (or python3 -m venv .venv && .venv/bin/pip install -r tests/python/requirements.txt)",
        venv.display()
    );
    venv
}

/// `../shared/fixtures`, or `TRACEHOUSE_FIXTURES` when set.
pub fn fixture(relative: &str) -> Vec<u8> {
    let dir = std::env::var_os("TRACEHOUSE_FIXTURES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"),
        PathBuf::from,
    );
    let path = dir.join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {} unreadable: {e}", path.display()))
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

/// One unary gRPC call with a raw request body, e.g.
/// `/opentelemetry.proto.collector.trace.v1.TraceService/Export`.
pub async fn raw_grpc_call(
    url: String,
    path: &'static str,
    body: Vec<u8>,
) -> Result<Vec<u8>, tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(url)
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    // The server's pass-through codec, so tests can send bodies no valid client would.
    grpc.unary(
        tonic::Request::new(bytes::Bytes::from(body)),
        http::uri::PathAndQuery::from_static(path),
        tracehouse::ingest::grpc::RawCodec,
    )
    .await
    .map(|response| response.into_inner().to_vec())
}

/// Where `value` has a field the schema does not declare, or a value of another type.
pub fn undescribed(
    doc: &serde_json::Value,
    schema: &serde_json::Value,
    value: &serde_json::Value,
    at: &str,
    problems: &mut Vec<String>,
) {
    let schema = match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap_or("");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    };
    if value.is_null() {
        if schema["nullable"] != true {
            problems.push(format!("{at} is null"));
        }
        return;
    }
    let fits = match schema["type"].as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_u64() || value.is_i64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        _ => false,
    };
    if !fits {
        problems.push(format!("{at}: {value} is not {}", schema["type"]));
        return;
    }
    match value {
        serde_json::Value::Object(fields) => {
            let Some(properties) = schema["properties"].as_object() else {
                return;
            };
            for (name, field) in fields {
                match properties.get(name) {
                    Some(declared) => {
                        undescribed(doc, declared, field, &format!("{at}.{name}"), problems)
                    }
                    None => problems.push(format!("{at}.{name} is not described")),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                undescribed(doc, &schema["items"], item, &format!("{at}[{i}]"), problems);
            }
        }
        _ => {}
    }
}
