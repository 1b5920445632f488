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
use crate::kql::run::{QueryError, run_query};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    pub query: String,
    /// ISO 8601: `PT1H`, `<start>/<end>`, `<start>/PT1H`.
    pub timespan: Option<String>,
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
