//! Instrumentation keys as the ingest credential: where transports find them, and who they
//! belong to.

use std::sync::Arc;

use crate::credential_cache::{CredentialCache, Lookup};
use crate::error::{ErrorKind, HasErrorKind};
use crate::store::{KeyRecord, Store, StoreError};

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
    /// Keys are required but could not be read from the store yet: retry, do not drop.
    #[error("instrumentation keys are not loaded yet: {0}")]
    NotLoaded(String),
}

impl HasErrorKind for AuthError {
    fn kind(&self) -> ErrorKind {
        match self {
            AuthError::NotLoaded(_) => ErrorKind::Unavailable,
            _ => ErrorKind::Unauthenticated,
        }
    }
}

/// Decides who a presented key belongs to, from the keys kept in the store.
#[derive(Clone)]
pub struct Authenticator {
    required: bool,
    store: Option<Arc<dyn Store>>,
    keys: CredentialCache<KeyRecord>,
}

impl Authenticator {
    /// Accepts every request; keys are recorded but not checked (tests without a store).
    pub fn open() -> Self {
        Authenticator {
            required: false,
            store: None,
            keys: CredentialCache::default(),
        }
    }

    /// Keys from `store`; with `required`, unknown and revoked keys are refused.
    pub fn with_store(store: Arc<dyn Store>, required: bool) -> Self {
        Authenticator {
            required,
            store: Some(store),
            keys: CredentialCache::default(),
        }
    }

    /// Re-reads the keys from the store.
    pub async fn reload(&self) {
        let Some(store) = &self.store else {
            return;
        };
        self.keys
            .reload("instrumentation keys", fetch_keys(store))
            .await;
    }

    /// After a key was not found: waits for the next reload the once-a-second limit allows
    /// (or one another request started meanwhile), so a key issued right after a reload is
    /// found on its first use rather than refused once.
    pub async fn reload_after_miss(&self) {
        let Some(store) = &self.store else {
            return;
        };
        self.keys
            .reload_after_miss_waiting("instrumentation keys", fetch_keys(store))
            .await;
    }

    /// The application of a (lower-cased) key, or why it is refused.
    pub fn app_for(&self, key: &str) -> Result<Arc<str>, AuthError> {
        let found = self.keys.lookup(key);
        if !self.required {
            let app = match &found {
                Lookup::Found(k) if k.revoked_ns.is_none() => k.app.as_str(),
                _ => "",
            };
            return Ok(app.into());
        }
        match found {
            Lookup::NotLoaded(error) => Err(AuthError::NotLoaded(error)),
            _ if key.is_empty() => Err(AuthError::Missing),
            Lookup::Found(k) if k.revoked_ns.is_some() => Err(AuthError::Revoked(key.to_owned())),
            Lookup::Found(k) => Ok(k.app.as_str().into()),
            Lookup::Missing => Err(AuthError::Unknown(key.to_owned())),
        }
    }

    /// Reloads once if `key` is refused, so a key created a moment ago works at once.
    pub async fn app_for_fresh(&self, key: &str) -> Result<Arc<str>, AuthError> {
        match self.app_for(key) {
            Err(AuthError::Unknown(_) | AuthError::Revoked(_) | AuthError::NotLoaded(_)) => {
                self.reload_after_miss().await;
                self.app_for(key)
            }
            other => other,
        }
    }

    /// Fails only when keys are required and cannot be read yet (a retryable state).
    pub async fn ensure_loaded(&self) -> Result<(), AuthError> {
        match self.app_for_fresh("").await {
            Err(error @ AuthError::NotLoaded(_)) => Err(error),
            _ => Ok(()),
        }
    }

    pub async fn authenticate(&self, presented: Option<&str>) -> Result<Identity, AuthError> {
        let ikey = presented.map(str::to_ascii_lowercase).unwrap_or_default();
        let app_name = self.app_for_fresh(&ikey).await?;
        Ok(Identity {
            ikey: ikey.into(),
            app_name,
        })
    }
}

async fn fetch_keys(store: &Arc<dyn Store>) -> Result<Vec<(String, KeyRecord)>, StoreError> {
    let keys = store.keys().await?;
    Ok(keys.into_iter().map(|k| (k.key.clone(), k)).collect())
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
