//! bedrock-runtime handlers. Each one parses (wire), resolves ([`crate::resolve`]), runs
//! ([`crate::dispatch`]) and encodes (wire); the checks they share live here, and every
//! call is recorded (metrics, usage, invocation log) through [`record`].

pub mod async_invoke;
pub mod converse;
pub mod count_tokens;
pub mod invoke;
pub mod path;
mod record;
mod stream;

pub use record::{Call, Ending, OwnedCall};

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use spillway_catalog::Model;
use spillway_wire::converse::{ConverseRequest, TokenUsage};
use spillway_wire::BedrockError;

use crate::error::ApiError;

/// The `{model_id}` path label, percent-decoded (`%3A` → `:`, `%2F` → `/`).
#[derive(Debug, Clone)]
pub struct ModelId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ModelId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // A runtime path is read where it is (the route table need not have matched it:
        // crate::app sends model calls straight to their handlers).
        if let Some(p) = path::parse(parts.uri.path()) {
            return match path::decode(p.raw_model) {
                Ok(id) => Ok(Self(id.into_owned())),
                Err(e) => Err(BedrockError::validation(format!(
                    "Invalid model identifier in the path: its percent-decoded bytes are not UTF-8 ({e})"
                ))
                .into()),
            };
        }
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) if !id.is_empty() => Ok(Self(id)),
            Ok(_) => Err(BedrockError::validation("The provided model identifier is invalid.").into()),
            Err(e) => Err(BedrockError::validation(format!("Invalid model identifier in the path: {e}")).into()),
        }
    }
}

/// The model must generate text (Converse and chat bodies).
fn ensure_text_model(model: &Model) -> Result<(), BedrockError> {
    if model.is_embedding() {
        return Err(BedrockError::validation(
            "This action doesn't support the model that you provided. Try again with a supported text or chat model.",
        ));
    }
    Ok(())
}

fn ensure_streaming(model: &Model) -> Result<(), BedrockError> {
    if !model.streaming {
        return Err(BedrockError::validation("The model is unsupported for streaming."));
    }
    Ok(())
}

/// maxTokens to generate: the request's, else the model's default; never above the
/// model's limit.
fn max_tokens(model: &Model, request: &ConverseRequest) -> Result<u32, BedrockError> {
    let asked = request.inference_config.as_ref().and_then(|c| c.max_tokens);
    let n = match asked {
        Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
        None => model.default_max_tokens,
    };
    if let Some(limit) = model.max_tokens_limit {
        if n > limit {
            return Err(BedrockError::validation(format!(
                "The maximum tokens you requested exceeds the model limit of {limit}. Try again with a maximum tokens value that is lower than {limit}."
            )));
        }
    }
    Ok(n)
}

/// `value` as JSON, written into a buffer of `capacity` bytes to start with.
fn to_json<T: serde::Serialize>(value: &T, capacity: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(capacity);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => body,
        Err(_) => Vec::new(),
    }
}

/// A JSON answer with the debugging header naming the region that ran it.
fn json_response(body: impl Into<Bytes>, region: &str, extra: Vec<(HeaderName, HeaderValue)>) -> Response {
    const REGION: HeaderName = HeaderName::from_static("x-spillway-inference-region");
    let mut response = body.into().into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(region) {
        headers.insert(REGION, v);
    }
    for (name, value) in extra {
        headers.insert(name, value);
    }
    response
}

/// What a handler produced: the response, and for answers that are complete when the
/// handler returns, where they ran and what they used (streams record themselves when
/// they end).
pub struct Answer {
    pub response: Response,
    pub ran: Option<Ran>,
}

pub struct Ran {
    pub region: String,
    pub usage: TokenUsage,
    /// The answer's JSON as sent, for the invocation log (only kept when logging is on).
    pub output: Option<spillway_invocation_log::JsonBody>,
    pub embedding: bool,
    /// Time inside backend calls; the rest of the request's time is spillway's overhead.
    pub backend_time: std::time::Duration,
    /// What the log takes from a request body the handler parsed (Converse); `None`:
    /// the log reads the body itself.
    pub parsed: Option<crate::logging::ParsedInput>,
}

impl Ran {
    /// A chat call that answered: no embedding, and the log reads the request body itself
    /// unless the handler sets `parsed`.
    pub fn chat(
        region: String,
        usage: TokenUsage,
        output: Option<spillway_invocation_log::JsonBody>,
        backend_time: std::time::Duration,
    ) -> Self {
        Self { region, usage, output, embedding: false, backend_time, parsed: None }
    }
}
