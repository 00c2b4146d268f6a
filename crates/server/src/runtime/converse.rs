//! Converse and ConverseStream, with a model ID or a prompt ARN (whose template they
//! render and run on the prompt's model).

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use spillway_invocation_log::{JsonBody, Operation};
use spillway_route::tier::{self, Ask, Via};
use spillway_route::Plan;
use spillway_wire::converse::{ContentBlock, ConverseOutput, ConverseRequest, ConverseResponse};
use spillway_wire::{parse, response_fields, validate};

use super::stream::{self, ConverseFrames};
use super::{ensure_streaming, ensure_text_model, json_response, max_tokens, Answer, Call, ModelId, Ran};
use crate::context::Caller;
use crate::dispatch::{Declared, Progress};
use crate::error::ApiError;
use crate::logging::ParsedInput;
use crate::state::Runtime;
use crate::stream_body;

/// Parses and checks the request and resolves where it runs. With a prompt ARN as
/// modelId, what runs is the prompt's template rendered with `promptVariables`, on the
/// prompt's model.
async fn prepare<'s>(
    state: &'s Runtime,
    caller: &Caller,
    model_id: &str,
    body: &[u8],
    progress: &Progress,
) -> Result<(Plan<'s>, ConverseRequest, ParsedInput), ApiError> {
    let request: ConverseRequest = parse::json(body)?;
    // Taken before a prompt's template is rendered: the members of the body as sent.
    let parsed = logged_members(&request);
    let rendered = state.resolver.render(caller.origin(), model_id, request).await?;
    validate::converse(&rendered.request)?;
    let plan = state.resolver.plan(caller.origin(), &rendered.target).await?;
    progress.attribute(plan.attribution());
    tier::check(plan.model, Ask::of(&rendered.request), Via::Body)?;
    Ok((plan, rendered.request, parsed))
}

/// What the invocation log takes from the body, from the parsed request.
fn logged_members(request: &ConverseRequest) -> ParsedInput {
    ParsedInput {
        request_metadata: request.request_metadata.clone(),
        performance_config: request.performance_config.as_ref().and_then(|p| serde_json::to_value(p).ok()),
    }
}

pub async fn converse(
    State(state): State<Runtime>,
    caller: Caller,
    ModelId(model_id): ModelId,
    body: Bytes,
) -> Response {
    let call =
        Call { state: &state, caller: &caller, model_id: &model_id, operation: Operation::Converse, input: &body };
    let progress = Progress::default();
    call.serve(&progress, Box::pin(run(&call, &progress))).await
}

async fn run(call: &Call<'_>, progress: &Progress) -> Result<Answer, ApiError> {
    let Call { state, caller, model_id, input: body, .. } = *call;
    let (plan, request, parsed) = prepare(state, caller, model_id, body, progress).await?;
    ensure_text_model(plan.model)?;
    let max_tokens = max_tokens(plan.model, &request)?;
    let ask = Ask::of(&request);
    let done = state.dispatcher.run_chat(caller.origin().asking(ask), &plan, &request, max_tokens, progress).await?;
    let usage = done.output.usage();
    let fields = response_fields::fields(&request, plan.model.body_format, &plan.model.id, &done.output);
    let mut response = done.output.into_response(caller.elapsed_ms());
    response.additional_model_response_fields = fields;
    response.served = done.served.report(ask);
    // The log keeps the answer's bytes as sent (shared, not copied).
    let body = Bytes::from(super::to_json(&response, response_size(&response)));
    let output = state.logs.enabled(caller).then(|| JsonBody::from_serialised(body.clone()));
    let response = json_response(body, &done.region, Vec::new());
    let ran = Ran { parsed: Some(parsed), ..Ran::chat(done.region, usage, output, done.backend_time) };
    Ok(Answer { response, ran: Some(ran) })
}

pub async fn converse_stream(
    State(state): State<Runtime>,
    caller: Caller,
    ModelId(model_id): ModelId,
    body: Bytes,
) -> Response {
    let operation = Operation::ConverseStream;
    let call = Call { state: &state, caller: &caller, model_id: &model_id, operation, input: &body };
    let progress = Progress::default();
    call.serve(&progress, Box::pin(run_stream(&call, &progress))).await
}

async fn run_stream(call: &Call<'_>, progress: &Progress) -> Result<Answer, ApiError> {
    let Call { state, caller, model_id, input: body, .. } = *call;
    let (plan, request, parsed) = prepare(state, caller, model_id, body, progress).await?;
    ensure_text_model(plan.model)?;
    ensure_streaming(plan.model)?;
    let max_tokens = max_tokens(plan.model, &request)?;
    let ask = Ask::of(&request);
    let origin = caller.origin().asking(ask);
    let (opened, admitted) =
        state.dispatcher.open_chat(origin, &plan, &request, max_tokens, Declared::ModelError).await?;
    let region = opened.region.clone();
    let owned = call.owned(progress, Some(parsed));
    let mut encoder = ConverseFrames::new(state.logs.enabled(caller), opened.served.report(ask));
    if let Some(paths) = request.additional_model_response_field_paths.filter(|p| !p.is_empty()) {
        encoder = encoder.with_response_fields(paths, plan.model.body_format, &plan.model.id);
    }
    let frames = stream::drive(opened, admitted, owned, encoder);
    Ok(Answer { response: stream_body::response(frames, &region, &[]), ran: None })
}

/// About the size of `response`'s JSON: its texts plus room for the rest, so the buffer
/// is allocated once instead of doubling its way up from 128 bytes (each step a realloc
/// and a copy of what was written).
fn response_size(response: &ConverseResponse) -> usize {
    let ConverseOutput::Message(message) = &response.output;
    let texts: usize =
        message.content.iter().map(|b| if let ContentBlock::Text(t) = b { t.len() + 32 } else { 256 }).sum();
    texts + 512
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The log's members from the typed request are what the body's own members were.
    #[test]
    fn logged_members_are_the_bodys() {
        let body = br#"{"messages":[],"requestMetadata":{"team":"ml","run":"a/1"},"performanceConfig":{"latency":"optimized"}}"#;
        let members = logged_members(&parse::json(body).unwrap());
        let meta = members.request_metadata.unwrap();
        assert_eq!(meta.into_iter().collect::<Vec<_>>(), [("run".into(), "a/1".into()), ("team".into(), "ml".into())]);
        assert_eq!(members.performance_config, Some(json!({"latency": "optimized"})));
        let none = logged_members(&parse::json(br#"{"messages":[]}"#).unwrap());
        assert!(none.request_metadata.is_none() && none.performance_config.is_none());
    }
}
