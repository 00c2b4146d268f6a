//! InvokeModel and InvokeModelWithResponseStream: provider-native bodies in and out.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use base64::Engine as _;
use spillway_invocation_log::{JsonBody, Operation};
use spillway_route::tier::{self, Ask, Via};
use spillway_wire::converse::{ContentBlock, TokenUsage};
use spillway_wire::eventstream::write_json_event_frame;
use spillway_wire::invoke::{self, InvokeRequest, NativeStream, Timing};
use spillway_wire::stream::ModelEvent;
use spillway_wire::{validate, BedrockError};

use super::stream::{self, FrameEncoder};
use super::{ensure_streaming, ensure_text_model, json_response, max_tokens, Answer, Call, ModelId, Ran};
use crate::context::Caller;
use crate::dispatch::{Declared, Progress};
use crate::error::ApiError;
use crate::invoke_headers::{InvokeChecked, InvokeStreamChecked};
use crate::state::Runtime;
use crate::stream_body;

/// Bodies are JSON; Bedrock rejects other content types for these models. The
/// `X-Amzn-Bedrock-*` headers each work or are refused by name; what they ask of the
/// service tier and latency comes back (checked against the model once it is known).
fn check_content_type(headers: &HeaderMap) -> Result<Ask, BedrockError> {
    let asked = invoke::headers::check(headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())))?;
    let ask = Ask { tier: asked.service_tier, latency: asked.latency };
    match headers.get("content-type").and_then(|v| v.to_str().ok()) {
        None => Ok(ask),
        Some(ct) if ct.starts_with("application/json") || ct == "*/*" => Ok(ask),
        Some(ct) => Err(BedrockError::validation(format!(
            "The content type {ct} is not supported for this model. Send application/json."
        ))),
    }
}

/// The unmodeled headers Bedrock adds to InvokeModel answers (clients read them raw);
/// the cache counts only when the prompt cache took part. Names as `HeaderName`
/// constants: a `&str` name is parsed, and a custom one copied, on every insert.
fn token_headers(
    usage: TokenUsage,
    latency_ms: u64,
    served: Vec<(&'static str, &'static str)>,
) -> Vec<(HeaderName, HeaderValue)> {
    const INPUT: HeaderName = HeaderName::from_static("x-amzn-bedrock-input-token-count");
    const OUTPUT: HeaderName = HeaderName::from_static("x-amzn-bedrock-output-token-count");
    const LATENCY: HeaderName = HeaderName::from_static("x-amzn-bedrock-invocation-latency");
    const CACHE_READ: HeaderName = HeaderName::from_static("x-amzn-bedrock-cache-read-input-token-count");
    const CACHE_WRITE: HeaderName = HeaderName::from_static("x-amzn-bedrock-cache-write-input-token-count");
    let mut headers = Vec::with_capacity(5 + served.len());
    headers.push((INPUT, HeaderValue::from(usage.input_tokens)));
    headers.push((OUTPUT, HeaderValue::from(usage.output_tokens)));
    headers.push((LATENCY, HeaderValue::from(latency_ms)));
    if usage.uses_cache() {
        headers.push((CACHE_READ, HeaderValue::from(usage.cache_read_input_tokens)));
        headers.push((CACHE_WRITE, HeaderValue::from(usage.cache_write_input_tokens())));
    }
    // The served tier and latency: the names are lower-case literals and the values
    // visible ASCII, so neither check can fail.
    headers.extend(served.into_iter().map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v))));
    headers
}

pub async fn invoke(
    State(state): State<Runtime>,
    _: InvokeChecked,
    caller: Caller,
    ModelId(model_id): ModelId,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call =
        Call { state: &state, caller: &caller, model_id: &model_id, operation: Operation::InvokeModel, input: &body };
    let progress = Progress::default();
    call.serve(&progress, Box::pin(run(&call, &headers, &progress))).await
}

async fn run(call: &Call<'_>, headers: &HeaderMap, progress: &Progress) -> Result<Answer, ApiError> {
    let Call { state, caller, model_id, input: body, .. } = *call;
    let ask = check_content_type(headers)?;
    let plan = state.resolver.plan(caller.origin(), model_id).await?;
    progress.attribute(plan.attribution());
    let model = plan.model;
    tier::check(model, ask, Via::Headers)?;
    let origin = caller.origin().asking(ask);
    let ids = [model_id, model.id.as_str()];
    let native = invoke::Call { model_ids: &ids, streaming: Some(false) };
    match invoke::parse_call(model.body_format, body, native)? {
        InvokeRequest::Chat { request, dialect } => {
            validate::converse(&request)?;
            let max_tokens = max_tokens(model, &request)?;
            let done = state.dispatcher.run_chat(origin, &plan, &request, max_tokens, progress).await?;
            let usage = done.output.usage();
            let served = done.served.headers(ask);
            let headers = token_headers(usage, caller.elapsed_ms(), served);
            // Room for the answer's text up front (the buffer otherwise doubles its way up).
            let size = done.output.content().iter().map(|b| if let ContentBlock::Text(t) = b { t.len() } else { 256 });
            // The log keeps the answer's bytes as sent (shared, not copied).
            let body = Bytes::from(invoke::chat_body(dialect, &model.id, &done.output, size.sum::<usize>() + 512));
            let output = state.logs.enabled(caller).then(|| JsonBody::from_serialised(body.clone()));
            let response = json_response(body, &done.region, headers);
            let ran = Ran::chat(done.region, usage, output, done.backend_time);
            Ok(Answer { response, ran: Some(ran) })
        }
        InvokeRequest::Embed(request) => {
            let dims = model.dimensions.unwrap_or(1024);
            let done = state.dispatcher.run_embed(origin, &plan, &request, dims).await?;
            let served = done.served.headers(ask);
            let (region, out) = (done.region, done.output);
            let usage = TokenUsage::new(out.input_tokens, 0);
            let answer = invoke::embed_response(model.body_format, &request, &out);
            let headers = token_headers(usage, caller.elapsed_ms(), served);
            let body = Bytes::from(serde_json::to_vec(&answer).unwrap_or_default());
            let output = state.logs.enabled(caller).then(|| JsonBody::from_serialised(body.clone()));
            let response = json_response(body, &region, headers);
            let ran =
                Ran { region, usage, output, embedding: true, backend_time: std::time::Duration::ZERO, parsed: None };
            Ok(Answer { response, ran: Some(ran) })
        }
    }
}

