//! OTLP metric data points → `customMetrics`, one row per point, histogram buckets kept.
//!
//! Values are stored as sent: cumulative sums stay cumulative (`aggregationTemporality` says
//! which), because turning them into deltas needs per-series state across requests; the
//! series reads (`query::metric_series`) take the differences. `metricType` is `gauge`, `sum`
//! (monotonic), `nonmonotonic_sum`, `histogram`, `exponential_histogram` or `summary`.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogramDataPoint, HistogramDataPoint, NumberDataPoint,
    SummaryDataPoint, exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
};

use super::attributes::{DimensionsBuilder, truncate_in_place};
use super::{Context, Normalized, Rejection, item_id, resource, timestamp_in_window};
use crate::model::{Common, CustomMetric, Item, Resource};

/// Scales the OTLP spec allows for exponential histograms.
const SCALE_RANGE: std::ops::RangeInclusive<i32> = -10..=20;

pub fn metrics(request: ExportMetricsServiceRequest, ctx: &Context<'_>) -> Normalized {
    let mut out = Normalized::default();
    for resource_metrics in request.resource_metrics {
        // Metrics arrive decoded by prost; their resource goes through the same reader as
        // traces and logs, re-encoded (once per resource, so cheap).
        let encoded = resource_metrics
            .resource
            .map(|r| prost::Message::encode_to_vec(&r));
        let resource = match resource::from_wire(encoded.as_deref(), ctx.limits) {
            Ok(resource) => resource,
            Err(_) => resource::from_attributes(&[], ctx.limits),
        };
        for scope_metrics in resource_metrics.scope_metrics {
            let namespace = scope_metrics.scope.map(|s| s.name).unwrap_or_default();
            for metric in scope_metrics.metrics {
                let mut name = metric.name;
                truncate_in_place(&mut name, ctx.limits.max_attribute_value_bytes);
                let shared = Shared {
                    name: &name,
                    namespace: &namespace,
                    unit: &metric.unit,
                    resource: &resource,
                };
                let points: Vec<Result<Point, Rejection>> = match metric.data {
                    Some(Data::Gauge(gauge)) => gauge
                        .data_points
                        .into_iter()
                        .map(|p| number_point(p, "gauge", ""))
                        .collect(),
                    Some(Data::Sum(sum)) => {
                        let temporality = temporality(sum.aggregation_temporality);
                        // A non-monotonic sum (an up-down counter) is a level, not a count:
                        // its series are aggregated like gauges, never turned into rates.
                        let kind = if sum.is_monotonic {
                            "sum"
                        } else {
                            "nonmonotonic_sum"
                        };
                        sum.data_points
                            .into_iter()
                            .map(|p| number_point(p, kind, temporality))
                            .collect()
                    }
                    Some(Data::Histogram(histogram)) => {
                        let temporality = temporality(histogram.aggregation_temporality);
                        histogram
                            .data_points
                            .into_iter()
                            .map(|p| histogram_point(p, temporality, ctx))
                            .collect()
                    }
                    Some(Data::ExponentialHistogram(histogram)) => {
                        let temporality = temporality(histogram.aggregation_temporality);
                        histogram
                            .data_points
                            .into_iter()
                            .map(|p| exponential_point(p, temporality, ctx))
                            .collect()
                    }
                    Some(Data::Summary(summary)) => {
                        summary.data_points.into_iter().map(summary_point).collect()
                    }
                    None => Vec::new(),
                };
                for (index, point) in points.into_iter().enumerate() {
                    match point.and_then(|p| shared.row(p, index, ctx)) {
                        Ok(row) => {
                            out.accepted += 1;
                            out.batch.custom_metrics.push(row);
                        }
                        Err(rejection) => out.reject(rejection),
                    }
                }
            }
        }
    }
    out
}

/// What every point of one metric shares.
struct Shared<'a> {
    name: &'a str,
    namespace: &'a str,
    unit: &'a str,
    resource: &'a Arc<Resource>,
}

/// A point reduced to the columns of `customMetrics`, before its shared context is added.
struct Point {
    time_unix_nano: u64,
    start_time_unix_nano: u64,
    attributes: Vec<KeyValue>,
    metric_type: &'static str,
    temporality: &'static str,
    value: f64,
    count: u64,
    min: f64,
    max: f64,
    bucket_bounds: Vec<f64>,
    bucket_counts: Vec<u64>,
    quantiles: Vec<(f64, f64)>,
}

impl Shared<'_> {
    fn row(
        &self,
        point: Point,
        index: usize,
        ctx: &Context<'_>,
    ) -> Result<Item<CustomMetric>, Rejection> {
        let time = match (point.time_unix_nano, point.start_time_unix_nano) {
            (0, 0) => u64::try_from(ctx.now_ns).unwrap_or_default(),
            (0, start) => start,
            (time, _) => time,
        };
        let timestamp_ns = timestamp_in_window(time, ctx)?;
        let mut dimensions = DimensionsBuilder::new(ctx.limits, point.attributes.len());
        dimensions.push_proto(&point.attributes);
        let (dimensions, mut measurements) = dimensions.finish();
        for (quantile, value) in &point.quantiles {
            measurements.push(&format!("quantile_{quantile}"), *value);
        }
        let id = item_id(&[
            self.name.as_bytes(),
            &timestamp_ns.to_le_bytes(),
            &index.to_le_bytes(),
        ]);
        Ok(Item {
            common: Common {
                timestamp_ns,
                ikey: Arc::clone(&ctx.ikey),
                app_name: Arc::clone(&ctx.app_name),
                item_id: id,
                resource: Arc::clone(self.resource),
                item_count: 1,
                dimensions,
                measurements,
                ..Common::default()
            },
            data: CustomMetric {
                name: self.name.to_owned(),
                namespace: self.namespace.to_owned(),
                metric_type: point.metric_type,
                unit: self.unit.to_owned(),
                aggregation_temporality: point.temporality,
                value: point.value,
                value_count: point.count,
                value_sum: point.value,
                value_min: point.min,
                value_max: point.max,
                value_std_dev: 0.0,
                bucket_bounds: point.bucket_bounds,
                bucket_counts: point.bucket_counts,
            },
        })
    }
}

