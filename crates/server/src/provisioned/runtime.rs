//! Provisioned throughput as a runtime `modelId`, and the identifiers refused around it.
//!
//! Error texts chosen here (Bedrock's own were not all verified):
//! - a custom model (ARN, name or id) invoked directly: ValidationException "The provided
//!   model doesn't support on-demand throughput." (Bedrock's on-demand text: a custom
//!   model runs only through provisioned throughput);
//! - a provisioned model that is not serving (Creating, Failed): ValidationException
//!   "The provisioned model {arn} is not in service (status: {status}). Invoke it once
//!   its status is InService.";
//! - a provisioned model serving in the store but not reserved on this instance yet
//!   (another instance just completed it, or this one lacks the capacity):
//!   ModelNotReadyException, which SDKs retry;
//! - another region's or account's provisioned ARN, or an unknown one: "The provided model
//!   identifier is invalid.", as for any unknown modelId;
//! - a provisioned ARN as an application profile's `copyFrom`: ValidationException
//!   "Inference profiles don't support Provisioned Throughput: …" (the docs' rule; the
//!   model's pattern for `copyFrom` admits no provisioned-model ARN).

use spillway_route::{Plan, Provisioned, Target};
use spillway_store::StoreError;
use spillway_wire::arn::Arn;
use spillway_wire::{BedrockError, ErrorCode};

use super::served;
use crate::app::AppState;
use crate::context::Caller;
use crate::error::ApiError;

const INVALID: &str = "The provided model identifier is invalid.";
const NOT_ON_DEMAND: &str = "The provided model doesn't support on-demand throughput.";

/// The plan of a provisioned-model ARN; `None` for identifiers that are not about
/// provisioned throughput. A custom model named directly is refused here.
pub async fn plan<'c>(state: &'c AppState, caller: &Caller, model_id: &str) -> Result<Option<Plan<'c>>, ApiError> {
    let Some(parsed) = Arn::parse(model_id) else {
        if state.catalog.custom_model(model_id).is_some() {
            return Err(BedrockError::validation(NOT_ON_DEMAND).into());
        }
        return Ok(None);
    };
    match parsed.resource_type {
        "custom-model" => {
            let known = served(&state.catalog, &caller.source_region, &caller.account, model_id)
                .is_ok_and(|s| s.custom.is_some());
            Err(BedrockError::validation(if known { NOT_ON_DEMAND } else { INVALID }).into())
        }
        "provisioned-model" => {
            if parsed.region != caller.source_region || parsed.account != caller.account {
                return Err(BedrockError::validation(INVALID).into());
            }
            provisioned_plan(state, caller, model_id).await.map(Some)
        }
        _ => Ok(None),
    }
}

async fn provisioned_plan<'c>(state: &'c AppState, caller: &Caller, arn: &str) -> Result<Plan<'c>, ApiError> {
    let Some(active) = state.engine.provisioned().get(arn) else {
        return Err(not_serving(state, caller, arn).await.into());
    };
    let s = served(&state.catalog, &caller.source_region, &caller.account, &active.model_arn)
        .map_err(|_| BedrockError::internal(format!("The model of {arn} is no longer in the catalog.")))?;
    Ok(Plan {
        target: Target::Foundation(s.model),
        model: s.model,
        candidates: vec![s.offer],
        application: None,
        provisioned: Some(Provisioned { arn: arn.to_owned(), tokens_per_minute: active.tokens_per_minute }),
        imported: None,
    })
}

/// Why a provisioned ARN this instance does not serve cannot run.
async fn not_serving(state: &AppState, caller: &Caller, arn: &str) -> BedrockError {
    match state.store.get_provisioned(&caller.account, &caller.source_region, arn).await {
        Ok(row) if row.status.serves() => BedrockError::new(
            ErrorCode::ModelNotReady,
            format!("The provisioned model {arn} is not ready on this endpoint yet. Try your request again."),
        ),
        Ok(row) => BedrockError::validation(format!(
            "The provisioned model {arn} is not in service (status: {}). Invoke it once its status is InService.",
            row.status.as_str()
        )),
        Err(StoreError::NotFound) => BedrockError::validation(INVALID),
        Err(e) => BedrockError::internal(format!("The control-plane store failed: {e}")),
    }
}

/// Refuses a provisioned-model ARN where an inference profile would hold it.
pub fn reject_in_profile(copy_from: &str) -> Result<(), BedrockError> {
    if super::is_provisioned_arn(copy_from) {
        return Err(BedrockError::validation(format!(
            "Inference profiles don't support Provisioned Throughput: {copy_from} can't be the model source. Use a foundation-model or inference-profile ARN."
        )));
    }
    Ok(())
}
