//! The reads that join tables: dependencies to the requests they led to (map edges) and
//! throttled attempts to their GenAI call. Joins match within one app; resent copies of a span
//! join once.

use super::{Condition, Dialect, Param, THROTTLED_ATTEMPT, filters_condition, selection_condition};
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

/// The columns of a dependency that throttling pairs (a call or an attempt), in the order
/// SQLite's pairing reads them, on the table aliased `qualifier` (e.g. `d.`) or unqualified.
pub fn throttling_span_columns(qualifier: &str) -> String {
    [
        "genai_provider",
        "genai_requestModel",
        "target",
        "appName",
        "operation_Id",
        "id",
        "operation_ParentId",
        "resultCode",
        "duration_ms",
        "timestamp_ns",
        "success",
        "itemCount",
    ]
    .map(|column| format!("{qualifier}{column}"))
    .join(", ")
}

/// Most throttled calls one GenAI usage read on SQLite pairs or adds up (tens of MB with
/// their attempts): a range with more counts the first calls only.
pub const MAX_THROTTLED_CALLS: usize = 50_000;

/// The GenAI calls a 429 attempt (an HTTP dependency without GenAI columns) names as its
/// parent, narrowed by the window's filters, with every attempt beneath them.
///
/// On ClickHouse the server folds them as [`crate::reads::throttling`] defines it, so only
/// figures travel (12,467 calls with their attempts took ~100 ms to decode): one pass over the
/// range's dependencies (a set of the 429 attempts' parents, read from `throttled_attempts`
/// and built once) groups each call with its attempts into a few figures, each call's
/// throttled time is computed from them in whole ns (`throttled_ns_of_stored`), and the answer is one row per provider, model and
/// target — `(provider, model, target, calls, weighted 429 attempts, throttled ns, calls that
/// ended 429, their summed duration in ns, [first throttled minute of each call])`. Whole ns
/// add up the same in any order, so the calls are neither sorted nor capped (a cap would not
/// bound the server's grouping, which the query's memory limit does).
///
/// On SQLite the dependencies of the 429 attempts' operations (a partial index, then the
/// operation index) that are such a call or attempt, as [`throttling_span_columns`], at most
/// eight rows for each of [`MAX_THROTTLED_CALLS`] calls, for
/// [`crate::reads::throttled::throttled_calls`] to pair (the operations in the order SQLite reads them, which is theirs, without sorting the
/// rows). `{dependencies}` stands for the table.
pub fn genai_throttling(window: &ScopedRange, dialect: Dialect) -> Condition {
    let all = window_condition(Source::Dependencies, window, false, dialect);
    let prefix = if dialect == Dialect::Sqlite { "d." } else { "" };
    let call_filters = filters_condition(&window.filters, dialect, prefix);
    let calls_kept = if call_filters.sql.is_empty() {
        String::new()
    } else {
        format!(
            " AND ({p}genai_provider = '' OR ({}))",
            call_filters.sql,
            p = prefix
        )
    };
    // ClickHouse keeps the 429 attempts in a table of their own (`throttled_attempts`, a few
    // rows); SQLite finds them through a partial index.
    let throttled_parents = match dialect {
        Dialect::ClickHouse => format!(
            "SELECT operation_ParentId FROM {{throttled_attempts}} WHERE {}",
            all.sql
        ),
        Dialect::Sqlite => format!(
            "SELECT operation_ParentId FROM {{dependencies}} \
             WHERE {} AND {THROTTLED_ATTEMPT}",
            all.sql
        ),
    };
    let mut params = Vec::new();
    let sql = match dialect {
        Dialect::ClickHouse => {
            params.extend(all.params.iter().cloned());
            params.extend(all.params.iter().cloned());
            params.extend(call_filters.params);
            // `throttling::ns_of_ms`, in the same steps.
            let ns_of = |ms: &str| format!("toInt64(floor({ms} * 1e6 + 0.5))");
            format!(
                "SELECT provider, model, call_target, count() AS calls, \
                        sum(throttled_attempts) AS attempts, sum(waited_ns) AS waited_ns, \
                        countIf(call_result = '429') AS ended, \
                        sumIf({call_ns}, call_result = '429') AS ended_ns, \
                        groupArray(intDiv(first_ns, 60000000000) * 60000000000) AS minutes \
                 FROM (SELECT provider, model, call_target, call_result, call_duration_ms, \
                              throttled_attempts, first_ns, \
                              arrayFilter(s -> s >= first_ns, succeeded) AS after, \
                              greatest(if(length(after) > 0, arrayReduce('min', after), \
                                          greatest(last_end_ns, first_ns)) - first_ns, 0) \
                                AS waited_ns \
                       FROM (SELECT anyIf(genai_provider, is_call) AS provider, \
                                    anyIf(genai_requestModel, is_call) AS model, \
                                    anyIf(target, is_call) AS call_target, \
                                    anyIf(resultCode, is_call) AS call_result, \
                                    anyIf(duration_ms, is_call) AS call_duration_ms, \
                                    sumIf(itemCount, throttled) AS throttled_attempts, \
                                    minIf(timestamp_ns, throttled) AS first_ns, \
                                    groupArrayIf(timestamp_ns, NOT is_call AND success = 1) \
                                      AS succeeded, \
                                    maxIf(timestamp_ns + {attempt_ns}, NOT is_call) AS last_end_ns \
                             FROM (SELECT appName, genai_provider, genai_requestModel, target, \
                                          resultCode, duration_ms, timestamp_ns, success, \
                                          itemCount, genai_provider != '' AS is_call, \
                                          NOT is_call AND resultCode = '429' AS throttled, \
                                          if(is_call, id, operation_ParentId) AS call_id \
                                   FROM {{dependencies}} \
                                   WHERE {all} AND call_id IN ({throttled_parents}){calls_kept}) \
                             GROUP BY appName, call_id \
                             HAVING countIf(is_call) > 0 AND countIf(throttled) > 0)) \
                 GROUP BY provider, model, call_target",
                call_ns = ns_of("call_duration_ms"),
                attempt_ns = ns_of("duration_ms"),
                all = all.sql
            )
        }
        Dialect::Sqlite => {
            let range = window.range;
            params.extend(all.params.iter().cloned());
            params.extend([Param::Int(range.from_ns), Param::Int(range.to_ns)]);
            params.extend(all.params.iter().cloned());
            params.extend(call_filters.params);
            format!(
                "SELECT {columns} \
                 FROM (SELECT DISTINCT appName, operation_Id FROM {{dependencies}} \
                       WHERE {all} AND {THROTTLED_ATTEMPT}) AS o \
                 JOIN {{dependencies}} AS d \
                   ON d.operation_Id = o.operation_Id AND d.appName = o.appName \
                 WHERE d.timestamp_ns >= ? AND d.timestamp_ns < ? \
                   AND CASE WHEN d.genai_provider != '' THEN d.id ELSE d.operation_ParentId END \
                       IN ({throttled_parents}){calls_kept} \
                 LIMIT {rows}",
                columns = throttling_span_columns("d."),
                rows = 8 * MAX_THROTTLED_CALLS,
                all = all.sql
            )
        }
    };
    Condition { sql, params }
}
