//! Converse and ConverseStream.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use futures::StreamExt;
use spillway_route::resolve;
use spillway_wire::converse::ConverseRequest;
use spillway_wire::stream::ConverseStreamEncoder;
use spillway_wire::{parse, validate};

use super::{ensure_streaming, ensure_text_model, json_response, max_tokens, ModelId};
use crate::app::AppState;
use crate::context::Caller;
use crate::error::ApiError;
use crate::stream_body;

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
) -> Result<Response, ApiError> {
    let request = parse_request(&body)?;
    let plan = resolve(&state.catalog, &model_id, &caller.source_region, &caller.account)?;
    ensure_text_model(plan.model)?;
    let max_tokens = max_tokens(plan.model, &request)?;
    let done = state.engine.complete(&plan, &request, max_tokens).await?;
    let response = done.output.into_response(caller.elapsed_ms());
    let body = serde_json::to_vec(&response).unwrap_or_default();
    Ok(json_response(body, &done.region, &[]))
}

pub async fn converse_stream(
    State(state): State<AppState>,
    caller: Caller,
    ModelId(model_id): ModelId,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = parse_request(&body)?;
    let plan = resolve(&state.catalog, &model_id, &caller.source_region, &caller.account)?;
    ensure_text_model(plan.model)?;
    ensure_streaming(plan.model)?;
    let max_tokens = max_tokens(plan.model, &request)?;
    let opened = state.engine.open(&plan, &request, max_tokens).await?;
    let region = opened.region.clone();
    let frames = async_stream::stream! {
        let mut encoder = ConverseStreamEncoder::new();
        for event in opened.head {
            for e in encoder.push(event, caller.elapsed_ms()) {
                yield e.frame();
            }
        }
        let mut rest = opened.rest;
        while let Some(item) = rest.next().await {
            match item {
                Ok(event) => {
                    for e in encoder.push(event, caller.elapsed_ms()) {
                        yield e.frame();
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "stream failed after it started");
                    yield stream_body::error_frame(e);
                    return;
                }
            }
        }
    };
    Ok(stream_body::response(frames, &region, &[]))
}
