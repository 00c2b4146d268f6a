//! A prompt ARN as Converse's `modelId`: the prompt's template (its DRAFT, or the version
//! the ARN names) rendered with the request's `promptVariables`, to run on the prompt's
//! model, routed like any modelId (so a profile there re-routes).

use spillway_store::StoreError;
use spillway_wire::converse::ConverseRequest;
use spillway_wire::prompt::{render, PromptArn, PromptBody};

use super::{store_failed, Resolver};
use crate::{DispatchError, Origin};

/// What a Converse request runs: the request as sent, or a prompt's rendering.
#[derive(Debug)]
pub struct Rendered {
    /// The `modelId` to plan: the request's, or the prompt variant's model.
    pub target: String,
    pub request: ConverseRequest,
}

impl Resolver {
    /// Renders `request` through the prompt `model_id` names, if it names one of the
    /// caller's prompts; other identifiers pass through unchanged.
    pub async fn render(
        &self,
        origin: Origin<'_>,
        model_id: &str,
        request: ConverseRequest,
    ) -> Result<Rendered, DispatchError> {
        let Some(prompt) = PromptArn::parse(model_id) else {
            return Ok(Rendered { target: model_id.to_owned(), request });
        };
        let not_found = || DispatchError::NotFound(format!("The prompt {model_id} couldn't be found."));
        if prompt.account != origin.account || prompt.region != origin.source_region {
            return Err(not_found());
        }
        let stored = match self.store.get_prompt(origin.account, prompt.region, prompt.id, prompt.version).await {
            Ok(p) => p,
            Err(StoreError::NotFound) => return Err(not_found()),
            Err(e) => return Err(store_failed(e)),
        };
        let body: PromptBody = serde_json::from_value(stored.body)
            .map_err(|e| DispatchError::Internal(format!("The stored prompt {model_id} can't be read: {e}")))?;
        let Some(variant) = body.variant() else {
            return Err(DispatchError::invalid(format!("The prompt {model_id} has no variant to run.")));
        };
        let Some(target) = variant.model_id.clone() else {
            return Err(DispatchError::invalid(format!(
                "The variant {} of the prompt {model_id} has no modelId to run on.",
                variant.name
            )));
        };
        // The rendering's refusals (a missing variable, a field a prompt forbids) are all
        // the request's fault: ValidationException, with the wire's words.
        let request = render::apply(variant, request).map_err(|e| DispatchError::Invalid(e.message))?;
        Ok(Rendered { target, request })
    }
}
