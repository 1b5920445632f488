use super::*;

const S: i64 = 1_000_000_000;

fn point(series: &str, t_s: i64, metric_type: &str, temporality: &str, value: f64) -> MetricPoint {
    MetricPoint {
        timestamp_ns: t_s * S,
        name: "m".into(),
        series: series.bytes().fold(0u64, |h, b| h * 131 + u64::from(b)),
        group: vec![series.into()],
        metric_type: metric_type.into(),
        temporality: temporality.into(),
        value,
        count: 1,
        min: value,
        max: value,
        ..MetricPoint::default()
    }
}

fn minute_buckets(minutes: i64) -> Buckets {
    Buckets::new(0, minutes * 60 * S, 60 * S).expect("buckets")
}

fn values(
    points: &[MetricPoint],
    buckets: &Buckets,
    aggregation: Aggregation,
) -> Vec<Vec<Option<f64>>> {
    aggregate(points, buckets, aggregation)
        .expect("aggregates")
        .into_iter()
        .map(|s| s.values)
        .collect()
}

#[test]
fn buckets_align_to_their_width_and_cover_the_range() {
    let b = Buckets::new(90 * S, 200 * S, 60 * S).expect("buckets");
    assert_eq!((b.start_ns, b.count), (60 * S, 3));
    assert_eq!(b.index(89 * S), None);
    assert_eq!(b.index(90 * S), Some(0));
    assert_eq!(b.index(199 * S), Some(2));
    assert_eq!(b.index(200 * S), None);
    assert!(Buckets::new(10, 10, 1).is_none());
    assert!(Buckets::new(0, 10, 0).is_none());
}

#[test]
fn gauges_average_min_max_and_sum_series_means() {
    // Two series in one group: a at 10 and 20, b at 100 (once).
    let mut points = vec![
        point("a", 5, "gauge", "", 10.0),
        point("a", 35, "gauge", "", 20.0),
        point("b", 10, "gauge", "", 100.0),
    ];
    for p in &mut points {
        p.group = vec!["g".into()];
    }
    let b = minute_buckets(2);
    assert_eq!(
        values(&points, &b, Aggregation::Avg),
        vec![vec![Some(130.0 / 3.0), None]]
    );
    assert_eq!(
        values(&points, &b, Aggregation::Min),
        vec![vec![Some(10.0), None]]
    );
    assert_eq!(
        values(&points, &b, Aggregation::Max),
        vec![vec![Some(100.0), None]]
    );
    assert_eq!(
        values(&points, &b, Aggregation::Count),
        vec![vec![Some(3.0), None]]
    );
    // The sum of the series' means: 15 + 100, not 130 (a reported twice).
    assert_eq!(
        values(&points, &b, Aggregation::Sum),
        vec![vec![Some(115.0), None]]
    );
    assert_eq!(
        values(&points, &b, Aggregation::Percentile(0.5)),
        vec![vec![Some(20.0), None]]
    );
    assert!(matches!(
        aggregate(&points, &b, Aggregation::Rate),
        Err(SeriesError::RateOfLevel(_))
    ));
}

#[test]
fn cumulative_sums_become_increments_with_a_restart_in_the_middle() {
    // 0, 10, 25 | restart: 5, 12 — increments 10, 15, 5 (from 0), 7.
    let points = vec![
        point("c", 0, "sum", "cumulative", 0.0),
        point("c", 30, "sum", "cumulative", 10.0),
        point("c", 60, "sum", "cumulative", 25.0),
        point("c", 90, "sum", "cumulative", 5.0),
        point("c", 120, "sum", "cumulative", 12.0),
    ];
    let b = minute_buckets(3);
    assert_eq!(
        values(&points, &b, Aggregation::Sum),
        vec![vec![Some(10.0), Some(20.0), Some(7.0)]]
    );
    let rate = values(&points, &b, Aggregation::Rate);
    assert_eq!(
        rate,
        vec![vec![Some(10.0 / 60.0), Some(20.0 / 60.0), Some(7.0 / 60.0)]]
    );
    // The first point is only a baseline: one increment in the first bucket.
    assert_eq!(
        values(&points, &b, Aggregation::Count),
        vec![vec![Some(1.0), Some(2.0), Some(1.0)]]
    );
}

#[test]
fn a_point_before_the_range_is_the_baseline_of_the_first_increment() {
    let points = vec![
        point("c", 50, "sum", "cumulative", 100.0),
        point("c", 70, "sum", "cumulative", 130.0),
    ];
    let b = Buckets::new(60 * S, 120 * S, 60 * S).expect("buckets");
    assert_eq!(
        values(&points, &b, Aggregation::Sum),
        vec![vec![Some(30.0)]]
    );
}

