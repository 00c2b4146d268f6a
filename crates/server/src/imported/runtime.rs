//! An imported-model ARN as a runtime `modelId`: on demand, in the region its import job
//! ran in, on its own engine, within the `[imported_models]` quota of its own ARN.
//!
//! Answers chosen here (Bedrock's own were not all verified):
//! - an imported-model ARN of another region or account, an unknown one, or one that
//!   was deleted: ValidationException "The provided model identifier is invalid.", as
//!   for any unknown modelId;
//! - a model whose weights are not on this instance (a data directory not shared with
//!   the instance that imported it, or removed by hand): ModelNotReadyException naming
//!   the file; weights llama.cpp cannot load (or a build without the local engine)
//!   answer ModelNotReadyException with the engine's words, from the backend.

use spillway_route::{Plan, Target};
use spillway_store::StoreError;
use spillway_wire::arn::Arn;
use spillway_wire::{BedrockError, ErrorCode};

use crate::app::AppState;
use crate::context::Caller;
use crate::error::ApiError;

const INVALID: &str = "The provided model identifier is invalid.";

/// The plan of an imported-model ARN; `None` for any other identifier.
pub async fn plan<'c>(state: &'c AppState, caller: &Caller, model_id: &str) -> Result<Option<Plan<'c>>, ApiError> {
    let Some(parsed) = Arn::parse(model_id).filter(|a| a.resource_type == "imported-model") else {
        return Ok(None);
    };
    if parsed.service != "bedrock" || parsed.region != caller.source_region || parsed.account != caller.account {
        return Err(BedrockError::validation(INVALID).into());
    }
    let registry = state.engine.imported();
    if registry.get(model_id).is_none() {
        let stored = match state.store.get_imported_model(&caller.account, &caller.source_region, model_id).await {
            Ok(m) => m,
            Err(StoreError::NotFound) => return Err(BedrockError::validation(INVALID).into()),
            Err(e) => return Err(BedrockError::internal(format!("The control-plane store failed: {e}")).into()),
        };
        let file = state.importer.weights(&stored);
        if !file.is_file() {
            return Err(BedrockError::new(
                ErrorCode::ModelNotReady,
                format!("The weights of the imported model {model_id} ({}) are not on this endpoint.", file.display()),
            )
            .into());
        }
        // After a restart the engine loads on the first call; the call waits for it.
        registry.serve(&state.catalog, &stored.arn, &stored.region, &file);
    }
    let model = registry.model();
    let offer = model.offer(&caller.source_region).ok_or_else(|| {
        BedrockError::internal(format!("The region {} has no imported models.", caller.source_region))
    })?;
    Ok(Some(Plan {
        target: Target::Foundation(model),
        model,
        candidates: vec![offer],
        application: None,
        provisioned: None,
        imported: Some(model_id.to_owned()),
    }))
}
