//! Running a KQL query: planned on a thread with a deep stack, read from the store, answered
//! as a result table. The query API and the alert evaluator both run queries through it.

use super::tables::Registry;
use super::{KqlError, PlannedQuery, QueryContext, ResultTable};
use crate::reads::{AppScope, TimeRange};
use crate::store::{Dialect, Store, StoreError};

/// Why a query got no answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Kql(#[from] KqlError),
    #[error(
        "invalid timespan {0:?}: expected an ISO 8601 duration (PT1H) or interval (<start>/<end>)"
    )]
    Timespan(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Plans `text` for the store, runs it, and reads the rows back.
pub async fn run_query(
    store: &dyn Store,
    scope: &AppScope,
    text: &str,
    timespan: Option<&str>,
    now_ns: i64,
) -> Result<ResultTable, QueryError> {
    let timespan = timespan
        .map(|t| {
            super::values::parse_timespan(t, now_ns)
                .ok_or_else(|| QueryError::Timespan(t.to_owned()))
        })
        .transpose()?;
    run_over(store, scope, text, timespan, now_ns).await
}

/// Runs `text` over `timespan` (every stored row when `None`).
pub async fn run_over(
    store: &dyn Store,
    scope: &AppScope,
    text: &str,
    timespan: Option<TimeRange>,
    now_ns: i64,
) -> Result<ResultTable, QueryError> {
    let planned = plan_on_big_stack(text, scope, timespan, store.dialect(), now_ns).await?;
    let rows = store.tabular(&planned.statement).await?;
    Ok(ResultTable::new(&planned, rows))
}

/// Stack for parsing and planning: both recurse once per nesting level, and the deepest
/// query the parser accepts needs more than a tokio worker's 2 MiB in a debug build.
const PLAN_STACK_BYTES: usize = 16 << 20;

/// Parses and plans on a thread of its own with [`PLAN_STACK_BYTES`] of stack.
async fn plan_on_big_stack(
    text: &str,
    scope: &AppScope,
    timespan: Option<TimeRange>,
    dialect: Dialect,
    now_ns: i64,
) -> Result<PlannedQuery, QueryError> {
    let (text, scope) = (text.to_owned(), scope.clone());
    let planning = move || {
        let registry = Registry::app_insights();
        let ctx = QueryContext {
            dialect,
            now_ns,
            scope: &scope,
            timespan,
            registry: &registry,
        };
        super::plan(&text, &ctx)
    };
    let joined = tokio::task::spawn_blocking(move || {
        std::thread::Builder::new()
            .name("kql-plan".into())
            .stack_size(PLAN_STACK_BYTES)
            .spawn(planning)
            .map(|thread| thread.join())
    })
    .await;
    match joined {
        Ok(Ok(Ok(planned))) => Ok(planned?),
        _ => Err(QueryError::Store(StoreError::Internal(
            "the query planner thread failed".into(),
        ))),
    }
}
