//! Who is calling, from where: the request ID every response carries, and the caller's
//! account and source region (the SigV4 credential scope's region, else the default).

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use axum::response::IntoResponse;
use axum::response::Response;
use spillway_auth::Keyring;
use spillway_wire::{BedrockError, ErrorCode};
use tracing::Instrument;

use crate::app::AppState;
use crate::error::ApiError;
use crate::{rejections, request_span};

// Header names as constants: a `&str` name is parsed and checked on every use.
const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-amzn-requestid");
const LATENCY_HEADER: HeaderName = HeaderName::from_static("x-amzn-bedrock-performanceconfig-latency");

/// The ID of one request, as sent back in `x-amzn-RequestId` (and logged), and when it
/// arrived: one extension, shared with the [`Caller`] (not copied).
#[derive(Debug, Clone)]
struct RequestId {
    id: Arc<str>,
    started: Instant,
}

/// Gives every request an ID and every response the `x-amzn-RequestId` header; handles
/// the request (`inner`) inside its log span ([`request_span`]); and makes sure every
/// error it answers is Bedrock-shaped ([`rejections`]), whoever produced it.
///
/// A plain function around the router rather than an axum middleware layer: a layer
/// added with `Router::layer` wraps every route in a boxed, cloned service of its own, and
/// `from_fn` boxes the rest of the chain into `Next`; both ran on every call (issue 13).
pub async fn request_id<F, Fut>(mut req: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let id: Arc<str> = Arc::from(&*uuid::Uuid::new_v4().hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()));
    let method = req.method().clone();
    // The URI shares the request head's bytes: cloning it copies no path.
    let uri = req.uri().clone();
    let path = uri.path();
    let span = request_span::span(&id, &method, path);
    let response = async {
        if let Some(e) = rejections::declared_too_large(req.headers()) {
            return ApiError::from(e).into_response();
        }
        req.extensions_mut().insert(RequestId { id: Arc::clone(&id), started: Instant::now() });
        let response = inner(req).await;
        rejections::bedrock_shaped(response, &method, path).await
    }
    .instrument(span.clone())
    .await;
    let mut response = request_span::instrument_body(response, span);
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    response
}

/// Who a verified request comes from (set by [`authenticate`] when accounts exist).
#[derive(Debug, Clone)]
struct Verified {
    account: String,
    region: Option<String>,
}

/// With accounts configured, every request must carry a valid SigV4 signature or API key
/// of one of them: the request to go on with, or the refusal. The body is buffered here
/// because the signature covers its hash.
pub async fn authenticate(keyring: &Keyring, req: Request) -> Result<Request, Response> {
    let (mut parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, crate::app::MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return Err(ApiError::from(rejections::body_error(&e)).into_response()),
    };
    authority_as_host(&mut parts);
    let raw = parts.uri.path_and_query().map_or_else(|| parts.uri.path(), |pq| pq.as_str());
    match spillway_auth::authenticate(keyring, &parts.method, raw, &parts.headers, &body, std::time::SystemTime::now())
    {
        Ok(principal) => {
            parts.extensions.insert(Verified { account: principal.account, region: principal.region });
            Ok(Request::from_parts(parts, axum::body::Body::from(body)))
        }
        Err(e) => {
            let (shape, message) = e.shape();
            let code = ErrorCode::from_shape_name(shape).unwrap_or(ErrorCode::AccessDenied);
            tracing::info!(error = %e, "request refused");
            Err(ApiError::from(BedrockError::new(code, message)).into_response())
        }
    }
}

/// Over HTTP/2 the authority comes as the `:authority` pseudo-header (in the URI), with no
/// `host` header; SigV4 verification takes it as `host` (the JavaScript SDK v3 sends
/// bedrock-runtime over HTTP/2 and signs `:authority`).
fn authority_as_host(parts: &mut Parts) {
    if parts.headers.contains_key(axum::http::header::HOST) {
        return;
    }
    if let Some(value) = parts.uri.authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok()) {
        parts.headers.insert(axum::http::header::HOST, value);
    }
}

