//! Transports only: OTLP over gRPC and HTTP (and the Application Insights track protocol), all
//! calling one entry point, [`IngestService::export`]. Per-signal differences live in the small
//! [`OtlpSignal`] trait, not in copies of the handlers.

pub mod admission;
pub mod auth;
mod body;
pub mod connection_string;
mod cpu_pool;
pub mod encoding;
pub mod grpc;
pub mod http;
mod otlp_json;
pub mod quickpulse;
pub mod track;

use std::sync::Arc;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::clock::now_ns;
use crate::error::{ErrorKind, HasErrorKind};
use crate::model::Batch;
use crate::normalize::{self, Context, Limits, Normalized, envelope};
use crate::pipeline::{PipelineError, PipelineHandle};
use crate::self_metrics::{Outcome, SelfMetrics};
use auth::{AuthError, Authenticator};
pub use cpu_pool::CpuPool;
pub use encoding::RpcStatus;

/// Bodies larger than this are normalized on the normalization threads, off the async workers.
const INLINE_NORMALIZE_BYTES: usize = 256 * 1024;
/// The same for track bodies (JSON: about a quarter of the items per byte). Inline costs the
/// async worker a few milliseconds, but rows made on the normalization threads and freed on
/// the workers stayed in the allocator's per-thread heaps: 265 MiB instead of 239 MiB under
/// track overload (benches/README.md).
const INLINE_TRACK_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct IngestConfig {
    pub limits: Limits,
    /// Largest request body on the wire and after decompression; also the gRPC message limit.
    pub max_body_bytes: usize,
    /// Most requests decoded at once, over all transports; more are refused with a retryable
    /// 429 / RESOURCE_EXHAUSTED. Bodies being received hold at most this many bodies' worth of
    /// bytes ([`admission`]), counted as they arrive.
    pub max_concurrent_requests: usize,
    /// How long a body may take to start arriving; after it, a body must keep up 64 KiB/s.
    pub body_timeout: std::time::Duration,
    /// Most bytes one request's rows may take once stored; more is refused with 413 before
    /// anything is written (resource attributes are stored on every row, so a small request
    /// can ask for gigabytes).
    pub max_request_stored_bytes: usize,
    /// The part (0 < share ≤ 1) of the body budget one client address may hold, and never
    /// less than one largest body; 1 lets any client take it all (behind a proxy, where every
    /// request comes from one address).
    pub client_body_share: f64,
}

