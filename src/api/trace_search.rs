//! Trace search for the Tempo and Jaeger APIs: a TraceQL query narrowed in the store (one KQL
//! read per spanset of what its conditions allow: names, durations, failures, attribute
//! equalities), then each candidate trace loaded whole and matched exactly by the evaluator.
//! The store only narrows, so a condition it cannot express never loses a match.

use std::collections::HashSet;

use futures_util::future::try_join_all;

use super::{ApiError, ApiState};
use crate::kql::print::string as kql_string;
use crate::kql::run::{QueryError, run_over};
use crate::query::otlp_trace::{TraceSpan, is_resource_key, rebuild};
use crate::reads::{AppScope, TimeRange};
use crate::traceql::eval::{Matcher, TraceFacts};
use crate::traceql::{
    CompareOp, Comparison, Field, FieldExpr, Intrinsic, Literal, Scope, SpansetExpr,
};

/// The service name as the trace APIs rebuild it (`service.name` where normalization kept it,
/// else the role), in KQL.
pub const SERVICE_KQL: &str = "iff(isempty(tostring(customDimensions[\"service.name\"])), \
    cloud_RoleName, tostring(customDimensions[\"service.name\"]))";

/// Candidate traces read per spanset, newest first.
const CANDIDATES_PER_SPANSET: usize = 2_000;
/// Most candidate traces loaded and matched for one search: a query the store cannot narrow
/// (regexes only, trace-level intrinsics) examines at most this many recent traces.
pub const MAX_EXAMINED: usize = 400;
/// Traces loaded at once.
const LOAD_CONCURRENCY: usize = 16;

/// A trace the query matched: all its spans, and which of them matched.
#[derive(Debug, Clone)]
pub struct FoundTrace {
    pub spans: Vec<TraceSpan>,
    pub matched: Vec<usize>,
    pub facts: TraceFacts,
}

impl FoundTrace {
    pub fn start_ns(&self) -> i64 {
        self.spans.iter().map(|s| s.start_ns).min().unwrap_or(0)
    }
}

/// What the search looked at, for Tempo's `metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SearchMetrics {
    pub inspected_traces: usize,
}

/// The traces in `range` matching `query`, newest first, at most `limit`.
pub async fn search(
    state: &ApiState,
    scope: &AppScope,
    query: &SpansetExpr,
    range: TimeRange,
    limit: usize,
) -> Result<(Vec<FoundTrace>, SearchMetrics), ApiError> {
    let matcher =
        Matcher::new(query).map_err(|e| ApiError::invalid("q", &format!("invalid regex: {e}")))?;
    let candidates = candidates(state, scope, query, range).await?;
    let mut metrics = SearchMetrics::default();
    let mut found = Vec::new();
    for chunk in candidates
        .chunks(LOAD_CONCURRENCY)
        .take(MAX_EXAMINED / LOAD_CONCURRENCY)
    {
        let loads = chunk.iter().map(|(app, operation_id)| async move {
            let items = state.store.operation(app, operation_id).await?;
            Ok::<_, ApiError>(rebuild(app, &items))
        });
        for spans in try_join_all(loads).await? {
            metrics.inspected_traces += 1;
            let matched = matcher.matches(&spans);
            if !matched.is_empty() {
                let facts = TraceFacts::of(&spans);
                found.push(FoundTrace {
                    spans,
                    matched,
                    facts,
                });
            }
        }
        if found.len() >= limit {
            break;
        }
    }
    found.sort_by_key(|t| std::cmp::Reverse(t.start_ns()));
    found.truncate(limit);
    Ok((found, metrics))
}

/// (app, operation id) of the traces that may match, newest first.
async fn candidates(
    state: &ApiState,
    scope: &AppScope,
    query: &SpansetExpr,
    range: TimeRange,
) -> Result<Vec<(String, String)>, ApiError> {
    match query {
        SpansetExpr::Filter(filter) => {
            let condition = filter.expr.as_ref().and_then(pushdown);
            spanset_candidates(state, scope, condition.as_deref(), range).await
        }
        SpansetExpr::And(left, right) => {
            let (left, right) = futures_util::future::try_join(
                Box::pin(candidates(state, scope, left, range)),
                Box::pin(candidates(state, scope, right, range)),
            )
            .await?;
            let right: HashSet<_> = right.into_iter().collect();
            Ok(left.into_iter().filter(|c| right.contains(c)).collect())
        }
        SpansetExpr::Or(left, right) => {
            let (left, right) = futures_util::future::try_join(
                Box::pin(candidates(state, scope, left, range)),
                Box::pin(candidates(state, scope, right, range)),
            )
            .await?;
            let mut seen = HashSet::new();
            // Interleaved, so neither side's newest traces crowd out the other's.
            let mut merged = Vec::new();
            let (mut l, mut r) = (left.into_iter(), right.into_iter());
            loop {
                let (a, b) = (l.next(), r.next());
                if a.is_none() && b.is_none() {
                    break;
                }
                for c in [a, b].into_iter().flatten() {
                    if seen.insert(c.clone()) {
                        merged.push(c);
                    }
                }
            }
            Ok(merged)
        }
    }
}

