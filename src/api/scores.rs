//! `POST /api/v1/scores`: evaluations of an operation or span — user feedback, an LLM judge's
//! verdict — authenticated by instrumentation key like ingest (the key's app owns the score);
//! `GET /api/v1/scores`: scores per name and source over a range, scoped like every read.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::access::Access;
use super::params::{FROM, INTERVAL, LIMIT, ParamSpec, ParamType, Params, TO};
use super::{ApiError, ApiState, ok};
use crate::ingest::auth::{AuthError, presented_key};
use crate::query::scores::{ScoreGrouping, summarize};
use crate::reads::scores::{ScoreQuery, ScoreRecord, ScoreType};
use crate::time::format_instant;

/// Scores one request may carry.
pub const MAX_SCORES: usize = 1_000;
/// Scores read for one summary; past it the answer says `truncated`.
const MAX_READ: usize = 200_000;
const MAX_TEXT: usize = 256;
const MAX_COMMENT: usize = 4_096;

pub const PARAMS: &[ParamSpec] = &[
    FROM,
    TO,
    INTERVAL,
    ParamSpec {
        name: "name",
        kind: ParamType::String,
        description: "only scores of this name",
    },
    ParamSpec {
        name: "group_by",
        kind: ParamType::String,
        description: "also by the scored LLM call's `model` and/or `prompt_version` (comma-separated)",
    },
    LIMIT,
];

/// A score as clients post it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PostedScore {
    operation_id: String,
    #[serde(default)]
    span_id: String,
    name: String,
    value: Value,
    #[serde(default)]
    comment: String,
    #[serde(default = "api_source")]
    source: String,
    /// Given by clients that retry, so a resent score is recognisable; generated otherwise.
    #[serde(default)]
    id: Option<String>,
}

fn api_source() -> String {
    "api".to_owned()
}

fn checked_text(field: &str, text: &str, max: usize, index: usize) -> Result<(), ApiError> {
    if text.len() > max {
        return Err(ApiError::invalid(
            "body",
            &format!("score {index}: {field} is longer than {max} bytes"),
        ));
    }
    Ok(())
}

/// Checks one posted score and turns it into a stored one.
fn score_of(
    posted: PostedScore,
    index: usize,
    app: &str,
    now_ns: i64,
) -> Result<ScoreRecord, ApiError> {
    let bad = |message: &str| ApiError::invalid("body", &format!("score {index}: {message}"));
    if !crate::api::transaction::valid_operation_id(&posted.operation_id) {
        return Err(bad(
            "operation_id must be 1 to 128 letters, digits or |.-_:",
        ));
    }
    if posted.name.trim().is_empty() {
        return Err(bad("name is empty"));
    }
    for (field, text, max) in [
        ("name", &posted.name, MAX_TEXT),
        ("span_id", &posted.span_id, MAX_TEXT),
        ("comment", &posted.comment, MAX_COMMENT),
    ] {
        checked_text(field, text, max, index)?;
    }
    if !matches!(posted.source.as_str(), "human" | "llm-judge" | "api") {
        return Err(bad(&format!(
            "source {:?} is not human, llm-judge or api",
            posted.source
        )));
    }
    let (data_type, value, category) = match &posted.value {
        Value::Bool(b) => (ScoreType::Boolean, f64::from(u8::from(*b)), String::new()),
        Value::Number(n) => match n.as_f64().filter(|x| x.is_finite()) {
            Some(x) => (ScoreType::Numeric, x, String::new()),
            None => return Err(bad("value is not a finite number")),
        },
        Value::String(text) if !text.is_empty() => {
            checked_text("value", text, MAX_TEXT, index)?;
            (ScoreType::Categorical, 0.0, text.clone())
        }
        _ => return Err(bad("value must be a number, true/false or a category name")),
    };
    let id = match posted.id {
        Some(id) => {
            checked_text("id", &id, MAX_TEXT, index)?;
            id
        }
        None => crate::pipeline::new_batch_id().to_string(),
    };
    Ok(ScoreRecord {
        id,
        time_ns: now_ns,
        app: app.to_owned(),
        operation_id: posted.operation_id,
        span_id: posted.span_id,
        name: posted.name,
        data_type,
        value,
        category,
        comment: posted.comment,
        source: posted.source,
        // Read from the scored span with the score.
        model: String::new(),
        prompt_version: String::new(),
    })
}