impl IngestConfig {
    /// Bytes all bodies being received may hold, and one client of them.
    fn body_budget_bytes(&self) -> (u64, u64) {
        let max_body = self.max_body_bytes as u64;
        let total = (self.max_concurrent_requests as u64).saturating_mul(max_body);
        let share = (total as f64 * self.client_body_share.clamp(0.0, 1.0)) as u64;
        (total, share.clamp(max_body.min(total), total))
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            limits: Limits::default(),
            max_body_bytes: 8 * 1024 * 1024,
            max_concurrent_requests: 16,
            body_timeout: std::time::Duration::from_secs(10),
            max_request_stored_bytes: 64 * 1024 * 1024,
            client_body_share: 0.25,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("request body of {size} bytes exceeds the {limit}-byte limit")]
    BodyTooLarge { size: u64, limit: usize },
    #[error("decompressed request body exceeds the {limit}-byte limit")]
    DecompressedTooLarge { limit: usize },
    #[error(
        "the request's rows would take {bytes} bytes once stored, over the {limit}-byte limit (--max-request-stored-bytes); resource attributes are stored with every row"
    )]
    StoredTooLarge { bytes: usize, limit: usize },
    #[error("unsupported content type {0:?}; send application/x-protobuf or application/json")]
    UnsupportedContentType(String),
    #[error("unsupported content encoding {0:?}; send gzip, deflate, zstd or identity")]
    UnsupportedContentEncoding(String),
    #[error("request body could not be decompressed: {0}")]
    Decompress(String),
    #[error("request body could not be read: {0}")]
    Body(String),
    #[error("invalid protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("invalid protobuf: {0}")]
    Wire(#[from] crate::normalize::wire::WireError),
    #[error("invalid OTLP/JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Envelopes(#[from] crate::normalize::envelope::BodyError),
    #[error("too many requests in flight ({0}); retry later")]
    Busy(usize),
    #[error(transparent)]
    BodyRefused(#[from] admission::BodyRefusal),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("normalization failed: {0}")]
    Internal(String),
}

impl HasErrorKind for IngestError {
    fn kind(&self) -> ErrorKind {
        match self {
            IngestError::BodyTooLarge { .. }
            | IngestError::DecompressedTooLarge { .. }
            | IngestError::StoredTooLarge { .. } => ErrorKind::PayloadTooLarge,
            IngestError::UnsupportedContentType(_) | IngestError::UnsupportedContentEncoding(_) => {
                ErrorKind::UnsupportedMediaType
            }
            IngestError::Decompress(_)
            | IngestError::Body(_)
            | IngestError::Protobuf(_)
            | IngestError::Wire(_)
            | IngestError::Json(_)
            | IngestError::Envelopes(_) => ErrorKind::InvalidArgument,
            IngestError::Busy(_)
            | IngestError::BodyRefused(
                admission::BodyRefusal::Busy { .. } | admission::BodyRefusal::ClientBusy { .. },
            ) => ErrorKind::ResourceExhausted,
            IngestError::BodyRefused(admission::BodyRefusal::TooSlow { .. }) => {
                ErrorKind::RequestTimeout
            }
            IngestError::Auth(e) => e.kind(),
            IngestError::Pipeline(e) => e.kind(),
            IngestError::Internal(_) => ErrorKind::Internal,
        }
    }
}

impl IngestError {
    /// Whether the request's body was refused before it had all arrived.
    pub fn left_body_unread(&self) -> bool {
        matches!(
            self,
            IngestError::BodyTooLarge { .. } | IngestError::BodyRefused(_)
        )
    }
}

/// What the client is told after its items were made durable.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExportOutcome {
    pub accepted: u64,
    pub rejected: u64,
    /// The first rejection reason, empty when nothing was rejected.
    pub message: String,
}

/// The per-signal part of OTLP ingestion.
pub trait OtlpSignal: Send + Sync + 'static {
    /// The prost request, used only to turn OTLP/JSON into protobuf.
    type Request: prost::Message + serde::de::DeserializeOwned + Default + Send + 'static;
    type Response: prost::Message + serde::Serialize + Default;
    const NAME: &'static str;
    /// The gRPC service, e.g. `opentelemetry.proto.collector.trace.v1.TraceService`.
    const GRPC_SERVICE: &'static str;
    /// Normalizes a protobuf-encoded request.
    fn normalize(body: &[u8], ctx: &Context<'_>) -> Result<Normalized, IngestError>;
    fn response(outcome: &ExportOutcome) -> Self::Response;
}

pub struct Traces;
pub struct Logs;
pub struct Metrics;

impl OtlpSignal for Traces {
    type Request = ExportTraceServiceRequest;
    type Response = ExportTraceServiceResponse;
    const NAME: &'static str = "traces";
    const GRPC_SERVICE: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    fn normalize(body: &[u8], ctx: &Context<'_>) -> Result<Normalized, IngestError> {
        Ok(normalize::traces(body, ctx)?)
    }
    fn response(outcome: &ExportOutcome) -> Self::Response {
        ExportTraceServiceResponse {
            partial_success: (outcome.rejected > 0).then(|| ExportTracePartialSuccess {
                rejected_spans: i64::try_from(outcome.rejected).unwrap_or(i64::MAX),
                error_message: outcome.message.clone(),
            }),
        }
    }
}

impl OtlpSignal for Logs {
    type Request = ExportLogsServiceRequest;
    type Response = ExportLogsServiceResponse;
    const NAME: &'static str = "logs";
    const GRPC_SERVICE: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    fn normalize(body: &[u8], ctx: &Context<'_>) -> Result<Normalized, IngestError> {
        Ok(normalize::logs(body, ctx)?)
    }
    fn response(outcome: &ExportOutcome) -> Self::Response {
        ExportLogsServiceResponse {
            partial_success: (outcome.rejected > 0).then(|| ExportLogsPartialSuccess {
                rejected_log_records: i64::try_from(outcome.rejected).unwrap_or(i64::MAX),
                error_message: outcome.message.clone(),
            }),
        }
    }
}