/// The caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: String,
    pub source_region: String,
    pub request_id: Arc<str>,
    pub started: Instant,
    /// InvokeModel's `X-Amzn-Bedrock-Request-Metadata`, checked (the invocation log's
    /// `requestMetadata`; Converse carries its own in the body).
    pub header_metadata: Option<crate::invoke_headers::HeaderMetadata>,
    /// `X-Amzn-Bedrock-PerformanceConfig-Latency` as sent (checked on the InvokeModel
    /// routes; the invocation log's `performanceConfig` of those operations).
    pub header_latency: Option<String>,
}

impl Caller {
    /// Whose quotas a call of this caller draws on.
    pub fn origin(&self) -> crate::dispatch::Origin<'_> {
        let ask = spillway_route::tier::Ask::default();
        crate::dispatch::Origin { account: &self.account, source_region: &self.source_region, ask }
    }

    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let (request_id, started) = match parts.extensions.get::<RequestId>() {
            Some(r) => (Arc::clone(&r.id), r.started),
            None => (Arc::from(""), Instant::now()),
        };
        let verified = parts.extensions.get::<Verified>().cloned();
        let authorization = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let scope = match &verified {
            Some(v) => v.region.clone(),
            None => authorization.and_then(scope_region).map(str::to_owned),
        };
        let source_region = scope.unwrap_or_else(|| state.catalog.default_region.clone());
        let account = verified.map_or_else(|| state.catalog.default_account.clone(), |v| v.account);
        if state.catalog.region(&source_region).is_none() {
            let known: Vec<&str> = state.catalog.regions.iter().map(|r| r.name.as_str()).collect();
            return Err(BedrockError::validation(format!(
                "The region {source_region} in the request's credential scope is not served by this endpoint. Regions served: {}.",
                known.join(", ")
            ))
            .into());
        }
        let header_metadata = parts.extensions.get::<crate::invoke_headers::HeaderMetadata>().cloned();
        let header_latency = parts.headers.get(LATENCY_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Self { account, source_region, request_id, started, header_metadata, header_latency })
    }
}

/// The region of a SigV4 `Authorization` header's credential scope:
/// `AWS4-HMAC-SHA256 Credential=AKID/20240901/eu-west-3/bedrock/aws4_request, …`.
fn scope_region(authorization: &str) -> Option<&str> {
    const CREDENTIAL: &[u8] = b"Credential=";
    let rest = authorization.strip_prefix("AWS4-HMAC-SHA256")?;
    // A byte scan: `str::find` sets up a two-way searcher, ≈ 2,000 instructions for this
    // one short header on every request (issue 13). `Credential=` is ASCII, so the index
    // after it is a char boundary.
    let start = rest.as_bytes().windows(CREDENTIAL.len()).position(|w| w == CREDENTIAL)? + CREDENTIAL.len();
    // Up to the first `,` or space, found with a byte test (`split` with a pattern of two
    // chars runs a searcher a char at a time); both are ASCII, so the index is a boundary.
    let tail = &rest[start..];
    let credential = &tail[..tail.bytes().position(|b| b == b',' || b == b' ').unwrap_or(tail.len())];
    let mut parts = credential.split('/');
    let _key = parts.next()?;
    let _date = parts.next()?;
    parts.next().filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_from_credential_scope() {
        let h = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240901/eu-west-3/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
        assert_eq!(scope_region(h), Some("eu-west-3"));
        assert_eq!(scope_region("Bearer abc"), None);
        assert_eq!(scope_region("AWS4-HMAC-SHA256 Credential=AK/2024"), None);
    }

    #[test]
    fn http2_authority_becomes_the_host_header() {
        let (mut h2, ()) =
            axum::http::Request::builder().uri("http://127.0.0.1:8080/model/m/converse").body(()).unwrap().into_parts();
        authority_as_host(&mut h2);
        assert_eq!(h2.headers["host"], "127.0.0.1:8080");
        // An HTTP/1.1 host header is left as sent.
        let (mut h1, ()) = axum::http::Request::builder()
            .uri("http://127.0.0.1:8080/model/m/converse")
            .header("host", "spillway.internal")
            .body(())
            .unwrap()
            .into_parts();
        authority_as_host(&mut h1);
        assert_eq!(h1.headers["host"], "spillway.internal");
    }
}
