//! Metric points and the metric catalog from ClickHouse.

use clickhouse::Row;
use serde::Deserialize;

use super::ClickHouseStore;
use super::query::statement;
use crate::reads::metric_series::GroupSeries;
use crate::reads::metrics::{CatalogQuery, MetricInfo, MetricPoint, SeriesQuery};
use crate::store::StoreError;
use crate::store::sql::{self, Dialect};

#[derive(Debug, Row, Deserialize)]
struct PointLine {
    timestamp_ns: i64,
    name: String,
    series: u64,
    group: Vec<String>,
    metric_type: String,
    temporality: String,
    value: f64,
    count: u64,
    min: f64,
    max: f64,
    bucket_bounds: Vec<f64>,
    bucket_counts: Vec<u64>,
    quantile: f64,
}

/// Streams the points in series order into the query's aggregator.
pub async fn series(
    store: &ClickHouseStore,
    query: &SeriesQuery,
) -> Result<Vec<GroupSeries>, StoreError> {
    let condition = sql::metrics::points(&query.points, Dialect::ClickHouse);
    let mut cursor = statement(store, &condition)
        .fetch::<PointLine>()
        .map_err(|e| store.read_error(e))?;
    let mut aggregator = query.aggregator();
    while let Some(line) = cursor.next().await.map_err(|e| store.read_error(e))? {
        let point = MetricPoint {
            timestamp_ns: line.timestamp_ns,
            name: line.name,
            series: line.series,
            group: line.group,
            metric_type: line.metric_type,
            temporality: line.temporality,
            value: line.value,
            count: line.count,
            min: line.min,
            max: line.max,
            bucket_bounds: line.bucket_bounds,
            bucket_counts: line.bucket_counts,
            quantile: Some(line.quantile).filter(|q| !q.is_nan()),
        };
        aggregator
            .push(point)
            .map_err(|e| StoreError::InvalidQuery(e.to_string()))?;
    }
    Ok(aggregator.finish())
}

#[derive(Debug, Row, Deserialize)]
struct CatalogLine {
    name: String,
    metric_type: String,
    unit: String,
    temporality: String,
    namespace: String,
    points: u64,
    first_ns: i64,
    last_ns: i64,
    dimension_keys: Vec<String>,
}

pub async fn catalog(
    store: &ClickHouseStore,
    query: &CatalogQuery,
) -> Result<Vec<MetricInfo>, StoreError> {
    let condition = sql::metrics::catalog(query, Dialect::ClickHouse);
    let lines: Vec<CatalogLine> = statement(store, &condition)
        .fetch_all()
        .await
        .map_err(|e| store.read_error(e))?;
    Ok(lines
        .into_iter()
        .map(|line| MetricInfo {
            name: line.name,
            metric_type: line.metric_type,
            unit: line.unit,
            temporality: line.temporality,
            namespace: line.namespace,
            points: line.points,
            first_ns: line.first_ns,
            last_ns: line.last_ns,
            dimension_keys: line.dimension_keys,
        })
        .collect())
}
