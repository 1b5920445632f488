//! SQL for the read queries, shared by both stores: the tables and columns have the same names
//! in SQLite and ClickHouse, so only a few expressions differ by dialect. Values always travel
//! as bound parameters (`?`); the only text spliced in comes from closed enums.

mod breakdowns;
mod joins;
mod latest;
pub mod metrics;
mod rollups;

pub use breakdowns::{duration_histogram, failed_calls};
pub use joins::{MAX_THROTTLED_CALLS, call_edges, genai_throttling, throttling_span_columns};
pub use latest::latest_keys;
pub use rollups::{fine_bucket_clickhouse, rollup_minutes};

use crate::reads::{
    AppScope, Column, Filter, SampleCursor, SampleOrder, SampleQuery, SearchQuery, Selection,
    Source, TimeRange,
};

pub use crate::reads::tabular::{Dialect, Param};

/// A `WHERE` condition and the values for its placeholders, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Condition {
    pub sql: String,
    pub params: Vec<Param>,
}

impl Condition {
    fn and(&mut self, sql: &str, params: impl IntoIterator<Item = Param>) {
        if !self.sql.is_empty() {
            self.sql.push_str(" AND ");
        }
        self.sql.push_str(sql);
        self.params.extend(params);
    }
}

const NS_PER_S: i64 = 1_000_000_000;

/// ` AND appName IN (?, …)` to append to a `WHERE`; nothing for every app.
pub fn and_scope(scope: &AppScope) -> Condition {
    let mut condition = scope_condition(scope);
    if !condition.sql.is_empty() {
        condition.sql = format!(" AND {}", condition.sql);
    }
    condition
}

/// `appName IN (?, …)` for a scope of some apps; nothing for every app.
pub fn scope_condition(scope: &AppScope) -> Condition {
    let mut condition = Condition::default();
    if let AppScope::Only(apps) = scope {
        if apps.is_empty() {
            condition.and("1 = 0", []);
        } else {
            let placeholders = vec!["?"; apps.len()].join(", ");
            condition.and(
                &format!("appName IN ({placeholders})"),
                apps.iter().map(|app| Param::Text(app.clone())),
            );
        }
    }
    condition
}

/// The conditions of a selection: its time range, then each filter.
pub fn selection_condition(selection: &Selection, dialect: Dialect) -> Condition {
    let mut condition = selection_range(selection.range, &selection.scope, dialect);
    let filters = filters_condition(&selection.filters, dialect, "");
    if !filters.sql.is_empty() {
        condition.and(&filters.sql, filters.params);
    }
    condition
}

/// A ClickHouse selection split into what is read first (`PREWHERE`: the lists of values,
/// e.g. a page of sessions, whose few matching rows are all the rest of the read needs) and
/// the rest (`WHERE`). 18.16 does not move such a list there by itself: a day's calls of 100
/// sessions took 52 ms with the list in `WHERE`, 20 ms with it in `PREWHERE`. The prewhere
/// part is empty or starts with `PREWHERE `.
pub fn clickhouse_prewhere(selection: &Selection) -> (Condition, Condition) {
    let (lists, rest): (Vec<Filter>, Vec<Filter>) = selection
        .filters
        .iter()
        .cloned()
        .partition(|filter| matches!(filter, Filter::OneOf(..)));
    let narrowed = Selection {
        filters: rest,
        ..selection.clone()
    };
    let mut prewhere = filters_condition(&lists, Dialect::ClickHouse, "");
    if !prewhere.sql.is_empty() {
        prewhere.sql = format!("PREWHERE {}", prewhere.sql);
    }
    (
        prewhere,
        selection_condition(&narrowed, Dialect::ClickHouse),
    )
}

/// The time range and the app scope: what every read's `WHERE` starts with.
pub fn selection_range(range: TimeRange, scope: &AppScope, dialect: Dialect) -> Condition {
    let mut condition = Condition::default();
    if dialect == Dialect::ClickHouse {
        // The DateTime column is what the partitions and sort keys use.
        condition.and(
            "timestamp >= toDateTime(?, 'UTC') AND timestamp <= toDateTime(?, 'UTC')",
            [
                Param::Int(range.from_ns.div_euclid(NS_PER_S)),
                Param::Int(range.to_ns.div_euclid(NS_PER_S)),
            ],
        );
    }
    condition.and(
        "timestamp_ns >= ? AND timestamp_ns < ?",
        [Param::Int(range.from_ns), Param::Int(range.to_ns)],
    );
    let scope = scope_condition(scope);
    if !scope.sql.is_empty() {
        condition.and(&scope.sql, scope.params);
    }
    condition
}

