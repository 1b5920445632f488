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
    let sql = match dialect {
        // Both sides distinct: resent spans (stored again under the same ids) must not
        // multiply the join. Subqueries are aliased, as current ClickHouse requires.
        Dialect::ClickHouse => format!(
            "SELECT caller, target, callee FROM \
             (SELECT DISTINCT appName, operation_Id, id, cloud_RoleName AS caller, target \
              FROM {{dependencies}} WHERE {}) AS calls \
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
    Condition {
        sql,
        params: dependencies
            .params
            .into_iter()
            .chain(requests.params)
            .collect(),
    }
}

/// 429 dependency attempts whose parent is a GenAI call of the same app, weighted by `itemCount`, as
/// `(provider, model, target, attempts, duration_ms)`. `{dependencies}` stands for the table.
/// Every stored attempt counts, but each call is joined once however often it was stored, so
/// a resent batch adds its attempts once more instead of multiplying them.
pub fn genai_throttling(window: &ScopedRange, dialect: Dialect) -> Condition {
    let attempts = window_condition(Source::Dependencies, window, false, dialect);
    let range = window.range;
    let (sql, call_params) = match dialect {
        Dialect::ClickHouse => {
            let calls = window_condition(Source::Dependencies, window, true, dialect);
            let sql = format!(
                "SELECT provider, model, target, sum(itemCount), sum(duration_ms * itemCount) FROM \
             (SELECT appName, operation_Id, operation_ParentId AS id, itemCount, duration_ms \
              FROM {{dependencies}} \
              WHERE {} AND resultCode = '429' AND genai_provider = '') AS attempts \
             ALL INNER JOIN \
             (SELECT DISTINCT appName, operation_Id, id, genai_provider AS provider, \
                     genai_requestModel AS model, target \
              FROM {{dependencies}} WHERE {} AND genai_provider != '') AS calls \
             USING (appName, operation_Id, id) \
             GROUP BY provider, model, target ORDER BY provider, model, target",
                attempts.sql, calls.sql
            );
            (sql, calls.params)
        }
        Dialect::Sqlite => {
            let mut call_filters = filters_condition(&window.filters, dialect, "c.");
            if !call_filters.sql.is_empty() {
                call_filters.sql = format!(" AND {}", call_filters.sql);
            }
            let sql = format!(
                // The attempts under one call are summed first (copies of a resent batch fold into
                // one row), then each such row looks its call up through the operation index (the
                // attempts are few, the calls many), once per distinct call, as ClickHouse's
                // DISTINCT call side counts them. Linear in the stored rows.
                "SELECT provider, model, target, sum(items), sum(weighted_ms) FROM \
             (SELECT c.genai_provider AS provider, c.genai_requestModel AS model, \
                     c.target AS target, a.items AS items, a.weighted_ms AS weighted_ms \
              FROM (SELECT appName, operation_Id, operation_ParentId, sum(itemCount) AS items, \
                           sum(duration_ms * itemCount) AS weighted_ms \
                    FROM {{dependencies}} \
                    WHERE {} AND resultCode = '429' AND genai_provider = '' \
                    GROUP BY appName, operation_Id, operation_ParentId) AS a \
              JOIN {{dependencies}} AS c \
                ON c.operation_Id = a.operation_Id AND c.id = a.operation_ParentId \
               AND c.appName = a.appName \
              WHERE c.timestamp_ns >= ? AND c.timestamp_ns < ? AND c.genai_provider != ''{} \
              GROUP BY a.appName, a.operation_Id, a.operation_ParentId, c.genai_provider, \
                       c.genai_requestModel, c.target) \
             GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                attempts.sql, call_filters.sql
            );
            let mut params = vec![Param::Int(range.from_ns), Param::Int(range.to_ns)];
            params.extend(call_filters.params);
            (sql, params)
        }
    };
    Condition {
        sql,
        params: attempts.params.into_iter().chain(call_params).collect(),
    }
}
