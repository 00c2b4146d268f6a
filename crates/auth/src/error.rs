//! Why a request was refused, and how Bedrock would say so on the wire.

use std::time::SystemTime;

use crate::amz_date::format_amz_date;
use crate::sigv4::MAX_SKEW;

/// An authentication failure. Every variant is answered with HTTP 403 (see [`AuthError::status`]);
/// [`AuthError::shape`] gives the error shape name for `x-amzn-ErrorType` and the `message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No (or an empty) `Authorization` header.
    ///
    /// Answered as `MissingAuthenticationTokenException` / "Missing Authentication Token", which is
    /// what AWS's REST front ends answer to an unsigned request. It is not in the Bedrock models,
    /// so SDKs surface it as a generic `ClientError` carrying that code, as they do against AWS.
    #[error("missing authentication")]
    Missing,
    /// The SigV4 access key id is not in the keyring.
    #[error("unknown access key id")]
    UnknownKey,
    /// The access key requires a session token and the request has none or a wrong one, or the
    /// key has no session tokens and the request carries one (AWS rejects that too).
    #[error("invalid or missing session token")]
    InvalidSessionToken,
    /// `Authorization: Bearer <key>` with a key no account owns.
    #[error("unknown API key")]
    UnknownApiKey,
    /// The recomputed signature differs (wrong secret, tampered body/path/headers), or
    /// `x-amz-content-sha256` does not match the body.
    #[error("signature mismatch")]
    BadSignature,
    /// `X-Amz-Date` is more than five minutes away from the server clock.
    #[error("request time outside the allowed clock skew")]
    Expired { signed_at: SystemTime, now: SystemTime },
    /// The credential scope's date is not the date part of `X-Amz-Date`.
    #[error("credential scope date does not match X-Amz-Date")]
    ScopeDateMismatch { scope_date: String, x_amz_date: String },
    /// The `Authorization` header (or a header it relies on) cannot be parsed; the text says why.
    #[error("malformed authorization: {0}")]
    Malformed(String),
}

/// "The security token included in the request is invalid." — AWS's answer to an unknown key.
const INVALID_TOKEN: &str = "The security token included in the request is invalid.";

impl AuthError {
    /// The HTTP status. Always 403: Bedrock (a REST-JSON service) answers every authentication
    /// failure with 403, including `IncompleteSignatureException` and the missing-token case.
    pub fn status(&self) -> u16 {
        403
    }

    /// `(error shape name, message)`, with AWS's own wording where it is known.
    pub fn shape(&self) -> (&'static str, String) {
        match self {
            Self::Missing => ("MissingAuthenticationTokenException", "Missing Authentication Token".to_owned()),
            Self::UnknownKey | Self::InvalidSessionToken => ("UnrecognizedClientException", INVALID_TOKEN.to_owned()),
            // Observed answer of Bedrock to a bad API key (HTTP 403). The shape name is our choice:
            // AccessDeniedException is a modeled 403 of bedrock and bedrock-runtime, so SDKs map it.
            Self::UnknownApiKey => {
                ("AccessDeniedException", "Authentication failed: Please make sure your API Key is valid.".to_owned())
            }
            Self::BadSignature => (
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. Check your AWS \
                 Secret Access Key and signing method. Consult the service documentation for details."
                    .to_owned(),
            ),
            Self::Expired { signed_at, now } => ("InvalidSignatureException", expired_message(*signed_at, *now)),
            Self::ScopeDateMismatch { scope_date, x_amz_date } => (
                "InvalidSignatureException",
                format!(
                    "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
                     '{scope_date}' != '{}', from '{x_amz_date}'.",
                    x_amz_date.get(..8).unwrap_or(x_amz_date)
                ),
            ),
            Self::Malformed(message) => ("IncompleteSignatureException", message.clone()),
        }
    }
}

/// AWS's wording, e.g. "Signature expired: 20240101T000000Z is now earlier than 20240101T000500Z
/// (20240101T001000Z - 5 min.)", or "Signature not yet current: … is still later than … (… + 5 min.)".
fn expired_message(signed_at: SystemTime, now: SystemTime) -> String {
    let minutes = MAX_SKEW.as_secs() / 60;
    let (at, now_s) = (format_amz_date(signed_at), format_amz_date(now));
    if signed_at < now {
        let bound = format_amz_date(now.checked_sub(MAX_SKEW).unwrap_or(now));
        format!("Signature expired: {at} is now earlier than {bound} ({now_s} - {minutes} min.)")
    } else {
        let bound = format_amz_date(now.checked_add(MAX_SKEW).unwrap_or(now));
        format!("Signature not yet current: {at} is still later than {bound} ({now_s} + {minutes} min.)")
    }
}

// The message speaks in whole minutes.
const _: () = assert!(MAX_SKEW.as_secs().is_multiple_of(60) && MAX_SKEW.as_secs() > 0);