/// The conditions of filters, on columns of the table aliased `qualifier` (e.g. `c.`) or
/// unqualified (`""`).
pub fn filters_condition(filters: &[Filter], dialect: Dialect, qualifier: &str) -> Condition {
    let q = qualifier;
    let mut condition = Condition::default();
    for filter in filters {
        match filter {
            Filter::Equals(Column::Success, value) => {
                let flag = matches!(value.as_str(), "true" | "1");
                condition.and(&format!("{q}success = ?"), [Param::Int(i64::from(flag))]);
            }
            Filter::Equals(column, value) => {
                condition.and(
                    &format!("{q}{} = ?", column.sql()),
                    [Param::Text(value.clone())],
                );
            }
            Filter::OneOf(_, values) if values.is_empty() => condition.and("1 = 0", []),
            Filter::OneOf(column, values) => condition.and(
                &format!(
                    "{q}{} IN ({})",
                    column.sql(),
                    vec!["?"; values.len()].join(", ")
                ),
                values.iter().map(|value| Param::Text(value.clone())),
            ),
            Filter::NotEmpty(column) => condition.and(&format!("{q}{} != ''", column.sql()), []),
            Filter::NotStartingWith(column, prefix) => condition.and(
                // `substring`/`substr` with `length` exist in SQLite and every ClickHouse.
                &match dialect {
                    Dialect::ClickHouse => {
                        format!("substring({q}{}, 1, length(?)) != ?", column.sql())
                    }
                    Dialect::Sqlite => format!("substr({q}{}, 1, length(?)) != ?", column.sql()),
                },
                [Param::Text(prefix.clone()), Param::Text(prefix.clone())],
            ),
            Filter::Dimension(key, value) => {
                let lookup = format!("{} = ?", metrics::dimension_value(dialect, q));
                condition.and(
                    &lookup,
                    [Param::Text(key.clone()), Param::Text(value.clone())],
                );
            }
            Filter::DurationAtLeast(ms) => {
                condition.and(&format!("{q}duration_ms >= ?"), [Param::Real(*ms)])
            }
            Filter::DurationAtMost(ms) => {
                condition.and(&format!("{q}duration_ms <= ?"), [Param::Real(*ms)])
            }
        }
    }
    condition
}

/// Per-source expressions for the measures, so exceptions aggregate like spans without
/// durations.
pub struct Measures {
    pub duration: &'static str,
    pub success: &'static str,
    pub throttled: &'static str,
    pub input_tokens: &'static str,
    pub output_tokens: &'static str,
}

pub fn measures(source: Source, dialect: Dialect) -> Measures {
    let zero_real = match dialect {
        Dialect::Sqlite => "0.0",
        Dialect::ClickHouse => "toFloat64(0)",
    };
    let zero_count = match dialect {
        Dialect::Sqlite => "0",
        Dialect::ClickHouse => "toUInt64(0)",
    };
    match source {
        Source::Requests | Source::Dependencies => Measures {
            duration: "duration_ms",
            success: "success",
            throttled: "resultCode = '429'",
            input_tokens: if source == Source::Dependencies {
                "genai_inputTokens"
            } else {
                zero_count
            },
            output_tokens: if source == Source::Dependencies {
                "genai_outputTokens"
            } else {
                zero_count
            },
        },
        Source::Exceptions => Measures {
            duration: zero_real,
            success: "0",
            throttled: "0",
            input_tokens: zero_count,
            output_tokens: zero_count,
        },
    }
}

/// A group column as text in either store.
pub fn group_expression(column: Column, dialect: Dialect) -> String {
    match dialect {
        Dialect::ClickHouse => format!("toString({})", column.sql()),
        Dialect::Sqlite => format!("CAST({} AS TEXT)", column.sql()),
    }
}