pub async fn invoke_stream(
    State(state): State<Runtime>,
    _: InvokeStreamChecked,
    caller: Caller,
    ModelId(model_id): ModelId,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let operation = Operation::InvokeModelWithResponseStream;
    let call = Call { state: &state, caller: &caller, model_id: &model_id, operation, input: &body };
    let progress = Progress::default();
    call.serve(&progress, Box::pin(run_stream(&call, &headers, &progress))).await
}

async fn run_stream(call: &Call<'_>, headers: &HeaderMap, progress: &Progress) -> Result<Answer, ApiError> {
    let Call { state, caller, model_id, input: body, .. } = *call;
    let ask = check_content_type(headers)?;
    let plan = state.resolver.plan(caller.origin(), model_id).await?;
    progress.attribute(plan.attribution());
    let model = plan.model;
    tier::check(model, ask, Via::Headers)?;
    ensure_streaming(model)?;
    ensure_text_model(model)?;
    let ids = [model_id, model.id.as_str()];
    let native = invoke::Call { model_ids: &ids, streaming: Some(true) };
    let InvokeRequest::Chat { request, dialect } = invoke::parse_call(model.body_format, body, native)? else {
        return Err(BedrockError::validation("The model is unsupported for streaming.").into());
    };
    validate::converse(&request)?;
    let max_tokens = max_tokens(model, &request)?;
    let origin = caller.origin().asking(ask);
    let (opened, admitted) =
        state.dispatcher.open_chat(origin, &plan, &request, max_tokens, Declared::ModelStreamError).await?;
    let region = opened.region.clone();
    let served = opened.served.headers(ask);
    let encoder = NativeFrames {
        native: NativeStream::new(dialect, &model.id),
        first_byte: None,
        kept: state.logs.enabled(caller).then(Vec::new),
    };
    let frames = stream::drive(opened, admitted, call.owned(progress, None), encoder);
    let mut extra: Vec<(&'static str, &str)> = vec![("x-amzn-bedrock-content-type", "application/json")];
    extra.extend(served);
    let response = stream_body::response(frames, &region, &extra);
    Ok(Answer { response, ran: None })
}

/// Native streaming chunks as `chunk` events; the log gets the array of decoded chunks,
/// as Bedrock logs InvokeModelWithResponseStream.
struct NativeFrames {
    native: NativeStream,
    first_byte: Option<u64>,
    /// The logged array's text so far: `[` and the chunks' JSON, comma-separated.
    kept: Option<Vec<u8>>,
}

impl FrameEncoder for NativeFrames {
    fn push(&mut self, event: ModelEvent, elapsed_ms: u64, out: &mut Vec<u8>) {
        let timing = Timing { latency_ms: elapsed_ms, first_byte_ms: *self.first_byte.get_or_insert(elapsed_ms) };
        for chunk in self.native.push(event, timing) {
            // The chunk's JSON, serialised once for the frame and the log.
            let raw = serde_json::to_vec(&chunk).unwrap_or_default();
            write_chunk_frame(out, &raw);
            if let Some(k) = self.kept.as_mut() {
                k.push(if k.is_empty() { b'[' } else { b',' });
                k.extend_from_slice(&raw);
            }
        }
    }

    fn log_output(&mut self, _elapsed_ms: u64) -> Option<JsonBody> {
        self.kept.take().map(|mut k| {
            if k.is_empty() {
                k.push(b'[');
            }
            k.push(b']');
            JsonBody::from_serialised(k)
        })
    }
}

/// A `chunk` event, appended to `out`: the native chunk's JSON, base64-encoded in `bytes`.
fn write_chunk_frame(out: &mut Vec<u8>, raw: &[u8]) {
    #[derive(serde::Serialize)]
    struct Chunk<'a> {
        bytes: &'a str,
    }
    let bytes = base64::engine::general_purpose::STANDARD.encode(raw);
    write_json_event_frame(out, "chunk", &Chunk { bytes: &bytes });
}
