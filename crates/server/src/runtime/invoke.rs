//! InvokeModel and InvokeModelWithResponseStream: provider-native bodies in and out.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine as _;
use spillway_invocation_log::Operation;
use spillway_wire::converse::TokenUsage;
use spillway_wire::eventstream::json_event_frame;
use spillway_wire::invoke::{self, InvokeRequest, NativeStream, Timing};
use spillway_wire::stream::ModelEvent;
use spillway_wire::{validate, BedrockError};

use super::stream::{self, FrameEncoder};
use super::{ensure_streaming, ensure_text_model, json_response, max_tokens, Answer, Call, ModelId, Ran};
use crate::app::AppState;
use crate::context::Caller;
use crate::dispatch::{Declared, Progress};
use crate::error::ApiError;
use crate::stream_body;

/// Bodies are JSON; Bedrock rejects other content types for these models. The
/// `X-Amzn-Bedrock-*` headers each work or are refused by name.
fn check_content_type(headers: &HeaderMap) -> Result<(), BedrockError> {
    invoke::headers::check(headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())))?;
    match headers.get("content-type").and_then(|v| v.to_str().ok()) {
        None => Ok(()),
        Some(ct) if ct.starts_with("application/json") || ct == "*/*" => Ok(()),
        Some(ct) => Err(BedrockError::validation(format!(
            "The content type {ct} is not supported for this model. Send application/json."
        ))),
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

pub async fn invoke(
    State(state): State<AppState>,
    caller: Caller,
    ModelId(model_id): ModelId,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call =
        Call { state: &state, caller: &caller, model_id: &model_id, operation: Operation::InvokeModel, input: &body };
    let progress = Progress::default();
    call.serve(&progress, run(&call, &headers, &progress)).await
}

async fn run(call: &Call<'_>, headers: &HeaderMap, progress: &Progress) -> Result<Answer, ApiError> {
    let Call { state, caller, model_id, input: body, .. } = *call;
    check_content_type(headers)?;
    let plan = state.resolver.plan(caller.origin(), model_id).await?;
    progress.attribute(plan.attribution());
    let model = plan.model;
    match invoke::parse(model.body_format, body)? {
        InvokeRequest::Chat { request, dialect } => {
            validate::converse(&request)?;
            let max_tokens = max_tokens(model, &request)?;
            let done = state.dispatcher.run_chat(caller.origin(), &plan, &request, max_tokens, progress).await?;
            let usage = done.output.usage();
            let answer = invoke::chat_response(dialect, &model.id, &done.output);
            let headers = token_headers(usage.input_tokens, usage.output_tokens, caller.elapsed_ms());
            let response = json_response(serde_json::to_vec(&answer).unwrap_or_default(), &done.region, &headers);
            let output = state.logs.enabled(caller).then_some(answer);
            let ran = Ran { region: done.region, usage, output, embedding: false, backend_time: done.backend_time };
            Ok(Answer { response, ran: Some(ran) })
        }
        InvokeRequest::Embed(request) => {
            let dims = model.dimensions.unwrap_or(1024);
            let done = state.dispatcher.run_embed(caller.origin(), &plan, &request, dims).await?;
            let (region, out) = (done.region, done.output);
            let usage = TokenUsage::new(out.input_tokens, 0);
            let answer = invoke::embed_response(model.body_format, &request, &out);
            let headers = token_headers(out.input_tokens, 0, caller.elapsed_ms());
            let response = json_response(serde_json::to_vec(&answer).unwrap_or_default(), &region, &headers);
            let output = state.logs.enabled(caller).then_some(answer);
            let ran = Ran { region, usage, output, embedding: true, backend_time: std::time::Duration::ZERO };
            Ok(Answer { response, ran: Some(ran) })
        }
    }
}

pub async fn invoke_stream(
    State(state): State<AppState>,
    caller: Caller,
    ModelId(model_id): ModelId,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let operation = Operation::InvokeModelWithResponseStream;
    let call = Call { state: &state, caller: &caller, model_id: &model_id, operation, input: &body };
    let progress = Progress::default();
    call.serve(&progress, run_stream(&call, &headers, &progress)).await
}

async fn run_stream(call: &Call<'_>, headers: &HeaderMap, progress: &Progress) -> Result<Answer, ApiError> {
    let Call { state, caller, model_id, input: body, .. } = *call;
    check_content_type(headers)?;
    let plan = state.resolver.plan(caller.origin(), model_id).await?;
    progress.attribute(plan.attribution());
    let model = plan.model;
    ensure_streaming(model)?;
    ensure_text_model(model)?;
    let InvokeRequest::Chat { request, dialect } = invoke::parse(model.body_format, body)? else {
        return Err(BedrockError::validation("The model is unsupported for streaming.").into());
    };
    validate::converse(&request)?;
    let max_tokens = max_tokens(model, &request)?;
    let (opened, admitted) =
        state.dispatcher.open_chat(caller.origin(), &plan, &request, max_tokens, Declared::ModelStreamError).await?;
    let region = opened.region.clone();
    let encoder = NativeFrames {
        native: NativeStream::new(dialect, &model.id),
        first_byte: None,
        kept: state.logs.enabled(caller).then(Vec::new),
    };
    let frames = stream::drive(opened, admitted, call.owned(progress), encoder);
    let response = stream_body::response(frames, &region, &[("x-amzn-bedrock-content-type", "application/json")]);
    Ok(Answer { response, ran: None })
}

/// Native streaming chunks as `chunk` events; the log gets the array of decoded chunks,
/// as Bedrock logs InvokeModelWithResponseStream.
struct NativeFrames {
    native: NativeStream,
    first_byte: Option<u64>,
    kept: Option<Vec<serde_json::Value>>,
}

impl FrameEncoder for NativeFrames {
    fn push(&mut self, event: ModelEvent, elapsed_ms: u64, out: &mut Vec<Bytes>) {
        let timing = Timing { latency_ms: elapsed_ms, first_byte_ms: *self.first_byte.get_or_insert(elapsed_ms) };
        for chunk in self.native.push(event, timing) {
            out.push(chunk_frame(&chunk));
            if let Some(k) = self.kept.as_mut() {
                k.push(chunk);
            }
        }
    }

    fn log_output(&mut self, _elapsed_ms: u64) -> Option<serde_json::Value> {
        self.kept.take().map(serde_json::Value::Array)
    }
}

/// A `chunk` event: the native chunk's JSON, base64-encoded in `bytes`.
fn chunk_frame(chunk: &serde_json::Value) -> Bytes {
    #[derive(serde::Serialize)]
    struct Chunk<'a> {
        bytes: &'a str,
    }
    let raw = serde_json::to_vec(chunk).unwrap_or_default();
    let bytes = base64::engine::general_purpose::STANDARD.encode(raw);
    json_event_frame("chunk", &Chunk { bytes: &bytes }, bytes.len() + 16)
}
