//! Who owns which credential: access keys (SigV4) and API keys (bearer), built from the catalog.

use std::collections::HashMap;
use std::fmt;

use sha2::{Digest, Sha256};
use spillway_catalog::Account;
use subtle::ConstantTimeEq;

use crate::AuthError;

/// One access key as the verifier needs it.
#[derive(Clone)]
pub(crate) struct KeyEntry {
    pub(crate) account: String,
    pub(crate) secret: String,
    /// When non-empty, requests must carry one of these in `x-amz-security-token`.
    session_tokens: Vec<String>,
}

impl KeyEntry {
    /// Checks `x-amz-security-token` against the key's tokens, in constant time per token so
    /// that response timing does not reveal how much of a token was right.
    pub(crate) fn check_session_token(&self, presented: Option<&str>) -> Result<(), AuthError> {
        match presented {
            // A long-term key (no tokens) used with a token is rejected, as AWS does.
            Some(_) if self.session_tokens.is_empty() => Err(AuthError::InvalidSessionToken),
            None if self.session_tokens.is_empty() => Ok(()),
            None => Err(AuthError::InvalidSessionToken),
            Some(token) => {
                let hit = self
                    .session_tokens
                    .iter()
                    .fold(subtle::Choice::from(0), |acc, t| acc | t.as_bytes().ct_eq(token.as_bytes()));
                if bool::from(hit) {
                    Ok(())
                } else {
                    Err(AuthError::InvalidSessionToken)
                }
            }
        }
    }
}

/// Lookup tables for authentication. Cheap to build; rebuild it when the catalog changes.
///
/// When two accounts list the same access key id or API key, the first account wins (the catalog
/// loader is the place to reject such a file).
#[derive(Clone, Default)]
pub struct Keyring {
    access_keys: HashMap<String, KeyEntry>,
    /// Keyed by SHA-256 of the API key: the map lookup then only ever compares hashes, so its
    /// timing says nothing about how close a guessed key was to a real one.
    api_keys: HashMap<[u8; 32], String>,
}

impl Keyring {
    pub fn new(accounts: &[Account]) -> Self {
        let mut keyring = Self::default();
        for account in accounts {
            for key in &account.access_keys {
                keyring.access_keys.entry(key.id.clone()).or_insert_with(|| KeyEntry {
                    account: account.id.clone(),
                    secret: key.secret.clone(),
                    session_tokens: key.session_tokens.clone(),
                });
            }
            for api_key in &account.api_keys {
                keyring.api_keys.entry(api_key_digest(api_key)).or_insert_with(|| account.id.clone());
            }
        }
        keyring
    }

    /// The account owning an access key id.
    pub fn access_key_account(&self, access_key_id: &str) -> Option<&str> {
        self.access_keys.get(access_key_id).map(|k| k.account.as_str())
    }

    /// The account owning a bearer API key.
    pub fn api_key_account(&self, api_key: &str) -> Option<&str> {
        self.api_keys.get(&api_key_digest(api_key)).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.access_keys.is_empty() && self.api_keys.is_empty()
    }

    pub(crate) fn access_key(&self, access_key_id: &str) -> Option<&KeyEntry> {
        self.access_keys.get(access_key_id)
    }
}

/// Never prints secrets: only how many credentials are loaded.
impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("access_keys", &self.access_keys.len())
            .field("api_keys", &self.api_keys.len())
            .finish()
    }
}

fn api_key_digest(api_key: &str) -> [u8; 32] {
    Sha256::digest(api_key.as_bytes()).into()
}