/// [`crate::reads::throttling::is_throttled_attempt`] in SQL. SQLite's partial index of 429
/// attempts (`dependencies_throttled_parent`) has the same condition, which a statement must
/// repeat for the index to answer it.
pub const THROTTLED_ATTEMPT: &str = "resultCode = '429' AND genai_provider = ''";

/// Tables are written `{requests}` in statements; each store puts its own qualified name there.
pub const TABLES: [&str; 11] = [
    "scores",
    "throttled_attempts",
    "requests",
    "dependencies",
    "traces",
    "exceptions",
    "customEvents",
    "customMetrics",
    "pageViews",
    "availabilityResults",
    "performanceCounters",
];

/// How long after its span a score may be posted and still name the span's model.
const SCORE_AFTER_SPAN_NS: i64 = 7 * 86_400 * NS_PER_S;

/// The scores of a query, newest first: `id, time_ns, appName, operation_Id, span_id, name,
/// data_type, value, category, comment, source, model, prompt_version` — the last two from the
/// scored span when it is an LLM call of the same app and operation (stored in the week before
/// the score), empty otherwise.
pub fn scores(query: &crate::reads::scores::ScoreQuery, dialect: Dialect) -> Condition {
    const COLUMNS: &str = "id, time_ns, appName, operation_Id, span_id, name, data_type, value, \
                           category, comment, source";
    let mut scored = Condition {
        sql: "time_ns >= ? AND time_ns < ?".to_owned(),
        params: vec![
            Param::Int(query.range.from_ns),
            Param::Int(query.range.to_ns),
        ],
    };
    let scope = and_scope(&query.scope);
    scored.sql.push_str(&scope.sql);
    scored.params.extend(scope.params.clone());
    if let Some((app, operation_id)) = &query.operation {
        scored.sql.push_str(" AND appName = ? AND operation_Id = ?");
        scored
            .params
            .extend([Param::Text(app.clone()), Param::Text(operation_id.clone())]);
    }
    let calls_from = Param::Int(query.range.from_ns.saturating_sub(SCORE_AFTER_SPAN_NS));
    let calls_to = Param::Int(query.range.to_ns);
    let mut params = Vec::new();
    let sql = match dialect {
        // One row per score however often the span was stored (resent copies): ANY.
        Dialect::ClickHouse => {
            params.extend(scored.params);
            params.extend([calls_from, calls_to]);
            params.extend(scope.params);
            // One operation's scores join that operation's calls only (the join reads its
            // right side whole).
            let mut calls_scope = scope.sql;
            if let Some((app, operation_id)) = &query.operation {
                calls_scope.push_str(" AND appName = ? AND operation_Id = ?");
                params.extend([Param::Text(app.clone()), Param::Text(operation_id.clone())]);
            }
            format!(
                "SELECT {COLUMNS}, model, prompt_version FROM \
                 (SELECT {COLUMNS} FROM {{scores}} WHERE {}) AS scored \
                 ANY LEFT JOIN \
                 (SELECT appName, operation_Id, id AS span_id, genai_requestModel AS model, \
                         genai_promptVersion AS prompt_version \
                  FROM {{dependencies}} \
                  WHERE timestamp_ns >= ? AND timestamp_ns < ?{} AND genai_provider != '') AS calls \
                 USING (appName, operation_Id, span_id) \
                 ORDER BY time_ns DESC, id LIMIT ?",
                scored.sql, calls_scope
            )
        }
        Dialect::Sqlite => {
            let call = |column: &str| {
                format!(
                    "COALESCE((SELECT d.{column} FROM {{dependencies}} AS d \
                     WHERE d.operation_Id = s.operation_Id AND d.appName = s.appName \
                     AND d.id = s.span_id AND s.span_id != '' AND d.genai_provider != '' \
                     AND d.timestamp_ns >= ? AND d.timestamp_ns < ? LIMIT 1), '')"
                )
            };
            params.extend([calls_from.clone(), calls_to.clone(), calls_from, calls_to]);
            params.extend(scored.params);
            format!(
                "SELECT {COLUMNS}, {}, {} FROM {{scores}} AS s WHERE {} \
                 ORDER BY time_ns DESC, id LIMIT ?",
                call("genai_requestModel"),
                call("genai_promptVersion"),
                scored.sql
            )
        }
    };
    params.push(limit_param(query.limit));
    Condition { sql, params }
}

