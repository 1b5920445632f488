//! Query latency at scale: fills a store with the synthetic GenAI workload spread over a day,
//! then times transaction lookups (read + tree assembly), percentile queries, the joins
//! behind the application map and GenAI usage, KQL queries, the server time of every UI page
//! (handler, store reads and rendering, without the network) and of Grafana's Tempo calls.
//! `--copies N` stores every batch N times, as clients that resend do, so span ids repeat.
//!
//! ```sh
//! cargo bench --bench query -- --clickhouse-url http://127.0.0.1:8123 --spans 10000000
//! cargo bench --bench query -- --sqlite --spans 1000000
//! cargo bench --bench query -- --clickhouse-url http://127.0.0.1:8123 --spans 300000 --copies 10
//! cargo bench --bench query -- --clickhouse-url http://127.0.0.1:8123 --sqlite --spans 4000000 --kql-only
//! ```

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use prost::Message;
use tower::ServiceExt as _;
use tracehouse::model::Batch;
use tracehouse::normalize::{Context, Limits};
use tracehouse::query::tree;
use tracehouse::reads::{
    AppScope, Column, Percentiles, ScopedRange, Selection, Source, StatsQuery,
};
use tracehouse::store::clickhouse::{ClickHouseConfig, ClickHouseStore, Compression};
use tracehouse::store::sqlite::SqliteStore;
use tracehouse::store::{SpooledWrites, Store, TimeRange};
use tracehouse::workload::Workload;

#[derive(Debug, Parser)]
struct Args {
    /// Fill and query ClickHouse at this HTTP URL.
    #[arg(long)]
    clickhouse_url: Option<String>,
    /// Fill and query an embedded SQLite store.
    #[arg(long)]
    sqlite: bool,
    /// Spans to store.
    #[arg(long, default_value_t = 1_000_000)]
    spans: usize,
    /// Transactions looked up.
    #[arg(long, default_value_t = 50)]
    lookups: usize,
    /// Times every batch is stored (resent batches repeat span ids).
    #[arg(long, default_value_t = 1)]
    copies: usize,
    /// `none` for endpoints without ClickHouse's lz4 framing (the chDB test endpoint).
    #[arg(long, value_enum, default_value = "lz4")]
    clickhouse_compression: Compression,
    /// Only the KQL queries (the runbook's error rate, percentiles by name).
    #[arg(long)]
    kql_only: bool,
    /// Only the UI pages whose label contains this text (the other measurements are skipped).
    #[arg(long)]
    pages: Option<String>,
    /// Keep the SQLite store in this directory; with `--reuse` a store already there is read,
    /// not refilled.
    #[arg(long)]
    sqlite_dir: Option<std::path::PathBuf>,
    /// Run on this ClickHouse cluster (`--clickhouse-cluster` of tracehouse serve).
    #[arg(long)]
    clickhouse_cluster: Option<String>,
    /// Fill this ClickHouse database (kept; by default one per run).
    #[arg(long)]
    clickhouse_database: Option<String>,
    /// Read the stores `--sqlite-dir` and `--clickhouse-database` name as filled by an earlier
    /// run with the same `--spans`, `--copies` and `--at`, instead of filling them.
    #[arg(long)]
    reuse: bool,
    /// The generator's clock in UTC ns (the data spans the day before an hour earlier);
    /// printed by every run. Default: now.
    #[arg(long)]
    at: Option<u64>,
    /// Ignored: cargo bench passes it.
    #[arg(long, hide = true)]
    bench: bool,
}

const HOUR_NS: u64 = 3_600_000_000_000;
const OPERATIONS_PER_REQUEST: usize = 120;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

/// What was stored: some operation ids to look up, the number of requests, the time range.
struct Data {
    operation_ids: Vec<String>,
    requests: usize,
    range: TimeRange,
}

