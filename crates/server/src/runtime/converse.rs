//! Converse and ConverseStream.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use futures::StreamExt;
use spillway_backends::count_request_tokens;
use spillway_route::resolve;
use spillway_wire::converse::ConverseRequest;
use spillway_wire::stream::{ConverseStreamEncoder, ModelEvent};
use spillway_wire::{parse, validate, BedrockError};

use super::{
    ensure_streaming, ensure_text_model, json_response, max_tokens, record_stream, respond, Answer, ModelId, Ran,
};
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
    let result = run(&state, &caller, &model_id, &body).await;
    respond(&caller, &model_id, result)
}

async fn run(state: &AppState, caller: &Caller, model_id: &str, body: &[u8]) -> Result<Answer, ApiError> {
    let request = parse_request(body)?;
    let plan = resolve(&state.catalog, model_id, &caller.source_region, &caller.account)?;
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
    let response = json_response(body, &done.region, &[]);
    Ok(Answer { response, ran: Some(Ran { region: done.region, usage, backend_time: done.backend_time }) })
}

pub async fn converse_stream(
    State(state): State<AppState>,
    caller: Caller,
    ModelId(model_id): ModelId,
    body: Bytes,
) -> Response {
    let result = run_stream(&state, &caller, &model_id, &body).await;
    respond(&caller, &model_id, result)
}

async fn run_stream(state: &AppState, caller: &Caller, model_id: &str, body: &[u8]) -> Result<Answer, ApiError> {
    let request = parse_request(body)?;
    let plan = resolve(&state.catalog, model_id, &caller.source_region, &caller.account)?;
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
    let (caller, model_id) = (caller.clone(), model_id.to_owned());
    let frames = async_stream::stream! {
        // The reservation lives in the stream: if the client goes away mid-stream, the
        // stream is dropped and the reservation settles to the usage observed so far.
        let mut admitted = admitted;
        let mut usage = UsageTracker::default();
        let mut encoder = ConverseStreamEncoder::new();
        let mut rest = stream_body::chain(opened.head, opened.rest);
        while let Some(item) = rest.next().await {
            match item {
                Ok(event) => {
                    usage.see(&event);
                    admitted.observe(usage.current());
                    let finished = matches!(event, ModelEvent::Finish(_));
                    for e in encoder.push(event, caller.elapsed_ms()) {
                        yield e.frame();
                    }
                    if finished {
                        admitted.settle(usage.current()).await;
                        record_stream(&caller, &model_id, &opened.region, usage.current(), None);
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "stream failed after it started");
                    opened.pool.report(&e);
                    let error = BedrockError::from(e);
                    yield stream_body::error_frame(&error);
                    admitted.settle(usage.current()).await;
                    record_stream(&caller, &model_id, &opened.region, usage.current(), Some(&error));
                    return;
                }
            }
        }
    };
    Ok(Answer { response: stream_body::response(frames, &region, &[]), ran: None })
}