#[test]
fn delta_sums_add_up_and_up_down_counters_are_levels() {
    let deltas = vec![
        point("d", 1, "sum", "delta", 3.0),
        point("d", 2, "sum", "delta", 4.0),
        point("d", 61, "sum", "delta", 5.0),
    ];
    let b = minute_buckets(2);
    assert_eq!(
        values(&deltas, &b, Aggregation::Sum),
        vec![vec![Some(7.0), Some(5.0)]]
    );
    let levels = vec![
        point("u", 1, "nonmonotonic_sum", "cumulative", 300.0),
        point("u", 2, "nonmonotonic_sum", "cumulative", 200.0),
    ];
    assert_eq!(
        values(&levels, &b, Aggregation::Avg),
        vec![vec![Some(250.0), None]]
    );
}

fn histogram(series: &str, t_s: i64, temporality: &str, counts: &[u64], sum: f64) -> MetricPoint {
    MetricPoint {
        metric_type: "histogram".into(),
        bucket_bounds: vec![100.0, 200.0, 400.0],
        bucket_counts: counts.to_vec(),
        count: counts.iter().sum(),
        min: 0.0,
        max: 800.0,
        ..point(series, t_s, "histogram", temporality, sum)
    }
}

#[test]
fn histogram_percentiles_from_merged_buckets() {
    // Two delta points in one bucket: 60 in [0,100], 30 in (100,200], 10 in (200,400].
    let points = vec![
        histogram("h", 1, "delta", &[40, 20, 5, 0], 6000.0),
        histogram("h", 2, "delta", &[20, 10, 5, 0], 4000.0),
    ];
    let b = minute_buckets(1);
    let p = |q| values(&points, &b, Aggregation::Percentile(q))[0][0].expect("value");
    // p50: 50 of 100 observations, inside [0,100] holding 60: 50/60 of the way.
    assert!((p(0.5) - 100.0 * 50.0 / 60.0).abs() < 1e-9, "{}", p(0.5));
    // p95: 95th falls in (200,400] holding the 91st..100th: 5/10 of the way.
    assert!((p(0.95) - 300.0).abs() < 1e-9, "{}", p(0.95));
    assert_eq!(
        values(&points, &b, Aggregation::Count),
        vec![vec![Some(100.0)]]
    );
    assert_eq!(
        values(&points, &b, Aggregation::Avg),
        vec![vec![Some(100.0)]]
    );
}

#[test]
fn cumulative_histograms_are_differenced_and_reset() {
    let points = vec![
        histogram("h", 0, "cumulative", &[10, 0, 0, 0], 500.0),
        histogram("h", 30, "cumulative", &[10, 10, 0, 0], 2000.0),
        // Restart: fewer observations than before, taken as they are.
        histogram("h", 70, "cumulative", &[0, 0, 4, 0], 1200.0),
    ];
    let b = minute_buckets(2);
    assert_eq!(
        values(&points, &b, Aggregation::Count),
        vec![vec![Some(10.0), Some(4.0)]]
    );
    let p50 = values(&points, &b, Aggregation::Percentile(0.5));
    assert_eq!(p50, vec![vec![Some(150.0), Some(300.0)]]);
    assert_eq!(
        values(&points, &b, Aggregation::Rate),
        vec![vec![Some(10.0 / 60.0), Some(4.0 / 60.0)]]
    );
}

#[test]
fn summaries_give_their_quantiles() {
    let mut first = point("s", 0, "summary", "", 100.0);
    first.count = 10;
    let mut second = point("s", 30, "summary", "", 400.0);
    second.count = 20;
    second.quantile = Some(42.0);
    let b = minute_buckets(1);
    let points = [first, second];
    assert_eq!(
        values(&points, &b, Aggregation::Percentile(0.99)),
        vec![vec![Some(42.0)]]
    );
    assert_eq!(
        values(&points, &b, Aggregation::Avg),
        vec![vec![Some(30.0)]]
    );
    // One point is enough for its quantile.
    assert_eq!(
        values(&points[1..], &b, Aggregation::Percentile(0.99)),
        vec![vec![Some(42.0)]]
    );
}

#[test]
fn groups_come_back_sorted_with_empty_buckets_as_none() {
    let points = vec![
        point("b", 70, "gauge", "", 2.0),
        point("a", 10, "gauge", "", 1.0),
    ];
    let series = aggregate(&points, &minute_buckets(2), Aggregation::Avg).expect("ok");
    assert_eq!(series[0].group, vec!["a".to_owned()]);
    assert_eq!(series[0].values, vec![Some(1.0), None]);
    assert_eq!(series[1].values, vec![None, Some(2.0)]);
}

