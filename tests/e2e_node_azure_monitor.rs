//! The real `@azure/monitor-opentelemetry` distro for Node.js (pinned in tests/node), configured
//! only through `APPLICATIONINSIGHTS_CONNECTION_STRING`. The distro rewrites the `http://`
//! endpoint to `https://`, so tracehouse serves TLS (`--tls-cert`/`--tls-key`) and Node trusts
//! the certificate through `NODE_EXTRA_CA_CERTS`; keys are required, so the key in the
//! connection string must arrive on every item.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{TestServer, run_summary};
use tracehouse::reads::records::SpanTable;
use tracehouse::store::{KeyRecord, Store};
use tracehouse::tls::TlsFiles;

const KEY: &str = "0d0e0f00-0000-4000-8000-00000000e2e0";

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_node_distro_sends_over_tls_to_tracehouse() {
    let certificates = tempfile::tempdir().expect("tempdir");
    let files = TlsFiles {
        cert: certificates.path().join("cert.pem"),
        key: certificates.path().join("key.pem"),
    };
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    std::fs::write(&files.cert, generated.cert.pem()).expect("cert");
    std::fs::write(&files.key, generated.signing_key.serialize_pem()).expect("key");
    // The key exists before the server starts, so the distro's first export is taken.
    let store_dir = tempfile::tempdir().expect("tempdir");
    let store = tracehouse::store::sqlite::SqliteStore::open(store_dir.path())
        .await
        .expect("store");
    store
        .save_key(&KeyRecord {
            key: KEY.into(),
            app: "node-shop".into(),
            created_ns: 1,
            revoked_ns: None,
        })
        .await
        .expect("key");
    let tls = files.clone();
    let server = TestServer::start_with(
        move |config| {
            config.tls = Some(tls);
            config.require_keys = true;
        },
        Some(std::sync::Arc::new(store)),
    )
    .await;
    // The distro is given plain http://, as a connection string copied from the docs says.
    let endpoint = format!("http://localhost:{}/", server.http.port());
    let connection_string =
        format!("InstrumentationKey={KEY};IngestionEndpoint={endpoint};LiveEndpoint={endpoint}");
    let summary = tokio::task::block_in_place(|| {
        run_summary(
            Command::new("node")
                .arg(node_dir().join("azure_app.js"))
                .current_dir(node_dir())
                .env("APPLICATIONINSIGHTS_CONNECTION_STRING", connection_string)
                .env("NODE_EXTRA_CA_CERTS", &files.cert)
                .env("OTEL_SERVICE_NAME", "node-chat")
                // The distro's default sampler is rate-limited and drops a first trace.
                .env("OTEL_TRACES_SAMPLER", "always_on")
                // 1.18's switches for its own telemetry to Microsoft: statsbeat (all of it only
                // with the legacy name) and SDK stats. Without them it retries westus for 20 s.
                .env("APPLICATIONINSIGHTS_STATSBEAT_DISABLED", "true")
                .env("APPLICATION_INSIGHTS_NO_STATSBEAT", "true")
                .env("APPLICATIONINSIGHTS_SDKSTATS_DISABLED", "true"),
            "node azure_app.js (npm ci --prefix tests/node installs the distro)",
        )
    });
    assert_eq!(summary["version"], "1.18.0");
    assert_eq!(
        (summary["status"].as_u64(), summary["attempts"].as_u64()),
        (Some(200), Some(3))
    );
    let trace_id = summary["trace_id"].as_str().expect("trace id").to_owned();

    let deadline = Instant::now() + Duration::from_secs(30);
    let items = loop {
        let items = server
            .store
            .operation("node-shop", &trace_id)
            .await
            .expect("read");
        if items.spans.len() >= 4 && !items.traces.is_empty() || Instant::now() > deadline {
            break items;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let request = items
        .spans
        .iter()
        .find(|s| s.table == SpanTable::Request)
        .unwrap_or_else(|| panic!("the server span arrived as a request: {items:?}"));
    assert_eq!(request.name, "POST /chat", "{request:?}");
    assert_eq!(request.cloud_role_name, "node-chat");
    let attempts: Vec<&str> = items
        .spans
        .iter()
        .filter(|s| s.table == SpanTable::Dependency && s.data.contains("/openai/"))
        .map(|s| s.result_code.as_str())
        .collect();
    assert_eq!(attempts.len(), 3, "{items:?}");
    assert_eq!(
        attempts.iter().filter(|c| **c == "429").count(),
        2,
        "{attempts:?}"
    );
    assert!(
        items.traces.iter().any(|t| t.message == "answered chat"),
        "the log record arrived: {:?}",
        items.traces
    );
    server.stop().await;
}
