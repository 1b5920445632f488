//! Metric points → one series per group over fixed buckets, with the semantics of each point
//! kind: gauges (and up-down counters, and App Insights' pre-aggregated values) are levels;
//! monotonic sums are increments (cumulative ones differenced per series, a drop read as a
//! restart from 0); histograms merge their buckets (cumulative ones differenced the same
//! way); summaries give their reported quantiles.
//!
//! A point's increment belongs to the bucket of the point's time. Points before the range
//! are read only as the baseline of the first increment in it.

use std::collections::HashMap;

pub use super::series_shape::{Aggregation, Buckets};

use super::bucket_quantile::{self, Bucket};
use crate::reads::metrics::MetricPoint;
use crate::reads::stats::weighted_percentile;

/// One group's series: its `group_by` values and a value per bucket (`None`: no data).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSeries {
    pub group: Vec<String>,
    pub values: Vec<Option<f64>>,
    /// When the group's latest point was (`None` where the store folded every point).
    pub latest_ns: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SeriesError {
    #[error("rate needs a sum, histogram or summary metric; {0:?} is a gauge")]
    RateOfLevel(String),
    #[error(
        "the series have more groups than one read holds ({MAX_GROUPS}, fewer with many buckets); filter, group by fewer keys or widen the interval"
    )]
    TooManyGroups,
}

/// How a point's value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A sampled level (gauge, up-down counter): a group's sum adds each series' mean.
    Level,
    /// App Insights' pre-aggregated values: `value` is the sum of `count` measurements.
    Aggregated,
    Increment {
        cumulative: bool,
    },
    Histogram {
        cumulative: bool,
    },
    Summary,
}

fn kind_of(point: &MetricPoint) -> Kind {
    let cumulative = point.temporality == "cumulative";
    match point.metric_type.as_str() {
        "sum" => Kind::Increment { cumulative },
        "nonmonotonic_sum" if cumulative => Kind::Level,
        "nonmonotonic_sum" => Kind::Increment { cumulative: false },
        "histogram" | "exponential_histogram" => Kind::Histogram { cumulative },
        "summary" => Kind::Summary,
        "Measurement" | "Aggregation" => Kind::Aggregated,
        _ => Kind::Level,
    }
}

/// Level points of one group and bucket, folded by the store: the sum of their values, their
/// weight (1 a point; App Insights' pre-aggregated values count their measurements), the
/// smallest minimum and the largest maximum.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelCell {
    pub group: Vec<String>,
    pub bucket: i64,
    pub sum: f64,
    pub weight: u64,
    pub min: f64,
    pub max: f64,
}

/// The SQL condition (both dialects) for rows [`kind_of`] reads as levels: what stores may
/// fold into [`LevelCell`]s.
pub const LEVEL_ROWS: &str = "NOT (metricType IN ('sum', 'histogram', 'exponential_histogram', \
    'summary') OR (metricType = 'nonmonotonic_sum' AND aggregationTemporality != 'cumulative'))";

/// What one point adds to its bucket.
enum Sample {
    Number {
        value: f64,
        weight: u64,
        min: f64,
        max: f64,
        level: bool,
    },
    Distribution {
        count: u64,
        sum: f64,
        min: f64,
        max: f64,
        buckets: Vec<Bucket>,
        quantile: Option<f64>,
    },
}

#[derive(Default)]
struct Cell {
    weight: u64,
    total: f64,
    min: f64,
    max: f64,
    /// A group's sum of sampled levels adds each series' mean: the means of the series seen
    /// so far, and the running (series, sum, points) of the current one.
    level_means: f64,
    level_series: Option<(u64, f64, u64)>,
    /// `(value, weight)` for percentiles of numbers.
    values: Vec<(f64, u64)>,
    buckets: Vec<Bucket>,
    quantiles: (f64, u64),
    distributions: bool,
    /// The latest point's time and value.
    last: Option<(i64, f64)>,
}

/// Most groups one series read may return.
pub const MAX_GROUPS: usize = 1_000;
/// Most groups × buckets one read may hold (each cell is a few hundred bytes at most).
pub const MAX_CELLS: usize = 2_000_000;

/// Folds points, in order of series and then time, into one series per group. A stream, so a
/// read of millions of points holds only the groups' buckets and one point per series.
pub struct SeriesAggregator {
    buckets: Buckets,
    aggregation: Aggregation,
    groups: HashMap<Vec<String>, Vec<Cell>>,
    previous: Option<MetricPoint>,
    points: u64,
}

impl SeriesAggregator {
    pub fn new(buckets: Buckets, aggregation: Aggregation) -> Self {
        SeriesAggregator {
            buckets,
            aggregation,
            groups: HashMap::new(),
            previous: None,
            points: 0,
        }
    }

