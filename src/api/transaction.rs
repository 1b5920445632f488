//! `GET /api/v1/operations/{operation_id}`: one end-to-end transaction as a tree.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use serde_json::json;

use super::access::Access;
use super::params::{ParamSpec, ParamType, Params, param};
use super::{ApiError, ApiState, ok};
use crate::query::tree;
use crate::reads::AppScope;
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
    let loaded = load(&state, &access.scope, &operation_id, params.get("app")).await?;
    let transaction = loaded.transaction;
    let mut body = serde_json::to_value(&transaction)
        .map_err(|e| ApiError::Store(crate::store::StoreError::Internal(e.to_string())))?;
    body["start"] = json!(format_instant(transaction.start_ns));
    body["app"] = json!(loaded.app);
    body["other_apps"] = json!(loaded.other_apps);
    body["findings"] = json!(crate::query::findings::findings(&transaction));
    Ok(ok(body))
}

/// A transaction and which app's it is.
pub struct Loaded {
    pub transaction: tree::Transaction,
    pub app: String,
    /// Other apps in scope with telemetry under the same operation id.
    pub other_apps: Vec<String>,
}

/// The transaction of `operation_id` in `app`, or in the one app of `scope` that has it.
pub async fn load(
    state: &ApiState,
    scope: &AppScope,
    operation_id: &str,
    app: Option<&str>,
) -> Result<Loaded, ApiError> {
    if !valid_operation_id(operation_id) {
        return Err(ApiError::invalid(
            "operation_id",
            "must be 1 to 128 letters, digits or |.-_:",
        ));
    }
    let not_found = || ApiError::NotFound(format!("no telemetry for operation {operation_id:?}"));
    let apps = state.store.operation_apps(scope, operation_id).await?;
    let app = match (app, apps.as_slice()) {
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
    let items = state.store.operation(app, operation_id).await?;
    let transaction = tree::assemble(operation_id, items).ok_or_else(not_found)?;
    Ok(Loaded {
        transaction,
        app: app.clone(),
        other_apps: apps.iter().filter(|a| *a != app).cloned().collect(),
    })
}
