//! The reads that join tables: dependencies to the requests they led to (map edges) and
//! throttled attempts to their GenAI call. Joins match within one app; resent copies of a span
//! join once.

use super::{Condition, Dialect, Param, filters_condition, selection_condition};
use crate::reads::{ScopedRange, Selection, Source};

/// A window's range and scope on `source`, with its filters when `filtered`.
fn window_condition(
    source: Source,
    window: &ScopedRange,
    filtered: bool,
    dialect: Dialect,
) -> Condition {
    selection_condition(
        &Selection {
            source,
            range: window.range,
            scope: window.scope.clone(),
            filters: if filtered {
                window.filters.clone()
            } else {
                Vec::new()
            },
        },
        dialect,
    )
}

/// Dependencies joined to the requests they led to (a request of the same app whose parent is
/// the dependency's id), as `(caller_role, target, callee_role)`. `{dependencies}` and
/// `{requests}` stand for the qualified table names.
pub fn call_edges(window: &ScopedRange, dialect: Dialect) -> Condition {
    let dependencies = window_condition(Source::Dependencies, window, true, dialect);
    let requests = window_condition(Source::Requests, window, false, dialect);
    // Only the calls some request names as its parent can join: on ClickHouse the dependency
    // side keeps those (a one-column set, built once) instead of every call in the range (650
    // → 45 ms at 1 M spans). SQLite plans the set as a scan per call instead (124 → 744 ms),
    // so it joins as before.
    let parents = format!(
        "(SELECT operation_ParentId FROM {{requests}} WHERE {} AND operation_ParentId != '')",
        requests.sql
    );
    let sql = match dialect {
        // Both sides distinct: resent spans (stored again under the same ids) must not
        // multiply the join. Subqueries are aliased, as current ClickHouse requires.
        Dialect::ClickHouse => format!(
            "SELECT caller, target, callee FROM \
             (SELECT DISTINCT appName, operation_Id, id, cloud_RoleName AS caller, target \
              FROM {{dependencies}} WHERE {} AND id IN {parents}) AS calls \
             ALL INNER JOIN \
             (SELECT DISTINCT appName, operation_Id, operation_ParentId AS id, \
                     cloud_RoleName AS callee \
              FROM {{requests}} WHERE {} AND operation_ParentId != '') AS served \
             USING (appName, operation_Id, id) \
             GROUP BY caller, target, callee ORDER BY caller, target, callee",
            dependencies.sql, requests.sql
        ),
        Dialect::Sqlite => format!(
            "SELECT DISTINCT d.cloud_RoleName, d.target, r.cloud_RoleName \
             FROM (SELECT DISTINCT appName, operation_Id, id, cloud_RoleName, target \
                   FROM {{dependencies}} WHERE {}) AS d \
             JOIN (SELECT DISTINCT appName, operation_Id, operation_ParentId, cloud_RoleName \
                   FROM {{requests}} WHERE {} AND operation_ParentId != '') AS r \
               ON r.operation_Id = d.operation_Id AND r.operation_ParentId = d.id \
              AND r.appName = d.appName \
             ORDER BY 1, 2, 3",
            dependencies.sql, requests.sql
        ),
    };
    let mut params = dependencies.params;
    if dialect == Dialect::ClickHouse {
        params.extend(requests.params.iter().cloned());
    }
    params.extend(requests.params);
    Condition { sql, params }
}

/// Most attempt rows one GenAI usage read returns (about 40 MB of rows): a range with more
/// throttled attempts counts the first calls only.
pub const MAX_ATTEMPT_ROWS: usize = 200_000;