impl OtlpSignal for Metrics {
    type Request = ExportMetricsServiceRequest;
    type Response = ExportMetricsServiceResponse;
    const NAME: &'static str = "metrics";
    const GRPC_SERVICE: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    fn normalize(body: &[u8], ctx: &Context<'_>) -> Result<Normalized, IngestError> {
        // Metric volumes are small next to spans and logs; prost's decoder is fine here.
        let request = <ExportMetricsServiceRequest as prost::Message>::decode(body)?;
        Ok(normalize::metrics(request, ctx))
    }
    fn response(outcome: &ExportOutcome) -> Self::Response {
        ExportMetricsServiceResponse {
            partial_success: (outcome.rejected > 0).then(|| ExportMetricsPartialSuccess {
                rejected_data_points: i64::try_from(outcome.rejected).unwrap_or(i64::MAX),
                error_message: outcome.message.clone(),
            }),
        }
    }
}

/// The one ingest entry point shared by every transport.
pub struct IngestService {
    config: IngestConfig,
    pipeline: PipelineHandle,
    authenticator: Authenticator,
    metrics: Arc<SelfMetrics>,
    /// Requests being decoded, taken once a body has arrived. Refusing beyond it (rather than
    /// queueing) keeps memory bounded.
    in_flight: Arc<Semaphore>,
    /// Bytes of bodies being received, shared by every transport.
    body_budget: admission::BodyBudget,
    /// Where large bodies are normalized.
    normalizers: CpuPool,
}

impl IngestService {
    pub fn new(
        config: IngestConfig,
        pipeline: PipelineHandle,
        authenticator: Authenticator,
        metrics: Arc<SelfMetrics>,
        normalizers: CpuPool,
    ) -> Self {
        let in_flight = Arc::new(Semaphore::new(config.max_concurrent_requests));
        let (total, client_share) = config.body_budget_bytes();
        let body_budget = admission::BodyBudget::new(total, client_share);
        IngestService {
            config,
            pipeline,
            authenticator,
            metrics,
            in_flight,
            body_budget,
            normalizers,
        }
    }

    /// Holds a decode slot for one request, or says how many are already in flight.
    pub fn try_begin(&self) -> Result<OwnedSemaphorePermit, IngestError> {
        Arc::clone(&self.in_flight)
            .try_acquire_owned()
            .map_err(|_| IngestError::Busy(self.config.max_concurrent_requests))
    }

    /// Wraps a request body so that it draws on the shared body budget and keeps to the pace;
    /// hold the returned share until the request is answered.
    /// `client` is the sending address where the transport knows it.
    pub fn admit<B>(
        &self,
        body: B,
        client: Option<std::net::IpAddr>,
        refuse: fn(admission::BodyRefusal) -> Box<dyn std::error::Error + Send + Sync>,
    ) -> (admission::Paced<B>, admission::BudgetHold) {
        self.body_budget
            .admit(body, client, self.config.body_timeout, refuse)
    }

    pub fn config(&self) -> &IngestConfig {
        &self.config
    }

    pub fn metrics(&self) -> &Arc<SelfMetrics> {
        &self.metrics
    }

    pub fn pipeline(&self) -> &PipelineHandle {
        &self.pipeline
    }

