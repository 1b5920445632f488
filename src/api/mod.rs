//! The query API, JSON over HTTP on its own port.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::header;

use crate::self_metrics::SelfMetrics;
use crate::store::Store;

#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<dyn Store>,
    pub metrics: Arc<SelfMetrics>,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/healthz", get(crate::ingest::http::healthz))
        .route("/metrics", get(self_metrics))
        .with_state(state)
}

async fn self_metrics(State(state): State<ApiState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
