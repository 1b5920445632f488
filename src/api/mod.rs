//! The query API, JSON over HTTP on its own port: transactions, performance percentiles, slow
//! samples, failures, the application map, GenAI usage and search.

pub mod access;
pub mod alerts;
pub(crate) mod analysis;
pub(crate) mod causes;
mod distribution;
mod foreign_params;
pub(crate) mod genai;
pub(crate) mod genai_sessions;
pub(crate) mod insights;
mod jaeger;
pub(crate) mod k8s;
pub mod kql;
pub mod metrics;
mod openapi;
pub mod params;
mod schemas;
pub(crate) mod scores;
pub(crate) mod tempo;
mod tempo_tags;
mod trace_search;
pub(crate) mod transaction;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::error::{ErrorKind, HasErrorKind};
use crate::ingest::encoding::{add_retry_after, http_status};
use crate::ingest::quickpulse::LiveMetrics;
use crate::self_metrics::SelfMetrics;
use crate::store::{Store, StoreError};
use access::{Access, AccessControl};

#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<dyn Store>,
    pub access: AccessControl,
    pub metrics: Arc<SelfMetrics>,
    pub live: Arc<LiveMetrics>,
    /// LLM deployment quotas and token prices.
    pub genai: Arc<crate::genai::GenAiPolicy>,
    /// The listeners speak TLS: the login cookie is marked `Secure`.
    pub secure_cookies: bool,
    /// The alert rules in force, when `--alert-rules` is given.
    pub alerts: Option<Arc<crate::alerts::AlertsView>>,
    /// Instrumentation keys, as ingest checks them: posted scores belong to the key's app.
    pub ingest_keys: crate::ingest::auth::Authenticator,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid parameter {name:?}: {message}")]
    Invalid { name: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApiError {
    pub fn invalid(name: &str, message: &str) -> Self {
        ApiError::Invalid {
            name: name.to_owned(),
            message: message.to_owned(),
        }
    }
}

impl HasErrorKind for ApiError {
    fn kind(&self) -> ErrorKind {
        match self {
            ApiError::Invalid { .. } => ErrorKind::InvalidArgument,
            ApiError::NotFound(_) => ErrorKind::NotFound,
            ApiError::Unauthenticated(_) => ErrorKind::Unauthenticated,
            ApiError::Forbidden(_) => ErrorKind::PermissionDenied,
            ApiError::Store(e) => e.kind(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = self.kind();
        let status = http_status(kind);
        match kind {
            ErrorKind::Internal => tracing::error!(error = %self, "query failed"),
            ErrorKind::Unavailable => tracing::warn!(error = %self, "query failed"),
            _ => {}
        }
        let (message, parameter) = match &self {
            ApiError::Invalid { name, .. } => (self.to_string(), Some(name.clone())),
            ApiError::NotFound(message)
            | ApiError::Unauthenticated(message)
            | ApiError::Forbidden(message) => (message.clone(), None),
            ApiError::Store(error) => (error.public_message(), None),
        };
        let body = json!({ "error": { "message": message, "parameter": parameter } });
        let mut response = (status, axum::Json(body)).into_response();
        add_retry_after(kind, &mut response);
        if kind == ErrorKind::Unauthenticated {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tracehouse\""),
            );
        }
        response
    }
}

/// Builds the router; `cors_origins` lists the browser origins allowed (`*` for any).
pub fn router(state: ApiState, cors_origins: &[String]) -> Result<Router, String> {
    let mut router = Router::new()
        .route("/healthz", get(crate::ingest::http::healthz))
        .route("/metrics", get(self_metrics))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route(
            "/api/v1/operations/{operation_id}",
            get(transaction::transaction),
        )
        .route("/api/v1/performance", get(analysis::performance))
        .route(
            "/api/v1/performance/histogram",
            get(distribution::histogram),
        )
        .route("/api/v1/samples", get(analysis::samples))
        .route("/api/v1/failures", get(insights::failures))
        .route("/api/v1/map", get(insights::map))
        .route("/api/v1/genai/usage", get(genai::genai_usage))
        .route("/api/v1/genai/sessions", get(genai_sessions::sessions))
        .route("/api/v1/genai/users", get(genai_sessions::users))
        .route(
            "/api/v1/scores",
            get(scores::get_scores).post(scores::post_scores),
        )
        .route("/api/v1/k8s/nodes", get(k8s::nodes))
        .route("/api/v1/k8s/pods", get(k8s::pods))
        .route("/api/v1/k8s/containers", get(k8s::containers))
        .route("/api/v1/k8s/ready-nodes", get(k8s::ready_nodes))
        .route("/api/v1/metrics", get(metrics::catalog))
        .route("/api/v1/metrics/series", get(metrics::series))
        .route("/api/v1/alerts", get(alerts::alerts))
        .route("/api/v1/alerts/rules", get(alerts::rules))
        .route("/api/v1/alerts/history", get(alerts::history))
        .route("/api/v1/search", get(analysis::search))
        .route("/api/v1/live", get(live))
        .route("/api/v1/query", get(kql::get).post(kql::post))
        .nest("/tempo", tempo::routes())
        .nest("/jaeger", jaeger::routes())
        .fallback(|| async {
            ApiError::NotFound("no such endpoint; see /api/v1/openapi.json".into())
        })
        .with_state(state);
    if !cors_origins.is_empty() {
        router = router.layer(cors(cors_origins)?);
    }
    Ok(router)
}

fn cors(origins: &[String]) -> Result<CorsLayer, String> {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let values = origins
            .iter()
            .map(|o| {
                HeaderValue::from_str(o)
                    .map_err(|_| format!("--cors-origins: invalid origin {o:?}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(values)
    };
    Ok(CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION]))
}

async fn self_metrics(State(state): State<ApiState>, access: Access) -> Result<Response, ApiError> {
    access.require_all_apps("/metrics")?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response())
}

/// The latest Live Metrics data point of every instance of the apps in scope.
async fn live(State(state): State<ApiState>, access: Access) -> Response {
    ok(json!({ "instances": state.live.snapshot(&access.scope) }))
}

/// Successful JSON answers.
fn ok(body: serde_json::Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}