/// The HTTP attempts inside GenAI calls of the same app that were answered 429 at least once,
/// each with its call's provider, model and target, as `(provider, model, target, appName,
/// operation_Id, call id, the call's resultCode and duration_ms, timestamp_ns, duration_ms,
/// resultCode, success, itemCount)`; see
/// [`crate::reads::ThrottledAttempt`]. `{dependencies}` stands for the table. Every stored copy
/// of an attempt is a row, but each call joins once however often it was stored, so a resent
/// batch adds its attempts once more instead of multiplying them. At most [`MAX_ATTEMPT_ROWS`].
pub fn genai_throttling(window: &ScopedRange, dialect: Dialect) -> Condition {
    let attempts = window_condition(Source::Dependencies, window, false, dialect);
    let range = window.range;
    let mut params = Vec::new();
    let sql = match dialect {
        Dialect::ClickHouse => {
            let calls = window_condition(Source::Dependencies, window, true, dialect);
            // Both sides keep only the parents of a 429 (one small set, built once per
            // statement); the join then matches app and operation too. The call side is one
            // row per call by GROUP BY: with a DISTINCT there, 18.16 returned a resent call
            // twice here (every attempt counted double in `tests/query_engines.rs`).
            let throttled_parents = format!(
                "(SELECT operation_ParentId FROM {{dependencies}} \
                  WHERE {} AND resultCode = '429' AND genai_provider = '')",
                attempts.sql
            );
            params.extend(attempts.params.iter().cloned());
            params.extend(attempts.params.iter().cloned());
            params.extend(calls.params);
            params.extend(attempts.params.iter().cloned());
            format!(
                "SELECT provider, model, target, appName, operation_Id, id, call_result, \
                        call_duration_ms, timestamp_ns, duration_ms, resultCode, success, \
                        itemCount FROM \
                 (SELECT appName, operation_Id, operation_ParentId AS id, timestamp_ns, \
                         duration_ms, resultCode, toUInt8(success) AS success, itemCount \
                  FROM {{dependencies}} \
                  WHERE {attempts} AND genai_provider = '' \
                    AND operation_ParentId IN {throttled_parents}) AS attempts \
                 ALL INNER JOIN \
                 (SELECT appName, operation_Id, id, any(genai_provider) AS provider, \
                         any(genai_requestModel) AS model, any(target) AS target, \
                         any(resultCode) AS call_result, any(duration_ms) AS call_duration_ms \
                  FROM {{dependencies}} \
                  WHERE {calls} AND genai_provider != '' AND id IN {throttled_parents} \
                  GROUP BY appName, operation_Id, id) AS calls \
                 USING (appName, operation_Id, id) \
                 ORDER BY appName, operation_Id, id, timestamp_ns LIMIT {MAX_ATTEMPT_ROWS}",
                attempts = attempts.sql,
                calls = calls.sql
            )
        }
        Dialect::Sqlite => {
            let mut call_filters = filters_condition(&window.filters, dialect, "c.");
            if !call_filters.sql.is_empty() {
                call_filters.sql = format!(" AND {}", call_filters.sql);
            }
            params.extend(attempts.params);
            params.extend([Param::Int(range.from_ns), Param::Int(range.to_ns)]);
            params.extend(call_filters.params);
            params.extend([Param::Int(range.from_ns), Param::Int(range.to_ns)]);
            // The throttled calls are found from their 429 attempts (few) through the
            // operation index, once per call however often it was stored; their attempts are
            // then read through the same index. Linear in the stored rows.
            format!(
                "SELECT k.provider, k.model, k.target, a.appName, a.operation_Id, \
                        a.operation_ParentId, k.call_result, k.call_duration_ms, a.timestamp_ns, \
                        a.duration_ms, a.resultCode, a.success, a.itemCount \
                 FROM (SELECT DISTINCT t.appName AS appName, t.operation_Id AS operation_Id, \
                              t.operation_ParentId AS call_id, c.genai_provider AS provider, \
                              c.genai_requestModel AS model, c.target AS target, \
                              c.resultCode AS call_result, c.duration_ms AS call_duration_ms \
                       FROM (SELECT DISTINCT appName, operation_Id, operation_ParentId \
                             FROM {{dependencies}} \
                             WHERE {} AND resultCode = '429' AND genai_provider = '') AS t \
                       JOIN {{dependencies}} AS c \
                         ON c.operation_Id = t.operation_Id AND c.id = t.operation_ParentId \
                        AND c.appName = t.appName \
                       WHERE c.timestamp_ns >= ? AND c.timestamp_ns < ? \
                         AND c.genai_provider != ''{}) AS k \
                 JOIN {{dependencies}} AS a \
                   ON a.operation_Id = k.operation_Id AND a.operation_ParentId = k.call_id \
                  AND a.appName = k.appName \
                 WHERE a.timestamp_ns >= ? AND a.timestamp_ns < ? AND a.genai_provider = '' \
                 ORDER BY a.appName, a.operation_Id, a.operation_ParentId, a.timestamp_ns \
                 LIMIT {MAX_ATTEMPT_ROWS}",
                attempts.sql, call_filters.sql
            )
        }
    };
    Condition { sql, params }
}
