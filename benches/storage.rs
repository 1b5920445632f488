//! Bytes on disk per stored row, for three workloads: the fixtures (telemetry of the real Python
//! SDKs, copied with fresh ids until the row count is reached), the load generator's GenAI
//! workload (a resource of eight attributes), and the same workload from a pod whose resource
//! carries what the OpenTelemetry Collector's `k8sattributes` processor and the SDK's process
//! and host detectors add (27 attributes, about 1.2 KB) — the case where a resource repeated on
//! every row costs most.
//!
//! ```sh
//! cargo bench --bench storage -- --sqlite --clickhouse-url http://127.0.0.1:8123 --rows 200000
//! ```
//!
//! SQLite: the database file after a WAL checkpoint, less free pages. ClickHouse: the active
//! parts' bytes on disk after `OPTIMIZE … FINAL`, and the `customDimensions` columns' share.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use clap::Parser;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use prost::Message;
use tracehouse::model::{Batch, Common, TABLES};
use tracehouse::normalize::{Context, Limits};
use tracehouse::store::clickhouse::{ClickHouseConfig, ClickHouseStore};
use tracehouse::store::sqlite::{DATABASE_FILE, SqliteStore};
use tracehouse::store::{SpooledWrites, Store};
use tracehouse::workload::Workload;

#[derive(Debug, Parser)]
struct Args {
    /// Measure ClickHouse at this HTTP URL.
    #[arg(long)]
    clickhouse_url: Option<String>,
    /// Measure the embedded SQLite store.
    #[arg(long)]
    sqlite: bool,
    /// Rows to store per workload.
    #[arg(long, default_value_t = 200_000)]
    rows: usize,
    /// Ignored: cargo bench passes it.
    #[arg(long, hide = true)]
    bench: bool,
}

const HOUR_NS: i64 = 3_600_000_000_000;
const OPERATIONS_PER_REQUEST: usize = 120;

fn limits() -> Limits {
    Limits {
        // The fixtures were recorded weeks ago.
        max_item_age_ns: 10 * 365 * 24 * HOUR_NS,
        ..Limits::default()
    }
}

fn context(limits: &Limits) -> Context<'_> {
    Context {
        limits,
        now_ns: tracehouse::clock::now_ns(),
        ikey: "".into(),
        app_name: "bench".into(),
    }
}

fn fixtures_dir() -> PathBuf {
    std::env::var_os("TRACEHOUSE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"))
}

/// Every fixture request normalized once: the OTLP protobuf trace bodies and the track bodies.
fn fixture_batch() -> anyhow::Result<Batch> {
    let limits = limits();
    let ctx = context(&limits);
    let dir = fixtures_dir();
    let mut batch = Batch::default();
    for entry in std::fs::read_dir(dir.join("otlp"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "pb") {
            batch.append(tracehouse::normalize::traces(&std::fs::read(&path)?, &ctx)?.batch);
        }
    }
    for name in [
        "rag-api-429-retries.json",
        "worker-logs-metrics-events.json",
    ] {
        let body = std::fs::read(dir.join("appinsights").join(name))?;
        let app: Arc<str> = "bench".into();
        let track =
            tracehouse::normalize::envelope::envelopes(&body, &ctx, &|_| Some(app.clone()))?;
        batch.append(track.batch);
    }
    anyhow::ensure!(
        batch.row_count() > 0,
        "no fixture rows in {}",
        dir.display()
    );
    Ok(batch)
}

/// Copy `n` of the fixtures: ids made unique and times moved a second per copy, as a service
/// sending the same shapes all day would.
fn fixture_copy(template: &Batch, n: usize) -> Batch {
    fn fresh(common: &mut Common, n: usize) {
        let tag = format!("{n:08x}");
        for id in [
            &mut common.item_id,
            &mut common.operation_id,
            &mut common.operation_parent_id,
        ] {
            if id.len() >= tag.len() {
                id.replace_range(..tag.len(), &tag);
            }
        }
        common.timestamp_ns += n as i64 * 1_000_000_000;
    }
    let mut copy = template.clone();
    copy.each_common_mut(|common| fresh(common, n));
    copy
}

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

