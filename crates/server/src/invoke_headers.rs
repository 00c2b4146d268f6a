//! The `X-Amzn-Bedrock-*` (and `Accept`) request headers of InvokeModel and
//! InvokeModelWithResponseStream: a value outside the model's constraints is refused with
//! a ValidationException naming the member and its header, before the body is parsed.
//!
//! What the accepted values do: `Accept` must allow JSON (the only body type answered);
//! what the values do, and which are refused by name because spillway does not honour
//! them (guardrails), is decided by `spillway_wire::invoke::headers` when the handler
//! runs; the request metadata, once checked, goes on to the invocation log (as
//! [`HeaderMetadata`], read by the [`crate::context::Caller`] extractor); a service tier or latency the model does not offer is refused
//! once the model is known (`spillway_route::tier`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName};
use spillway_wire::parse::value_violation;
use spillway_wire::BedrockError;

use crate::error::ApiError;

/// `X-Amzn-Bedrock-Request-Metadata` once checked: what the invocation log records as the
/// call's `requestMetadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMetadata(pub Arc<BTreeMap<String, String>>);

/// InvokeModel's header checks, as the handler's first extractor: the answer type travels
/// in `Accept`. Extractors run in the order of the handler's arguments, so the checked
/// metadata is in the request's extensions when [`crate::context::Caller`] reads it.
/// (An extractor, not a middleware layer: a layer wraps the route in boxed services that
/// every call cloned; issue 13.)
pub struct InvokeChecked;

/// InvokeModelWithResponseStream's: `Accept` is the event stream's; the chunks' type
/// travels in `X-Amzn-Bedrock-Accept`.
pub struct InvokeStreamChecked;

impl<S: Sync> FromRequestParts<S> for InvokeChecked {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        checked(parts, &header::ACCEPT).map(|()| Self)
    }
}

impl<S: Sync> FromRequestParts<S> for InvokeStreamChecked {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        checked(parts, &BEDROCK_ACCEPT).map(|()| Self)
    }
}

fn checked(parts: &mut Parts, accept: &HeaderName) -> Result<(), ApiError> {
    if let Some(metadata) = check(&parts.headers, accept)? {
        parts.extensions.insert(metadata);
    }
    Ok(())
}

/// A checked header: the member it sets, the header (as named in messages, and as
/// looked up: a `&str` name is parsed and lower-cased on every lookup) and its values.
struct Member {
    member: &'static str,
    header: &'static str,
    name: HeaderName,
    allowed: &'static [&'static str],
}

const TRACE: Member = Member {
    member: "trace",
    header: "X-Amzn-Bedrock-Trace",
    name: HeaderName::from_static("x-amzn-bedrock-trace"),
    allowed: &["ENABLED", "DISABLED", "ENABLED_FULL"],
};
const LATENCY: Member = Member {
    member: "performanceConfigLatency",
    header: "X-Amzn-Bedrock-PerformanceConfig-Latency",
    name: HeaderName::from_static("x-amzn-bedrock-performanceconfig-latency"),
    allowed: &["standard", "optimized"],
};
const TIER: Member = Member {
    member: "serviceTier",
    header: "X-Amzn-Bedrock-Service-Tier",
    name: HeaderName::from_static("x-amzn-bedrock-service-tier"),
    allowed: &["priority", "default", "flex", "reserved"],
};
const BEDROCK_ACCEPT: HeaderName = HeaderName::from_static("x-amzn-bedrock-accept");
const METADATA: HeaderName = HeaderName::from_static("x-amzn-bedrock-request-metadata");
/// The model's limit on the metadata header, and Converse's on its entries.
const MAX_METADATA_BYTES: usize = 8500;
const MAX_METADATA_ENTRIES: usize = 16;

/// Every header constraint of the two operations; `accept` names the header that carries
/// the accepted body type. Returns the request metadata, when the header is set.
pub fn check(headers: &HeaderMap, accept: &HeaderName) -> Result<Option<HeaderMetadata>, BedrockError> {
    for Member { member, header, name, allowed } in [TRACE, LATENCY, TIER] {
        if let Some(value) = text(headers, &name, header)? {
            if !allowed.contains(&value) {
                let set = allowed.join(", ");
                let constraint = format!("Member must satisfy enum value set: [{set}]");
                return Err(in_header(value_violation(member, value, &constraint), header));
            }
        }
    }
    let accept_header = if *accept == header::ACCEPT { "Accept" } else { "X-Amzn-Bedrock-Accept" };
    if let Some(value) = text(headers, accept, accept_header)? {
        let json = value
            .split(',')
            .map(|r| r.split(';').next().unwrap_or("").trim())
            .any(|range| range.eq_ignore_ascii_case("application/json") || range == "*/*" || range == "application/*");
        if !json {
            return Err(BedrockError::validation(format!(
                "The accept type {value} is not supported for this model (send application/json): {accept_header}"
            )));
        }
    }
    match text(headers, &METADATA, "X-Amzn-Bedrock-Request-Metadata")? {
        Some(raw) => Ok(Some(HeaderMetadata(Arc::new(metadata(raw)?)))),
        None => Ok(None),
    }
}

