//! Converse and ConverseStream.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use futures::StreamExt;
use spillway_backends::count_request_tokens;
use spillway_invocation_log::Operation;
use spillway_wire::converse::ConverseRequest;
use spillway_wire::stream::{Collector, ConverseStreamEncoder, ModelEvent};
use spillway_wire::{parse, validate, BedrockError};

use super::{ensure_streaming, ensure_text_model, json_response, max_tokens, Answer, Call, ModelId, Ran};
use crate::app::AppState;
use crate::context::Caller;
use crate::error::ApiError;
use crate::stream_body::{self, UsageTracker};

fn parse_request(body: &[u8]) -> Result<ConverseRequest, ApiError> {
    let request: ConverseRequest = parse::json(body)?;
    validate::converse(&request)?;
    Ok(request)
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
    let request = parse_request(body)?;
    let plan = super::plan(state, caller, model_id).await?;
    ensure_text_model(plan.model)?;
    let max_tokens = max_tokens(plan.model, &request)?;
    let admitted = state.engine.admit(caller, &plan, count_request_tokens(&request), max_tokens).await?;
    let done = match state.engine.complete(&plan, &caller.source_region, &request, max_tokens).await {
        Ok(done) => done,
        Err(e) => {
            admitted.release().await;
            return Err(e.into());
        }
    };
    let usage = done.output.usage();
    admitted.settle(usage).await;
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
    let request = parse_request(body)?;
    let plan = super::plan(state, caller, model_id).await?;
    ensure_text_model(plan.model)?;
    ensure_streaming(plan.model)?;
    let max_tokens = max_tokens(plan.model, &request)?;
    let admitted = state.engine.admit(caller, &plan, count_request_tokens(&request), max_tokens).await?;
    let opened = match state.engine.open(&plan, &caller.source_region, &request, max_tokens).await {
        Ok(opened) => opened,
        Err(e) => {
            admitted.release().await;
            return Err(e.into());
        }
    };
    let region = opened.region.clone();
    let owned = call.owned();
    let caller = caller.clone();
    let frames = async_stream::stream! {
        // The reservation lives in the stream: if the client goes away mid-stream, the
        // stream is dropped and the reservation settles to the usage observed so far.
        let mut admitted = admitted;
        let mut usage = UsageTracker::default();
        // The aggregated answer, kept only when the call is logged.
        let mut kept = owned.logging().then(Collector::default);
        let mut encoder = ConverseStreamEncoder::new();
        let mut rest = stream_body::chain(opened.head, opened.rest);
        while let Some(item) = rest.next().await {
            match item {
                Ok(event) => {
                    usage.see(&event);
                    admitted.observe(usage.current());
                    if let Some(c) = kept.as_mut() {
                        c.push(event.clone());
                    }
                    let finished = matches!(event, ModelEvent::Finish(_));
                    for e in encoder.push(event, caller.elapsed_ms()) {
                        yield e.frame();
                    }
                    if finished {
                        admitted.settle(usage.current()).await;
                        let output = kept.take().map(|c| serde_json::to_value(c.into_response(caller.elapsed_ms())).unwrap_or_default());
                        owned.finish(&opened.region, usage.current(), None, output);
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "stream failed after it started");
                    opened.pool.report(&e);
                    let error = BedrockError::from(e);
                    yield stream_body::error_frame(&error);
                    admitted.settle(usage.current()).await;
                    owned.finish(&opened.region, usage.current(), Some(&error), None);
                    return;
                }
            }
        }
    };
    Ok(Answer { response: stream_body::response(frames, &region, &[]), ran: None })
}