/// What a pod's resource carries behind the Collector's k8sattributes processor and the SDK's
/// resource detectors, beyond the workload's own attributes.
fn pod_attributes() -> Vec<KeyValue> {
    [
        ("k8s.namespace.name", "genai-prod"),
        ("k8s.pod.uid", "3f1c9a52-8d7e-4b21-9f0a-6c2e5d4b7a19"),
        ("k8s.pod.start_time", "2026-11-30T08:12:45Z"),
        ("k8s.node.name", "aks-nodepool1-37261448-vmss000003"),
        ("k8s.deployment.name", "rag-api"),
        ("k8s.replicaset.name", "rag-api-7d9f8c6b5"),
        ("k8s.container.name", "rag-api"),
        ("container.id", "9b2f64c1d8e7a3b5c4f6e2d1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1"),
        ("container.image.name", "myregistry.azurecr.io/genai/rag-api"),
        ("container.image.tag", "2026.11.30-4f1c2e9"),
        ("host.name", "rag-api-7d9f8c6b5-x2k4q"),
        ("host.arch", "amd64"),
        ("os.type", "linux"),
        ("os.description", "Linux 5.15.0-1075-azure"),
        ("process.pid", "1"),
        ("process.executable.name", "python3.11"),
        ("process.executable.path", "/usr/local/bin/python3.11"),
        ("process.command", "/usr/local/bin/uvicorn"),
        (
            "process.command_args",
            r#"["/usr/local/bin/python3.11","/usr/local/bin/uvicorn","app.main:app","--host","0.0.0.0","--port","8000","--workers","4"]"#,
        ),
        ("process.owner", "app"),
        ("process.runtime.name", "cpython"),
        ("process.runtime.version", "3.11.7"),
        (
            "process.runtime.description",
            "3.11.7 (main, Dec 19 2023, 20:33:49) [GCC 12.2.0]",
        ),
        ("cloud.provider", "azure"),
        ("cloud.platform", "azure_aks"),
        ("cloud.region", "westeurope"),
    ]
    .into_iter()
    .map(|(key, value)| text(key, value))
    .collect()
}

/// The load generator's requests, normalized into batches of about 50,000 rows.
fn workload_batches(rows: usize, pod: bool) -> anyhow::Result<Vec<Batch>> {
    let limits = limits();
    let ctx = context(&limits);
    let now = ctx.now_ns;
    let mut workload = Workload::new(7);
    let (mut batches, mut batch, mut stored) = (Vec::new(), Batch::default(), 0);
    let mut i = 0i64;
    while stored < rows {
        let at = now - 24 * HOUR_NS + i * 60_000_000_000 % (23 * HOUR_NS);
        let mut request: ExportTraceServiceRequest =
            workload.request(OPERATIONS_PER_REQUEST, at as u64);
        if pod && let Some(resource) = request.resource_spans[0].resource.as_mut() {
            resource.attributes.extend(pod_attributes());
        }
        let normalized = tracehouse::normalize::traces(&request.encode_to_vec(), &ctx)?.batch;
        stored += normalized.row_count();
        batch.append(normalized);
        if batch.row_count() >= 50_000 || stored >= rows {
            batches.push(std::mem::take(&mut batch));
        }
        i += 1;
    }
    Ok(batches)
}

fn fixture_batches(rows: usize) -> anyhow::Result<Vec<Batch>> {
    let template = fixture_batch()?;
    let (mut batches, mut batch, mut stored) = (Vec::new(), Batch::default(), 0);
    let mut n = 0;
    while stored < rows {
        let copy = fixture_copy(&template, n);
        stored += copy.row_count();
        batch.append(copy);
        if batch.row_count() >= 50_000 || stored >= rows {
            batches.push(std::mem::take(&mut batch));
        }
        n += 1;
    }
    Ok(batches)
}

