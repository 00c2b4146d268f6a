//! Request authentication for spillway, as Bedrock does it:
//!
//! - **SigV4** (`Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`),
//!   verified by recomputing the signature with aws-sigv4 (the `sigv4` module's comments list the
//!   details that make recomputation match real clients), with a ±5 minute clock-skew window, the
//!   credential-scope date check, session tokens, body hash and a constant-time comparison.
//! - **Bedrock API keys** (`Authorization: Bearer <key>`, what boto3 sends when
//!   `AWS_BEARER_TOKEN_BEDROCK` is set).
//!
//! Pure functions: no I/O and no server framework. The server passes the method, the raw
//! path-and-query exactly as received (still percent-encoded), the headers, the buffered body and
//! its clock, and maps [`AuthError::shape`] onto its own error response (status 403).
//!
//! Presigned (query-string) SigV4 is not supported: Bedrock clients sign headers. Such a request
//! is answered with `IncompleteSignatureException` saying so.

mod amz_date;
mod canonical;
mod error;
mod keyring;
mod sigv4;

use std::time::SystemTime;

use http::header::AUTHORIZATION;
use http::{HeaderMap, Method};

pub use error::AuthError;
pub use keyring::Keyring;

/// Who sent a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The catalog account id owning the credential.
    pub account: String,
    /// The SigV4 access key id; `None` for API keys.
    pub access_key_id: Option<String>,
    /// The SigV4 credential scope's region: the caller's source region. `None` for API keys,
    /// which do not name a region (use the endpoint's region then).
    pub region: Option<String>,
    /// The SigV4 credential scope's service (`bedrock` for all three Bedrock APIs).
    pub service: Option<String>,
}

/// Authenticates one request.
///
/// `raw_path_and_query` must be the request target as received (e.g. `uri.path_and_query()`),
/// with `%3A`/`%2F` in model ids left encoded: SigV4 signs that encoded form.
/// `headers` must contain `host` (over HTTP/2, copy the `:authority` into it).
pub fn authenticate(
    keyring: &Keyring,
    method: &Method,
    raw_path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<Principal, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        if headers.contains_key(AUTHORIZATION) {
            return Err(AuthError::Malformed("Only one Authorization header is allowed.".to_owned()));
        }
        return Err(missing(raw_path_and_query));
    };
    let value = value
        .to_str()
        .map_err(|_| AuthError::Malformed("The Authorization header is not visible ASCII.".to_owned()))?
        .trim();
    if value.is_empty() {
        return Err(missing(raw_path_and_query));
    }
    let (scheme, params) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("Bearer") {
        bearer(keyring, params.trim())
    } else if scheme == sigv4::ALGORITHM {
        sigv4::verify(keyring, params, method, raw_path_and_query, headers, body, now)
    } else {
        Err(AuthError::Malformed(format!("Unsupported Authorization scheme '{scheme}'.")))
    }
}

fn bearer(keyring: &Keyring, api_key: &str) -> Result<Principal, AuthError> {
    let account = keyring.api_key_account(api_key).ok_or(AuthError::UnknownApiKey)?;
    Ok(Principal { account: account.to_owned(), access_key_id: None, region: None, service: None })
}

/// No Authorization header: say plainly when it is a presigned URL, which we do not verify.
fn missing(raw_path_and_query: &str) -> AuthError {
    let query = raw_path_and_query.split_once('?').map_or("", |(_, q)| q);
    if query.split('&').any(|p| p.split('=').next().is_some_and(|k| k.eq_ignore_ascii_case("X-Amz-Signature"))) {
        AuthError::Malformed("Presigned (query-string) SigV4 is not supported; sign the headers.".to_owned())
    } else {
        AuthError::Missing
    }
}
