//! What metric reads ask and get: the points of one metric with just the columns the series
//! aggregation needs, and the catalog of stored metric names.

use serde::Serialize;

use super::metric_series::{Aggregation, Buckets, SeriesAggregator};
use super::{AppScope, Column, Filter, TimeRange};

/// What a series groups by: a column every row has, or one `customDimensions` key (resource
/// attributes such as `k8s.node.name` are stored there too).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupKey {
    Column(Column),
    Dimension(String),
}

impl GroupKey {
    /// The columns metric rows are grouped and filtered by; other keys are dimensions.
    pub fn is_metric_column(column: Column) -> bool {
        matches!(
            column,
            Column::RoleName | Column::RoleInstance | Column::AppName
        )
    }

    /// The name clients use: `role`, `dim.k8s.node.name`.
    pub fn api_name(&self) -> String {
        match self {
            GroupKey::Column(column) => column.api_name().to_owned(),
            GroupKey::Dimension(key) => format!("dim.{key}"),
        }
    }
}

/// The points of one metric in a range.
#[derive(Debug, Clone, PartialEq)]
pub struct PointQuery {
    pub range: TimeRange,
    pub scope: AppScope,
    pub names: Vec<String>,
    /// `Equals` on role, role instance or app, and `Dimension` filters.
    pub filters: Vec<Filter>,
    pub group_by: Vec<GroupKey>,
    /// Read histogram buckets (only percentiles need them).
    pub buckets: bool,
    /// The `customMeasurements` key of a summary quantile to read (`quantile_0.99`).
    pub quantile: Option<String>,
}

/// The series of some metrics' points: how to bucket and aggregate them.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesQuery {
    pub points: PointQuery,
    pub buckets: Buckets,
    pub aggregation: Aggregation,
}

/// How far before a range points are read: the previous point of a counter is the baseline
/// of its first increment.
pub const BASELINE_NS: i64 = 10 * 60 * 1_000_000_000;

impl SeriesQuery {
    /// The read of `names` over `buckets` (their points from [`BASELINE_NS`] before).
    pub fn over(
        buckets: Buckets,
        scope: AppScope,
        names: Vec<String>,
        filters: Vec<Filter>,
        group_by: Vec<GroupKey>,
        aggregation: Aggregation,
    ) -> Self {
        SeriesQuery {
            points: PointQuery {
                range: TimeRange {
                    from_ns: buckets.from_ns.saturating_sub(BASELINE_NS),
                    to_ns: buckets.to_ns,
                },
                scope,
                names,
                filters,
                group_by,
                buckets: aggregation.needs_buckets(),
                quantile: aggregation.summary_key(),
            },
            buckets,
            aggregation,
        }
    }

    pub fn aggregator(&self) -> SeriesAggregator {
        SeriesAggregator::new(self.buckets, self.aggregation)
    }
}

/// One stored point, reduced to what the series aggregation reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricPoint {
    pub timestamp_ns: i64,
    pub name: String,
    /// The same for every point of one series (one metric of one app, role instance and set of
    /// dimensions) and different between series: a hash the store computes.
    pub series: u64,
    /// The values of the query's `group_by`, in order; `""` where a row has none.
    pub group: Vec<String>,
    pub metric_type: String,
    pub temporality: String,
    pub value: f64,
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub bucket_bounds: Vec<f64>,
    pub bucket_counts: Vec<u64>,
    /// The summary quantile asked for, where the point has it.
    pub quantile: Option<f64>,
}

/// One stored metric name and how it was sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricInfo {
    pub name: String,
    /// `gauge`, `sum`, `nonmonotonic_sum`, `histogram`, `exponential_histogram`, `summary`,
    /// or App Insights' `Measurement` / `Aggregation`.
    pub metric_type: String,
    pub unit: String,
    /// `cumulative`, `delta` or empty.
    pub temporality: String,
    /// The instrumentation scope that sent it.
    pub namespace: String,
    pub points: u64,
    pub first_ns: i64,
    pub last_ns: i64,
    /// The `customDimensions` keys its points carry (resource attributes included), sorted.
    pub dimension_keys: Vec<String>,
}

/// Which stored metrics the catalog lists.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogQuery {
    pub range: TimeRange,
    pub scope: AppScope,
    /// Names starting with this.
    pub prefix: String,
    pub limit: usize,
}

/// Sets each metric's dimension keys from `(name, key)` pairs sorted by name and key.
pub fn attach_dimension_keys(infos: &mut [MetricInfo], keys: Vec<(String, String)>) {
    for (name, key) in keys {
        if let Ok(i) = infos.binary_search_by(|info| info.name.as_str().cmp(&name)) {
            infos[i].dimension_keys.push(key);
        }
    }
}
