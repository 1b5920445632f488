//! Application Insights ingestion on the HTTP port: `POST /v2.1/track` (and `//v2.1/track`,
//! which Python builds, and the classic `/v2/track`), plus the Live Metrics endpoints SDKs poll.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderMap, StatusCode};
use serde_json::json;

use super::IngestError;
use super::encoding::{add_retry_after, close_if_body_unread, http_status};
use super::http::HttpIngest;
use crate::error::HasErrorKind;
use crate::http_server::ClientIp;
use crate::normalize::envelope::Track;

const TRANSPORT: &str = "http";
const SIGNAL: &str = "track";

pub fn router(state: HttpIngest) -> Router {
    Router::new()
        .route("/v2.1/track", post(track))
        .route("//v2.1/track", post(track))
        .route("/v2/track", post(track))
        .with_state(state)
}

async fn track(
    State(state): State<HttpIngest>,
    client: ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let response = match track_body(&state, client, &headers, body).await {
        Ok(track) => track_response(&track),
        Err(error) => error_response(&error),
    };
    state
        .ingest
        .metrics()
        .count_request(TRANSPORT, SIGNAL, response.status().as_u16());
    response
}

async fn track_body(
    state: &HttpIngest,
    client: ClientIp,
    headers: &HeaderMap,
    body: Body,
) -> Result<Track, IngestError> {
    // Content-Type is ignored: SDKs label NDJSON as application/json and worse.
    let (body, _budget) = state.read_body(client, headers, body).await?;
    let _slot = state.ingest.try_begin()?;
    state.ingest.track(body).await
}

/// 200 when every item was stored, 206 with per-item errors when some were, 400 when none
/// could be (as Breeze answers).
fn track_response(track: &Track) -> Response {
    let status = if track.errors.is_empty() {
        StatusCode::OK
    } else if track.accepted == 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::PARTIAL_CONTENT
    };
    let errors: Vec<_> = track
        .errors
        .iter()
        .map(|e| json!({ "index": e.index, "statusCode": e.status, "message": e.message }))
        .collect();
    let body = json!({
        "itemsReceived": track.received,
        "itemsAccepted": track.accepted,
        "appId": null,
        "errors": errors,
    });
    (status, axum::Json(body)).into_response()
}

/// A whole-request failure in the track response shape, retryable ones with `Retry-After`.
fn error_response(error: &IngestError) -> Response {
    let kind = error.kind();
    let status = http_status(kind);
    if status.is_server_error() {
        tracing::warn!(%error, "track request failed");
    } else {
        tracing::debug!(%error, "track request refused");
    }
    let body = json!({
        "itemsReceived": 0,
        "itemsAccepted": 0,
        "appId": null,
        "errors": [{ "index": 0, "statusCode": status.as_u16(), "message": error.to_string() }],
    });
    let mut response = (status, axum::Json(body)).into_response();
    add_retry_after(kind, &mut response);
    close_if_body_unread(error, &mut response);
    response
}
