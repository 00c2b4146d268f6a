//! Resolution: a runtime call's `modelId` (any of its forms, parsed once by [`identify`])
//! to the [`Plan`] the dispatcher runs. Catalog identifiers are the route crate's;
//! application profiles, provisioned throughput, imported models and prompts are looked
//! up here, in this instance's registries and the control-plane store. The plan carries
//! what usage attribution needs, so nothing resolves the identifier a second time.

pub mod application;
pub mod identify;
mod imported;
mod prompt;
mod provisioned;

use std::path::PathBuf;
use std::sync::Arc;

use spillway_catalog::Catalog;
use spillway_route::{resolve, Plan};
use spillway_store::{Store, StoreError};

use crate::{DispatchError, Origin};
use application::AppProfiles;
use identify::{identify, Identifier};

const INVALID: &str = "The provided model identifier is invalid.";
const NOT_ON_DEMAND: &str = "The provided model doesn't support on-demand throughput.";

/// What resolution reads: the catalog, the store, and this instance's registries.
#[derive(Debug)]
pub struct Resolver {
    catalog: Arc<Catalog>,
    store: Arc<Store>,
    apps: Arc<AppProfiles>,
    provisioned: Arc<crate::provisioned::Registry>,
    imported: Arc<crate::imported::Registry>,
    /// Where imported models' weights are kept (their stored path is relative to it).
    data_dir: PathBuf,
}

impl Resolver {
    pub fn new(
        catalog: Arc<Catalog>,
        store: Arc<Store>,
        provisioned: Arc<crate::provisioned::Registry>,
        imported: Arc<crate::imported::Registry>,
        data_dir: PathBuf,
    ) -> Self {
        Self { catalog, store, apps: Arc::default(), provisioned, imported, data_dir }
    }

    /// The application-profile cache (the control plane forgets deleted profiles in it).
    pub fn apps(&self) -> &Arc<AppProfiles> {
        &self.apps
    }

    /// The plan of `model_id` for a call from `origin`. A prompt ARN is refused here:
    /// only Converse and ConverseStream render prompts ([`Resolver::render`]).
    pub async fn plan(&self, origin: Origin<'_>, model_id: &str) -> Result<Plan<'_>, DispatchError> {
        let (account, region) = (origin.account, origin.source_region);
        match identify(&self.catalog, model_id, account, region) {
            Identifier::Catalog(id) => Ok(resolve(&self.catalog, id, region, account)?),
            Identifier::Application(arn) => self.application(origin, arn).await,
            Identifier::Prompt(_) => Err(DispatchError::invalid(
                "A prompt ARN can be used as modelId with Converse and ConverseStream only.",
            )),
            Identifier::Provisioned(arn) => self.provisioned(origin, arn).await,
            Identifier::ForeignProvisioned => Err(DispatchError::invalid(INVALID)),
            Identifier::Imported(arn) => self.imported(origin, model_id, arn).await,
            Identifier::Custom(id) => Err(self.custom(origin, id)),
        }
    }

    async fn application(&self, origin: Origin<'_>, arn: &str) -> Result<Plan<'_>, DispatchError> {
        let app = self
            .apps
            .lookup(&self.store, origin.account, origin.source_region, arn)
            .await
            .map_err(store_failed)?
            .ok_or_else(|| DispatchError::invalid(INVALID))?;
        let mut plan = resolve(&self.catalog, &app.copy_from, origin.source_region, origin.account)?;
        plan.application = Some(app.arn);
        Ok(plan)
    }
}

/// A store failure on the request path, where a missing resource was already handled.
pub(crate) fn store_failed(e: StoreError) -> DispatchError {
    DispatchError::Store(e)
}
