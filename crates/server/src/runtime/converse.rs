//! Converse and ConverseStream, with a model ID or a prompt ARN (whose template they
//! render and run on the prompt's model).

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use spillway_invocation_log::Operation;
use spillway_route::Plan;
use spillway_store::StoreError;
use spillway_wire::converse::ConverseRequest;
use spillway_wire::prompt::{render, PromptArn, PromptBody};
use spillway_wire::{parse, validate, BedrockError, ErrorCode};

use super::stream::{self, ConverseFrames};
use super::{ensure_streaming, ensure_text_model, json_response, max_tokens, Answer, Call, ModelId, Ran};
use crate::app::AppState;
use crate::context::Caller;
use crate::error::ApiError;
use crate::stream_body;

/// Parses and checks the request and resolves where it runs. With a prompt ARN as
/// modelId, what runs is the prompt's template rendered with `promptVariables`, on the
/// prompt's model, routed like any modelId (so a profile there re-routes).
async fn prepare<'s>(
    state: &'s AppState,
    caller: &Caller,
    model_id: &str,
    body: &[u8],
) -> Result<(Plan<'s>, ConverseRequest), ApiError> {
    let request: ConverseRequest = parse::json(body)?;
    let Some(prompt) = PromptArn::parse(model_id) else {
        validate::converse(&request)?;
        return Ok((super::plan(state, caller, model_id).await?, request));
    };
    let (target, request) = render_prompt(state, caller, model_id, prompt, request).await?;
    state.usage.remember_target(model_id, &target);
    validate::converse(&request)?;
    Ok((super::plan(state, caller, &target).await?, request))
}

/// The prompt's model and the request rendered from the prompt (DRAFT or the version
/// the ARN names) of the caller's account and region.
async fn render_prompt(
    state: &AppState,
    caller: &Caller,
    model_id: &str,
    prompt: PromptArn<'_>,
    request: ConverseRequest,
) -> Result<(String, ConverseRequest), ApiError> {
    let not_found =
        || BedrockError::new(ErrorCode::ResourceNotFound, format!("The prompt {model_id} couldn't be found."));
    if prompt.account != caller.account || prompt.region != caller.source_region {
        return Err(not_found().into());
    }
    let stored = match state.store.get_prompt(&caller.account, prompt.region, prompt.id, prompt.version).await {
        Ok(p) => p,
        Err(StoreError::NotFound) => return Err(not_found().into()),
        Err(e) => return Err(BedrockError::internal(format!("The control-plane store failed: {e}")).into()),
    };
    let body: PromptBody = serde_json::from_value(stored.body)
        .map_err(|e| BedrockError::internal(format!("The stored prompt {model_id} can't be read: {e}")))?;
    let Some(variant) = body.variant() else {
        return Err(BedrockError::validation(format!("The prompt {model_id} has no variant to run.")).into());
    };
    let Some(target) = variant.model_id.clone() else {
        return Err(BedrockError::validation(format!(
            "The variant {} of the prompt {model_id} has no modelId to run on.",
            variant.name
        ))
        .into());
    };
    Ok((target, render::apply(variant, request)?))
}

pub async fn converse(
    State(state): State<AppState>,
    caller: Caller,
    ModelId(model_id): ModelId,
    body: Bytes,
) -> Response {
    let call =
        Call { state: &state, caller: &caller, model_id: &model_id, operation: Operation::Converse, input: &body };
    let result = run(&call).await;
    call.respond(result)
}

async fn run(call: &Call<'_>) -> Result<Answer, ApiError> {
    let Call { state, caller, model_id, input: body, .. } = *call;
    let (plan, request) = prepare(state, caller, model_id, body).await?;
    ensure_text_model(plan.model)?;
    let max_tokens = max_tokens(plan.model, &request)?;
    let done = state.engine.run_chat(caller, &plan, &request, max_tokens).await?;
    let usage = done.output.usage();
    let response = done.output.into_response(caller.elapsed_ms());
    let body = serde_json::to_vec(&response).unwrap_or_default();
    let output = state.logs.enabled(caller).then(|| serde_json::to_value(&response).unwrap_or_default());
    let response = json_response(body, &done.region, &[]);
    let ran = Ran { region: done.region, usage, output, embedding: false, backend_time: done.backend_time };
    Ok(Answer { response, ran: Some(ran) })
}

pub async fn converse_stream(
    State(state): State<AppState>,
    caller: Caller,
    ModelId(model_id): ModelId,
    body: Bytes,
) -> Response {
    let operation = Operation::ConverseStream;
    let call = Call { state: &state, caller: &caller, model_id: &model_id, operation, input: &body };
    let result = run_stream(&call).await;
    call.respond(result)
}

async fn run_stream(call: &Call<'_>) -> Result<Answer, ApiError> {
    let Call { state, caller, model_id, input: body, .. } = *call;
    let (plan, request) = prepare(state, caller, model_id, body).await?;
    ensure_text_model(plan.model)?;
    ensure_streaming(plan.model)?;
    let max_tokens = max_tokens(plan.model, &request)?;
    let (opened, admitted) = state.engine.open_chat(caller, &plan, &request, max_tokens).await?;
    let region = opened.region.clone();
    let owned = call.owned();
    let frames = stream::drive(opened, admitted, owned, ConverseFrames::new(state.logs.enabled(caller)));
    Ok(Answer { response: stream_body::response(frames, &region, &[]), ran: None })
}
