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

use super::{store_failed, Resolver, INVALID};
use crate::{DispatchError, Origin};

impl Resolver {
    pub(super) async fn imported(
        &self,
        origin: Origin<'_>,
        model_id: &str,
        arn: Arn<'_>,
    ) -> Result<Plan<'_>, DispatchError> {
        if arn.service != "bedrock" || arn.region != origin.source_region || arn.account != origin.account {
            return Err(DispatchError::invalid(INVALID));
        }
        let registry = &self.imported;
        if registry.get(model_id).is_none() {
            let stored = match self.store.get_imported_model(origin.account, origin.source_region, model_id).await {
                Ok(m) => m,
                Err(StoreError::NotFound) => return Err(DispatchError::invalid(INVALID)),
                Err(e) => return Err(store_failed(e)),
            };
            let file = self.data_dir.join(&stored.file);
            if !file.is_file() {
                return Err(DispatchError::NotReady(format!(
                    "The weights of the imported model {model_id} ({}) are not on this endpoint.",
                    file.display()
                )));
            }
            // After a restart the engine loads on the first call; the call waits for it.
            // A model deleted through this instance meanwhile is not started again.
            if registry.serve(&self.catalog, &stored.arn, &stored.region, &file).is_none() {
                return Err(DispatchError::invalid(INVALID));
            }
        }
        let model = registry.model();
        let offer = model.offer(origin.source_region).ok_or_else(|| {
            DispatchError::Internal(format!("The region {} has no imported models.", origin.source_region))
        })?;
        Ok(Plan {
            target: Target::Foundation(model),
            model,
            candidates: vec![offer],
            application: None,
            provisioned: None,
            imported: Some(model_id.to_owned()),
        })
    }
}
