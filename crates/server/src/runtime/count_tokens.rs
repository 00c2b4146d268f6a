//! CountTokens: the input tokens a Converse or InvokeModel request would use, counted
//! by the model's backend.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;
use spillway_wire::converse::{ConverseRequest, Message, SystemContentBlock, ToolConfig};
use spillway_wire::invoke::{self, InvokeRequest};
use spillway_wire::{parse, BedrockError};

use super::{json_response, ModelId};
use crate::app::AppState;
use crate::context::Caller;
use crate::error::ApiError;

#[derive(Debug, Deserialize)]
struct CountTokensRequest {
    input: CountTokensInput,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
enum CountTokensInput {
    Converse(ConverseTokens),
    InvokeModel(InvokeTokens),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConverseTokens {
    #[serde(default)]
    messages: Vec<Message>,
    #[serde(default)]
    system: Vec<SystemContentBlock>,
    tool_config: Option<ToolConfig>,
    additional_model_request_fields: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct InvokeTokens {
    /// Base64 of the native body, as every blob inside JSON.
    body: String,
}

pub async fn count_tokens(
    State(state): State<AppState>,
    caller: Caller,
    ModelId(model_id): ModelId,
    body: Bytes,
) -> Result<Response, ApiError> {
    let parsed: CountTokensRequest = parse::json(&body)?;
    let model = state
        .catalog
        .model(&model_id)
        .ok_or_else(|| BedrockError::validation("The provided model identifier is invalid."))?;
    let request = match parsed.input {
        CountTokensInput::Converse(c) => ConverseRequest {
            messages: c.messages,
            system: c.system,
            tool_config: c.tool_config,
            additional_model_request_fields: c.additional_model_request_fields,
            ..ConverseRequest::default()
        },
        CountTokensInput::InvokeModel(i) => {
            let raw = base64::engine::general_purpose::STANDARD.decode(i.body.as_bytes()).map_err(|e| {
                parse::violation("input.invokeModel.body", &format!("Member must be base64-encoded ({e})"))
            })?;
            match invoke::parse(model.body_format, &raw)? {
                InvokeRequest::Chat { request, .. } => request,
                InvokeRequest::Embed(_) => {
                    return Err(BedrockError::validation("The provided model doesn't support counting tokens.").into())
                }
            }
        }
    };
    // Tokenization is the model's, wherever it runs: prefer the caller's region.
    let offer = model
        .offer(&caller.source_region)
        .or_else(|| model.offers.values().next())
        .ok_or_else(|| BedrockError::validation("The provided model doesn't support on-demand throughput."))?;
    let input_tokens = state.dispatcher.count_tokens(offer, &request).await?;
    let body = serde_json::to_vec(&json!({ "inputTokens": input_tokens })).unwrap_or_default();
    Ok(json_response(body, &offer.region, &[]))
}
