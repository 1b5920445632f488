//! `GET /api/v1/operations/{operation_id}`: one end-to-end transaction as a tree.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use serde_json::json;

use super::params::{ParamSpec, Params};
use super::{ApiError, ApiState, ok};
use crate::query::tree;
use crate::time::format_instant;

pub const PARAMS: &[ParamSpec] = &[];

/// Operation ids are W3C trace ids (32 hex digits) or Application Insights ids (shorter,
/// sometimes with `|`, `.`, `-`); nothing else is looked up.
pub fn valid_operation_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"|.-_:".contains(&b))
}

pub async fn transaction(
    State(state): State<ApiState>,
    Path(operation_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    Params::parse(raw.as_deref(), PARAMS, crate::clock::now_ns())?;
    if !valid_operation_id(&operation_id) {
        return Err(ApiError::invalid(
            "operation_id",
            "must be 1 to 128 letters, digits or |.-_:",
        ));
    }
    let items = state.store.operation(&operation_id).await?;
    let transaction = tree::assemble(&operation_id, items).ok_or_else(|| {
        ApiError::NotFound(format!("no telemetry for operation {operation_id:?}"))
    })?;
    let mut body = serde_json::to_value(&transaction)
        .map_err(|e| ApiError::Store(crate::store::StoreError::Internal(e.to_string())))?;
    body["start"] = json!(format_instant(transaction.start_ns));
    Ok(ok(body))
}
