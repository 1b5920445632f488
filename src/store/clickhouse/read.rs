//! Reads from ClickHouse into the shared record types. Column lists are explicit and the row
//! structs follow them field by field, because RowBinary without validation is positional.

use clickhouse::Row;
use serde::Deserialize;

use super::ClickHouseStore;
use super::query::bind_all;
use crate::reads::AppScope;
use crate::reads::records::{
    EventRecord, ExceptionRecord, GenAiRecord, MetricRecord, OperationItems, SpanRecord, SpanTable,
    TraceRecord, zip_dimensions,
};
use crate::store::sql;
use crate::store::{MetricQuery, StoreError};

/// Where one operation's rows lie: `[first_s, last_s]` in whole seconds.
#[derive(Debug, Row, Deserialize)]
struct OperationRange {
    rows: u64,
    first_ns: i64,
    last_ns: i64,
}

#[derive(Debug, Row, Deserialize)]
struct RequestRow {
    timestamp_ns: i64,
    id: String,
    operation_id: String,
    parent_id: String,
    operation_name: String,
    name: String,
    url: String,
    result_code: String,
    success: u8,
    duration_ms: f64,
    role: String,
    instance: String,
    item_count: u32,
    keys: Vec<String>,
    values: Vec<String>,
    measurement_keys: Vec<String>,
    sdk_version: String,
    application_version: String,
}

const REQUEST_COLUMNS: &str = "timestamp_ns, id, operation_Id, operation_ParentId, operation_Name, \
    name, url, resultCode, success, duration_ms, cloud_RoleName, cloud_RoleInstance, itemCount, \
    customDimensions_keys, customDimensions_values, customMeasurements_keys, sdkVersion, application_Version";

#[derive(Debug, Row, Deserialize)]
struct DependencyRow {
    timestamp_ns: i64,
    id: String,
    operation_id: String,
    parent_id: String,
    operation_name: String,
    name: String,
    dependency_type: String,
    target: String,
    data: String,
    result_code: String,
    success: u8,
    duration_ms: f64,
    role: String,
    instance: String,
    item_count: u32,
    keys: Vec<String>,
    values: Vec<String>,
    provider: String,
    operation: String,
    request_model: String,
    response_model: String,
    input_tokens: u64,
    output_tokens: u64,
    finish_reason: String,
    cached_input_tokens: u64,
    reasoning_tokens: u64,
    prompt_name: String,
    prompt_version: String,
    measurement_keys: Vec<String>,
    sdk_version: String,
    application_version: String,
}

const DEPENDENCY_COLUMNS: &str = "timestamp_ns, id, operation_Id, operation_ParentId, \
    operation_Name, name, type, target, data, resultCode, success, duration_ms, cloud_RoleName, \
    cloud_RoleInstance, itemCount, customDimensions_keys, customDimensions_values, genai_provider, \
    genai_operation, genai_requestModel, genai_responseModel, genai_inputTokens, \
    genai_outputTokens, genai_finishReason, genai_cachedInputTokens, genai_reasoningTokens, \
    genai_promptName, genai_promptVersion, customMeasurements_keys, sdkVersion, \
    application_Version";

#[derive(Debug, Row, Deserialize)]
struct ExceptionRow {
    timestamp_ns: i64,
    item_id: String,
    operation_id: String,
    parent_id: String,
    problem_id: String,
    exception_type: String,
    message: String,
    method: String,
    stack: String,
    severity_level: u8,
    role: String,
    instance: String,
    item_count: u32,
    keys: Vec<String>,
    values: Vec<String>,
}

const EXCEPTION_COLUMNS: &str = "timestamp_ns, itemId, operation_Id, operation_ParentId, \
    problemId, type, message, method, stack, severityLevel, cloud_RoleName, cloud_RoleInstance, \
    itemCount, customDimensions_keys, customDimensions_values";

#[derive(Debug, Row, Deserialize)]
struct TraceRow {
    timestamp_ns: i64,
    item_id: String,
    operation_id: String,
    parent_id: String,
    message: String,
    severity_level: u8,
    role: String,
    instance: String,
    item_count: u32,
    keys: Vec<String>,
    values: Vec<String>,
}

const TRACE_COLUMNS: &str = "timestamp_ns, itemId, operation_Id, operation_ParentId, message, \
    severityLevel, cloud_RoleName, cloud_RoleInstance, itemCount, customDimensions_keys, \
    customDimensions_values";

#[derive(Debug, Row, Deserialize)]
struct EventRow {
    timestamp_ns: i64,
    item_id: String,
    operation_id: String,
    parent_id: String,
    name: String,
    role: String,
    item_count: u32,
    keys: Vec<String>,
    values: Vec<String>,
}