/// Generates the workload spread over the 24 hours before an hour ago and hands it to `sink` in
/// normalized batches of about 50,000 rows; the same seed gives every store the same data.
async fn generate<F, Fut>(
    now: u64,
    spans: usize,
    lookups: usize,
    copies: usize,
    mut sink: F,
) -> anyhow::Result<Data>
where
    F: FnMut(Batch) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let end = now - HOUR_NS;
    let start = end - 24 * HOUR_NS;
    let request_count = spans.div_ceil(OPERATIONS_PER_REQUEST * 4);
    let limits = Limits {
        max_item_age_ns: 3 * 24 * HOUR_NS as i64,
        ..Limits::default()
    };
    let ctx = Context {
        limits: &limits,
        now_ns: now as i64,
        ikey: "".into(),
        app_name: APP.into(),
    };
    let mut workload = Workload::new(7);
    workload.sessions = true;
    let mut data = Data {
        operation_ids: Vec::new(),
        requests: 0,
        range: TimeRange {
            from_ns: (start - HOUR_NS) as i64,
            to_ns: (end + HOUR_NS) as i64,
        },
    };
    let every = (request_count / lookups.max(1)).max(1);
    let mut batch = Batch::default();
    let mut stored = 0;
    for i in 0..request_count {
        let at = start + (24 * HOUR_NS / request_count as u64) * i as u64;
        let body = workload.request(OPERATIONS_PER_REQUEST, at).encode_to_vec();
        let normalized = tracehouse::normalize::traces(&body, &ctx)?.batch;
        if i % every == 0
            && let Some(request) = normalized.requests.get(OPERATIONS_PER_REQUEST / 2)
        {
            data.operation_ids.push(request.common.operation_id.clone());
        }
        data.requests += normalized.requests.len() * copies;
        stored += (normalized.requests.len() + normalized.dependencies.len()) * copies;
        batch.append(normalized);
        if batch.row_count() >= 50_000 || i + 1 == request_count {
            let full = std::mem::take(&mut batch);
            for _ in 1..copies {
                sink(full.clone()).await?;
            }
            sink(full).await?;
        }
    }
    eprintln!("stored {stored} spans ({} requests)", data.requests);
    Ok(data)
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Median, p95 and max of timings, in ms.
fn summary(mut timings: Vec<Duration>) -> String {
    timings.sort();
    let at = |q: f64| millis(timings[((timings.len() - 1) as f64 * q).round() as usize]);
    format!(
        "median {:.1} ms, p95 {:.1} ms, max {:.1} ms (n={})",
        at(0.5),
        at(0.95),
        at(1.0),
        timings.len()
    )
}

/// The app every generated row belongs to.
const APP: &str = "bench";

async fn measure(store: &dyn Store, data: &Data) -> anyhow::Result<()> {
    let mut lookups = Vec::new();
    for id in &data.operation_ids {
        let started = Instant::now();
        // As the API looks a transaction up: which apps have the id, then that app's items.
        let apps = store.operation_apps(&AppScope::All, id).await?;
        let app = apps.first().map_or("", String::as_str);
        let items = store.operation(app, id).await?;
        let transaction = tree::assemble(id, items);
        lookups.push(started.elapsed());
        anyhow::ensure!(transaction.is_some(), "operation {id} not found");
    }
    println!("  transaction lookup + tree: {}", summary(lookups));
    let mid = data.range.from_ns + (data.range.to_ns - data.range.from_ns) / 2;
    let half = TimeRange {
        from_ns: data.range.from_ns,
        to_ns: mid,
    };
    for (label, range, share, scope) in [
        ("all", data.range, 1.0, AppScope::All),
        (
            "all, read with a token of the app",
            data.range,
            1.0,
            AppScope::one(APP),
        ),
        ("half the day", half, 0.5, AppScope::All),
    ] {
        let query = StatsQuery {
            selection: Selection {
                source: Source::Requests,
                range,
                scope,
                filters: Vec::new(),
            },
            group_by: vec![Column::Name],
            bucket_s: None,
            percentiles: Percentiles::Exact,
        };
        let mut timings = Vec::new();
        let mut counted = 0;
        for _ in 0..5 {
            let started = Instant::now();
            let rows = store.stats(&query, 100).await?;
            timings.push(started.elapsed());
            counted = rows.iter().map(|r| r.count).sum::<u64>();
        }
        println!(
            "  percentiles by name over {label} (~{:.0} K requests, {counted} counted): {}",
            data.requests as f64 * share / 1e3,
            summary(timings)
        );
    }
    let (mut edges, mut throttling) = (Vec::new(), Vec::new());
    let (mut edge_count, mut attempts) = (0, 0);
    for _ in 0..5 {
        let started = Instant::now();
        let window = ScopedRange {
            range: data.range,
            scope: AppScope::one(APP),
            filters: Vec::new(),
        };
        edge_count = store.call_edges(&window).await?.len();
        edges.push(started.elapsed());
        let started = Instant::now();
        attempts = store
            .genai_throttling(&window)
            .await?
            .per_model
            .values()
            .map(|t| t.attempts)
            .sum::<u64>();
        throttling.push(started.elapsed());
    }
    println!("  map call edges ({edge_count} edges): {}", summary(edges));
    println!(
        "  genai throttling ({attempts} throttled attempts): {}",
        summary(throttling)
    );
    Ok(())
}

