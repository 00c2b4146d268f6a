//! InvokeModel and InvokeModelWithResponseStream: provider-native bodies in and out.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine as _;
use futures::StreamExt;
use serde_json::json;
use spillway_route::resolve;
use spillway_wire::eventstream::event_frame;
use spillway_wire::invoke::{self, InvokeRequest, NativeStream, Timing};
use spillway_wire::stream::ModelEvent;
use spillway_wire::{validate, BedrockError};

use super::{ensure_streaming, ensure_text_model, json_response, max_tokens, ModelId};
use crate::app::AppState;
use crate::context::Caller;
use crate::error::ApiError;
use crate::stream_body;

/// Bodies are JSON; Bedrock rejects other content types for these models.
fn check_content_type(headers: &HeaderMap) -> Result<(), BedrockError> {
    match headers.get("content-type").and_then(|v| v.to_str().ok()) {
        None => Ok(()),
        Some(ct) if ct.starts_with("application/json") || ct == "*/*" => Ok(()),
        Some(ct) => Err(BedrockError::validation(format!(
            "The content type {ct} is not supported for this model. Send application/json."
        ))),
    }
}

pub async fn invoke(
    State(state): State<AppState>,
    caller: Caller,
    ModelId(model_id): ModelId,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_content_type(&headers)?;
    let plan = resolve(&state.catalog, &model_id, &caller.source_region, &caller.account)?;
    let model = plan.model;
    match invoke::parse(model.body_format, &body)? {
        InvokeRequest::Chat { request, dialect } => {
            validate::converse(&request)?;
            let max_tokens = max_tokens(model, &request)?;
            let done = state.engine.complete(&plan, &request, max_tokens).await?;
            let usage = done.output.usage();
            let answer = invoke::chat_response(dialect, &model.id, &done.output);
            let latency = caller.elapsed_ms();
            Ok(json_response(
                serde_json::to_vec(&answer).unwrap_or_default(),
                &done.region,
                &token_headers(usage.input_tokens, usage.output_tokens, latency),
            ))
        }
        InvokeRequest::Embed(request) => {
            let dims = model.dimensions.unwrap_or(1024);
            let (region, out) = state.engine.embed(&plan, &request, dims).await?;
            let answer = invoke::embed_response(model.body_format, &request, &out);
            let latency = caller.elapsed_ms();
            Ok(json_response(
                serde_json::to_vec(&answer).unwrap_or_default(),
                &region,
                &token_headers(out.input_tokens, 0, latency),
            ))
        }
    }
}

/// The unmodeled headers Bedrock adds to InvokeModel answers (clients read them raw).
fn token_headers(input: u32, output: u32, latency_ms: u64) -> [(&'static str, String); 3] {
    [
        ("x-amzn-bedrock-input-token-count", input.to_string()),
        ("x-amzn-bedrock-output-token-count", output.to_string()),
        ("x-amzn-bedrock-invocation-latency", latency_ms.to_string()),
    ]
}

pub async fn invoke_stream(
    State(state): State<AppState>,
    caller: Caller,
    ModelId(model_id): ModelId,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_content_type(&headers)?;
    let plan = resolve(&state.catalog, &model_id, &caller.source_region, &caller.account)?;
    let model = plan.model;
    ensure_streaming(model)?;
    ensure_text_model(model)?;
    let InvokeRequest::Chat { request, dialect } = invoke::parse(model.body_format, &body)? else {
        return Err(BedrockError::validation("The model is unsupported for streaming.").into());
    };
    validate::converse(&request)?;
    let max_tokens = max_tokens(model, &request)?;
    let opened = state.engine.open(&plan, &request, max_tokens).await?;
    let region = opened.region.clone();
    let model_id = model.id.clone();
    let frames = async_stream::stream! {
        let mut native = NativeStream::new(dialect, &model_id);
        let mut first_byte: Option<u64> = None;
        let timing = move |first: &mut Option<u64>| {
            let now = caller.elapsed_ms();
            let first_byte_ms = *first.get_or_insert(now);
            Timing { latency_ms: now, first_byte_ms }
        };
        let mut rest = opened.rest;
        let mut pending: Vec<ModelEvent> = opened.head;
        loop {
            for event in pending.drain(..) {
                let t = timing(&mut first_byte);
                for chunk in native.push(event, t) {
                    yield chunk_frame(&chunk);
                }
            }
            match rest.next().await {
                Some(Ok(event)) => pending.push(event),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "stream failed after it started");
                    yield stream_body::error_frame(e);
                    return;
                }
                None => return,
            }
        }
    };
    Ok(stream_body::response(frames, &region, &[("x-amzn-bedrock-content-type", "application/json")]))
}

/// A `chunk` event: the native chunk's JSON, base64-encoded in `bytes`.
fn chunk_frame(chunk: &serde_json::Value) -> Bytes {
    let raw = serde_json::to_vec(chunk).unwrap_or_default();
    let payload = json!({ "bytes": base64::engine::general_purpose::STANDARD.encode(raw) });
    event_frame("chunk", &serde_json::to_vec(&payload).unwrap_or_default())
}
