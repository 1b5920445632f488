//! `GET /api/v1/operations/{operation_id}`: one end-to-end transaction as a tree.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use serde_json::json;

use super::access::Access;
use super::params::{ParamSpec, ParamType, Params, param};
use super::{ApiError, ApiState, ok};
use crate::query::tree;
use crate::time::format_instant;

pub const PARAMS: &[ParamSpec] = &[param(
    "app",
    ParamType::String,
    "the app whose transaction this is; needed only when telemetry of several apps you may read carries this operation id",
)];

/// Operation ids are W3C trace ids (32 hex digits) or Application Insights ids (shorter,
/// sometimes with `|`, `.`, `-`); nothing else is looked up.
pub fn valid_operation_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"|.-_:".contains(&b))
}

/// A transaction is identified by (app, operation id): another app's spans under the same id
/// never join it, whatever ids they claim.
pub async fn transaction(
    State(state): State<ApiState>,
    access: Access,
    Path(operation_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), PARAMS, crate::clock::now_ns())?;
    if !valid_operation_id(&operation_id) {
        return Err(ApiError::invalid(
            "operation_id",
            "must be 1 to 128 letters, digits or |.-_:",
        ));
    }
    let not_found = || ApiError::NotFound(format!("no telemetry for operation {operation_id:?}"));
    let apps = state
        .store
        .operation_apps(&access.scope, &operation_id)
        .await?;
    let app = match (params.get("app"), apps.as_slice()) {
        (Some(app), _) => apps.iter().find(|a| *a == app).ok_or_else(not_found)?,
        (None, []) => return Err(not_found()),
        (None, [only]) => only,
        (None, several) => {
            return Err(ApiError::invalid(
                "app",
                &format!(
                    "operation {operation_id:?} has telemetry of {} apps ({}): choose one",
                    several.len(),
                    several
                        .iter()
                        .map(|a| format!("{a:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    };
    let items = state.store.operation(app, &operation_id).await?;
    let transaction = tree::assemble(&operation_id, items).ok_or_else(not_found)?;
    let mut body = serde_json::to_value(&transaction)
        .map_err(|e| ApiError::Store(crate::store::StoreError::Internal(e.to_string())))?;
    body["start"] = json!(format_instant(transaction.start_ns));
    body["app"] = json!(app);
    body["other_apps"] = json!(apps.iter().filter(|a| *a != app).collect::<Vec<_>>());
    Ok(ok(body))
}