/// Replaces the `{table}` placeholders with `qualified(table)`.
pub fn qualify(sql: &str, qualified: impl Fn(&str) -> String) -> String {
    TABLES.iter().fold(sql.to_owned(), |sql, table| {
        sql.replace(&format!("{{{table}}}"), &qualified(table))
    })
}

fn limit_param(limit: usize) -> Param {
    Param::Int(i64::try_from(limit).unwrap_or(i64::MAX))
}

/// The columns a sample row reads, for either span table.
fn sample_columns(source: Source) -> &'static str {
    match source {
        Source::Dependencies => {
            "timestamp_ns, id, operation_Id, name, target, resultCode, success, duration_ms, \
             cloud_RoleName"
        }
        _ => {
            "timestamp_ns, id, operation_Id, name, '' AS target, resultCode, success, \
             duration_ms, cloud_RoleName"
        }
    }
}

/// A page of samples: the statement, newest or slowest first from the cursor on.
pub fn samples(query: &SampleQuery, dialect: Dialect) -> Condition {
    let (mut statement, order) = sample_page(query, dialect);
    let source = query.selection.source;
    statement.sql = format!(
        "SELECT {} FROM {{{}}} WHERE {} ORDER BY {order} LIMIT ?",
        sample_columns(source),
        source.table(),
        statement.sql
    );
    statement.params.push(limit_param(query.limit));
    statement
}

/// `WHERE` condition (with the cursor) and `ORDER BY` of a page of samples.
fn sample_page(query: &SampleQuery, dialect: Dialect) -> (Condition, &'static str) {
    let mut condition = selection_condition(&query.selection, dialect);
    match &query.after {
        Some(SampleCursor::Newest { timestamp_ns, id }) => condition.and(
            "(timestamp_ns < ? OR (timestamp_ns = ? AND id < ?))",
            [
                Param::Int(*timestamp_ns),
                Param::Int(*timestamp_ns),
                Param::Text(id.clone()),
            ],
        ),
        Some(SampleCursor::Slowest { duration_ms, id }) => condition.and(
            "(duration_ms < ? OR (duration_ms = ? AND id < ?))",
            [
                Param::Real(*duration_ms),
                Param::Real(*duration_ms),
                Param::Text(id.clone()),
            ],
        ),
        None => {}
    }
    let order = match query.order {
        SampleOrder::Newest => "timestamp_ns DESC, id DESC",
        SampleOrder::Slowest => "duration_ms DESC, id DESC",
    };
    (condition, order)
}

/// A page of log lines (or exceptions) newest first, from the cursor on.
pub fn search(query: &SearchQuery, exceptions: bool, dialect: Dialect) -> Condition {
    let mut statement = search_condition(query, exceptions, dialect);
    statement.sql = format!(
        "SELECT {} FROM {{{}}} WHERE {} ORDER BY timestamp_ns DESC, itemId DESC LIMIT ?",
        search_columns(exceptions),
        if exceptions { "exceptions" } else { "traces" },
        statement.sql
    );
    statement.params.push(limit_param(query.limit));
    statement
}

/// The columns a search hit reads from `traces` or `exceptions`.
fn search_columns(exceptions: bool) -> &'static str {
    if exceptions {
        "timestamp_ns, itemId, operation_Id, operation_ParentId, severityLevel, cloud_RoleName, \
         message, type, problemId"
    } else {
        "timestamp_ns, itemId, operation_Id, operation_ParentId, severityLevel, cloud_RoleName, \
         message, '' AS type, '' AS problemId"
    }
}