const EVENT_COLUMNS: &str = "timestamp_ns, itemId, operation_Id, operation_ParentId, name, \
    cloud_RoleName, itemCount, customDimensions_keys, customDimensions_values";

#[derive(Debug, Row, Deserialize)]
struct MetricRow {
    timestamp_ns: i64,
    name: String,
    namespace: String,
    metric_type: String,
    value: f64,
    value_count: u64,
    value_min: f64,
    value_max: f64,
    bucket_bounds: Vec<f64>,
    bucket_counts: Vec<u64>,
    role: String,
    keys: Vec<String>,
    values: Vec<String>,
}

const METRIC_COLUMNS: &str = "timestamp_ns, name, namespace, metricType, value, valueCount, \
    valueMin, valueMax, bucketBounds, bucketCounts, cloud_RoleName, customDimensions_keys, \
    customDimensions_values";

/// Rows of `table` within an operation's time range; `timestamp` narrows the read to the
/// operation's hours, the sort key does the rest.
async fn rows_of<T>(
    store: &ClickHouseStore,
    table: &str,
    columns: &str,
    app: &str,
    operation_id: &str,
    range: &OperationRange,
) -> Result<Vec<T>, StoreError>
where
    T: clickhouse::RowOwned + clickhouse::RowRead,
{
    let source = store.operation_source(table, operation_id);
    let sql = format!(
        "SELECT {columns} FROM {source} \
         WHERE timestamp >= toDateTime(?, 'UTC') AND timestamp <= toDateTime(?, 'UTC') \
         AND operation_Id = ? AND appName = ? ORDER BY timestamp_ns"
    );
    store
        .reader()
        .query(&sql)
        .bind(range.first_ns.div_euclid(1_000_000_000))
        .bind(range.last_ns.div_euclid(1_000_000_000))
        .bind(operation_id)
        .bind(app)
        .fetch_all::<T>()
        .await
        .map_err(|e| store.read_error(e))
}

/// The apps in `scope` with rows under `operation_id`, from the `operations` lookup table.
pub async fn operation_apps(
    store: &ClickHouseStore,
    scope: &AppScope,
    operation_id: &str,
) -> Result<Vec<String>, StoreError> {
    let scope = sql::and_scope(scope);
    let query = store
        .reader()
        .query(&format!(
            "SELECT DISTINCT toString(appName) AS app FROM {} \
             WHERE operation_Id = ?{} ORDER BY app",
            store.operation_source("operations", operation_id),
            scope.sql
        ))
        .bind(operation_id);
    bind_all(query, &scope.params)
        .fetch_all()
        .await
        .map_err(|e| store.read_error(e))
}