#[test]
fn increase_reads_a_gauge_of_totals_as_a_counter_and_last_takes_the_latest() {
    // Restarts 2, 2, 5 | pod recreated: 1 — grew by 3, then 1.
    let points = vec![
        point("r", 0, "gauge", "", 2.0),
        point("r", 20, "gauge", "", 2.0),
        point("r", 40, "gauge", "", 5.0),
        point("r", 70, "gauge", "", 1.0),
    ];
    let b = minute_buckets(2);
    assert_eq!(
        values(&points, &b, Aggregation::Increase),
        vec![vec![Some(3.0), Some(1.0)]]
    );
    assert_eq!(
        values(&points, &b, Aggregation::Last),
        vec![vec![Some(5.0), Some(1.0)]]
    );
}

#[test]
fn points_stream_in_series_order_and_groups_are_bounded() {
    let mut aggregator = SeriesAggregator::new(minute_buckets(1), Aggregation::Avg);
    for i in 0..MAX_GROUPS as u64 {
        let mut p = point("x", 1, "gauge", "", 1.0);
        p.series = i;
        p.group = vec![i.to_string()];
        aggregator.push(p).expect("fits");
    }
    let mut one_more = point("x", 1, "gauge", "", 1.0);
    one_more.series = u64::MAX;
    one_more.group = vec!["new".into()];
    assert_eq!(aggregator.push(one_more), Err(SeriesError::TooManyGroups));
}

#[test]
fn every_aggregation_name_parses_back() {
    for name in Aggregation::NAMES.split(", ") {
        let aggregation = Aggregation::parse(name).expect(name);
        assert_eq!(aggregation.api_name(), name);
    }
}

#[test]
fn level_cells_folded_by_the_store_give_what_their_points_give() {
    let points: Vec<MetricPoint> = [(5, 10.0), (35, 20.0), (70, 7.0)]
        .into_iter()
        .map(|(t, v)| point("a", t, "gauge", "", v))
        .collect();
    let b = minute_buckets(2);
    for aggregation in [
        Aggregation::Avg,
        Aggregation::Min,
        Aggregation::Max,
        Aggregation::Count,
    ] {
        let mut folded = SeriesAggregator::new(b, aggregation);
        assert!(folded.takes_level_cells());
        for (bucket, chunk) in [(0, &points[..2]), (1, &points[2..])] {
            folded
                .add_level_cell(LevelCell {
                    group: vec!["a".into()],
                    bucket,
                    sum: chunk.iter().map(|p| p.value).sum(),
                    weight: chunk.len() as u64,
                    min: chunk.iter().map(|p| p.min).fold(f64::INFINITY, f64::min),
                    max: chunk
                        .iter()
                        .map(|p| p.max)
                        .fold(f64::NEG_INFINITY, f64::max),
                })
                .expect("fits");
        }
        // The same groups and values; only the latest point's time is unknown when folded.
        let from_points: Vec<_> = aggregate(&points, &b, aggregation)
            .expect("ok")
            .into_iter()
            .map(|s| (s.group, s.values))
            .collect();
        let folded: Vec<_> = folded
            .finish()
            .into_iter()
            .map(|s| (s.group, s.values))
            .collect();
        assert_eq!(folded, from_points, "{aggregation:?}");
    }
    assert!(!SeriesAggregator::new(b, Aggregation::Sum).takes_level_cells());
}

#[test]
fn nan_points_are_skipped_and_keep_the_baseline() {
    // 100, NaN (a stale marker), 110: one increase of 10, not a restart adding 110.
    let points = vec![
        point("c", 0, "sum", "cumulative", 100.0),
        point("c", 20, "sum", "cumulative", f64::NAN),
        point("c", 40, "sum", "cumulative", 110.0),
    ];
    let b = minute_buckets(1);
    assert_eq!(
        values(&points, &b, Aggregation::Sum),
        vec![vec![Some(10.0)]]
    );
    let gauges = vec![
        point("g", 0, "gauge", "", f64::INFINITY),
        point("g", 1, "gauge", "", 4.0),
    ];
    assert_eq!(values(&gauges, &b, Aggregation::Avg), vec![vec![Some(4.0)]]);
}

#[test]
fn a_rate_divides_by_the_part_of_its_bucket_inside_the_range() {
    // The range starts 30 s into its first minute: 6 in that half minute is 0.2 a second.
    let points = vec![
        point("c", 31, "sum", "cumulative", 0.0),
        point("c", 50, "sum", "cumulative", 6.0),
    ];
    let b = Buckets::new(30 * S, 60 * S, 60 * S).expect("buckets");
    assert_eq!(
        values(&points, &b, Aggregation::Rate),
        vec![vec![Some(0.2)]]
    );
}
