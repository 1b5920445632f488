//! SQL for metric reads on both stores: the points of some metrics (with the columns the
//! series aggregation needs) and the catalog of metric names. Values are bound parameters.

use super::{Condition, Dialect, Param, filters_condition, limit_param, selection_range};
use crate::reads::TimeRange;
use crate::reads::metric_series::{Buckets, LEVEL_ROWS, MAX_CELLS};
use crate::reads::metrics::{CatalogQuery, GroupKey, PointQuery};

/// A `customDimensions` value by key (bound), `''` where the row has none; `q` qualifies the
/// columns (`c.`) or is empty.
pub fn dimension_value(dialect: Dialect, q: &str) -> String {
    match dialect {
        Dialect::ClickHouse => {
            format!("{q}customDimensions_values[indexOf({q}customDimensions_keys, ?)]")
        }
        Dialect::Sqlite => format!(
            "COALESCE((SELECT CAST(value AS TEXT) FROM json_each({q}customDimensions) \
             WHERE key = ?), '')"
        ),
    }
}

/// `SELECT timestamp_ns, name, series, group, metricType, aggregationTemporality, value,
/// valueCount, valueMin, valueMax, bucketBounds, bucketCounts, quantile`: on ClickHouse the
/// group is an `Array(String)`, on SQLite a JSON array; a missing quantile is NaN / NULL.
/// Without the level rows when `skip_levels` (the store folded them with [`level_cells`]).
pub fn points(query: &PointQuery, skip_levels: bool, dialect: Dialect) -> Condition {
    let (group, mut params) = group_expressions(&query.group_by, dialect);
    let (series, empty_bounds, empty_counts) = match dialect {
        Dialect::ClickHouse => (
            "cityHash64(appName, cloud_RoleName, cloud_RoleInstance, name, \
             customDimensions_keys, customDimensions_values)",
            "emptyArrayFloat64()",
            "emptyArrayUInt64()",
        ),
        Dialect::Sqlite => (
            "series_key(appName, cloud_RoleName, cloud_RoleInstance, name, customDimensions)",
            "'[]'",
            "'[]'",
        ),
    };
    let (bounds, counts) = if query.buckets {
        ("bucketBounds", "bucketCounts")
    } else {
        (empty_bounds, empty_counts)
    };
    let quantile = match (&query.quantile, dialect) {
        (None, Dialect::ClickHouse) => "nan".to_owned(),
        (None, Dialect::Sqlite) => "NULL".to_owned(),
        (Some(key), Dialect::ClickHouse) => {
            params.extend([Param::Text(key.clone()), Param::Text(key.clone())]);
            "if(has(customMeasurements_keys, ?), \
             customMeasurements_values[indexOf(customMeasurements_keys, ?)], nan)"
                .to_owned()
        }
        (Some(key), Dialect::Sqlite) => {
            params.push(Param::Text(key.clone()));
            "(SELECT value FROM json_each(customMeasurements) WHERE key = ?)".to_owned()
        }
    };
    let mut condition = Condition {
        sql: format!(
            "SELECT timestamp_ns, name, {series}, {group}, metricType, aggregationTemporality, \
             value, valueCount, valueMin, valueMax, {bounds}, {counts}, {quantile} \
             FROM {{customMetrics}} WHERE "
        ),
        params,
    };
    let mut conditions = point_conditions(query, query.range, dialect);
    if skip_levels {
        conditions.and(&format!("NOT {LEVEL_ROWS}"), []);
    }
    condition.sql.push_str(&conditions.sql);
    condition.params.extend(conditions.params);
    // The series aggregation folds points in this order (by the expression: 18.16 reads
    // `ORDER BY 3` as a constant).
    condition
        .sql
        .push_str(&format!(" ORDER BY {series}, timestamp_ns"));
    condition
}

/// The level rows of the range (not its baseline) folded per group and bucket: `group,
/// bucket, sum(value), weight, min(valueMin), max(valueMax)`.
pub fn level_cells(query: &PointQuery, buckets: &Buckets, dialect: Dialect) -> Condition {
    let (group, mut params) = group_expressions(&query.group_by, dialect);
    let (bucket, weight) = match dialect {
        Dialect::ClickHouse => (
            "intDiv(timestamp_ns - ?, ?)",
            "sum(if(metricType IN ('Measurement', 'Aggregation'), \
             toFloat64(greatest(valueCount, 1)), 1.0))",
        ),
        Dialect::Sqlite => (
            "(timestamp_ns - ?) / ?",
            "TOTAL(CASE WHEN metricType IN ('Measurement', 'Aggregation') \
             THEN MAX(valueCount, 1) ELSE 1 END)",
        ),
    };
    params.extend([Param::Int(buckets.start_ns), Param::Int(buckets.width_ns)]);
    let range = TimeRange {
        from_ns: buckets.from_ns,
        to_ns: buckets.to_ns,
    };
    let mut conditions = point_conditions(query, range, dialect);
    conditions.and(LEVEL_ROWS, []);
    // What the point path skips: NaN (NULL on SQLite) and infinities.
    conditions.and(FINITE_VALUE, []);
    let mut condition = Condition {
        sql: format!(
            "SELECT {group} AS level_group, {bucket} AS level_bucket, sum(value), {weight}, \
             min(valueMin), max(valueMax) FROM {{customMetrics}} WHERE {}",
            conditions.sql
        ),
        params,
    };
    condition.params.extend(conditions.params);
    // One more than a read may hold, so that too many groups fail rather than fill memory.
    condition
        .sql
        .push_str(" GROUP BY level_group, level_bucket LIMIT ?");
    condition
        .params
        .push(limit_param(MAX_CELLS.saturating_add(1)));
    condition
}