pub async fn operation(
    store: &ClickHouseStore,
    app: &str,
    operation_id: &str,
) -> Result<OperationItems, StoreError> {
    let range: OperationRange = store
        .reader()
        .query(&format!(
            "SELECT count(), min(first_ns), max(last_ns) FROM {} \
             WHERE operation_Id = ? AND appName = ?",
            store.operation_source("operations", operation_id)
        ))
        .bind(operation_id)
        .bind(app)
        .fetch_one()
        .await
        .map_err(|e| store.read_error(e))?;
    let mut items = OperationItems::default();
    if range.rows == 0 {
        return Ok(items);
    }
    // One round trip's latency for all five tables instead of five.
    let (requests, dependencies, exceptions, traces, events) = tokio::try_join!(
        rows_of::<RequestRow>(
            store,
            "requests",
            REQUEST_COLUMNS,
            app,
            operation_id,
            &range
        ),
        rows_of::<DependencyRow>(
            store,
            "dependencies",
            DEPENDENCY_COLUMNS,
            app,
            operation_id,
            &range
        ),
        rows_of::<ExceptionRow>(
            store,
            "exceptions",
            EXCEPTION_COLUMNS,
            app,
            operation_id,
            &range
        ),
        rows_of::<TraceRow>(store, "traces", TRACE_COLUMNS, app, operation_id, &range),
        rows_of::<EventRow>(
            store,
            "customEvents",
            EVENT_COLUMNS,
            app,
            operation_id,
            &range
        ),
    )?;
    for row in requests {
        items.spans.push(SpanRecord {
            table: SpanTable::Request,
            timestamp_ns: row.timestamp_ns,
            id: row.id,
            operation_id: row.operation_id,
            parent_id: row.parent_id,
            operation_name: row.operation_name,
            name: row.name,
            dependency_type: String::new(),
            target: String::new(),
            data: row.url,
            result_code: row.result_code,
            success: row.success != 0,
            duration_ms: row.duration_ms,
            cloud_role_name: row.role,
            cloud_role_instance: row.instance,
            item_count: row.item_count,
            genai: GenAiRecord::default(),
            dimensions: zip_dimensions(row.keys, row.values),
            measurement_keys: row.measurement_keys,
            sdk_version: row.sdk_version,
            application_version: row.application_version,
        });
    }
    for row in dependencies {
        items.spans.push(SpanRecord {
            table: SpanTable::Dependency,
            timestamp_ns: row.timestamp_ns,
            id: row.id,
            operation_id: row.operation_id,
            parent_id: row.parent_id,
            operation_name: row.operation_name,
            name: row.name,
            dependency_type: row.dependency_type,
            target: row.target,
            data: row.data,
            result_code: row.result_code,
            success: row.success != 0,
            duration_ms: row.duration_ms,
            cloud_role_name: row.role,
            cloud_role_instance: row.instance,
            item_count: row.item_count,
            genai: GenAiRecord {
                provider: row.provider,
                operation: row.operation,
                request_model: row.request_model,
                response_model: row.response_model,
                input_tokens: row.input_tokens,
                output_tokens: row.output_tokens,
                finish_reason: row.finish_reason,
                cached_input_tokens: row.cached_input_tokens,
                reasoning_tokens: row.reasoning_tokens,
                prompt_name: row.prompt_name,
                prompt_version: row.prompt_version,
            },
            dimensions: zip_dimensions(row.keys, row.values),
            measurement_keys: row.measurement_keys,
            sdk_version: row.sdk_version,
            application_version: row.application_version,
        });
    }
    for row in exceptions {
        items.exceptions.push(ExceptionRecord {
            timestamp_ns: row.timestamp_ns,
            item_id: row.item_id,
            operation_id: row.operation_id,
            parent_id: row.parent_id,
            problem_id: row.problem_id,
            exception_type: row.exception_type,
            message: row.message,
            method: row.method,
            stack: row.stack,
            severity_level: row.severity_level,
            cloud_role_name: row.role,
            cloud_role_instance: row.instance,
            item_count: row.item_count,
            dimensions: zip_dimensions(row.keys, row.values),
        });
    }
    for row in traces {
        items.traces.push(TraceRecord {
            timestamp_ns: row.timestamp_ns,
            item_id: row.item_id,
            operation_id: row.operation_id,
            parent_id: row.parent_id,
            message: row.message,
            severity_level: row.severity_level,
            cloud_role_name: row.role,
            cloud_role_instance: row.instance,
            item_count: row.item_count,
            dimensions: zip_dimensions(row.keys, row.values),
        });
    }
    for row in events {
        items.events.push(EventRecord {
            timestamp_ns: row.timestamp_ns,
            item_id: row.item_id,
            operation_id: row.operation_id,
            parent_id: row.parent_id,
            name: row.name,
            cloud_role_name: row.role,
            item_count: row.item_count,
            dimensions: zip_dimensions(row.keys, row.values),
        });
    }
    Ok(items)
}

pub async fn metrics(
    store: &ClickHouseStore,
    query: &MetricQuery,
) -> Result<Vec<MetricRecord>, StoreError> {
    let name_filter = if query.name.is_some() {
        "AND name = ?"
    } else {
        ""
    };
    let scope = sql::and_scope(&query.scope);
    let sql = format!(
        "SELECT {METRIC_COLUMNS} FROM `{}`.`customMetrics` \
         WHERE timestamp_ns >= ? AND timestamp_ns < ? {name_filter}{} \
         ORDER BY timestamp_ns, name LIMIT ?",
        store.database, scope.sql
    );
    let mut q = store
        .reader()
        .query(&sql)
        .bind(query.range.from_ns)
        .bind(query.range.to_ns);
    if let Some(name) = &query.name {
        q = q.bind(name.as_str());
    }
    q = bind_all(q, &scope.params);
    let rows: Vec<MetricRow> = q
        .bind(u64::try_from(query.limit).unwrap_or(u64::MAX))
        .fetch_all()
        .await
        .map_err(|e| store.read_error(e))?;
    Ok(rows
        .into_iter()
        .map(|row| MetricRecord {
            timestamp_ns: row.timestamp_ns,
            name: row.name,
            namespace: row.namespace,
            metric_type: row.metric_type,
            value: row.value,
            value_count: row.value_count,
            value_min: row.value_min,
            value_max: row.value_max,
            bucket_bounds: row.bucket_bounds,
            bucket_counts: row.bucket_counts,
            cloud_role_name: row.role,
            dimensions: zip_dimensions(row.keys, row.values),
        })
        .collect())
}
