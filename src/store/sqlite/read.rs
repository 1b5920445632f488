//! Reads from the SQLite store into the shared record types.

use rusqlite::{Connection, Row, params};

use super::sqlite_error;
use crate::reads::AppScope;
use crate::reads::records::{
    EventRecord, ExceptionRecord, GenAiRecord, MetricRecord, OperationItems, SpanRecord, SpanTable,
    TraceRecord,
};
use crate::store::sql::{self, Condition, Param};
use crate::store::{MetricQuery, StoreError};

/// The apps in `scope` with rows under `operation_id`, sorted.
pub fn operation_apps(
    connection: &Connection,
    scope: &AppScope,
    operation_id: &str,
) -> Result<Vec<String>, StoreError> {
    let scope = sql::and_scope(scope);
    let mut statement = Condition::default();
    let mut selects = Vec::new();
    for table in OPERATION_TABLES {
        selects.push(format!(
            "SELECT appName FROM \"{table}\" WHERE operation_Id = ?{}",
            scope.sql
        ));
        statement.params.push(Param::Text(operation_id.to_owned()));
        statement.params.extend(scope.params.iter().cloned());
    }
    statement.sql = format!("{} ORDER BY 1", selects.join(" UNION "));
    super::query::fetch(connection, statement, |row| row.get(0))
}

/// The tables a transaction reads.
const OPERATION_TABLES: [&str; 5] = [
    "requests",
    "dependencies",
    "exceptions",
    "traces",
    "customEvents",
];