/// KQL as `POST /api/v1/query` runs it (plan, store, answer), over the whole range unless
/// the query sets its own.
async fn measure_kql(store: &dyn Store, data: &Data) -> anyhow::Result<()> {
    const RUNBOOK: &str = "AppRequests
| where TimeGenerated > ago(6h)
| summarize TotalRequests = count(), ErrorRequests = countif(ResultCode >= 500) by bin(TimeGenerated, 5m)
| extend ErrorRate = ErrorRequests * 100.0 / TotalRequests
| render timechart";
    let whole_day = RUNBOOK.replace("| where TimeGenerated > ago(6h)\n", "");
    let range = format!(
        "{}/{}",
        tracehouse::kql::values::format_datetime(data.range.from_ns),
        tracehouse::kql::values::format_datetime(data.range.to_ns)
    );
    let queries = [
        (
            "runbook error rate, verbatim (its own last 6 h)",
            RUNBOOK.to_owned(),
            None,
        ),
        (
            "runbook error rate over the whole day",
            whole_day,
            Some(range.as_str()),
        ),
        (
            "percentiles(DurationMs, 50, 95, 99) by Name over the whole day",
            "AppRequests | summarize count(), percentiles(DurationMs, 50, 95, 99) by Name"
                .to_owned(),
            Some(range.as_str()),
        ),
    ];
    for (label, query, timespan) in queries {
        let mut timings = Vec::new();
        let mut counted = 0;
        for _ in 0..5 {
            let started = Instant::now();
            let table = tracehouse::kql::run::run_query(
                store,
                &AppScope::one(APP),
                &query,
                timespan,
                tracehouse::clock::now_ns(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
            timings.push(started.elapsed());
            counted = table
                .rows
                .iter()
                .filter_map(|row| row[1].as_u64())
                .sum::<u64>();
        }
        println!(
            "  kql {label} ({counted} requests counted): {}",
            summary(timings)
        );
    }
    Ok(())
}

/// Server time of each UI page over the whole range, as a browser would ask for it.
async fn measure_pages(store: Arc<dyn Store>, data: &Data, only: &str) -> anyhow::Result<()> {
    let busiest = store
        .stats(
            &StatsQuery {
                selection: Selection {
                    source: Source::Requests,
                    range: data.range,
                    scope: AppScope::All,
                    filters: Vec::new(),
                },
                group_by: vec![Column::Name],
                bucket_s: None,
                percentiles: Percentiles::Binned,
            },
            1,
        )
        .await?
        .into_iter()
        .next()
        .map(|row| row.group[0].clone())
        .unwrap_or_default();
    let state = tracehouse::api::ApiState {
        store,
        access: tracehouse::api::access::AccessControl::open(),
        metrics: Arc::default(),
        live: Arc::new(tracehouse::ingest::quickpulse::LiveMetrics::new(false)),
        genai: Arc::default(),
        secure_cookies: false,
        alerts: None,
        ingest_keys: tracehouse::ingest::auth::Authenticator::open(),
    };
    let ui = tracehouse::ui::router(state.clone());
    let api = tracehouse::api::router(state, &[]).map_err(anyhow::Error::msg)?;
    let range = format!(
        "from={}&to={}",
        tracehouse::time::format_instant(data.range.from_ns),
        tracehouse::time::format_instant(data.range.to_ns)
    );
    let operation: String = form_urlencoded::byte_serialize(busiest.as_bytes()).collect();
    let encode =
        |text: &str| -> String { form_urlencoded::byte_serialize(text.as_bytes()).collect() };
    let seconds = format!(
        "start={}&end={}",
        data.range.from_ns / 1_000_000_000,
        data.range.to_ns / 1_000_000_000
    );
    let slow = encode(&format!("{{name=\"{busiest}\" && duration>1s}}"));
    // Grafana's Tempo data source: search narrowed by the store, search it cannot narrow
    // (every candidate loaded and matched), a trace as protobuf.
    let trace_apis = [
        (
            "tempo search, name and duration",
            format!("/tempo/api/search?q={slow}&limit=20&spss=3&{seconds}"),
        ),
        (
            "tempo search, status=error",
            format!(
                "/tempo/api/search?q={}&limit=20&{seconds}",
                encode("{status=error}")
            ),
        ),
        (
            "tempo search, regex (not narrowed)",
            format!(
                "/tempo/api/search?q={}&limit=20&{seconds}",
                encode("{name=~\".*chat.*\"}")
            ),
        ),
        (
            "tempo trace by id",
            format!("/tempo/api/traces/{}", data.operation_ids[0]),
        ),
        ("tempo tags", format!("/tempo/api/v2/search/tags?{seconds}")),
        (
            "genai usage api (binned)",
            format!("/api/v1/genai/usage?percentiles=binned&{range}"),
        ),
        (
            "genai sessions api (binned)",
            format!("/api/v1/genai/sessions?percentiles=binned&{range}"),
        ),
    ];
    let pages = [
        ("performance", format!("/performance?{range}")),
        (
            "performance, one operation",
            format!("/performance?operation={operation}&{range}"),
        ),
        (
            "performance, dependencies",
            format!("/performance?table=dependencies&{range}"),
        ),
        (
            "samples p95-p99",
            format!("/samples?filter.name={operation}&band=p95-p99&{range}"),
        ),
        (
            "transaction",
            format!("/transaction/{}", data.operation_ids[0]),
        ),
        ("failures", format!("/failures?{range}")),
        ("map", format!("/map?{range}")),
        ("genai", format!("/genai?{range}")),
        ("logs", format!("/logs?q=error&{range}")),
    ];
    for (label, path) in pages {
        if label.contains(only) {
            time_page(&ui, label, &path).await?;
        }
    }
    for (label, path) in trace_apis {
        if label.contains(only) {
            time_page(&api, label, &path).await?;
        }
    }
    Ok(())
}

/// Five requests to one page, their server time and the body's size.
async fn time_page(router: &axum::Router, label: &str, path: &str) -> anyhow::Result<()> {
    let mut timings = Vec::new();
    let mut bytes = 0;
    for _ in 0..5 {
        let request = http::Request::get(path)
            .header("accept", "application/protobuf")
            .body(axum::body::Body::empty())?;
        let started = Instant::now();
        let response = router.clone().oneshot(request).await?;
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
        timings.push(started.elapsed());
        anyhow::ensure!(status == 200, "{path}: {status}");
        bytes = body.len();
    }
    println!(
        "  page {label} ({} KB): {}",
        bytes / 1_000,
        summary(timings)
    );
    Ok(())
}

async fn run(args: Args) -> anyhow::Result<()> {
    let now = args
        .at
        .unwrap_or_else(|| tracehouse::clock::now_ns() as u64);
    eprintln!("data generated at --at {now}");
    if let Some(url) = &args.clickhouse_url {
        let database = args
            .clickhouse_database
            .clone()
            .unwrap_or_else(|| format!("bench_query_{}", std::process::id()));
        let store = ClickHouseStore::open(&ClickHouseConfig {
            retention_days: 0,
            compression: args.clickhouse_compression,
            cluster: args.clickhouse_cluster.clone(),
            ..ClickHouseConfig::new(url, &database)
        })
        .await?;
        let started = Instant::now();
        let fill = !args.reuse;
        let data = generate(now, args.spans, args.lookups, args.copies, |batch| {
            let store = &store;
            async move {
                if fill {
                    let payload =
                        Bytes::from(store.encode(&batch, tracehouse::pipeline::new_batch_id())?);
                    store.write_encoded(&[payload], false).await?;
                }
                Ok(())
            }
        })
        .await?;
        eprintln!(
            "clickhouse {database} filled in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        println!("clickhouse, {} spans:", args.spans);
        if store.topology().is_some() {
            // A lookup reads every shard until the store's check found every row in place.
            println!(
                "  lookups read one shard: {}",
                store.lookups_read_one_shard()
            );
        }
        measure_all(Arc::new(store), &data, &args).await?;
    }
    if args.sqlite {
        let temporary = tempfile::tempdir()?;
        let dir = args.sqlite_dir.as_deref().unwrap_or(temporary.path());
        let store = SqliteStore::open(dir).await?;
        let started = Instant::now();
        let fill = !args.reuse;
        let data = generate(now, args.spans, args.lookups, args.copies, |batch| {
            let store = &store;
            async move {
                if fill {
                    store.write(Arc::new(batch)).await?;
                }
                Ok(())
            }
        })
        .await?;
        eprintln!("sqlite filled in {:.1} s", started.elapsed().as_secs_f64());
        println!("sqlite, {} spans:", args.spans);
        measure_all(Arc::new(store), &data, &args).await?;
    }
    Ok(())
}

async fn measure_all(store: Arc<dyn Store>, data: &Data, args: &Args) -> anyhow::Result<()> {
    if args.pages.is_none() {
        measure_kql(store.as_ref(), data).await?;
    }
    if !args.kql_only {
        if args.pages.is_none() {
            measure(store.as_ref(), data).await?;
        }
        measure_pages(store, data, args.pages.as_deref().unwrap_or("")).await?;
    }
    Ok(())
}
