//! `GET /api/v1/operations/{operation_id}`: one end-to-end transaction as a tree.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use serde_json::json;

use super::access::Access;
use super::params::{ParamSpec, ParamType, Params, param};
use super::{ApiError, ApiState, ok};
use serde::Serialize;

use crate::genai::GenAiPolicy;
use crate::query::findings::{Finding, findings};
use crate::query::tree;
use crate::reads::{AppScope, Column, Filter, Selection, Source, StatsQuery, TimeRange};
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
    let diagnosis = diagnose(&state, &loaded.app, &transaction).await?;
    body["findings"] = json!(
        diagnosis
            .iter()
            .map(|d| {
                let mut finding = json!(d.finding);
                if let Some(load) = &d.deployment {
                    finding["deployment"] = json!(load);
                }
                finding
            })
            .collect::<Vec<_>>()
    );
    for node in transaction.nodes.iter().filter(|n| n.genai.is_some()) {
        body["nodes"][node.index]["genai"]["messages"] =
            json!(crate::query::messages::messages(&node.attributes));
    }
    let costs = llm_costs(&state.genai, &transaction);
    for (index, cost) in &costs {
        body["nodes"][*index]["genai"]["cost_usd"] = json!(cost);
    }
    body["cost_usd"] =
        json!((!costs.is_empty()).then(|| costs.iter().filter_map(|(_, c)| *c).sum::<f64>()));
    body["scores"] = json!(operation_scores(&state, &loaded.app, &operation_id).await?);
    Ok(ok(body))
}

/// The scores posted for an operation (and its spans), newest first.
pub async fn operation_scores(
    state: &ApiState,
    app: &str,
    operation_id: &str,
) -> Result<Vec<crate::reads::scores::ScoreRecord>, ApiError> {
    Ok(state
        .store
        .scores(&crate::reads::scores::ScoreQuery {
            range: crate::store::TimeRange {
                from_ns: i64::MIN,
                to_ns: i64::MAX,
            },
            scope: AppScope::one(app),
            operation: Some((app.to_owned(), operation_id.to_owned())),
            limit: crate::api::scores::MAX_SCORES,
        })
        .await?)
}

/// A finding, and for throttling the load on the deployment around the transaction.
pub struct Diagnosis {
    pub finding: Finding,
    pub deployment: Option<DeploymentLoad>,
}

/// The tokens a throttled deployment served per minute around the transaction (its own app's
/// calls), and its quota when one is configured.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentLoad {
    pub peak_tokens_per_minute: u64,
    pub quota_tokens_per_minute: Option<u64>,
}

/// The transaction's findings; a throttling finding reads the deployment's per-minute tokens
/// from a minute before the transaction to a minute after it.
pub async fn diagnose(
    state: &ApiState,
    app: &str,
    transaction: &tree::Transaction,
) -> Result<Vec<Diagnosis>, ApiError> {
    const MINUTE_NS: i64 = 60_000_000_000;
    let end_ns = transaction
        .start_ns
        .saturating_add((transaction.duration_ms * 1e6) as i64);
    // One read per throttled deployment, however many of its calls were throttled.
    let mut loads: Vec<((String, String), DeploymentLoad)> = Vec::new();
    let mut diagnosis = Vec::new();
    for finding in findings(transaction) {
        let deployment = match &finding {
            Finding::Throttling { span, model, .. } if !model.is_empty() => {
                // Usage and quotas are keyed by the call's target (the attempts may go through
                // a proxy).
                let target = &transaction.nodes[*span].target;
                let key = (target.clone(), model.clone());
                if let Some((_, load)) = loads.iter().find(|(k, _)| *k == key) {
                    Some(load.clone())
                } else {
                    let minutes = StatsQuery {
                        selection: Selection {
                            source: Source::Dependencies,
                            range: TimeRange {
                                from_ns: transaction.start_ns.saturating_sub(MINUTE_NS),
                                to_ns: end_ns.saturating_add(MINUTE_NS),
                            },
                            scope: AppScope::one(app),
                            filters: vec![
                                Filter::Equals(Column::GenAiModel, model.clone()),
                                Filter::Equals(Column::Target, target.clone()),
                            ],
                        },
                        group_by: Vec::new(),
                        bucket_s: Some(60),
                        // Only counts and tokens are read: exact either way.
                        percentiles: crate::reads::Percentiles::Binned,
                    };
                    let rows = state.store.stats(&minutes, 10_000).await?;
                    let load = DeploymentLoad {
                        peak_tokens_per_minute: rows
                            .iter()
                            .map(|r| r.input_tokens.saturating_add(r.output_tokens))
                            .max()
                            .unwrap_or(0),
                        quota_tokens_per_minute: state
                            .genai
                            .quota(target, model)
                            .and_then(|q| q.tokens_per_minute),
                    };
                    loads.push((key, load.clone()));
                    Some(load)
                }
            }
            _ => None,
        };
        diagnosis.push(Diagnosis {
            finding,
            deployment,
        });
    }
    Ok(diagnosis)
}

/// The cost of each LLM call (node index, US dollars or `None` when its model has no price).
pub fn llm_costs(
    policy: &GenAiPolicy,
    transaction: &tree::Transaction,
) -> Vec<(usize, Option<f64>)> {
    transaction
        .nodes
        .iter()
        .filter_map(|node| {
            let genai = node.genai.as_ref()?;
            let model = if genai.request_model.is_empty() {
                &genai.response_model
            } else {
                &genai.request_model
            };
            Some((
                node.index,
                policy.cost_usd(model, genai.input_tokens, genai.output_tokens),
            ))
        })
        .collect()
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
