//! SigV4 (`AWS4-HMAC-SHA256` in the `Authorization` header) verified by recomputation.
//!
//! aws-sigv4 has no verify API, so we sign the received request again with the secret we hold
//! and compare signatures. To reproduce the client's canonical request exactly:
//! - only the headers named in `SignedHeaders` are handed to the signer, with
//!   `excluded_headers = None` (the default set would drop e.g. `user-agent` even if signed);
//! - the signing time is `X-Amz-Date`, not our clock (the clock is only used for the skew check);
//! - the path is the raw one, still percent-encoded: with the default `PercentEncodingMode::Double`
//!   the signer encodes it once more (`%3A` → `%253A`), as botocore and the SDKs do for every
//!   service but S3 (bedrock-wire.md §1.1);
//! - the session token goes into the identity only if the client signed it, because the signer
//!   adds and signs `x-amz-security-token` whenever the identity has one.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use http::{HeaderMap, Method};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::amz_date::parse_amz_date;
use crate::keyring::KeyEntry;
use crate::{canonical, AuthError, Keyring, Principal};

pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far `X-Amz-Date` may be from our clock, either way (AWS's limit).
pub(crate) const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// The parts of `AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-west-3/bedrock/aws4_request,
/// SignedHeaders=host;x-amz-date, Signature=<hex>`.
struct Authorization<'a> {
    access_key_id: &'a str,
    scope_date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<String>,
    signature: &'a str,
}

/// `params` is what follows the algorithm name in the header.
fn parse<'a>(params: &'a str) -> Result<Authorization<'a>, AuthError> {
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in params.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| malformed(format!("Authorization header parameter '{}' has no value.", part.trim())))?;
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => {} // unknown parameters are ignored, as AWS does
        }
    }
    let required = |v: Option<&'a str>, name: &str| {
        v.ok_or_else(|| malformed(format!("Authorization header requires '{name}' parameter.")))
    };
    let credential = required(credential, "Credential")?;
    let signed_headers = required(signed_headers, "SignedHeaders")?;
    let signature = required(signature, "Signature")?;

    let scope: Vec<&str> = credential.split('/').collect();
    let &[access_key_id, scope_date, region, service, terminator] = scope.as_slice() else {
        return Err(malformed(format!("Credential '{credential}' is not AKID/date/region/service/aws4_request.")));
    };
    if terminator != "aws4_request" {
        return Err(malformed(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
        )));
    }
    if access_key_id.is_empty() || region.is_empty() || service.is_empty() {
        return Err(malformed(format!("Credential '{credential}' has an empty component.")));
    }
    Ok(Authorization {
        access_key_id,
        scope_date,
        region,
        service,
        signed_headers: signed_headers.split(';').map(str::to_ascii_lowercase).collect(),
        signature,
    })
}

