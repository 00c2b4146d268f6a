//! Put/Get/DeleteModelInvocationLoggingConfiguration: one configuration per account and
//! source region, as on Bedrock.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use spillway_invocation_log::LoggingConfig;
use spillway_wire::{parse, BedrockError};

use super::{control_error, json_ok, store_error};
use crate::context::Caller;
use crate::error::ApiError;
use crate::logging::InvocationLogs;
use crate::state::Control;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
struct PutRequest {
    logging_config: LoggingConfig,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct GetResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    logging_config: Option<LoggingConfig>,
}

pub async fn put(
    State(state): State<Control>,
    State(logs): State<Arc<InvocationLogs>>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: PutRequest = parse::json(&body).map_err(control_error)?;
    spillway_invocation_log::validate(&request.logging_config)
        .map_err(|m| control_error(BedrockError::validation(m)))?;
    let region = &caller.source_region;
    logs.put(&state.store, &caller.account, region, Some(request.logging_config))
        .await
        .map_err(|e| store_error(e, "logging"))?;
    json_ok(&json!({}))
}

pub async fn get(State(logs): State<Arc<InvocationLogs>>, caller: Caller) -> Result<Response, ApiError> {
    let logging_config = logs.get(&caller.account, &caller.source_region).map(|c| c.as_ref().clone());
    json_ok(&GetResponse { logging_config })
}

pub async fn delete(
    State(state): State<Control>,
    State(logs): State<Arc<InvocationLogs>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    logs.put(&state.store, &caller.account, &caller.source_region, None)
        .await
        .map_err(|e| store_error(e, "logging"))?;
    json_ok(&json!({}))
}