/// Every score of a body (one object or an array), or the first problem.
pub fn parse_scores(body: &[u8], app: &str, now_ns: i64) -> Result<Vec<ScoreRecord>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid("body", &format!("is not JSON: {e}")))?;
    let items = match value {
        Value::Array(items) => items,
        single @ Value::Object(_) => vec![single],
        _ => {
            return Err(ApiError::invalid(
                "body",
                "must be a score or an array of them",
            ));
        }
    };
    if items.len() > MAX_SCORES {
        return Err(ApiError::invalid(
            "body",
            &format!(
                "holds {} scores; at most {MAX_SCORES} per request",
                items.len()
            ),
        ));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let posted: PostedScore = serde_json::from_value(item)
                .map_err(|e| ApiError::invalid("body", &format!("score {index}: {e}")))?;
            score_of(posted, index, app, now_ns)
        })
        .collect()
}

pub async fn post_scores(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let identity = state
        .ingest_keys
        .authenticate(presented_key(&headers))
        .await
        .map_err(|e| match e {
            AuthError::NotLoaded(message) => {
                ApiError::Store(crate::store::StoreError::Unavailable(message))
            }
            other => ApiError::Unauthenticated(other.to_string()),
        })?;
    let scores = parse_scores(&body, &identity.app_name, crate::clock::now_ns())?;
    state.store.save_scores(&scores).await?;
    let ids: Vec<&str> = scores.iter().map(|s| s.id.as_str()).collect();
    Ok(ok(json!({ "accepted": scores.len(), "ids": ids })))
}

pub async fn get_scores(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), PARAMS, crate::clock::now_ns())?;
    let range = params.range()?;
    let interval_s = params.interval_s(range)?;
    let limit = params.limit(100, 1_000)?;
    let mut scores = state
        .store
        .scores(&ScoreQuery {
            range,
            scope: access.scope.clone(),
            operation: None,
            limit: MAX_READ + 1,
        })
        .await?;
    let truncated_read = scores.len() > MAX_READ;
    scores.truncate(MAX_READ);
    if let Some(name) = params.get("name") {
        scores.retain(|s| s.name == name);
    }
    let mut by = ScoreGrouping::default();
    for column in params
        .get("group_by")
        .unwrap_or("")
        .split(',')
        .filter(|c| !c.is_empty())
    {
        match column {
            "model" => by.model = true,
            "prompt_version" => by.prompt_version = true,
            other => {
                return Err(ApiError::invalid(
                    "group_by",
                    &format!("has {other:?}; scores group by model and prompt_version"),
                ));
            }
        }
    }
    let mut rows = summarize(
        &scores,
        interval_s.map(|s| i64::from(s) * 1_000_000_000),
        by,
    );
    let truncated = truncated_read || rows.len() > limit;
    rows.truncate(limit);
    let rows: Vec<Value> = rows
        .iter()
        .map(|row| {
            let mut value = json!(row);
            if let Some(series) = value.get_mut("series").and_then(Value::as_array_mut) {
                for point in series {
                    if let Some(ns) = point["bucket_ns"].as_i64() {
                        point["bucket"] = json!(format_instant(ns));
                    }
                }
            }
            value
        })
        .collect();
    Ok(ok(json!({
        "from": format_instant(range.from_ns),
        "to": format_instant(range.to_ns),
        "rows": rows,
        "truncated": truncated,
    })))
}
