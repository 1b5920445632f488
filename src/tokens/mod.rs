//! Query API tokens: how they are made and recognised. A token is `th_` and 43 base64url
//! characters (256 random bits); only its SHA-256 is stored, so a leaked database does not leak
//! a usable token, and a fast unsalted hash is enough for a secret that cannot be guessed.

pub mod cli;

use base64::Engine as _;
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};

use crate::reads::records::{TokenRecord, TokenRole};

const PREFIX: &str = "th_";
const RANDOM_BYTES: usize = 32;
/// Hex digits of the hash that name a token in `tokens list` and `tokens revoke`.
pub const ID_DIGITS: usize = 12;

/// SHA-256 of a presented token, lower-case hex.
pub fn hash(token: &str) -> String {
    hex::encode(digest(&SHA256, token.as_bytes()))
}

/// Whether text has the shape of a token (checked before hashing anything presented).
pub fn is_well_formed(token: &str) -> bool {
    token.strip_prefix(PREFIX).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// What a new token may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub name: String,
    pub apps: Vec<String>,
    pub all_apps: bool,
    pub role: TokenRole,
}

/// A fresh token and the record to store for it.
pub fn issue(grant: Grant, now_ns: i64) -> Result<(String, TokenRecord), ring::error::Unspecified> {
    let mut random = [0u8; RANDOM_BYTES];
    SystemRandom::new().fill(&mut random)?;
    let token = format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
    );
    let hash = hash(&token);
    let record = TokenRecord {
        id: hash[..ID_DIGITS].to_owned(),
        hash,
        name: grant.name,
        apps: grant.apps,
        all_apps: grant.all_apps,
        role: grant.role,
        created_ns: now_ns,
        revoked_ns: None,
    };
    Ok((token, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_token_is_recognised_by_its_hash_only() {
        let grant = Grant {
            name: "grafana".into(),
            apps: vec!["rag-api".into()],
            all_apps: false,
            role: TokenRole::Reader,
        };
        let (token, record) = issue(grant.clone(), 5).expect("random");
        let (other, _) = issue(grant, 5).expect("random");
        assert_ne!(token, other);
        assert!(is_well_formed(&token), "{token}");
        assert_eq!(record.hash, hash(&token));
        assert!(!record.hash.contains(&token[3..]));
        assert_eq!(record.id, record.hash[..ID_DIGITS]);
        assert!(!is_well_formed(&token.to_uppercase()));
        assert!(!is_well_formed(&format!("{token} ")));
        assert!(!is_well_formed("th_short"));
    }
}
