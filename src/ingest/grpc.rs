//! OTLP/gRPC: the `Export` methods of `TraceService`, `LogsService` and `MetricsService`.
//!
//! One generic service receives each request as raw protobuf bytes (gzip and zstd accepted,
//! size limited) and hands them to the same decoder as OTLP/HTTP, instead of the generated
//! servers' prost decoding: faster, and undecodable input becomes INVALID_ARGUMENT as OTLP
//! requires rather than tonic's INTERNAL.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes};
use prost::Message;
use tonic::codec::{
    Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder,
};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};

use super::admission::BudgetHold;
use super::auth::presented_key;
use super::encoding::{RpcStatus, grpc_code};
use super::{IngestError, IngestService, Logs, Metrics, OtlpSignal, Traces};
use crate::error::{ErrorKind, HasErrorKind};

const TRANSPORT: &str = "grpc";

/// Passes message bodies through as bytes: the server decodes requests itself and sends
/// already-encoded responses; clients (tests, the load generator) send pre-encoded requests.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// The gRPC service of one OTLP signal.
pub struct OtlpGrpc<S> {
    ingest: Arc<IngestService>,
    _signal: PhantomData<fn() -> S>,
}

impl<S> Clone for OtlpGrpc<S> {
    fn clone(&self) -> Self {
        OtlpGrpc {
            ingest: Arc::clone(&self.ingest),
            _signal: PhantomData,
        }
    }
}

impl<S: OtlpSignal> NamedService for OtlpGrpc<S> {
    const NAME: &'static str = S::GRPC_SERVICE;
}

/// The `Export` method, as tonic's unary handler.
struct Export<S> {
    ingest: Arc<IngestService>,
    _signal: PhantomData<fn() -> S>,
}

impl<S: OtlpSignal> UnaryService<Bytes> for Export<S> {
    type Response = Bytes;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Response<Bytes>, Status>> + Send>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let ingest = Arc::clone(&self.ingest);
        Box::pin(async move {
            let _budget = request.extensions().get::<BudgetHold>().cloned();
            let headers = request.metadata().clone().into_headers();
            // Taken once the message is in, so a stalled stream holds no decode slot.
            let result = match ingest.try_begin() {
                Ok(_slot) => {
                    ingest
                        .export::<S>(request.into_inner(), presented_key(&headers), TRANSPORT)
                        .await
                }
                Err(busy) => Err(busy),
            };
            let code = match &result {
                Ok(_) => tonic::Code::Ok,
                Err(error) => grpc_code(error.kind()),
            };
            ingest
                .metrics()
                .count_request(TRANSPORT, S::NAME, code as u16);
            result
                .map(|outcome| Response::new(Bytes::from(S::response(&outcome).encode_to_vec())))
                .map_err(|error| status(&error))
        })
    }
}

/// A gRPC status whose code follows OTLP retry semantics, with `RetryInfo` details when the
/// client should retry.
fn status(error: &IngestError) -> Status {
    let kind = error.kind();
    let message = error.to_string();
    // Refusals under load are counted in the self-metrics; a log line each would flood.
    if kind == ErrorKind::ResourceExhausted {
        tracing::debug!(%error, "grpc ingest request refused");
    } else if kind.is_retryable() {
        tracing::warn!(%error, "grpc ingest request failed");
    }
    let details = RpcStatus::new(kind, &message).encode_to_vec();
    Status::with_details(grpc_code(kind), message, details.into())
}

impl<S, B> tower::Service<http::Request<B>> for OtlpGrpc<S>
where
    S: OtlpSignal,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let is_export = request
            .uri()
            .path()
            .strip_prefix('/')
            .and_then(|path| path.strip_prefix(S::GRPC_SERVICE))
            == Some("/Export");
        let ingest = Arc::clone(&self.ingest);
        Box::pin(async move {
            if !is_export {
                return Ok(Status::unimplemented("only Export is served").into_http());
            }
            // The body is read under the shared budget and pace; its share is held, through the
            // request's extensions, until Export has answered.
            let client = client_ip(request.extensions());
            let (parts, body) = request.into_parts();
            let (body, budget) = ingest.admit(body, client, |refusal| {
                Box::new(status(&IngestError::BodyRefused(refusal)))
            });
            let mut request = http::Request::from_parts(parts, body);
            request.extensions_mut().insert(budget);
            let mut compression = EnabledCompressionEncodings::default();
            compression.enable(CompressionEncoding::Gzip);
            compression.enable(CompressionEncoding::Zstd);
            let mut send = EnabledCompressionEncodings::default();
            send.enable(CompressionEncoding::Gzip);
            let max_message = ingest.config().max_body_bytes;
            let mut grpc = Grpc::new(RawCodec)
                .apply_compression_config(compression, send)
                .apply_max_message_size_config(Some(max_message), None);
            let export = Export::<S> {
                ingest,
                _signal: PhantomData,
            };
            let response = grpc.unary(export, request).await;
            Ok(out_of_range_when_inflated_too_large(response, max_message))
        })
    }
}

/// tonic refuses a compressed message that inflates past the limit with RESOURCE_EXHAUSTED,
/// which OTLP exporters retry forever; it is the same permanent error as an uncompressed
/// message over the limit, so it gets the same OUT_OF_RANGE.
fn out_of_range_when_inflated_too_large(
    response: http::Response<tonic::body::Body>,
    limit: usize,
) -> http::Response<tonic::body::Body> {
    match Status::from_header_map(response.headers()) {
        Some(status)
            if status.code() == tonic::Code::ResourceExhausted
                && status
                    .message()
                    .starts_with("Error decompressing: size limit") =>
        {
            Status::out_of_range(format!(
                "decompressed message exceeds the {limit}-byte limit"
            ))
            .into_http()
        }
        _ => response,
    }
}

/// The three OTLP services as one router, ready to be served on the gRPC listener.
pub fn routes(ingest: Arc<IngestService>) -> tonic::service::Routes {
    fn service<S: OtlpSignal>(ingest: &Arc<IngestService>) -> OtlpGrpc<S> {
        OtlpGrpc {
            ingest: Arc::clone(ingest),
            _signal: PhantomData,
        }
    }
    tonic::service::Routes::new(service::<Traces>(&ingest))
        .add_service(service::<Logs>(&ingest))
        .add_service(service::<Metrics>(&ingest))
}

/// The peer of a gRPC request, as tonic records it for plain and TLS connections.
fn client_ip(extensions: &http::Extensions) -> Option<std::net::IpAddr> {
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
    extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| {
            extensions
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|info| info.get_ref().remote_addr())
        })
        .map(|addr| addr.ip())
}
