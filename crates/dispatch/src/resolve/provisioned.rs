//! Provisioned throughput and custom models as a runtime `modelId`.
//!
//! Error texts chosen here (Bedrock's own were not all verified):
//! - a custom model (ARN, name or id) invoked directly: ValidationException "The provided
//!   model doesn't support on-demand throughput." (a custom model runs only through
//!   provisioned throughput); an unknown custom-model ARN: "The provided model identifier
//!   is invalid.";
//! - a provisioned model that is not serving (Creating, Failed): ValidationException
//!   "The provisioned model {arn} is not in service (status: {status}). Invoke it once
//!   its status is InService.";
//! - a provisioned model serving in the store but not reserved on this instance yet
//!   (another instance just completed it, or this one lacks the capacity):
//!   ModelNotReadyException, which SDKs retry;
//! - another region's or account's provisioned ARN, or an unknown one: "The provided model
//!   identifier is invalid.", as for any unknown modelId.

use spillway_route::{Plan, Provisioned, Target};
use spillway_store::StoreError;
use spillway_wire::arn::Arn;

use super::{store_failed, Resolver, INVALID, NOT_ON_DEMAND};
use crate::provisioned::served;
use crate::{DispatchError, Origin};

impl Resolver {
    /// The plan of a provisioned-model ARN of the caller: only its reserved capacity.
    pub(super) async fn provisioned(&self, origin: Origin<'_>, arn: &str) -> Result<Plan<'_>, DispatchError> {
        let Some(active) = self.provisioned.get(arn) else {
            return Err(self.not_serving(origin, arn).await);
        };
        let s = served(&self.catalog, origin.source_region, origin.account, &active.model_arn)
            .map_err(|_| DispatchError::Internal(format!("The model of {arn} is no longer in the catalog.")))?;
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
    async fn not_serving(&self, origin: Origin<'_>, arn: &str) -> DispatchError {
        match self.store.get_provisioned(origin.account, origin.source_region, arn).await {
            Ok(row) if row.status.serves() => DispatchError::NotReady(format!(
                "The provisioned model {arn} is not ready on this endpoint yet. Try your request again."
            )),
            Ok(row) => DispatchError::invalid(format!(
                "The provisioned model {arn} is not in service (status: {}). Invoke it once its status is InService.",
                row.status.as_str()
            )),
            Err(StoreError::NotFound) => DispatchError::invalid(INVALID),
            Err(e) => store_failed(e),
        }
    }

    /// A custom model named directly: refused, with the on-demand text if it exists.
    pub(super) fn custom(&self, origin: Origin<'_>, id: &str) -> DispatchError {
        let known = match Arn::parse(id) {
            None => true,
            Some(_) => {
                served(&self.catalog, origin.source_region, origin.account, id).is_ok_and(|s| s.custom.is_some())
            }
        };
        DispatchError::invalid(if known { NOT_ON_DEMAND } else { INVALID })
    }
}
