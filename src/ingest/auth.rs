//! Instrumentation keys as the ingest credential: where transports find them, and who they
//! belong to.

use std::sync::Arc;

use crate::error::{ErrorKind, HasErrorKind};

/// Header OTLP clients set through `OTEL_EXPORTER_OTLP_HEADERS=x-instrumentation-key=<key>`.
pub const KEY_HEADER: &str = "x-instrumentation-key";
/// `Authorization: InstrumentationKey <key>` scheme.
const AUTHORIZATION_SCHEME: &str = "instrumentationkey";

/// The application a request's rows are recorded under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The key as presented, lower-cased; empty when none was presented.
    pub ikey: Arc<str>,
    /// The application the key was issued for; empty when unknown.
    pub app_name: Arc<str>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    #[error(
        "an instrumentation key is required: send x-instrumentation-key or Authorization: InstrumentationKey <key>"
    )]
    Missing,
    #[error("unknown instrumentation key {0:?}")]
    Unknown(String),
    #[error("instrumentation key {0:?} has been revoked")]
    Revoked(String),
    #[error("{0}")]
    Refused(String),
}

impl HasErrorKind for AuthError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Unauthenticated
    }
}

/// Decides who a presented key belongs to.
#[derive(Clone, Default)]
pub struct Authenticator {}

impl Authenticator {
    /// Accepts every request; a presented key is recorded but not checked.
    pub fn open() -> Self {
        Authenticator {}
    }

    /// The application of an envelope's key (lower-cased).
    pub fn app_for(&self, _key: &str) -> Result<Arc<str>, AuthError> {
        Ok("".into())
    }

    pub async fn authenticate(&self, presented: Option<&str>) -> Result<Identity, AuthError> {
        let ikey = presented.map(str::to_ascii_lowercase).unwrap_or_default();
        Ok(Identity {
            ikey: ikey.into(),
            app_name: "".into(),
        })
    }
}

/// The key in `x-instrumentation-key`, or in `Authorization: InstrumentationKey <key>`.
pub fn presented_key(headers: &http::HeaderMap) -> Option<&str> {
    if let Some(key) = headers.get(KEY_HEADER).and_then(|v| v.to_str().ok()) {
        let key = key.trim();
        if !key.is_empty() {
            return Some(key);
        }
    }
    let authorization = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = authorization.trim().split_once(' ')?;
    (scheme.eq_ignore_ascii_case(AUTHORIZATION_SCHEME) && !key.trim().is_empty())
        .then(|| key.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_key_in_either_header() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(presented_key(&headers), None);
        headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("InstrumentationKey ABC-1"),
        );
        assert_eq!(presented_key(&headers), Some("ABC-1"));
        headers.insert(KEY_HEADER, http::HeaderValue::from_static(" k2 "));
        assert_eq!(presented_key(&headers), Some("k2"));
        let mut bearer = http::HeaderMap::new();
        bearer.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer x"),
        );
        assert_eq!(presented_key(&bearer), None);
    }
}
