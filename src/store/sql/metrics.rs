//! SQL for metric reads on both stores: the points of some metrics (with the columns the
//! series aggregation needs) and the catalog of metric names. Values are bound parameters.

use super::{Condition, Dialect, Param, filters_condition, limit_param, selection_range};
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
pub fn points(query: &PointQuery, dialect: Dialect) -> Condition {
    let mut params = Vec::new();
    let mut group = Vec::new();
    for key in &query.group_by {
        match key {
            GroupKey::Column(column) => group.push(super::group_expression(*column, dialect)),
            GroupKey::Dimension(name) => {
                group.push(dimension_value(dialect, ""));
                params.push(Param::Text(name.clone()));
            }
        }
    }
    let (series, group, empty_bounds, empty_counts) = match dialect {
        Dialect::ClickHouse => (
            "cityHash64(appName, cloud_RoleName, cloud_RoleInstance, name, \
             customDimensions_keys, customDimensions_values)",
            if group.is_empty() {
                "emptyArrayString()".to_owned()
            } else {
                format!("[{}]", group.join(", "))
            },
            "emptyArrayFloat64()",
            "emptyArrayUInt64()",
        ),
        Dialect::Sqlite => (
            "series_key(appName, cloud_RoleName, cloud_RoleInstance, name, customDimensions)",
            format!("json_array({})", group.join(", ")),
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
    let mut conditions = selection_range(query.range, &query.scope, dialect);
    conditions.and(
        &names_condition(query.names.len()),
        text_params(&query.names),
    );
    let filters = filters_condition(&query.filters, dialect, "");
    if !filters.sql.is_empty() {
        conditions.and(&filters.sql, filters.params);
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