pub fn operation(
    connection: &Connection,
    app: &str,
    operation_id: &str,
) -> Result<OperationItems, StoreError> {
    let mut items = OperationItems::default();
    let mut requests = connection
        .prepare_cached(
            "SELECT timestamp_ns, id, operation_Id, operation_ParentId, operation_Name, name, url,
                    resultCode, success, duration_ms, cloud_RoleName, cloud_RoleInstance, itemCount,
                    customDimensions, customMeasurements, sdkVersion, application_Version
             FROM requests WHERE operation_Id = ?1 AND appName = ?2 ORDER BY timestamp_ns",
        )
        .map_err(sqlite_error)?;
    let rows = requests
        .query_map(params![operation_id, app], |row| {
            Ok(SpanRecord {
                table: SpanTable::Request,
                timestamp_ns: row.get(0)?,
                id: row.get(1)?,
                operation_id: row.get(2)?,
                parent_id: row.get(3)?,
                operation_name: row.get(4)?,
                name: row.get(5)?,
                dependency_type: String::new(),
                target: String::new(),
                data: row.get(6)?,
                result_code: row.get(7)?,
                success: row.get(8)?,
                duration_ms: real(row, 9)?,
                cloud_role_name: row.get(10)?,
                cloud_role_instance: row.get(11)?,
                item_count: row.get(12)?,
                genai: GenAiRecord::default(),
                dimensions: dimensions(row, 13)?,
                measurement_keys: measurement_keys(row, 14)?,
                sdk_version: row.get(15)?,
                application_version: row.get(16)?,
            })
        })
        .map_err(sqlite_error)?;
    for row in rows {
        items.spans.push(row.map_err(sqlite_error)?);
    }

    let mut dependencies = connection
        .prepare_cached(
            "SELECT timestamp_ns, id, operation_Id, operation_ParentId, operation_Name, name, type,
                    target, data, resultCode, success, duration_ms, cloud_RoleName,
                    cloud_RoleInstance, itemCount, customDimensions, genai_provider,
                    genai_operation, genai_requestModel, genai_responseModel, genai_inputTokens,
                    genai_outputTokens, genai_finishReason, genai_cachedInputTokens,
                    genai_reasoningTokens, genai_promptName, genai_promptVersion, customMeasurements,
                    sdkVersion, application_Version
             FROM dependencies WHERE operation_Id = ?1 AND appName = ?2 ORDER BY timestamp_ns",
        )
        .map_err(sqlite_error)?;
    let rows = dependencies
        .query_map(params![operation_id, app], |row| {
            Ok(SpanRecord {
                table: SpanTable::Dependency,
                timestamp_ns: row.get(0)?,
                id: row.get(1)?,
                operation_id: row.get(2)?,
                parent_id: row.get(3)?,
                operation_name: row.get(4)?,
                name: row.get(5)?,
                dependency_type: row.get(6)?,
                target: row.get(7)?,
                data: row.get(8)?,
                result_code: row.get(9)?,
                success: row.get(10)?,
                duration_ms: real(row, 11)?,
                cloud_role_name: row.get(12)?,
                cloud_role_instance: row.get(13)?,
                item_count: row.get(14)?,
                dimensions: dimensions(row, 15)?,
                genai: GenAiRecord {
                    provider: row.get(16)?,
                    operation: row.get(17)?,
                    request_model: row.get(18)?,
                    response_model: row.get(19)?,
                    input_tokens: count(row, 20)?,
                    output_tokens: count(row, 21)?,
                    finish_reason: row.get(22)?,
                    cached_input_tokens: count(row, 23)?,
                    reasoning_tokens: count(row, 24)?,
                    prompt_name: row.get(25)?,
                    prompt_version: row.get(26)?,
                },
                measurement_keys: measurement_keys(row, 27)?,
                sdk_version: row.get(28)?,
                application_version: row.get(29)?,
            })
        })
        .map_err(sqlite_error)?;
    for row in rows {
        items.spans.push(row.map_err(sqlite_error)?);
    }

    let mut exceptions = connection
        .prepare_cached(
            "SELECT timestamp_ns, itemId, operation_Id, operation_ParentId, problemId, type,
                    message, method, stack, severityLevel, cloud_RoleName, cloud_RoleInstance,
                    itemCount, customDimensions
             FROM exceptions WHERE operation_Id = ?1 AND appName = ?2 ORDER BY timestamp_ns",
        )
        .map_err(sqlite_error)?;
    let rows = exceptions
        .query_map(params![operation_id, app], |row| {
            Ok(ExceptionRecord {
                timestamp_ns: row.get(0)?,
                item_id: row.get(1)?,
                operation_id: row.get(2)?,
                parent_id: row.get(3)?,
                problem_id: row.get(4)?,
                exception_type: row.get(5)?,
                message: row.get(6)?,
                method: row.get(7)?,
                stack: row.get(8)?,
                severity_level: row.get(9)?,
                cloud_role_name: row.get(10)?,
                cloud_role_instance: row.get(11)?,
                item_count: row.get(12)?,
                dimensions: dimensions(row, 13)?,
            })
        })
        .map_err(sqlite_error)?;
    for row in rows {
        items.exceptions.push(row.map_err(sqlite_error)?);
    }

    let mut traces = connection
        .prepare_cached(
            "SELECT timestamp_ns, itemId, operation_Id, operation_ParentId, message, severityLevel,
                    cloud_RoleName, cloud_RoleInstance, itemCount, customDimensions
             FROM traces WHERE operation_Id = ?1 AND appName = ?2 ORDER BY timestamp_ns",
        )
        .map_err(sqlite_error)?;
    let rows = traces
        .query_map(params![operation_id, app], |row| {
            Ok(TraceRecord {
                timestamp_ns: row.get(0)?,
                item_id: row.get(1)?,
                operation_id: row.get(2)?,
                parent_id: row.get(3)?,
                message: row.get(4)?,
                severity_level: row.get(5)?,
                cloud_role_name: row.get(6)?,
                cloud_role_instance: row.get(7)?,
                item_count: row.get(8)?,
                dimensions: dimensions(row, 9)?,
            })
        })
        .map_err(sqlite_error)?;
    for row in rows {
        items.traces.push(row.map_err(sqlite_error)?);
    }

    let mut events = connection
        .prepare_cached(
            "SELECT timestamp_ns, itemId, operation_Id, operation_ParentId, name, cloud_RoleName,
                    itemCount, customDimensions
             FROM customEvents WHERE operation_Id = ?1 AND appName = ?2 ORDER BY timestamp_ns",
        )
        .map_err(sqlite_error)?;
    let rows = events
        .query_map(params![operation_id, app], |row| {
            Ok(EventRecord {
                timestamp_ns: row.get(0)?,
                item_id: row.get(1)?,
                operation_id: row.get(2)?,
                parent_id: row.get(3)?,
                name: row.get(4)?,
                cloud_role_name: row.get(5)?,
                item_count: row.get(6)?,
                dimensions: dimensions(row, 7)?,
            })
        })
        .map_err(sqlite_error)?;
    for row in rows {
        items.events.push(row.map_err(sqlite_error)?);
    }
    Ok(items)
}

