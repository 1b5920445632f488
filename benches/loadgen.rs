//! Load generator: end-to-end OTLP → tracehouse → ClickHouse against ClickHouse's own insert
//! rate for the same rows, in one run.
//!
//! ```sh
//! cargo bench --bench loadgen -- --clickhouse-url http://127.0.0.1:8123 --spans 1000000
//! ```
//!
//! Phases: (1) the rows tracehouse would write are normalized and RowBinary-encoded up front and
//! inserted straight into ClickHouse (no tracehouse) — ClickHouse's rate; (2) a tracehouse
//! (this build, release) is started on a fresh database and the same OTLP requests, pre-encoded
//! as protobuf, are sent over gRPC or HTTP on N connections; the rate counts until every span is
//! stored, and tracehouse's CPU time is read from /proc; (3) optionally, many connections blast
//! it past what ClickHouse takes and its peak RSS is read.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use prost::Message;
use tracehouse::ingest::grpc::RawCodec;
use tracehouse::normalize::{Context, Limits};
use tracehouse::store::SpooledWrites;
use tracehouse::store::clickhouse::{ClickHouseConfig, ClickHouseStore};
use tracehouse::workload::{Workload, span_count};

#[derive(Debug, Parser)]
struct Args {
    /// ClickHouse HTTP interface to load.
    #[arg(long)]
    clickhouse_url: String,
    /// Run on this ClickHouse cluster (`--clickhouse-cluster` of tracehouse serve).
    #[arg(long)]
    clickhouse_cluster: Option<String>,
    /// On a cluster, also time the direct insert straight into the shards' local tables
    /// through these nodes' HTTP interfaces (one per shard, in shard order, comma-separated),
    /// the insert path tracehouse does not take.
    #[arg(long, value_delimiter = ',')]
    clickhouse_shard_urls: Vec<String>,
    /// Spans to send in each phase.
    #[arg(long, default_value_t = 1_000_000)]
    spans: usize,
    /// Operations per OTLP request (about 4 spans each).
    #[arg(long, default_value_t = 120)]
    operations_per_request: usize,
    /// Concurrent connections sending.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// `grpc`, `http` (OTLP protobuf) or `track` (Application Insights JSON envelopes).
    #[arg(long, default_value = "grpc")]
    transport: String,
    /// Also blast tracehouse with this many connections and report its peak memory.
    #[arg(long, default_value_t = 0)]
    overload_connections: usize,
    /// Ignored: cargo bench passes it.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let now = tracehouse::clock::now_ns() as u64;
    let distinct = 200.min(args.spans / (args.operations_per_request * 4) + 1);
    let mut workload = Workload::new(7);
    let requests: Vec<Bytes> = (0..distinct)
        .map(|_| {
            Bytes::from(
                workload
                    .request(args.operations_per_request, now)
                    .encode_to_vec(),
            )
        })
        .collect();
    // Requests differ in size (throttled calls add attempts), so count each one.
    let mut spans_in = Vec::with_capacity(requests.len());
    for request in &requests {
        let decoded =
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(
                request.clone(),
            )?;
        spans_in.push(span_count(&decoded));
    }
    let mut request_count = 0;
    let mut total_spans = 0;
    while total_spans < args.spans {
        total_spans += spans_in[request_count % requests.len()];
        request_count += 1;
    }
    println!(
        "workload: {request_count} requests, {total_spans} spans, {} KiB per request",
        requests[0].len() / 1024
    );