pub(crate) fn verify(
    keyring: &Keyring,
    params: &str,
    method: &Method,
    raw_path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<Principal, AuthError> {
    let auth = parse(params)?;
    let x_amz_date = header(headers, "x-amz-date")?.ok_or_else(|| {
        malformed("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    })?;
    let signed_at = parse_amz_date(x_amz_date)
        .ok_or_else(|| malformed(format!("X-Amz-Date '{x_amz_date}' is not in the form YYYYMMDD'T'HHMMSS'Z'.")))?;
    let key = keyring.access_key(auth.access_key_id).ok_or(AuthError::UnknownKey)?;

    let skew = now.duration_since(signed_at).unwrap_or_else(|e| e.duration());
    if skew > MAX_SKEW {
        return Err(AuthError::Expired { signed_at, now });
    }
    // The scope date must be the day of X-Amz-Date: otherwise a signing key derived for one day
    // could be replayed with another day's timestamp.
    if x_amz_date.get(..8) != Some(auth.scope_date) {
        return Err(AuthError::ScopeDateMismatch {
            scope_date: auth.scope_date.to_owned(),
            x_amz_date: x_amz_date.to_owned(),
        });
    }
    let token = header(headers, "x-amz-security-token")?;
    key.check_session_token(token)?;

    // The signer would otherwise panic deriving `host` from an origin-form URI; AWS requires
    // `host` (or `:authority`) to be signed anyway. Over HTTP/2 the caller must pass the
    // `:authority` as a `host` header; a signed `:authority` is that header's value.
    let authority_signed = auth.signed_headers.iter().any(|h| h == ":authority");
    if !(authority_signed || auth.signed_headers.iter().any(|h| h == "host"))
        || !headers.contains_key(http::header::HOST)
    {
        return Err(malformed("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."));
    }

    let body_hash = hex::encode(Sha256::digest(body));
    if let Some(claimed) = header(headers, "x-amz-content-sha256")? {
        // Also refuses UNSIGNED-PAYLOAD and streaming modes: bedrock requests are signed whole.
        if claimed != body_hash {
            return Err(AuthError::BadSignature);
        }
    }

    let mut signable = Vec::with_capacity(auth.signed_headers.len());
    for (name, value) in headers {
        if auth.signed_headers.iter().any(|h| h == name.as_str()) {
            let value = value.to_str().map_err(|_| malformed(format!("Header '{name}' is not visible ASCII.")))?;
            signable.push((name.as_str(), value));
        }
    }
    let token_signed = auth.signed_headers.iter().any(|h| h == "x-amz-security-token");
    if authority_signed {
        // aws-sigv4 cannot sign this (see `canonical`): the host header's value (the
        // caller's copy of the `:authority`) goes in under that name.
        if let Some(host) = header(headers, "host")? {
            signable.push((":authority", host));
        }
        let request = canonical::Signed {
            method: method.as_str(),
            raw_path_and_query,
            headers: signable,
            payload_hash: &body_hash,
            x_amz_date,
            region: auth.region,
            service: auth.service,
        };
        return matches(&auth, key, &canonical::signature(&request, &key.secret, signed_at));
    }
    let credentials = Credentials::new(
        auth.access_key_id,
        key.secret.clone(),
        token.filter(|_| token_signed).map(str::to_owned),
        None,
        "spillway-auth",
    );
    let identity = credentials.into();
    let mut settings = SigningSettings::default();
    settings.excluded_headers = None;
    let signing_params = v4::SigningParams::builder()
        .identity(&identity)
        .region(auth.region)
        .name(auth.service)
        .time(signed_at)
        .settings(settings)
        .build()
        .map_err(|e| malformed(format!("Cannot rebuild the signature: {e}.")))?
        .into();
    let request = SignableRequest::new(
        method.as_str(),
        raw_path_and_query,
        signable.into_iter(),
        SignableBody::Precomputed(body_hash),
    )
    .map_err(|e| malformed(format!("Cannot rebuild the canonical request: {e}.")))?;
    let expected =
        sign(request, &signing_params).map_err(|e| malformed(format!("Cannot rebuild the signature: {e}.")))?;

    matches(&auth, key, expected.signature())
}

fn matches(auth: &Authorization<'_>, key: &KeyEntry, expected: &str) -> Result<Principal, AuthError> {
    // Constant time, so that timing does not reveal how many leading characters were right.
    if bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
        Ok(Principal {
            account: key.account.clone(),
            access_key_id: Some(auth.access_key_id.to_owned()),
            region: Some(auth.region.to_owned()),
            service: Some(auth.service.to_owned()),
        })
    } else {
        Err(AuthError::BadSignature)
    }
}

/// A single header as text; a non-ASCII value is a malformed request.
fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, AuthError> {
    headers
        .get(name)
        .map(|v| v.to_str().map_err(|_| malformed(format!("Header '{name}' is not visible ASCII."))))
        .transpose()
}

fn malformed(message: impl Into<String>) -> AuthError {
    AuthError::Malformed(message.into())
}
