//! Who may read: the query API's bearer tokens. Each request's token gives the [`AppScope`]
//! every read of that request carries into the store query. With tokens required (`--require-tokens`
//! or `--require-keys`) a request without one is refused; otherwise it reads every app, and a
//! token it does present must still be valid and narrows what it sees.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use http::HeaderMap;
use http::request::Parts;

use super::{ApiError, ApiState};
use crate::credential_cache::{CredentialCache, Lookup};
use crate::reads::AppScope;
use crate::reads::records::TokenRecord;
use crate::store::Store;
use crate::tokens;

/// What one request may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub scope: AppScope,
}

impl Access {
    /// Server-wide data (`/metrics`) belongs to whoever may read every app.
    pub fn require_all_apps(&self, what: &str) -> Result<(), ApiError> {
        match self.scope {
            AppScope::All => Ok(()),
            AppScope::Only(_) => Err(ApiError::Forbidden(format!(
                "{what} covers every app: it needs a token issued with --all-apps"
            ))),
        }
    }
}

#[derive(Clone)]
pub struct AccessControl {
    required: bool,
    store: Option<Arc<dyn Store>>,
    /// Tokens by hash.
    tokens: CredentialCache<TokenRecord>,
}

impl AccessControl {
    /// Every request reads everything (tests without a store).
    pub fn open() -> Self {
        AccessControl {
            required: false,
            store: None,
            tokens: CredentialCache::default(),
        }
    }

    /// Tokens from `store`; with `required`, requests without a valid one are refused.
    pub fn with_store(store: Arc<dyn Store>, required: bool) -> Self {
        AccessControl {
            required,
            store: Some(store),
            tokens: CredentialCache::default(),
        }
    }

    /// Re-reads the tokens from the store.
    pub async fn reload(&self) {
        if let Some(store) = &self.store {
            self.tokens.reload("API tokens", fetch_tokens(store)).await;
        }
    }

    /// The access a request's headers give (its bearer token, else the UI's cookie), or why it
    /// is refused.
    pub async fn check(&self, headers: &HeaderMap) -> Result<Access, ApiError> {
        self.check_token(bearer_token(headers).or_else(|| cookie_token(headers)))
            .await
    }

    /// The access a presented token gives (none presented: every app, unless tokens are
    /// required), or why it is refused.
    pub async fn check_token(&self, presented: Option<&str>) -> Result<Access, ApiError> {
        let Some(presented) = presented else {
            if self.required {
                return Err(ApiError::Unauthenticated(
                    "a token is required: send Authorization: Bearer <token> (issue one with `tracehouse tokens create`)".into(),
                ));
            }
            return Ok(Access {
                scope: AppScope::All,
            });
        };
        if !tokens::is_well_formed(presented) {
            return Err(ApiError::Unauthenticated(
                "the bearer token is not a tracehouse token".into(),
            ));
        }
        let hash = tokens::hash(presented);
        let mut found = self.tokens.lookup(&hash);
        if let (false, Some(store)) = (matches!(found, Lookup::Found(_)), &self.store) {
            self.tokens
                .reload_after_miss_waiting("API tokens", fetch_tokens(store))
                .await;
            found = self.tokens.lookup(&hash);
        }
        match found {
            Lookup::NotLoaded(_) => Err(ApiError::Store(crate::store::StoreError::Unavailable(
                "API tokens are not loaded yet".into(),
            ))),
            Lookup::Missing => Err(ApiError::Unauthenticated("unknown token".into())),
            Lookup::Found(token) if token.revoked_ns.is_some() => Err(ApiError::Unauthenticated(
                format!("token {} has been revoked", token.id),
            )),
            Lookup::Found(token) => Ok(Access {
                scope: if token.all_apps {
                    AppScope::All
                } else {
                    AppScope::Only(token.apps)
                },
            }),
        }
    }
}

async fn fetch_tokens(
    store: &Arc<dyn Store>,
) -> Result<Vec<(String, TokenRecord)>, crate::store::StoreError> {
    let tokens = store.tokens().await?;
    Ok(tokens.into_iter().map(|t| (t.hash.clone(), t)).collect())
}

/// The cookie the UI's login page sets.
pub const TOKEN_COOKIE: &str = "tracehouse_token";

/// The token in the UI's cookie.
fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == TOKEN_COOKIE && !value.is_empty()).then_some(value)
        })
}

/// The token of `Authorization: Bearer <token>`.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<ApiState> for Access {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        state.access.check(&parts.headers).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bearer_scheme_carries_a_token() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        for (value, expected) in [
            ("Bearer th_x", Some("th_x")),
            ("bearer  th_y ", Some("th_y")),
            ("InstrumentationKey abc", None),
            ("Bearer ", None),
        ] {
            headers.insert(
                http::header::AUTHORIZATION,
                http::HeaderValue::from_static(value),
            );
            assert_eq!(bearer_token(&headers), expected, "{value}");
        }
        let mut cookies = HeaderMap::new();
        cookies.insert(
            http::header::COOKIE,
            http::HeaderValue::from_static("theme=dark; tracehouse_token=th_abc; x=1"),
        );
        assert_eq!(cookie_token(&cookies), Some("th_abc"));
    }
}