    let direct = direct_insert(&args, &requests, request_count, false).await?;
    if !args.clickhouse_shard_urls.is_empty() {
        let to_shards = direct_insert(&args, &requests, request_count, true).await?;
        println!(
            "direct ClickHouse insert into the shard nodes' local tables: {total_spans} rows in {:.2} s = {:.0} rows/s (through Distributed: {:.0} rows/s)",
            to_shards.as_secs_f64(),
            total_spans as f64 / to_shards.as_secs_f64(),
            total_spans as f64 / direct.as_secs_f64()
        );
    }
    // The track transport sends the same spans as the envelopes the Python distro would.
    let sent: Vec<Bytes> = if args.transport == "track" {
        let bodies: Vec<Bytes> = requests
            .iter()
            .map(track_body)
            .collect::<anyhow::Result<_>>()?;
        println!("track bodies: {} KiB each", bodies[0].len() / 1024);
        bodies
    } else {
        requests.clone()
    };
    println!(
        "direct ClickHouse insert (RowBinary, no tracehouse): {total_spans} rows in {:.2} s = {:.0} rows/s",
        direct.as_secs_f64(),
        total_spans as f64 / direct.as_secs_f64()
    );

    let result = through_tracehouse(&args, &sent, request_count, total_spans).await?;
    let e2e_rate = total_spans as f64 / result.landed.as_secs_f64();
    let direct_rate = total_spans as f64 / direct.as_secs_f64();
    println!(
        "tracehouse over {} ({} connections): acknowledged in {:.2} s, all stored after {:.2} s = {:.0} spans/s ({:.0} % of direct)",
        args.transport,
        args.connections,
        result.acknowledged.as_secs_f64(),
        result.landed.as_secs_f64(),
        e2e_rate,
        100.0 * e2e_rate / direct_rate
    );
    println!(
        "tracehouse CPU: {:.2} s user+system for {total_spans} spans = {:.2} us/span; peak RSS {} MiB",
        result.cpu.as_secs_f64(),
        result.cpu.as_secs_f64() * 1e6 / total_spans as f64,
        result.peak_rss_kib / 1024
    );
    if args.overload_connections > 0 {
        let overload = overload(&args, &sent).await?;
        println!(
            "overload ({} connections, 20 s): {} accepted, {} refused (429/503/RESOURCE_EXHAUSTED), peak RSS {} MiB",
            args.overload_connections,
            overload.accepted,
            overload.refused,
            overload.peak_rss_kib / 1024
        );
    }
    Ok(())
}

/// An OTLP request's spans as a track body of envelopes.
fn track_body(request: &Bytes) -> anyhow::Result<Bytes> {
    let limits = Limits::default();
    let ctx = Context {
        limits: &limits,
        now_ns: tracehouse::clock::now_ns(),
        ikey: "".into(),
        app_name: "".into(),
    };
    let batch = tracehouse::normalize::traces(request, &ctx)?.batch;
    Ok(Bytes::from(tracehouse::workload::envelopes::track_body(
        &batch,
    )))
}

fn clickhouse_config(args: &Args, database: &str) -> ClickHouseConfig {
    ClickHouseConfig {
        retention_days: 0,
        cluster: args.clickhouse_cluster.clone(),
        ..ClickHouseConfig::new(&args.clickhouse_url, database)
    }
}

