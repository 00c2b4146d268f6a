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
use spillway_wire::{parse, validate, BedrockError};

use super::{json_response, ModelId};
use crate::context::Caller;
use crate::error::ApiError;
use crate::state::Runtime;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountTokensRequest {
    input: CountTokensInput,
}

/// The `CountTokensInput` union: exactly one of its members, checked in [`one_input`] so
/// the error names the union as Bedrock's does.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CountTokensInput {
    converse: Option<ConverseTokens>,
    invoke_model: Option<InvokeTokens>,
}

enum Input {
    Converse(ConverseTokens),
    InvokeModel(InvokeTokens),
}

fn one_input(input: CountTokensInput) -> Result<Input, BedrockError> {
    match (input.converse, input.invoke_model) {
        (Some(c), None) => Ok(Input::Converse(c)),
        (None, Some(i)) => Ok(Input::InvokeModel(i)),
        (c, i) => {
            let found = usize::from(c.is_some()) + usize::from(i.is_some());
            Err(parse::violation(
                "input",
                &format!("Member must have exactly one of converse, invokeModel set (found {found})"),
            ))
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConverseTokens {
    #[serde(default)]
    messages: Vec<Message>,
    #[serde(default)]
    system: Vec<SystemContentBlock>,
    tool_config: Option<ToolConfig>,
    additional_model_request_fields: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvokeTokens {
    /// Base64 of the native body, as every blob inside JSON.
    body: String,
}

pub async fn count_tokens(
    State(state): State<Runtime>,
    caller: Caller,
    ModelId(model_id): ModelId,
    body: Bytes,
) -> Result<Response, ApiError> {
    let parsed: CountTokensRequest = parse::json(&body)?;
    let model = state
        .catalog
        .model(&model_id)
        .ok_or_else(|| BedrockError::validation("The provided model identifier is invalid."))?;
    let request = match one_input(parsed.input)? {
        Input::Converse(c) => ConverseRequest {
            messages: c.messages,
            system: c.system,
            tool_config: c.tool_config,
            additional_model_request_fields: c.additional_model_request_fields,
            ..ConverseRequest::default()
        },
        Input::InvokeModel(i) => {
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
    // What would be refused as a Converse request is refused here too.
    validate::converse(&request)?;
    // Tokenization is the model's, wherever it runs: prefer the caller's region.
    let offer = model
        .offer(&caller.source_region)
        .or_else(|| model.offers.values().next())
        .ok_or_else(|| BedrockError::validation("The provided model doesn't support on-demand throughput."))?;
    let input_tokens = state.dispatcher.count_tokens(offer, &request).await?;
    let body = serde_json::to_vec(&json!({ "inputTokens": input_tokens })).unwrap_or_default();
    Ok(json_response(body, &offer.region, Vec::new()))
}
