//! OTLP/HTTP on the ingest port: `POST /v1/{traces,logs,metrics}` in protobuf or JSON, plus
//! `/healthz` and the Prometheus `/metrics`. Handlers only read, decode and map outcomes.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, StatusCode, header};

use super::admission::BudgetHold;
use super::auth::presented_key;
use super::body::{decompress, read_limited};
use super::encoding::{Encoding, add_retry_after, close_if_body_unread, http_status};
use super::{IngestError, IngestService, Logs, Metrics, OtlpSignal, Traces};
use crate::error::HasErrorKind;
use crate::http_server::ClientIp;

const TRANSPORT: &str = "http";

/// Shared by the handlers of the ingest port.
#[derive(Clone)]
pub struct HttpIngest {
    pub ingest: Arc<IngestService>,
}

impl HttpIngest {
    pub fn new(ingest: Arc<IngestService>) -> Self {
        HttpIngest { ingest }
    }

    /// Reads and decompresses a body within the configured limits, under the body budget and
    /// pace; the hold keeps the body's share of the budget until dropped.
    pub async fn read_body(
        &self,
        client: ClientIp,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<(bytes::Bytes, BudgetHold), IngestError> {
        let limit = self.ingest.config().max_body_bytes;
        let content_length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let (paced, hold) = self
            .ingest
            .admit(body, client.0, |refusal| Box::new(refusal));
        let wire = read_limited(paced, content_length, limit).await?;
        let content_encoding = headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok());
        Ok((decompress(content_encoding, wire, limit).await?, hold))
    }
}

/// The ingest port's routes, without the Application Insights ones (added by the caller).
pub fn router(state: HttpIngest) -> Router {
    Router::new()
        .route("/v1/traces", post(export::<Traces>))
        .route("/v1/logs", post(export::<Logs>))
        .route("/v1/metrics", post(export::<Metrics>))
        .route("/healthz", get(healthz))
        // Bodies are limited by our own reader, before and after decompression.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

async fn export<S: OtlpSignal>(
    State(state): State<HttpIngest>,
    client: ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let response = match Encoding::from_content_type(content_type) {
        Ok(encoding) => match export_body::<S>(&state, client, &headers, body, encoding).await {
            Ok(response) => response,
            Err(error) => error_response(encoding, &error),
        },
        Err(error) => error_response(Encoding::Json, &error),
    };
    state
        .ingest
        .metrics()
        .count_request(TRANSPORT, S::NAME, response.status().as_u16());
    response
}

async fn export_body<S: OtlpSignal>(
    state: &HttpIngest,
    client: ClientIp,
    headers: &HeaderMap,
    body: Body,
    encoding: Encoding,
) -> Result<Response, IngestError> {
    // The decode slot is taken once the body is in: a client that stalls holds none.
    let (body, _budget) = state.read_body(client, headers, body).await?;
    let _slot = state.ingest.try_begin()?;
    let protobuf = match encoding {
        Encoding::Protobuf => body,
        // OTLP/JSON is turned into protobuf once, so both encodings share one decoder.
        Encoding::Json => {
            let request: S::Request = encoding.decode(&body)?;
            drop(body);
            bytes::Bytes::from(prost::Message::encode_to_vec(&request))
        }
    };
    let outcome = state
        .ingest
        .export::<S>(protobuf, presented_key(headers), TRANSPORT)
        .await?;
    let payload = encoding.encode(&S::response(&outcome));
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, encoding.content_type())],
        payload,
    )
        .into_response())
}

/// An error as `google.rpc.Status` in the request's encoding, with `Retry-After` when the
/// client should retry.
pub fn error_response(encoding: Encoding, error: &IngestError) -> Response {
    let kind = error.kind();
    let status = http_status(kind);
    if status.is_server_error() {
        tracing::warn!(%error, "ingest request failed");
    } else {
        tracing::debug!(%error, "ingest request refused");
    }
    let mut response = (
        status,
        [(header::CONTENT_TYPE, encoding.content_type())],
        encoding.encode_status(kind, &error.to_string()),
    )
        .into_response();
    add_retry_after(kind, &mut response);
    close_if_body_unread(error, &mut response);
    response
}

pub async fn healthz() -> &'static str {
    "ok\n"
}
