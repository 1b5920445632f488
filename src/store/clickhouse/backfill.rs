//! Rolls up stored spans on the server, per batch, minute and combination, as written batches
//! are rolled up: every span a database held before it had rollups (when the migration that
//! adds them runs), and the batches a previous version spooled without rollup rows (when they
//! are shipped). Batches that already have rollup rows of the table are left out, so running it
//! again (a migration that failed half-way, two instances starting together, a retried
//! shipment) adds only what is missing.

use crate::reads::Source;
use crate::store::rollup::TABLE;
use crate::store::sql::fine_bucket_clickhouse;

/// Which stored batches to roll up.
pub enum Spans<'a> {
    /// Every batch of the table.
    All,
    /// These batches, whose rows lie within `[from_s, to_s]` (UTC seconds).
    Batches {
        ids: &'a [u64],
        from_s: i64,
        to_s: i64,
    },
}

impl Spans<'_> {
    /// The rows' condition, followed by `AND` (empty for every batch). Numbers only: nothing a
    /// client sent is spliced in.
    pub fn condition(&self) -> String {
        match self {
            Spans::All => String::new(),
            Spans::Batches { ids, from_s, to_s } => {
                let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
                format!(
                    "timestamp >= toDateTime({from_s}, 'UTC') AND timestamp <= toDateTime({to_s}, 'UTC') \
                     AND _batch_id IN ({}) AND ",
                    ids.join(", ")
                )
            }
        }
    }
}

/// The `INSERT … SELECT` that rolls up one span table.
pub fn statement(database: &str, source: Source, spans: &Spans<'_>) -> String {
    let table = source.table();
    let (dependency_columns, tokens) = match source {
        Source::Dependencies => (
            "type, target, genai_provider, genai_operation, genai_requestModel, \
             genai_responseModel",
            "sum(genai_inputTokens * itemCount) AS input, sum(genai_outputTokens * itemCount) AS output",
        ),
        _ => (
            "'' AS type, '' AS target, '' AS genai_provider, '' AS genai_operation, \
             '' AS genai_requestModel, '' AS genai_responseModel",
            "toUInt64(0) AS input, toUInt64(0) AS output",
        ),
    };
    let keys = "minute, appName, cloud_RoleName, name, operation_Name, resultCode, type, target, \
                genai_provider, genai_operation, genai_requestModel, genai_responseModel, \
                success, _batch_id";
    let columns = super::rollup_rows::COLUMNS.join(", ");
    format!(
        "INSERT INTO `{database}`.`{TABLE}` ({columns}) \
         SELECT minute, '{table}', appName, cloud_RoleName, name, operation_Name, resultCode, \
                type, target, genai_provider, genai_operation, genai_requestModel, \
                genai_responseModel, success, sum(items), sum(failed), sum(duration_sum), \
                min(duration_min), max(duration_max), sum(input), sum(output), sum(throttled), \
                sum(throttled_ms), max(latest_ns), argMax(latest_id, latest_ns), \
                arrayMap(x -> tupleElement(x, 1), groupArray(tuple(bucket, items, duration_sum))), \
                arrayMap(x -> tupleElement(x, 2), groupArray(tuple(bucket, items, duration_sum))), \
                arrayMap(x -> tupleElement(x, 3), groupArray(tuple(bucket, items, duration_sum))), \
                _batch_id \
         FROM ( \
             SELECT intDiv(timestamp_ns, 60000000000) * 60000000000 AS minute, appName, \
                    cloud_RoleName, name, operation_Name, resultCode, {dependency_columns}, \
                    success, _batch_id, {bucket} AS bucket, \
                    sum(itemCount) AS items, sumIf(itemCount, success = 0) AS failed, \
                    sum(duration_ms * itemCount) AS duration_sum, \
                    min(duration_ms) AS duration_min, max(duration_ms) AS duration_max, \
                    {tokens}, sumIf(itemCount, resultCode = '429') AS throttled, \
                    sumIf(duration_ms * itemCount, resultCode = '429') AS throttled_ms, \
                    max(timestamp_ns) AS latest_ns, \
                    argMax(operation_Id, timestamp_ns) AS latest_id \
             FROM `{database}`.`{table}` \
             WHERE {only}_batch_id NOT IN \
                 (SELECT _batch_id FROM `{database}`.`{TABLE}` WHERE source = '{table}') \
             GROUP BY {keys}, bucket \
         ) \
         GROUP BY {keys}",
        bucket = fine_bucket_clickhouse("duration_ms"),
        only = spans.condition(),
    )
}
