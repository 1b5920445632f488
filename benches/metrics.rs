//! `/api/v1/metrics/series` at scale: 1,000 series × 10,000 points of a gauge (10 M points,
//! 10 s apart, 50 nodes of 20 pods), then the store's series read (the whole aggregation the
//! endpoint runs) over every point and over the last hour, grouped by node.
//!
//! ```sh
//! cargo bench --bench metrics -- --clickhouse-url http://127.0.0.1:8123 --sqlite
//! cargo bench --bench metrics -- --sqlite --points-per-series 1000
//! cargo bench --bench metrics -- --sqlite --points-per-series 1000 --resource-attributes
//! ```

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use clap::Parser;
use tracehouse::model::{Batch, Common, CustomMetric, Dimensions, Item, Resource};
use tracehouse::reads::AppScope;
use tracehouse::reads::metric_series::{Aggregation, Buckets};
use tracehouse::reads::metrics::{GroupKey, PointQuery, SeriesQuery};
use tracehouse::store::clickhouse::{ClickHouseConfig, ClickHouseStore};
use tracehouse::store::sqlite::SqliteStore;
use tracehouse::store::{SpooledWrites, Store, TimeRange};

#[derive(Debug, Parser)]
struct Args {
    #[arg(long)]
    clickhouse_url: Option<String>,
    #[arg(long)]
    sqlite: bool,
    #[arg(long, default_value_t = 1_000)]
    series: u64,
    #[arg(long, default_value_t = 10_000)]
    points_per_series: u64,
    /// Node and pod as resource attributes (one resource per pod, as kubeletstats sends them)
    /// instead of point attributes.
    #[arg(long)]
    resource_attributes: bool,
    /// Ignored: cargo bench passes it.
    #[arg(long, hide = true)]
    bench: bool,
}

const STEP_NS: i64 = 10_000_000_000;
const BATCH_POINTS: u64 = 100_000;

fn pod_dimensions(series: u64) -> Dimensions {
    Dimensions::from_pairs([
        ("k8s.node.name", format!("node-{}", series % 50)),
        ("k8s.pod.name", format!("pod-{series}")),
    ])
}

/// Batches of points, time-major (as collectors send them), ending now.
fn batches(args: &Args, end_ns: i64) -> impl Iterator<Item = Batch> + '_ {
    let (ikey, app): (Arc<str>, Arc<str>) = ("bench-key".into(), "bench".into());
    let pods: Vec<Arc<Resource>> = (0..args.series)
        .map(|series| {
            Arc::new(Resource {
                dimensions: if args.resource_attributes {
                    pod_dimensions(series)
                } else {
                    Dimensions::default()
                },
                ..Resource::default()
            })
        })
        .collect();
    let total = args.series * args.points_per_series;
    (0..total.div_ceil(BATCH_POINTS)).map(move |b| {
        let mut batch = Batch::default();
        for n in b * BATCH_POINTS..((b + 1) * BATCH_POINTS).min(total) {
            let (step, series) = (n / args.series, n % args.series);
            let time = end_ns - (args.points_per_series - step) as i64 * STEP_NS;
            batch.custom_metrics.push(Item {
                common: Common {
                    timestamp_ns: time,
                    ikey: Arc::clone(&ikey),
                    app_name: Arc::clone(&app),
                    item_id: format!("{n:x}"),
                    resource: Arc::clone(&pods[series as usize]),
                    item_count: 1,
                    dimensions: if args.resource_attributes {
                        Dimensions::default()
                    } else {
                        pod_dimensions(series)
                    },
                    ..Common::default()
                },
                data: CustomMetric {
                    name: "k8s.pod.cpu.usage".into(),
                    metric_type: "gauge",
                    unit: "{cpu}".into(),
                    value: (n % 97) as f64 / 100.0,
                    value_count: 1,
                    value_sum: (n % 97) as f64 / 100.0,
                    ..CustomMetric::default()
                },
            });
        }
        batch
    })
}

async fn measure(store: &dyn Store, end_ns: i64, span_ns: i64, label: &str) -> anyhow::Result<()> {
    let range = TimeRange {
        from_ns: end_ns - span_ns,
        to_ns: end_ns + 1,
    };
    let width = if span_ns > 3_600_000_000_000 {
        300_000_000_000
    } else {
        60_000_000_000
    };
    let query = SeriesQuery {
        points: PointQuery {
            range,
            scope: AppScope::All,
            names: vec!["k8s.pod.cpu.usage".into()],
            filters: Vec::new(),
            group_by: vec![GroupKey::Dimension("k8s.node.name".into())],
            buckets: false,
            quantile: None,
        },
        buckets: Buckets::new(range.from_ns, range.to_ns, width).expect("buckets"),
        aggregation: Aggregation::Avg,
    };
    let mut times = Vec::new();
    let mut groups = 0;
    for _ in 0..3 {
        let started = Instant::now();
        groups = store.metric_series(&query).await?.len();
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!("  {label}: median {:.0} ms ({groups} groups)", times[1]);
    Ok(())
}

/// Every point, then the last hour.
async fn measure_both(store: &dyn Store, end_ns: i64, total_span: i64) -> anyhow::Result<()> {
    measure(store, end_ns, total_span, "every point, 5m buckets by node").await?;
    measure(
        store,
        end_ns,
        3_600_000_000_000,
        "last hour, 1m buckets by node",
    )
    .await
}

async fn run(args: Args) -> anyhow::Result<()> {
    let end_ns = tracehouse::clock::now_ns();
    let total_span = args.points_per_series as i64 * STEP_NS;
    let points = args.series * args.points_per_series;
    if let Some(url) = &args.clickhouse_url {
        let store = ClickHouseStore::open(&ClickHouseConfig {
            retention_days: 0,
            ..ClickHouseConfig::new(url, &format!("bench_metrics_{}", std::process::id()))
        })
        .await?;
        let started = Instant::now();
        for batch in batches(&args, end_ns) {
            let payload = Bytes::from(store.encode(&batch, tracehouse::pipeline::new_batch_id())?);
            store.write_encoded(&[payload], false).await?;
        }
        eprintln!(
            "clickhouse filled in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        println!("clickhouse, {points} points:");
        measure_both(&store, end_ns, total_span).await?;
    }
    if args.sqlite {
        let dir = tempfile::tempdir()?;
        let store = SqliteStore::open(dir.path()).await?;
        let started = Instant::now();
        for batch in batches(&args, end_ns) {
            store.write(Arc::new(batch)).await?;
        }
        eprintln!("sqlite filled in {:.1} s", started.elapsed().as_secs_f64());
        println!("sqlite, {points} points:");
        measure_both(&store, end_ns, total_span).await?;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}