pub fn metrics(
    connection: &Connection,
    query: &MetricQuery,
) -> Result<Vec<MetricRecord>, StoreError> {
    let mut statement = Condition {
        sql: "SELECT timestamp_ns, name, namespace, metricType, value, valueCount, valueMin, \
                     valueMax, bucketBounds, bucketCounts, cloud_RoleName, customDimensions \
              FROM customMetrics WHERE timestamp_ns >= ? AND timestamp_ns < ?"
            .to_owned(),
        params: vec![
            Param::Int(query.range.from_ns),
            Param::Int(query.range.to_ns),
        ],
    };
    if let Some(name) = &query.name {
        statement.sql.push_str(" AND name = ?");
        statement.params.push(Param::Text(name.clone()));
    }
    let scope = sql::and_scope(&query.scope);
    statement.sql.push_str(&scope.sql);
    statement.params.extend(scope.params);
    statement
        .sql
        .push_str(" ORDER BY timestamp_ns, name LIMIT ?");
    statement
        .params
        .push(Param::Int(i64::try_from(query.limit).unwrap_or(i64::MAX)));
    super::query::fetch(connection, statement, |row| {
        Ok(MetricRecord {
            timestamp_ns: row.get(0)?,
            name: row.get(1)?,
            namespace: row.get(2)?,
            metric_type: row.get(3)?,
            value: real(row, 4)?,
            value_count: count(row, 5)?,
            value_min: real(row, 6)?,
            value_max: real(row, 7)?,
            bucket_bounds: json_column(row, 8)?,
            bucket_counts: json_column(row, 9)?,
            cloud_role_name: row.get(10)?,
            dimensions: dimensions(row, 11)?,
        })
    })
}

/// A REAL column, where NULL stands for the NaN SQLite cannot store.
pub(super) fn real(row: &Row<'_>, index: usize) -> rusqlite::Result<f64> {
    Ok(row.get::<_, Option<f64>>(index)?.unwrap_or(f64::NAN))
}

fn count(row: &Row<'_>, index: usize) -> rusqlite::Result<u64> {
    Ok(u64::try_from(row.get::<_, i64>(index)?).unwrap_or(0))
}

pub(super) fn json_column<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    index: usize,
) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// `customDimensions` JSON text → ordered pairs.
/// The keys of a `customMeasurements` column.
fn measurement_keys(row: &Row<'_>, index: usize) -> rusqlite::Result<Vec<String>> {
    let map: serde_json::Map<String, serde_json::Value> = json_column(row, index)?;
    Ok(map.into_iter().map(|(key, _)| key).collect())
}

pub fn dimensions(row: &Row<'_>, index: usize) -> rusqlite::Result<Vec<(String, String)>> {
    let map: serde_json::Map<String, serde_json::Value> = json_column(row, index)?;
    Ok(map
        .into_iter()
        .map(|(key, value)| match value {
            serde_json::Value::String(s) => (key, s),
            other => (key, other.to_string()),
        })
        .collect())
}
