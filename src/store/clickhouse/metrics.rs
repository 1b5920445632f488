//! Metric points and the metric catalog from ClickHouse.

use clickhouse::Row;
use serde::Deserialize;

use super::ClickHouseStore;
use super::query::statement;
use crate::reads::metric_series::{GroupSeries, LevelCell, SeriesError};
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
    let mut aggregator = query.aggregator();
    let fold_levels = aggregator.takes_level_cells();
    if fold_levels {
        let cells = sql::metrics::level_cells(&query.points, &query.buckets, Dialect::ClickHouse);
        let lines: Vec<LevelLine> = statement(store, &cells)
            .fetch_all()
            .await
            .map_err(|e| store.read_error(e))?;
        for line in lines {
            let level = LevelCell {
                group: line.group,
                bucket: line.bucket,
                sum: line.sum,
                // Summed as a float: saturates instead of wrapping.
                weight: line.weight as u64,
                min: line.min,
                max: line.max,
            };
            aggregator.add_level_cell(level).map_err(invalid)?;
        }
    }
    let condition = sql::metrics::points(&query.points, fold_levels, Dialect::ClickHouse);
    // Sorting millions of points into series order may spill to disk rather than fail at
    // the memory limit.
    let spill = store.query_limits.max_memory_bytes / 2;
    let mut cursor = statement(store, &condition)
        .with_setting("max_bytes_before_external_sort", spill.to_string())
        .fetch::<PointLine>()
        .map_err(|e| store.read_error(e))?;
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
        aggregator.push(point).map_err(invalid)?;
    }
    Ok(aggregator.finish())
}

#[derive(Debug, Row, Deserialize)]
struct LevelLine {
    group: Vec<String>,
    bucket: i64,
    sum: f64,
    weight: f64,
    min: f64,
    max: f64,
}

fn invalid(error: SeriesError) -> StoreError {
    StoreError::InvalidQuery(error.to_string())
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