    /// Adds the next point; points must come ordered by `series`, then `timestamp_ns`.
    pub fn push(&mut self, point: MetricPoint) -> Result<(), SeriesError> {
        self.points += 1;
        if !point.value.is_finite() {
            // A NaN (a stale marker) or an infinity says nothing about the level or the count:
            // skipped, and the series' previous point stays the baseline.
            return Ok(());
        }
        let previous = self.previous.take().filter(|p| p.series == point.series);
        let sample = sample(&point, previous.as_ref(), self.aggregation);
        let index = self.buckets.index(point.timestamp_ns);
        if let (Some(sample), Some(index)) = (sample, index) {
            if let (Aggregation::Rate, Sample::Number { level: true, .. }) =
                (self.aggregation, &sample)
            {
                return Err(SeriesError::RateOfLevel(point.name.clone()));
            }
            let aggregation = self.aggregation;
            let cell = self.cell(&point.group, index)?;
            if cell.last.is_none_or(|(at, _)| point.timestamp_ns >= at) {
                cell.last = Some((point.timestamp_ns, point.value));
            }
            cell.add(point.series, sample, aggregation);
        }
        self.previous = Some(point);
        Ok(())
    }

    fn cell(&mut self, group: &[String], index: usize) -> Result<&mut Cell, SeriesError> {
        let most = MAX_GROUPS.min(MAX_CELLS / self.buckets.count.max(1));
        if !self.groups.contains_key(group) && self.groups.len() >= most {
            return Err(SeriesError::TooManyGroups);
        }
        let count = self.buckets.count;
        let cells = self
            .groups
            .entry(group.to_vec())
            .or_insert_with(|| (0..count).map(|_| Cell::empty()).collect());
        Ok(&mut cells[index])
    }

    /// Whether the store may fold levels (gauges, up-down counters, App Insights values) per
    /// group and bucket itself and hand over [`LevelCell`]s: exact for these aggregations,
    /// which need neither the points' order nor their series.
    pub fn takes_level_cells(&self) -> bool {
        matches!(
            self.aggregation,
            Aggregation::Avg | Aggregation::Min | Aggregation::Max | Aggregation::Count
        )
    }

    /// Adds levels the store folded for one group and bucket.
    pub fn add_level_cell(&mut self, level: LevelCell) -> Result<(), SeriesError> {
        let index = usize::try_from(level.bucket)
            .ok()
            .filter(|i| *i < self.buckets.count);
        let Some(index) = index else {
            return Ok(());
        };
        let cell = self.cell(&level.group, index)?;
        cell.weight = cell.weight.saturating_add(level.weight);
        cell.total += level.sum;
        cell.min = cell.min.min(level.min);
        cell.max = cell.max.max(level.max);
        Ok(())
    }

    /// How many points were pushed.
    pub fn points(&self) -> u64 {
        self.points
    }

    /// The series, sorted by group.
    pub fn finish(self) -> Vec<GroupSeries> {
        let buckets = self.buckets;
        // A rate divides by the part of its bucket inside the range (the first and last ones
        // may be cut by it).
        let width_s = |i: usize| {
            let start = buckets.time_ns(i).max(buckets.from_ns);
            let end = (buckets.time_ns(i) + buckets.width_ns).min(buckets.to_ns);
            (end - start).max(1) as f64 / 1e9
        };
        let aggregation = self.aggregation;
        let mut out: Vec<GroupSeries> = self
            .groups
            .into_iter()
            .map(|(group, cells)| GroupSeries {
                group,
                latest_ns: cells.iter().filter_map(|c| c.last.map(|(at, _)| at)).max(),
                values: cells
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| c.result(aggregation, width_s(i)))
                    .collect(),
            })
            .collect();
        out.sort_by(|a, b| a.group.cmp(&b.group));
        out
    }
}

/// The series of `points` (sorted here) in `buckets`.
pub fn aggregate(
    points: &[MetricPoint],
    buckets: &Buckets,
    aggregation: Aggregation,
) -> Result<Vec<GroupSeries>, SeriesError> {
    let mut sorted = points.to_vec();
    sorted.sort_by_key(|p| (p.series, p.timestamp_ns));
    let mut aggregator = SeriesAggregator::new(*buckets, aggregation);
    for point in sorted {
        aggregator.push(point)?;
    }
    Ok(aggregator.finish())
}

/// What `point` adds, given the series' previous point; `None` for a cumulative point with no
/// baseline (the first of its series).
fn sample(
    point: &MetricPoint,
    previous: Option<&MetricPoint>,
    aggregation: Aggregation,
) -> Option<Sample> {
    let kind = kind_of(point);
    let baseline = previous.filter(|p| kind_of(p) == kind);
    let counted = matches!(kind, Kind::Level | Kind::Aggregated);
    let kind = if aggregation == Aggregation::Increase && counted {
        Kind::Increment { cumulative: true }
    } else {
        kind
    };
    match kind {
        Kind::Level | Kind::Aggregated => Some(Sample::Number {
            value: point.value,
            weight: if kind == Kind::Level {
                1
            } else {
                point.count.max(1)
            },
            min: point.min,
            max: point.max,
            level: kind == Kind::Level,
        }),
        Kind::Increment { cumulative } => {
            let value = if cumulative {
                let before = baseline?.value;
                // A drop is a restart: the counter began again from 0.
                if point.value >= before {
                    point.value - before
                } else {
                    point.value
                }
            } else {
                point.value
            };
            Some(Sample::Number {
                value,
                weight: 1,
                min: value,
                max: value,
                level: false,
            })
        }
        // A summary's quantiles stand alone; its count and sum run since the process
        // started, so those need the baseline.
        Kind::Summary if baseline.is_none() && aggregation.needs_buckets() => {
            Some(distribution(point, None, aggregation))
        }
        Kind::Histogram { cumulative: true } | Kind::Summary => {
            Some(distribution(point, Some(baseline?), aggregation))
        }
        Kind::Histogram { cumulative: false } => Some(distribution(point, None, aggregation)),
    }
}

