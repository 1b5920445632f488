//! The one vocabulary of failure shared by every module. Each module has its own `thiserror`
//! enum; each of those says which [`ErrorKind`] it is, and the transports turn kinds into gRPC
//! codes and HTTP statuses by OTLP retry semantics.

/// What a failure means for the client, independent of transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input; retrying the same request cannot succeed.
    InvalidArgument,
    /// Missing, unknown or revoked instrumentation key or API token.
    Unauthenticated,
    /// A valid credential that does not cover what was asked.
    PermissionDenied,
    /// The body is larger than the limit, before or after decompression.
    PayloadTooLarge,
    /// A content type or encoding the endpoint does not speak.
    UnsupportedMediaType,
    NotFound,
    /// The client sent its request too slowly.
    RequestTimeout,
    /// Queues or spool are full: retry later.
    ResourceExhausted,
    /// The store is unreachable or failing: retry later.
    Unavailable,
    /// A bug on our side.
    Internal,
}

impl ErrorKind {
    /// Whether OTLP exporters and Application Insights SDKs should retry.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::ResourceExhausted | ErrorKind::Unavailable)
    }
}

/// Implemented by every module error so transports can map it.
pub trait HasErrorKind {
    fn kind(&self) -> ErrorKind;
}
