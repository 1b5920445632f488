//! Metric points and the metric catalog from SQLite.

use rusqlite::{Connection, Row, params_from_iter};

use super::query::{fetch, values};
use super::read::{json_column as json, real};
use super::sqlite_error;
use crate::reads::metric_series::{GroupSeries, LevelCell, SeriesError};
use crate::reads::metrics::{
    CatalogQuery, MetricInfo, MetricPoint, SeriesQuery, attach_dimension_keys,
};
use crate::store::StoreError;
use crate::store::sql::{self, Dialect};

/// Streams the points in series order into the query's aggregator.
pub fn series(
    connection: &Connection,
    query: &SeriesQuery,
) -> Result<Vec<GroupSeries>, StoreError> {
    let mut aggregator = query.aggregator();
    let fold_levels = aggregator.takes_level_cells();
    if fold_levels {
        let cells = sql::metrics::level_cells(&query.points, &query.buckets, Dialect::Sqlite);
        for level in fetch(connection, cells, |row| {
            Ok(LevelCell {
                group: json(row, 0)?,
                bucket: row.get(1)?,
                sum: real(row, 2)?,
                // Summed as a float: saturates instead of overflowing.
                weight: row.get::<_, f64>(3)? as u64,
                min: real(row, 4)?,
                max: real(row, 5)?,
            })
        })? {
            aggregator.add_level_cell(level).map_err(invalid)?;
        }
    }
    let statement = sql::metrics::points(&query.points, fold_levels, Dialect::Sqlite);
    let mut prepared = super::query::prepare(connection, &statement.sql)?;
    let mut rows = prepared
        .query(params_from_iter(values(&statement.params)))
        .map_err(sqlite_error)?;
    while let Some(row) = rows.next().map_err(sqlite_error)? {
        aggregator
            .push(point(row).map_err(sqlite_error)?)
            .map_err(invalid)?;
    }
    Ok(aggregator.finish())
}

fn point(row: &Row<'_>) -> rusqlite::Result<MetricPoint> {
    Ok(MetricPoint {
        timestamp_ns: row.get(0)?,
        name: row.get(1)?,
        series: row.get::<_, i64>(2)? as u64,
        group: json(row, 3)?,
        metric_type: row.get(4)?,
        temporality: row.get(5)?,
        value: real(row, 6)?,
        count: u64::try_from(row.get::<_, i64>(7)?).unwrap_or(0),
        min: real(row, 8)?,
        max: real(row, 9)?,
        bucket_bounds: json(row, 10)?,
        bucket_counts: json(row, 11)?,
        quantile: row.get(12)?,
    })
}

pub fn catalog(
    connection: &Connection,
    query: &CatalogQuery,
) -> Result<Vec<MetricInfo>, StoreError> {
    let mut infos = fetch(
        connection,
        sql::metrics::catalog(query, Dialect::Sqlite),
        |row| {
            Ok(MetricInfo {
                name: row.get(0)?,
                metric_type: row.get(1)?,
                unit: row.get(2)?,
                temporality: row.get(3)?,
                namespace: row.get(4)?,
                points: u64::try_from(row.get::<_, i64>(5)?).unwrap_or(0),
                first_ns: row.get(6)?,
                last_ns: row.get(7)?,
                dimension_keys: Vec::new(),
            })
        },
    )?;
    let keys: Vec<(String, String)> = fetch(
        connection,
        sql::metrics::catalog_keys_sqlite(query),
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    attach_dimension_keys(&mut infos, keys);
    Ok(infos)
}

fn invalid(error: SeriesError) -> StoreError {
    StoreError::InvalidQuery(error.to_string())
}
