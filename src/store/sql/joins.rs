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

/// Most throttled calls one GenAI usage read returns (tens of MB with their attempts): a
/// range with more counts the first calls only.
pub const MAX_THROTTLED_CALLS: usize = 50_000;

/// The GenAI calls a 429 attempt (an HTTP dependency without GenAI columns) names as its
/// parent, narrowed by the window's filters, with every attempt beneath them: at most
/// [`MAX_THROTTLED_CALLS`], the first in app, operation and call order.
///
/// On ClickHouse the server folds them as [`crate::reads::throttling`] defines it, so only
/// figures travel (12,467 calls with their attempts took ~100 ms to decode): one pass over the
/// range's dependencies (a set of the 429 attempts' parents, built once) groups each call
/// with its attempts, each call's throttled time is computed from them with the same
/// floating-point steps as Rust, and the answer is one row per provider, model and target —
/// `(provider, model, target, calls, weighted 429 attempts, [throttled ms], [duration of the
/// calls that ended 429], [first throttled minute])`, the arrays in call order so that Rust
/// sums them in the order SQLite's calls are summed.
///
/// On SQLite the dependencies of the 429 attempts' operations (a partial index, then the
/// operation index) that are such a call or attempt, as [`throttling_span_columns`], at most
/// eight rows a call, for [`crate::reads::throttled::throttled_calls`] to
/// pair (the operations in the order SQLite reads them, which is theirs, without sorting the
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
    let throttled_parents = format!(
        "SELECT operation_ParentId FROM {{dependencies}} \
         WHERE {} AND resultCode = '429' AND genai_provider = ''",
        all.sql
    );
    let mut params = Vec::new();
    let sql = match dialect {
        Dialect::ClickHouse => {
            params.extend(all.params.iter().cloned());
            params.extend(all.params.iter().cloned());
            params.extend(call_filters.params);
            let attempt =
                |column: &str, name: &str| format!("groupArrayIf({column}, NOT is_call) AS {name}");
            // Offsets from the call's first attempt, in ms, as `throttled_time_of_stored`.
            let offset = "(s - origin) / 1e6";
            // The calls in order (written twice, computed once: not an output column).
            let by_call = "arraySort(groupArray(tuple(tuple(appName, operation_Id, call_id), \
                           waited_ms, call_result = '429', call_duration_ms)))";
            format!(
                "SELECT provider, model, call_target, count() AS calls, \
                        sum(throttled_attempts) AS attempts, \
                        arrayMap(x -> tupleElement(x, 2), {by_call}) AS waits, \
                        arrayMap(x -> tupleElement(x, 4), \
                                 arrayFilter(x -> tupleElement(x, 3) = 1, {by_call})) AS ended, \
                        groupArray(first_minute_ns) AS minutes \
                 FROM (SELECT provider, model, call_target, appName, operation_Id, call_id, \
                              call_result, call_duration_ms, \
                              arraySum(arrayMap((c, n) -> if(c = '429', toUInt64(n), toUInt64(0)), \
                                                codes, counts)) AS throttled_attempts, \
                              arrayReduce('min', starts) AS origin, \
                              arrayReduce('min', arrayFilter((s, c) -> c = '429', starts, codes)) \
                                AS first_ns, \
                              (first_ns - origin) / 1e6 AS first_ms, \
                              arrayFilter((s, ok) -> ok = 1 AND {offset} >= first_ms, \
                                          starts, successes) AS succeeded_after, \
                              if(length(succeeded_after) > 0, \
                                 (arrayReduce('min', succeeded_after) - origin) / 1e6, \
                                 arrayReduce('max', arrayPushBack( \
                                   arrayMap((s, d) -> {offset} + d, starts, durations), \
                                   first_ms))) AS until_ms, \
                              greatest(until_ms - first_ms, 0.) AS waited_ms, \
                              intDiv(first_ns, 60000000000) * 60000000000 AS first_minute_ns \
                       FROM (SELECT anyIf(genai_provider, is_call) AS provider, \
                                    anyIf(genai_requestModel, is_call) AS model, \
                                    anyIf(target, is_call) AS call_target, appName, \
                                    operation_Id, call_id, \
                                    anyIf(resultCode, is_call) AS call_result, \
                                    anyIf(duration_ms, is_call) AS call_duration_ms, \
                                    {starts}, {durations}, {codes}, {successes}, {counts} \
                             FROM (SELECT appName, operation_Id, genai_provider, \
                                          genai_requestModel, target, resultCode, duration_ms, \
                                          timestamp_ns, toUInt8(success) AS success, itemCount, \
                                          genai_provider != '' AS is_call, \
                                          if(is_call, id, operation_ParentId) AS call_id \
                                   FROM {{dependencies}} \
                                   WHERE {all} AND call_id IN ({throttled_parents}){calls_kept}) \
                             GROUP BY appName, operation_Id, call_id \
                             HAVING countIf(is_call) > 0 \
                                AND countIf(NOT is_call AND resultCode = '429') > 0 \
                             ORDER BY appName, operation_Id, call_id \
                             LIMIT {MAX_THROTTLED_CALLS})) \
                 GROUP BY provider, model, call_target",
                starts = attempt("timestamp_ns", "starts"),
                durations = attempt("duration_ms", "durations"),
                codes = attempt("resultCode", "codes"),
                successes = attempt("success", "successes"),
                counts = attempt("itemCount", "counts"),
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
                       WHERE {all} AND resultCode = '429' AND genai_provider = '') AS o \
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