fn distribution(
    point: &MetricPoint,
    before: Option<&MetricPoint>,
    aggregation: Aggregation,
) -> Sample {
    let reset = before.is_some_and(|b| {
        point.count < b.count
            || b.bucket_bounds != point.bucket_bounds
            || point
                .bucket_counts
                .iter()
                .zip(&b.bucket_counts)
                .any(|(now, then)| now < then)
    });
    let base = before.filter(|_| !reset);
    let (count, sum) = match base {
        Some(b) => (point.count - b.count, point.value - b.value),
        None => (point.count, point.value),
    };
    let buckets = if aggregation.needs_buckets() {
        let counts: Vec<u64> = match base {
            Some(b) => point
                .bucket_counts
                .iter()
                .zip(&b.bucket_counts)
                .map(|(now, then)| now - then)
                .collect(),
            None => point.bucket_counts.clone(),
        };
        bucket_quantile::point_buckets(&point.bucket_bounds, &counts, point.min, point.max)
    } else {
        Vec::new()
    };
    Sample::Distribution {
        count,
        sum,
        min: point.min,
        max: point.max,
        buckets,
        quantile: point.quantile,
    }
}

impl Cell {
    fn empty() -> Self {
        Cell {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            ..Cell::default()
        }
    }

    fn add(&mut self, series: u64, sample: Sample, aggregation: Aggregation) {
        match sample {
            Sample::Number {
                value,
                weight,
                min,
                max,
                level,
            } => {
                self.weight = self.weight.saturating_add(weight);
                self.total += value;
                self.min = self.min.min(if min.is_nan() { value } else { min });
                self.max = self.max.max(if max.is_nan() { value } else { max });
                if level && aggregation == Aggregation::Sum {
                    match &mut self.level_series {
                        Some((current, sum, n)) if *current == series => {
                            *sum += value;
                            *n += 1;
                        }
                        other => {
                            if let Some((_, sum, n)) = other.replace((series, value, 1)) {
                                self.level_means += sum / n as f64;
                            }
                        }
                    }
                }
                if aggregation.needs_buckets() {
                    self.values.push((value / weight as f64, weight));
                }
            }
            Sample::Distribution {
                count,
                sum,
                min,
                max,
                buckets,
                quantile,
            } => {
                self.distributions = true;
                self.weight = self.weight.saturating_add(count);
                self.total += sum;
                if count > 0 {
                    self.min = self.min.min(min);
                    self.max = self.max.max(max);
                }
                self.buckets.extend(buckets);
                if let Some(q) = quantile {
                    self.quantiles.0 += q;
                    self.quantiles.1 += 1;
                }
            }
        }
    }

    fn result(self, aggregation: Aggregation, width_s: f64) -> Option<f64> {
        if self.weight == 0
            && self.values.is_empty()
            && self.quantiles.1 == 0
            && !self.distributions
        {
            return None;
        }
        let finite = |x: f64| Some(x).filter(|x| x.is_finite());
        match aggregation {
            Aggregation::Count => Some(self.weight as f64),
            Aggregation::Last => self.last.map(|(_, value)| value),
            Aggregation::Increase if self.distributions => Some(self.weight as f64),
            Aggregation::Increase => Some(self.total),
            Aggregation::Sum if self.level_series.is_some() => {
                let (_, sum, n) = self.level_series.unwrap_or_default();
                Some(self.level_means + sum / n.max(1) as f64)
            }
            Aggregation::Sum => Some(self.total),
            Aggregation::Rate if self.distributions => Some(self.weight as f64 / width_s),
            Aggregation::Rate => Some(self.total / width_s),
            Aggregation::Avg => (self.weight > 0).then(|| self.total / self.weight as f64),
            Aggregation::Min => finite(self.min),
            Aggregation::Max => finite(self.max),
            Aggregation::Percentile(q) => {
                if self.quantiles.1 > 0 {
                    return Some(self.quantiles.0 / self.quantiles.1 as f64);
                }
                if self.distributions {
                    return bucket_quantile::quantile(&self.buckets, q);
                }
                let mut sorted = self.values;
                sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
                let total = sorted.iter().fold(0u64, |n, v| n.saturating_add(v.1));
                (total > 0).then(|| weighted_percentile(&sorted, total, q))
            }
        }
    }
}

#[cfg(test)]
#[path = "metric_series_tests.rs"]
mod tests;
