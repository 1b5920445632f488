//! `POST /api/v1/query` (and `GET ?query=`): KQL over every table, answered in the Log
//! Analytics query API's shape. The caller's token decides which apps' rows it reads.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::access::Access;
use super::{ApiError, ApiState};
use crate::kql::tables::Registry;
use crate::kql::{self, KqlError, QueryContext, ResultTable};
use crate::reads::AppScope;
use crate::store::{Store, StoreError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    pub query: String,
    /// ISO 8601: `PT1H`, `<start>/<end>`, `<start>/PT1H`.
    pub timespan: Option<String>,
}

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
            kql::values::parse_timespan(t, now_ns).ok_or_else(|| QueryError::Timespan(t.to_owned()))
        })
        .transpose()?;
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
    timespan: Option<crate::reads::TimeRange>,
    dialect: crate::store::Dialect,
    now_ns: i64,
) -> Result<kql::PlannedQuery, QueryError> {
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
        kql::plan(&text, &ctx)
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

pub async fn post(State(state): State<ApiState>, access: Access, body: Bytes) -> Response {
    match serde_json::from_slice::<QueryRequest>(&body) {
        Ok(request) => answer(&state, &access, &request).await,
        Err(error) => bad_argument(&format!(
            "the body must be JSON {{\"query\": \"<KQL>\", \"timespan\": \"PT1H\"}}: {error}"
        )),
    }
}

pub async fn get(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut query = None;
    let mut timespan = None;
    for (key, value) in form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes()) {
        let slot = match key.as_ref() {
            "query" => &mut query,
            "timespan" => &mut timespan,
            other => {
                return bad_argument(&format!(
                    "{other:?} is not a parameter of this endpoint (query, timespan)"
                ));
            }
        };
        if slot.replace(value.into_owned()).is_some() {
            return bad_argument(&format!("{key:?} is given more than once"));
        }
    }
    let Some(query) = query else {
        return bad_argument("the KQL query is missing: ?query=<KQL>");
    };
    answer(&state, &access, &QueryRequest { query, timespan }).await
}

fn bad_argument(message: &str) -> Response {
    let body = json!({ "error": { "code": "BadArgument", "message": message, "position": null }});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

async fn answer(state: &ApiState, access: &Access, request: &QueryRequest) -> Response {
    let result = run_query(
        state.store.as_ref(),
        &access.scope,
        &request.query,
        request.timespan.as_deref(),
        crate::clock::now_ns(),
    )
    .await;
    match result {
        Ok(table) => (StatusCode::OK, Json(table.to_json())).into_response(),
        Err(error) => error_response(error),
    }
}

pub fn error_response(error: QueryError) -> Response {
    match error {
        QueryError::Kql(error) => {
            let body = json!({ "error": {
                "code": error.code.name(),
                "message": error.to_string(),
                "position": { "line": error.pos.line, "column": error.pos.column },
            }});
            (StatusCode::BAD_REQUEST, Json(body)).into_response()
        }
        QueryError::Timespan(_) => bad_argument(&error.to_string()),
        QueryError::Store(error) => ApiError::Store(error).into_response(),
    }
}