/// Reads that pay for merging the resource back, timed: every row's whole map, and a filter on
/// a resource attribute (as `dim.k8s.pod.name=…` runs). Median of five, in ms.
fn sqlite_read_ms(connection: &rusqlite::Connection) -> anyhow::Result<(f64, f64)> {
    let timed = |sql: &str| -> anyhow::Result<f64> {
        let mut runs = Vec::new();
        for _ in 0..5 {
            let started = std::time::Instant::now();
            connection.query_row(sql, [], |row| row.get::<_, i64>(0))?;
            runs.push(started.elapsed().as_secs_f64() * 1e3);
        }
        runs.sort_by(f64::total_cmp);
        Ok(runs[2])
    };
    Ok((
        timed("SELECT sum(length(customDimensions)) FROM dependencies")?,
        timed(
            "SELECT count(*) FROM dependencies \
             WHERE json_extract(customDimensions, '$.\"k8s.pod.name\"') = 'rag-api-7d9f8-abcde'",
        )?,
    ))
}

/// Bytes of the database file, and the read timings.
async fn sqlite_bytes(batches: Vec<Batch>) -> anyhow::Result<(u64, (f64, f64))> {
    let dir = tempfile::tempdir()?;
    {
        let store = SqliteStore::open(dir.path()).await?;
        for batch in batches {
            store.write(Arc::new(batch)).await?;
        }
    }
    let connection = rusqlite::Connection::open(dir.path().join(DATABASE_FILE))?;
    connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let pragma = |name: &str| -> rusqlite::Result<i64> {
        connection.query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))
    };
    let bytes = (pragma("page_count")? - pragma("freelist_count")?) * pragma("page_size")?;
    Ok((u64::try_from(bytes)?, sqlite_read_ms(&connection)?))
}

/// Runs one statement on ClickHouse's HTTP interface and returns its text answer.
async fn clickhouse_text(url: &str, sql: &str) -> anyhow::Result<String> {
    let response = reqwest::Client::new()
        .post(url)
        .body(sql.to_owned())
        .send()
        .await?;
    let status = response.status();
    let body = response.text().await?;
    anyhow::ensure!(status.is_success(), "{sql}: {status} {body}");
    Ok(body)
}

/// Bytes of every active part and of the customDimensions columns.
async fn clickhouse_bytes(
    url: &str,
    name: &str,
    batches: Vec<Batch>,
) -> anyhow::Result<(u64, u64)> {
    let database = format!("bench_storage_{name}_{}", std::process::id());
    let store = ClickHouseStore::open(&ClickHouseConfig {
        retention_days: 0,
        ..ClickHouseConfig::new(url, &database)
    })
    .await?;
    for batch in batches {
        let payload = Bytes::from(store.encode(&batch, tracehouse::pipeline::new_batch_id())?);
        store.write_encoded(&[payload], false).await?;
    }
    for table in TABLES {
        clickhouse_text(url, &format!("OPTIMIZE TABLE {database}.`{table}` FINAL")).await?;
    }
    let total = clickhouse_text(
        url,
        &format!(
            "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = '{database}' AND active"
        ),
    )
    .await?;
    let dimensions = clickhouse_text(
        url,
        &format!(
            "SELECT sum(data_compressed_bytes) FROM system.columns \
             WHERE database = '{database}' AND name LIKE 'customDimensions%'"
        ),
    )
    .await?;
    clickhouse_text(url, &format!("DROP DATABASE {database}")).await?;
    Ok((total.trim().parse()?, dimensions.trim().parse()?))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        for (name, label) in [
            ("fixtures", "fixtures (Python SDK, OTLP and track)"),
            ("workload", "load generator workload"),
            ("pod", "workload from a pod with a Collector-enriched resource"),
        ] {
            let batches = || match name {
                "fixtures" => fixture_batches(args.rows),
                _ => workload_batches(args.rows, name == "pod"),
            };
            let rows: usize = batches()?.iter().map(Batch::row_count).sum();
            println!("{label}: {rows} rows");
            if args.sqlite {
                let (bytes, (read_all, filter)) = sqlite_bytes(batches()?).await?;
                println!(
                    "  sqlite: {:.0} bytes per row; reading every dependency's map {read_all:.0} ms, \
                     filtering on a resource attribute {filter:.0} ms",
                    bytes as f64 / rows as f64
                );
            }
            if let Some(url) = &args.clickhouse_url {
                let (total, dimensions) = clickhouse_bytes(url, name, batches()?).await?;
                println!(
                    "  clickhouse: {:.1} bytes per row, of which customDimensions {:.1}",
                    total as f64 / rows as f64,
                    dimensions as f64 / rows as f64
                );
            }
        }
        Ok(())
    })
}