async fn spanset_candidates(
    state: &ApiState,
    scope: &AppScope,
    condition: Option<&str>,
    range: TimeRange,
) -> Result<Vec<(String, String)>, ApiError> {
    let filter = condition
        .map(|c| format!("| where {c} "))
        .unwrap_or_default();
    let text = format!(
        "union requests, dependencies {filter}| summarize start = min(timestamp) by operation_Id, appName \
         | top {CANDIDATES_PER_SPANSET} by start desc"
    );
    let table = run_kql(state, scope, &text, range).await?;
    Ok(table
        .rows
        .into_iter()
        .filter_map(|row| {
            let operation = row.first()?.as_str()?.to_owned();
            let app = row.get(1)?.as_str()?.to_owned();
            Some((app, operation))
        })
        .collect())
}

/// Runs a KQL statement tracehouse wrote itself; its failures are ours, not the client's.
pub async fn run_kql(
    state: &ApiState,
    scope: &AppScope,
    text: &str,
    range: TimeRange,
) -> Result<crate::kql::ResultTable, ApiError> {
    run_over(
        state.store.as_ref(),
        scope,
        text,
        Some(range),
        crate::clock::now_ns(),
    )
    .await
    .map_err(|error| match error {
        QueryError::Store(e) => ApiError::Store(e),
        other => ApiError::Store(crate::store::StoreError::Internal(format!(
            "trace search query {text:?}: {other}"
        ))),
    })
}

/// A KQL condition every span matching `expr` meets (a superset), or `None` when the store
/// cannot narrow it.
fn pushdown(expr: &FieldExpr) -> Option<String> {
    match expr {
        FieldExpr::And(left, right) => match (pushdown(left), pushdown(right)) {
            (Some(l), Some(r)) => Some(format!("({l}) and ({r})")),
            (one, other) => one.or(other),
        },
        FieldExpr::Or(left, right) => {
            Some(format!("({}) or ({})", pushdown(left)?, pushdown(right)?))
        }
        FieldExpr::Compare(c) => comparison(c),
    }
}

/// Slack on pushed-down durations: stored milliseconds are floats.
const DURATION_SLACK_MS: f64 = 0.001;

fn comparison(c: &Comparison) -> Option<String> {
    match (&c.field, c.op, &c.value) {
        (Field::Intrinsic(Intrinsic::Name), CompareOp::Eq, Literal::String(name)) => Some(format!(
            "name == {v} or tostring(customDimensions[\"_OTel.name\"]) == {v}",
            v = kql_string(name)
        )),
        (Field::Intrinsic(Intrinsic::Duration), op, Literal::Duration(ns)) => {
            let ms = *ns as f64 / 1e6;
            match op {
                CompareOp::Gt | CompareOp::Ge => {
                    Some(format!("duration >= {:?}", ms - DURATION_SLACK_MS))
                }
                CompareOp::Lt | CompareOp::Le => {
                    Some(format!("duration <= {:?}", ms + DURATION_SLACK_MS))
                }
                _ => None,
            }
        }
        // An error status always fails the row; other statuses can be on either.
        (
            Field::Intrinsic(Intrinsic::Status),
            CompareOp::Eq,
            Literal::Status(crate::model::otel_span::SpanStatus::Error),
        ) => Some("success == false".to_owned()),
        (Field::Attribute { scope, name }, CompareOp::Eq, value) => {
            let key = kql_string(name);
            // Numbers compare as numbers, as the evaluator does ("429.0" = 429).
            let (value, in_dimensions) = match value {
                Literal::String(s) => {
                    let v = kql_string(s);
                    (
                        v.clone(),
                        format!("tostring(customDimensions[{key}]) == {v}"),
                    )
                }
                Literal::Bool(b) => (
                    kql_string(&b.to_string()),
                    format!("tostring(customDimensions[{key}]) == \"{b}\""),
                ),
                Literal::Int(i) => (
                    i.to_string(),
                    format!("todouble(customDimensions[{key}]) == {i}"),
                ),
                Literal::Float(f) => (
                    format!("{f:?}"),
                    format!("todouble(customDimensions[{key}]) == {f:?}"),
                ),
                _ => return None,
            };
            match (scope, name.as_str()) {
                (Scope::Resource | Scope::Any, "service.name")
                    if matches!(c.value, Literal::String(_)) =>
                {
                    Some(format!("cloud_RoleName == {value} or {in_dimensions}"))
                }
                // Rebuilt from columns, not kept in the dimensions.
                (Scope::Resource | Scope::Any, key)
                    if key.starts_with("service.") || key.starts_with("telemetry.sdk.") =>
                {
                    None
                }
                (Scope::Span, key) if is_resource_key(key) => None,
                _ => Some(in_dimensions),
            }
        }
        _ => None,
    }
}