/// The conditions of a search in `traces` (or `exceptions`, whose type matches the text too).
fn search_condition(query: &SearchQuery, exceptions: bool, dialect: Dialect) -> Condition {
    // Log lines have no exception columns: a filter on one matches none of them.
    let exception_only = |filter: &Filter| {
        matches!(
            filter,
            Filter::Equals(Column::ExceptionType | Column::ProblemId, _)
                | Filter::NotEmpty(Column::ExceptionType | Column::ProblemId)
                | Filter::NotStartingWith(Column::ExceptionType | Column::ProblemId, _)
        )
    };
    let selection = Selection {
        source: Source::Exceptions,
        range: query.range,
        scope: query.scope.clone(),
        filters: query.filters.clone(),
    };
    let mut condition = selection_condition(&selection, dialect);
    if !exceptions && query.filters.iter().any(exception_only) {
        condition.and("1 = 0", []);
    }
    if let Some(text) = &query.text {
        let contains = |column: &str| match dialect {
            Dialect::ClickHouse => format!("positionCaseInsensitive({column}, ?) > 0"),
            Dialect::Sqlite => format!("instr(lower({column}), lower(?)) > 0"),
        };
        if exceptions {
            condition.and(
                &format!("({} OR {})", contains("message"), contains("type")),
                [Param::Text(text.clone()), Param::Text(text.clone())],
            );
        } else {
            condition.and(&contains("message"), [Param::Text(text.clone())]);
        }
    }
    if let Some(level) = query.min_severity {
        condition.and("severityLevel >= ?", [Param::Int(i64::from(level))]);
    }
    if let Some(role) = &query.role {
        condition.and("cloud_RoleName = ?", [Param::Text(role.clone())]);
    }
    if let Some(operation) = &query.operation_id {
        condition.and("operation_Id = ?", [Param::Text(operation.clone())]);
    }
    if let Some((timestamp_ns, item_id)) = &query.after {
        condition.and(
            "(timestamp_ns < ? OR (timestamp_ns = ? AND itemId < ?))",
            [
                Param::Int(*timestamp_ns),
                Param::Int(*timestamp_ns),
                Param::Text(item_id.clone()),
            ],
        );
    }
    condition
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_values_only_ever_become_parameters() {
        let hostile = "x' OR 1=1; DROP TABLE requests; --";
        let selection = Selection {
            source: Source::Requests,
            range: crate::reads::TimeRange {
                from_ns: 0,
                to_ns: 10,
            },
            scope: AppScope::Only(vec![hostile.into(), "b".into()]),
            filters: vec![
                Filter::Equals(Column::Name, hostile.into()),
                Filter::Dimension(hostile.into(), hostile.into()),
                Filter::OneOf(Column::SessionId, vec![hostile.into(), "s".into()]),
            ],
        };
        for dialect in [Dialect::Sqlite, Dialect::ClickHouse] {
            let condition = selection_condition(&selection, dialect);
            assert!(!condition.sql.contains("DROP"), "{}", condition.sql);
            assert_eq!(
                condition.sql.matches('?').count(),
                condition.params.len(),
                "{}",
                condition.sql
            );
        }
    }

    #[test]
    fn lists_of_values_are_read_first_on_clickhouse() {
        let selection = Selection {
            source: Source::Dependencies,
            range: crate::reads::TimeRange {
                from_ns: 0,
                to_ns: 10,
            },
            scope: AppScope::Only(vec!["shop".into()]),
            filters: vec![
                Filter::NotEmpty(Column::GenAiProvider),
                Filter::OneOf(Column::SessionId, vec!["s1".into(), "s2".into()]),
            ],
        };
        let (prewhere, rest) = clickhouse_prewhere(&selection);
        assert_eq!(prewhere.sql, "PREWHERE session_Id IN (?, ?)");
        assert_eq!(prewhere.params.len(), 2);
        assert!(!rest.sql.contains("session_Id"), "{}", rest.sql);
        assert!(rest.sql.contains("genai_provider != ''"), "{}", rest.sql);
        assert_eq!(rest.sql.matches('?').count(), rest.params.len());
        let without = Selection {
            filters: Vec::new(),
            ..selection
        };
        let (prewhere, rest) = clickhouse_prewhere(&without);
        assert!(prewhere.sql.is_empty() && prewhere.params.is_empty());
        assert_eq!(rest, selection_condition(&without, Dialect::ClickHouse));
    }

    #[test]
    fn one_of_no_values_matches_nothing() {
        for dialect in [Dialect::Sqlite, Dialect::ClickHouse] {
            let condition =
                filters_condition(&[Filter::OneOf(Column::SessionId, Vec::new())], dialect, "");
            assert_eq!(
                (condition.sql.as_str(), condition.params.len()),
                ("1 = 0", 0)
            );
        }
    }
}
