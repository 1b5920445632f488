//! A token row as both stores keep it: flat text columns, turned into a [`TokenRecord`] on read.

use crate::reads::records::{TokenRecord, TokenRole};
use crate::store::StoreError;

/// The columns of `api_tokens`; `apps` is a JSON array so any app name survives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub id: String,
    pub hash: String,
    pub name: String,
    pub apps: String,
    pub all_apps: bool,
    pub role: String,
    pub created_ns: i64,
    pub revoked_ns: Option<i64>,
}

impl StoredToken {
    pub fn of(token: &TokenRecord) -> Self {
        StoredToken {
            id: token.id.clone(),
            hash: token.hash.clone(),
            name: token.name.clone(),
            apps: serde_json::to_string(&token.apps).unwrap_or_else(|_| "[]".into()),
            all_apps: token.all_apps,
            role: token.role.as_str().to_owned(),
            created_ns: token.created_ns,
            revoked_ns: token.revoked_ns,
        }
    }

    pub fn into_record(self) -> Result<TokenRecord, StoreError> {
        let id = self.id;
        let apps: Vec<String> = serde_json::from_str(&self.apps)
            .map_err(|e| StoreError::Corrupt(format!("apps of token {id}: {e}")))?;
        let role = TokenRole::parse(&self.role)
            .ok_or_else(|| StoreError::Corrupt(format!("role {:?} of token {id}", self.role)))?;
        Ok(TokenRecord {
            id,
            hash: self.hash,
            name: self.name,
            apps,
            all_apps: self.all_apps,
            role,
            created_ns: self.created_ns,
            revoked_ns: self.revoked_ns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_survives_its_columns() {
        let token = TokenRecord {
            id: "0123456789ab".into(),
            hash: "ff".repeat(32),
            name: "grafana".into(),
            apps: vec!["rag-api".into(), "a,b \"quoted\"".into()],
            all_apps: false,
            role: TokenRole::Admin,
            created_ns: 7,
            revoked_ns: Some(9),
        };
        assert_eq!(StoredToken::of(&token).into_record().expect("read"), token);
        let damaged = StoredToken {
            role: "root".into(),
            ..StoredToken::of(&token)
        };
        assert!(matches!(damaged.into_record(), Err(StoreError::Corrupt(_))));
    }
}