/// The metadata header: a JSON object of at most 16 string values, at most 8500 bytes,
/// whose keys and values follow the same patterns as Converse's `requestMetadata`.
fn metadata(raw: &str) -> Result<BTreeMap<String, String>, BedrockError> {
    let (member, header) = ("requestMetadata", "X-Amzn-Bedrock-Request-Metadata");
    if raw.len() > MAX_METADATA_BYTES {
        let constraint = format!("Member must have length less than or equal to {MAX_METADATA_BYTES}");
        return Err(in_header(value_violation(member, raw.len(), &constraint), header));
    }
    let parsed: BTreeMap<String, String> = serde_json::from_str(raw).map_err(|e| {
        in_header(
            BedrockError::validation(format!("The value at '{member}' must be a JSON object of string values: {e}")),
            header,
        )
    })?;
    if parsed.len() > MAX_METADATA_ENTRIES {
        let constraint = format!("Member must have length less than or equal to {MAX_METADATA_ENTRIES}");
        return Err(in_header(value_violation(member, parsed.len(), &constraint), header));
    }
    spillway_wire::surface::request_metadata(&parsed).map_err(|e| in_header(e, header))?;
    Ok(parsed)
}

/// A header's value as text; one that is not visible ASCII is refused by name.
fn text<'h>(headers: &'h HeaderMap, name: &HeaderName, shown: &str) -> Result<Option<&'h str>, BedrockError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.trim())).map_err(|_| {
            BedrockError::validation(format!("The header {shown} has a value that is not visible ASCII text."))
        }),
    }
}

/// Says which header carried the member (the model's messages name only the member).
fn in_header(mut e: BedrockError, header: &str) -> BedrockError {
    e.message.push_str(&format!(" (header {header})"));
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static [u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, axum::http::HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    fn refused(pairs: &[(&'static str, &'static [u8])]) -> BedrockError {
        check(&headers(pairs), &header::ACCEPT).unwrap_err()
    }

    #[test]
    fn model_values_pass() {
        let ok = headers(&[
            ("x-amzn-bedrock-trace", b"ENABLED"),
            ("x-amzn-bedrock-service-tier", b"flex"),
            ("x-amzn-bedrock-performanceconfig-latency", b"standard"),
            ("accept", b"application/json, text/plain, */*"),
            ("x-amzn-bedrock-request-metadata", br#"{"team":"ml"}"#),
            ("x-amzn-bedrock-guardrailidentifier", b""),
        ]);
        let metadata = check(&ok, &header::ACCEPT).unwrap().unwrap();
        assert_eq!(metadata.0.get("team").map(String::as_str), Some("ml"));
        assert_eq!(check(&headers(&[("x-amzn-bedrock-trace", b"ENABLED")]), &header::ACCEPT), Ok(None));
    }

    #[test]
    fn bad_values_are_named_with_member_and_header() {
        let e = refused(&[("x-amzn-bedrock-trace", b"LOUD")]);
        assert_eq!(
            e.message,
            "1 validation error detected: Value 'LOUD' at 'trace' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_FULL] (header X-Amzn-Bedrock-Trace)"
        );
        assert!(refused(&[("accept", b"text/html")]).message.contains("text/html"));
        assert!(refused(&[("x-amzn-bedrock-request-metadata", b"[1]")]).message.contains("requestMetadata"));
        // Keys and values follow Converse's patterns.
        let e = refused(&[("x-amzn-bedrock-request-metadata", br#"{"team":"a;b"}"#)]);
        assert!(e.message.contains("'requestMetadata.team.value'"), "{}", e.message);
        assert!(e.message.ends_with("(header X-Amzn-Bedrock-Request-Metadata)"), "{}", e.message);
        assert!(refused(&[("x-amzn-bedrock-request-metadata", b"{}")]).message.contains("greater than or equal to 1"));
        assert!(refused(&[("x-amzn-bedrock-service-tier", b"\xff")]).message.contains("X-Amzn-Bedrock-Service-Tier"));
    }
}