fn temporality(value: i32) -> &'static str {
    match AggregationTemporality::try_from(value) {
        Ok(AggregationTemporality::Delta) => "delta",
        Ok(AggregationTemporality::Cumulative) => "cumulative",
        _ => "",
    }
}

fn number_point(
    point: NumberDataPoint,
    metric_type: &'static str,
    temporality: &'static str,
) -> Result<Point, Rejection> {
    let value = match point.value {
        Some(number_data_point::Value::AsDouble(d)) => d,
        Some(number_data_point::Value::AsInt(i)) => i as f64,
        None => return Err(Rejection::MissingValue),
    };
    Ok(Point {
        time_unix_nano: point.time_unix_nano,
        start_time_unix_nano: point.start_time_unix_nano,
        attributes: point.attributes,
        metric_type,
        temporality,
        value,
        count: 1,
        min: value,
        max: value,
        bucket_bounds: Vec::new(),
        bucket_counts: Vec::new(),
        quantiles: Vec::new(),
    })
}

/// The mean, standing in for min/max that the SDK did not report.
fn mean(sum: f64, count: u64) -> f64 {
    if count == 0 { 0.0 } else { sum / count as f64 }
}

fn histogram_point(
    point: HistogramDataPoint,
    temporality: &'static str,
    ctx: &Context<'_>,
) -> Result<Point, Rejection> {
    let (bounds, counts) = (point.explicit_bounds.len(), point.bucket_counts.len());
    if counts != 0 && counts != bounds + 1 {
        return Err(Rejection::BucketMismatch { bounds, counts });
    }
    if counts > ctx.limits.max_buckets {
        return Err(Rejection::TooManyBuckets(counts));
    }
    let sum = point.sum.unwrap_or(0.0);
    let fallback = mean(sum, point.count);
    Ok(Point {
        time_unix_nano: point.time_unix_nano,
        start_time_unix_nano: point.start_time_unix_nano,
        attributes: point.attributes,
        metric_type: "histogram",
        temporality,
        value: sum,
        count: point.count,
        min: point.min.unwrap_or(fallback),
        max: point.max.unwrap_or(fallback),
        bucket_bounds: point.explicit_bounds,
        bucket_counts: point.bucket_counts,
        quantiles: Vec::new(),
    })
}

/// Exponential buckets rewritten as explicit upper bounds in ascending value order (negative
/// buckets, the zero bucket, positive buckets) plus an empty overflow bucket.
fn exponential_point(
    point: ExponentialHistogramDataPoint,
    temporality: &'static str,
    ctx: &Context<'_>,
) -> Result<Point, Rejection> {
    if !SCALE_RANGE.contains(&point.scale) {
        return Err(Rejection::ScaleOutOfRange(point.scale));
    }
    let negative = point.negative.unwrap_or_default();
    let positive = point.positive.unwrap_or_default();
    let total = negative.bucket_counts.len() + positive.bucket_counts.len() + 2;
    if total > ctx.limits.max_buckets {
        return Err(Rejection::TooManyBuckets(total));
    }
    let width = 2f64.powi(-point.scale);
    let boundary = |index: i64| (index as f64 * width).exp2();
    let mut bounds = Vec::with_capacity(total);
    let mut counts = Vec::with_capacity(total);
    let Buckets {
        offset,
        bucket_counts,
    } = negative;
    for (i, count) in bucket_counts.iter().enumerate().rev() {
        bounds.push(-boundary(i64::from(offset) + i as i64));
        counts.push(*count);
    }
    bounds.push(point.zero_threshold);
    counts.push(point.zero_count);
    let Buckets {
        offset,
        bucket_counts,
    } = positive;
    for (i, count) in bucket_counts.iter().enumerate() {
        bounds.push(boundary(i64::from(offset) + i as i64 + 1));
        counts.push(*count);
    }
    counts.push(0);
    let sum = point.sum.unwrap_or(0.0);
    let fallback = mean(sum, point.count);
    Ok(Point {
        time_unix_nano: point.time_unix_nano,
        start_time_unix_nano: point.start_time_unix_nano,
        attributes: point.attributes,
        metric_type: "exponential_histogram",
        temporality,
        value: sum,
        count: point.count,
        min: point.min.unwrap_or(fallback),
        max: point.max.unwrap_or(fallback),
        bucket_bounds: bounds,
        bucket_counts: counts,
        quantiles: Vec::new(),
    })
}

fn summary_point(point: SummaryDataPoint) -> Result<Point, Rejection> {
    let fallback = mean(point.sum, point.count);
    let quantile = |q: f64| {
        point
            .quantile_values
            .iter()
            .find(|v| v.quantile == q)
            .map(|v| v.value)
    };
    Ok(Point {
        time_unix_nano: point.time_unix_nano,
        start_time_unix_nano: point.start_time_unix_nano,
        metric_type: "summary",
        temporality: "",
        value: point.sum,
        count: point.count,
        min: quantile(0.0).unwrap_or(fallback),
        max: quantile(1.0).unwrap_or(fallback),
        bucket_bounds: Vec::new(),
        bucket_counts: Vec::new(),
        quantiles: point
            .quantile_values
            .iter()
            .map(|v| (v.quantile, v.value))
            .collect(),
        attributes: point.attributes,
    })
}