/// `value` is a finite number on both stores.
const FINITE_VALUE: &str = "value > -1.7976931348623157e308 AND value < 1.7976931348623157e308";

/// The group expressions as one array (ClickHouse) or JSON array (SQLite), and their values.
fn group_expressions(keys: &[GroupKey], dialect: Dialect) -> (String, Vec<Param>) {
    let mut params = Vec::new();
    let mut group = Vec::new();
    for key in keys {
        match key {
            GroupKey::Column(column) => group.push(super::group_expression(*column, dialect)),
            GroupKey::Dimension(name) => {
                group.push(dimension_value(dialect, ""));
                params.push(Param::Text(name.clone()));
            }
        }
    }
    let sql = match dialect {
        Dialect::ClickHouse if group.is_empty() => "emptyArrayString()".to_owned(),
        Dialect::ClickHouse => format!("[{}]", group.join(", ")),
        Dialect::Sqlite => format!("json_array({})", group.join(", ")),
    };
    (sql, params)
}

/// A point read's range, scope, names and filters.
fn point_conditions(query: &PointQuery, range: TimeRange, dialect: Dialect) -> Condition {
    let mut conditions = selection_range(range, &query.scope, dialect);
    conditions.and(
        &names_condition(query.names.len()),
        text_params(&query.names),
    );
    let filters = filters_condition(&query.filters, dialect, "");
    if !filters.sql.is_empty() {
        conditions.and(&filters.sql, filters.params);
    }
    conditions
}

/// One row per metric name: `name, metricType, unit, aggregationTemporality, namespace,
/// points, first_ns, last_ns`, and on ClickHouse the sorted dimension keys.
pub fn catalog(query: &CatalogQuery, dialect: Dialect) -> Condition {
    let keys = match dialect {
        Dialect::ClickHouse => ", arraySort(groupUniqArrayArray(customDimensions_keys))",
        Dialect::Sqlite => "",
    };
    let aggregate = match dialect {
        Dialect::ClickHouse => "any",
        // A bare column in an aggregate query takes some row's value in SQLite.
        Dialect::Sqlite => "",
    };
    let mut condition = Condition {
        sql: format!(
            "SELECT name, {aggregate}(metricType), {aggregate}(unit), \
             {aggregate}(aggregationTemporality), {aggregate}(namespace), count(*), \
             min(timestamp_ns), max(timestamp_ns){keys} FROM {{customMetrics}} WHERE "
        ),
        params: Vec::new(),
    };
    let mut conditions = catalog_conditions(query, dialect);
    condition.sql.push_str(&std::mem::take(&mut conditions.sql));
    condition.params.append(&mut conditions.params);
    condition
        .sql
        .push_str(" GROUP BY name ORDER BY name LIMIT ?");
    condition.params.push(limit_param(query.limit));
    condition
}

/// SQLite: the distinct dimension keys of each metric name the catalog lists.
pub fn catalog_keys_sqlite(query: &CatalogQuery) -> Condition {
    let mut condition = Condition {
        sql: "SELECT DISTINCT name, j.key FROM customMetrics, json_each(customDimensions) AS j \
              WHERE "
            .to_owned(),
        params: Vec::new(),
    };
    let mut conditions = catalog_conditions(query, Dialect::Sqlite);
    condition.sql.push_str(&std::mem::take(&mut conditions.sql));
    condition.params.append(&mut conditions.params);
    condition.sql.push_str(" ORDER BY name, j.key");
    condition
}

fn catalog_conditions(query: &CatalogQuery, dialect: Dialect) -> Condition {
    let mut conditions = selection_range(query.range, &query.scope, dialect);
    if !query.prefix.is_empty() {
        let substring = match dialect {
            Dialect::ClickHouse => "substring",
            Dialect::Sqlite => "substr",
        };
        conditions.and(
            &format!("{substring}(name, 1, length(?)) = ?"),
            text_params(&[query.prefix.clone(), query.prefix.clone()]),
        );
    }
    conditions
}

fn names_condition(count: usize) -> String {
    if count == 0 {
        return "1 = 0".to_owned();
    }
    format!("name IN ({})", vec!["?"; count].join(", "))
}

fn text_params(values: &[String]) -> Vec<Param> {
    values.iter().map(|v| Param::Text(v.clone())).collect()
}