/// Normalizes and encodes up front (as tracehouse's batches would be: about 50,000 rows each),
/// then times only the inserts: through the store (`Distributed` on a cluster), or with
/// `to_shard_nodes` straight into the shards' local tables.
async fn direct_insert(
    args: &Args,
    requests: &[Bytes],
    request_count: usize,
    to_shard_nodes: bool,
) -> anyhow::Result<Duration> {
    let database = format!(
        "loadgen_direct_{}{}",
        std::process::id(),
        if to_shard_nodes { "_shards" } else { "" }
    );
    let shard_nodes: Arc<Vec<clickhouse::Client>> = Arc::new(
        args.clickhouse_shard_urls
            .iter()
            .map(|url| clickhouse::Client::default().with_url(url))
            .collect(),
    );
    let store = Arc::new(ClickHouseStore::open(&clickhouse_config(args, &database)).await?);
    let limits = Limits::default();
    let ctx = Context {
        limits: &limits,
        now_ns: tracehouse::clock::now_ns(),
        ikey: "".into(),
        app_name: "loadgen".into(),
    };
    let mut payloads = Vec::new();
    let mut batch = tracehouse::model::Batch::default();
    for i in 0..request_count {
        batch.append(tracehouse::normalize::traces(&requests[i % requests.len()], &ctx)?.batch);
        if batch.row_count() >= 50_000 || i + 1 == request_count {
            let id = tracehouse::pipeline::new_batch_id();
            payloads.push(Bytes::from(store.encode(&std::mem::take(&mut batch), id)?));
        }
    }
    let payloads = Arc::new(payloads);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.connections.clamp(1, 4) {
        let (store, payloads, next, shard_nodes) = (
            Arc::clone(&store),
            Arc::clone(&payloads),
            Arc::clone(&next),
            Arc::clone(&shard_nodes),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(payload) = payloads.get(i) else {
                    return Ok::<_, anyhow::Error>(());
                };
                if to_shard_nodes {
                    store
                        .insert_into_shard_nodes(payload.clone(), &shard_nodes)
                        .await?;
                } else {
                    store
                        .write_encoded(std::slice::from_ref(payload), false)
                        .await?;
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(started.elapsed())
}

struct Tracehouse {
    child: Child,
    http: String,
    grpc: String,
}

impl Drop for Tracehouse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

async fn start_tracehouse(
    args: &Args,
    database: &str,
    data_dir: &std::path::Path,
) -> anyhow::Result<Tracehouse> {
    let (http, grpc, api) = (free_port(), free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_tracehouse"))
        .args(["serve", "--data-dir"])
        .arg(data_dir)
        .args(["--http-listen", &format!("127.0.0.1:{http}")])
        .args(["--grpc-listen", &format!("127.0.0.1:{grpc}")])
        .args(["--api-listen", &format!("127.0.0.1:{api}")])
        .args([
            "--clickhouse-url",
            &args.clickhouse_url,
            "--clickhouse-database",
            database,
        ])
        .args(
            args.clickhouse_cluster
                .iter()
                .flat_map(|name| ["--clickhouse-cluster", name.as_str()]),
        )
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()?;
    let tracehouse = Tracehouse {
        child,
        http: format!("http://127.0.0.1:{http}"),
        grpc: format!("http://127.0.0.1:{grpc}"),
    };
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if client
            .get(format!("{}/healthz", tracehouse.http))
            .send()
            .await
            .is_ok()
        {
            return Ok(tracehouse);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("tracehouse did not start")
}

/// User + system CPU time of a process.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    // Linux reports CPU time in clock ticks of 100 Hz on every platform we run on.
    Duration::from_millis(ticks * 10)
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

struct TracehouseRun {
    acknowledged: Duration,
    landed: Duration,
    cpu: Duration,
    peak_rss_kib: u64,
}

async fn stored_rows(url: &str, database: &str) -> u64 {
    let sql = format!(
        "SELECT (SELECT count() FROM {database}.requests) + (SELECT count() FROM {database}.dependencies) FORMAT TSV"
    );
    match reqwest::Client::new().post(url).body(sql).send().await {
        Ok(response) => response
            .text()
            .await
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0),
        Err(_) => 0,
    }
}

async fn through_tracehouse(
    args: &Args,
    requests: &[Bytes],
    request_count: usize,
    total_spans: usize,
) -> anyhow::Result<TracehouseRun> {
    let database = format!("loadgen_tracehouse_{}", std::process::id());
    let dir = tempfile::tempdir()?;
    let tracehouse = start_tracehouse(args, &database, dir.path()).await?;
    let pid = tracehouse.child.id();
    let cpu_before = cpu_time(pid);
    let started = Instant::now();
    let sender = Sender::new(args, &tracehouse).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let (sender, next, requests) = (sender.clone(), Arc::clone(&next), requests.to_vec());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= request_count {
                    return Ok::<_, anyhow::Error>(());
                }
                while !sender.send(requests[i % requests.len()].clone()).await? {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let acknowledged = started.elapsed();
    while stored_rows(&args.clickhouse_url, &database).await < total_spans as u64 {
        if started.elapsed() > Duration::from_secs(600) {
            anyhow::bail!("spans did not all arrive in ClickHouse");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let landed = started.elapsed();
    Ok(TracehouseRun {
        acknowledged,
        landed,
        cpu: cpu_time(pid).saturating_sub(cpu_before),
        peak_rss_kib: peak_rss_kib(pid),
    })
}

struct OverloadRun {
    accepted: u64,
    refused: u64,
    peak_rss_kib: u64,
}

async fn overload(args: &Args, requests: &[Bytes]) -> anyhow::Result<OverloadRun> {
    let database = format!("loadgen_overload_{}", std::process::id());
    let dir = tempfile::tempdir()?;
    let tracehouse = start_tracehouse(args, &database, dir.path()).await?;
    let sender = Sender::new(args, &tracehouse).await?;
    let (accepted, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut tasks = Vec::new();
    for c in 0..args.overload_connections {
        let (sender, requests) = (sender.clone(), requests.to_vec());
        let (accepted, refused) = (Arc::clone(&accepted), Arc::clone(&refused));
        tasks.push(tokio::spawn(async move {
            let mut i = c;
            while Instant::now() < deadline {
                match sender.send(requests[i % requests.len()].clone()).await {
                    Ok(true) => {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        // Exporters back off after a refusal; a tight loop would only measure
                        // how fast tracehouse can say no.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                i += 1;
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    Ok(OverloadRun {
        accepted: accepted.load(Ordering::Relaxed),
        refused: refused.load(Ordering::Relaxed),
        peak_rss_kib: peak_rss_kib(tracehouse.child.id()),
    })
}

/// Sends pre-encoded requests; `Ok(false)` means a retryable refusal.
#[derive(Clone)]
enum Sender {
    Http {
        client: reqwest::Client,
        url: String,
        content_type: &'static str,
    },
    Grpc {
        channel: tonic::transport::Channel,
    },
}

impl Sender {
    async fn new(args: &Args, tracehouse: &Tracehouse) -> anyhow::Result<Self> {
        Ok(match args.transport.as_str() {
            "http" => Sender::Http {
                client: reqwest::Client::new(),
                url: format!("{}/v1/traces", tracehouse.http),
                content_type: "application/x-protobuf",
            },
            "track" => Sender::Http {
                client: reqwest::Client::new(),
                url: format!("{}/v2.1/track", tracehouse.http),
                content_type: "application/json",
            },
            "grpc" => Sender::Grpc {
                channel: tonic::transport::Endpoint::from_shared(tracehouse.grpc.clone())?
                    .connect()
                    .await?,
            },
            other => anyhow::bail!("unknown transport {other:?}"),
        })
    }

    async fn send(&self, body: Bytes) -> anyhow::Result<bool> {
        match self {
            Sender::Http {
                client,
                url,
                content_type,
            } => {
                let response = client
                    .post(url)
                    .header("content-type", *content_type)
                    .body(body)
                    .send()
                    .await?;
                match response.status().as_u16() {
                    200 => Ok(true),
                    429 | 503 => Ok(false),
                    other => anyhow::bail!("unexpected status {other}"),
                }
            }
            Sender::Grpc { channel } => {
                let mut grpc = tonic::client::Grpc::new(channel.clone());
                grpc.ready().await?;
                let path = http::uri::PathAndQuery::from_static(
                    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                );
                match grpc.unary(tonic::Request::new(body), path, RawCodec).await {
                    Ok(_) => Ok(true),
                    Err(status)
                        if matches!(
                            status.code(),
                            tonic::Code::ResourceExhausted | tonic::Code::Unavailable
                        ) =>
                    {
                        Ok(false)
                    }
                    Err(status) => anyhow::bail!("grpc error {status}"),
                }
            }
        }
    }
}
