//! OTLP/HTTP body encodings, `google.rpc.Status` error bodies, and the mapping from error
//! kinds to gRPC codes and HTTP statuses by OTLP retry semantics.

use http::StatusCode;
use prost::Message;

use super::IngestError;
use crate::error::ErrorKind;

/// Seconds clients are asked to wait before retrying an overloaded or unavailable server.
pub const RETRY_AFTER_SECS: u64 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// The encoding named by a `Content-Type`, parameters ignored.
    pub fn from_content_type(content_type: Option<&str>) -> Result<Self, IngestError> {
        let raw = content_type.unwrap_or("");
        let essence = raw
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/x-protobuf"
            | "application/protobuf"
            | "application/vnd.google.protobuf" => Ok(Encoding::Protobuf),
            "application/json" => Ok(Encoding::Json),
            _ => Err(IngestError::UnsupportedContentType(raw.to_owned())),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }

    /// Decodes a request; an empty body is an empty request.
    pub fn decode<M>(self, body: &[u8]) -> Result<M, IngestError>
    where
        M: Message + serde::de::DeserializeOwned + Default,
    {
        match self {
            Encoding::Protobuf => Ok(M::decode(body)?),
            Encoding::Json if body.iter().all(u8::is_ascii_whitespace) => Ok(M::default()),
            Encoding::Json => Ok(super::otlp_json::decode(body)?),
        }
    }

    pub fn encode<M: Message + serde::Serialize>(self, message: &M) -> Vec<u8> {
        match self {
            Encoding::Protobuf => message.encode_to_vec(),
            Encoding::Json => {
                // Unset fields are left out, as OTLP/JSON expects (`{}` for full success).
                let mut value = serde_json::to_value(message).unwrap_or_default();
                if let serde_json::Value::Object(fields) = &mut value {
                    fields.retain(|_, v| !v.is_null());
                }
                value.to_string().into_bytes()
            }
        }
    }

    /// A `google.rpc.Status` error body in this encoding.
    pub fn encode_status(self, kind: ErrorKind, message: &str) -> Vec<u8> {
        let status = RpcStatus::new(kind, message);
        match self {
            Encoding::Protobuf => status.encode_to_vec(),
            Encoding::Json => serde_json::json!({ "code": status.code, "message": status.message })
                .to_string()
                .into_bytes(),
        }
    }
}

pub fn grpc_code(kind: ErrorKind) -> tonic::Code {
    match kind {
        ErrorKind::InvalidArgument
        | ErrorKind::UnsupportedMediaType
        | ErrorKind::PayloadTooLarge => tonic::Code::InvalidArgument,
        ErrorKind::Unauthenticated => tonic::Code::Unauthenticated,
        ErrorKind::PermissionDenied => tonic::Code::PermissionDenied,
        ErrorKind::NotFound => tonic::Code::NotFound,
        ErrorKind::RequestTimeout => tonic::Code::DeadlineExceeded,
        ErrorKind::ResourceExhausted => tonic::Code::ResourceExhausted,
        ErrorKind::Unavailable => tonic::Code::Unavailable,
        ErrorKind::Internal => tonic::Code::Internal,
    }
}

/// Tells clients when to retry a retryable failure (`Retry-After`, in seconds).
pub fn add_retry_after<B>(kind: ErrorKind, response: &mut http::Response<B>) {
    if kind.is_retryable() {
        response.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from(RETRY_AFTER_SECS),
        );
    }
}

/// Says `Connection: close` when the request's body was left unread (refused before or while
/// it arrived): the connection cannot carry another request, and a keep-alive client that is
/// not told would write its next request into a closed socket instead of reading this answer.
pub fn close_if_body_unread<B>(error: &super::IngestError, response: &mut http::Response<B>) {
    if error.left_body_unread() {
        response.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
}

pub fn http_status(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        ErrorKind::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoAny {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`: tells OTLP exporters that RESOURCE_EXHAUSTED is worth retrying.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl RpcStatus {
    pub fn new(kind: ErrorKind, message: &str) -> Self {
        let details = if kind.is_retryable() {
            let retry = RetryInfo {
                retry_delay: Some(ProtoDuration {
                    seconds: RETRY_AFTER_SECS as i64,
                    nanos: 0,
                }),
            };
            vec![ProtoAny {
                type_url: "type.googleapis.com/google.rpc.RetryInfo".to_owned(),
                value: retry.encode_to_vec(),
            }]
        } else {
            Vec::new()
        };
        RpcStatus {
            code: grpc_code(kind) as i32,
            message: message.to_owned(),
            details,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    #[test]
    fn content_types_with_parameters() {
        assert_eq!(
            Encoding::from_content_type(Some("application/json; charset=utf-8")).ok(),
            Some(Encoding::Json)
        );
        assert_eq!(
            Encoding::from_content_type(Some("Application/X-Protobuf")).ok(),
            Some(Encoding::Protobuf)
        );
        assert!(Encoding::from_content_type(Some("text/plain")).is_err());
        assert!(Encoding::from_content_type(None).is_err());
    }

    #[test]
    fn empty_bodies_and_empty_objects_are_empty_requests() {
        for body in [&b""[..], b"  ", b"{}"] {
            let request: ExportTraceServiceRequest =
                Encoding::Json.decode(body).expect("empty request");
            assert!(request.resource_spans.is_empty());
        }
        let request: ExportTraceServiceRequest = Encoding::Protobuf.decode(b"").expect("empty");
        assert!(request.resource_spans.is_empty());
    }

    #[test]
    fn full_success_leaves_partial_success_unset_in_json() {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
        let body = Encoding::Json.encode(&ExportTraceServiceResponse::default());
        assert_eq!(body, b"{}");
    }

    #[test]
    fn retryable_statuses_carry_retry_info() {
        let status = RpcStatus::new(ErrorKind::ResourceExhausted, "full");
        assert_eq!(status.code, tonic::Code::ResourceExhausted as i32);
        assert_eq!(status.details.len(), 1);
        assert!(
            RpcStatus::new(ErrorKind::InvalidArgument, "bad")
                .details
                .is_empty()
        );
        let json = Encoding::Json.encode_status(ErrorKind::InvalidArgument, "bad");
        assert_eq!(json, br#"{"code":3,"message":"bad"}"#);
    }
}