    pub fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }

    /// Authenticates, normalizes and queues one protobuf-encoded OTLP request, resolving once
    /// its rows are durable.
    pub async fn export<S: OtlpSignal>(
        &self,
        body: Bytes,
        presented_key: Option<&str>,
        transport: &'static str,
    ) -> Result<ExportOutcome, IngestError> {
        let result = self.export_inner::<S>(body, presented_key).await;
        match &result {
            Ok(outcome) => {
                let metrics = &self.metrics;
                metrics.count_items(
                    S::NAME,
                    transport,
                    Outcome::Received,
                    "",
                    outcome.accepted + outcome.rejected,
                );
                metrics.count_items(S::NAME, transport, Outcome::Accepted, "", outcome.accepted);
                metrics.count_items(
                    S::NAME,
                    transport,
                    Outcome::Rejected,
                    "invalid_item",
                    outcome.rejected,
                );
            }
            Err(error) => tracing::debug!(%error, signal = S::NAME, transport, "export failed"),
        }
        result
    }

    /// Normalizes and queues an Application Insights track body, resolving once its rows are
    /// durable. Nothing is stored when any envelope names a key that is refused.
    pub async fn track(&self, body: Bytes) -> Result<envelope::Track, IngestError> {
        self.authenticator.ensure_loaded().await?;
        let mut track = self.normalize_track(body.clone()).await?;
        if track.errors.iter().any(|e| e.status == 401) {
            // A key created a moment ago: look again before refusing.
            self.authenticator.reload_after_miss().await;
            track = self.normalize_track(body).await?;
        }
        if let Some(refused) = track.errors.iter().find(|e| e.status == 401) {
            self.metrics.count_items(
                "track",
                "http",
                Outcome::Rejected,
                "unauthenticated",
                track.received as u64,
            );
            return Err(IngestError::Auth(AuthError::Refused(
                refused.message.clone(),
            )));
        }
        let batch = std::mem::take(&mut track.batch);
        self.check_stored_size(&batch)?;
        self.pipeline.submit(batch).await?;
        let metrics = &self.metrics;
        metrics.count_items(
            "track",
            "http",
            Outcome::Received,
            "",
            track.received as u64,
        );
        metrics.count_items(
            "track",
            "http",
            Outcome::Accepted,
            "",
            track.accepted as u64,
        );
        metrics.count_items(
            "track",
            "http",
            Outcome::Rejected,
            "invalid_item",
            track.errors.len() as u64,
        );
        Ok(track)
    }

    /// Refuses a request whose rows would take more than the limit once stored.
    fn check_stored_size(&self, batch: &Batch) -> Result<(), IngestError> {
        let bytes = batch.approx_bytes();
        let limit = self.config.max_request_stored_bytes;
        if bytes > limit {
            return Err(IngestError::StoredTooLarge { bytes, limit });
        }
        Ok(())
    }

    async fn normalize_track(&self, body: Bytes) -> Result<envelope::Track, IngestError> {
        let body_len = body.len();
        let limits = self.config.limits.clone();
        let authenticator = self.authenticator.clone();
        let now = now_ns();
        let run = move || {
            let ctx = Context {
                limits: &limits,
                now_ns: now,
                ikey: "".into(),
                app_name: "".into(),
            };
            envelope::envelopes(&body, &ctx, &|key| authenticator.app_for(key).ok())
        };
        if body_len <= INLINE_TRACK_BYTES {
            return Ok(run()?);
        }
        Ok(self
            .normalizers
            .run(run)
            .await
            .map_err(|e| IngestError::Internal(e.to_string()))??)
    }

    async fn export_inner<S: OtlpSignal>(
        &self,
        body: Bytes,
        presented_key: Option<&str>,
    ) -> Result<ExportOutcome, IngestError> {
        let identity = self.authenticator.authenticate(presented_key).await?;
        let limits = self.config.limits.clone();
        let now = now_ns();
        let inline = body.len() <= INLINE_NORMALIZE_BYTES;
        let run = move || {
            let ctx = Context {
                limits: &limits,
                now_ns: now,
                ikey: identity.ikey,
                app_name: identity.app_name,
            };
            S::normalize(&body, &ctx)
        };
        let normalized = if inline {
            run()?
        } else {
            self.normalizers
                .run(run)
                .await
                .map_err(|e| IngestError::Internal(e.to_string()))??
        };
        self.check_stored_size(&normalized.batch)?;
        self.pipeline.submit(normalized.batch).await?;
        Ok(ExportOutcome {
            accepted: normalized.accepted,
            rejected: normalized.rejected,
            message: normalized
                .first_rejection
                .map(|r| r.to_string())
                .unwrap_or_default(),
        })
    }
}
