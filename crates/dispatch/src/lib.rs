//! The dispatcher: a resolved [`Plan`] run on its candidates. Admission against the
//! caller's quotas ([`admit`]), then the one candidate loop ([`attempt`]) for every call
//! kind ([`run`]), with what a call has produced so far kept in [`progress`].
//!
//! Failover: a candidate that fails before anything reached the client is replaced by the
//! next one, by the rule of the error's retry class. Non-streaming calls can fail over at
//! any point (the client sees nothing until the end); streams commit at their first
//! content event. A plan through provisioned throughput runs only on that model's
//! reserved slots (no failover, no on-demand capacity); an imported model only on its own
//! engine.
//!
//! Also here: [`resolve`] (a `modelId` to its plan) and the registries of what this
//! instance serves beyond the catalog ([`provisioned`], [`imported`]), which the server's
//! background drivers fill. Errors are [`DispatchError`]s; the server gives them their
//! Bedrock shape.

pub mod admit;
pub mod attempt;
mod error;
pub mod imported;
pub mod live;
pub mod progress;
pub mod provisioned;
pub mod resolve;
pub mod run;

#[cfg(test)]
mod cluster_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tier_tests;

use std::sync::Arc;

use spillway_backends::{Backends, Lane, ModelBackend, Pool};
use spillway_catalog::{Catalog, Offer};
use spillway_quota::Quotas;
use spillway_route::tier::Ask;
use spillway_route::Plan;
use spillway_wire::converse::ConverseRequest;

pub use admit::{Admission, Admitted};
pub use attempt::Declared;
pub use error::DispatchError;
pub use progress::{Progress, UsageTracker};
pub use run::Opened;

use imported::Serving;
use provisioned::{Active, Registry};

/// Who a call is for (quotas are per account and source region), and the service tier
/// and latency it asked for.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub account: &'a str,
    pub source_region: &'a str,
    pub ask: Ask,
}

impl Origin<'_> {
    /// The same caller asking for `ask`'s tier and latency.
    pub fn asking(self, ask: Ask) -> Self {
        Self { ask, ..self }
    }
}

#[derive(Debug)]
pub struct Dispatcher {
    backends: Backends,
    admission: Admission,
    /// Provisioned models in service here, with their reserved capacity (shared with the
    /// provisioning driver, which fills it).
    provisioned: Arc<Registry>,
    /// Imported models with an engine here (shared with the import job runner).
    imported: Arc<crate::imported::Registry>,
}

impl Dispatcher {
    pub fn new(catalog: Arc<Catalog>, backends: Backends, quotas: Arc<Quotas>) -> Self {
        let imported = Arc::new(crate::imported::Registry::new(&catalog));
        let admission = Admission::new(catalog, quotas);
        Self { backends, admission, provisioned: Arc::default(), imported }
    }

    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    pub fn backends(&self) -> &Backends {
        &self.backends
    }

    pub fn provisioned(&self) -> &Arc<Registry> {
        &self.provisioned
    }

    pub fn imported(&self) -> &Arc<crate::imported::Registry> {
        &self.imported
    }

    /// Input tokens of a conversation as the offer's backend counts them.
    pub async fn count_tokens(&self, offer: &Offer, request: &ConverseRequest) -> Result<u32, DispatchError> {
        Ok(self.pool(offer)?.backend.count_tokens(&offer.backend_model, request).await?)
    }

    /// The imported model a plan runs on, if it names one; it must still exist.
    fn imported_serving(&self, plan: &Plan<'_>) -> Result<Option<Arc<Serving>>, DispatchError> {
        let Some(arn) = &plan.imported else { return Ok(None) };
        self.imported
            .get(arn)
            .map(Some)
            .ok_or_else(|| DispatchError::NotReady(format!("The imported model {arn} has just been deleted.")))
    }

    /// The provisioned model a plan runs on, if it names one; it must still serve.
    fn active(&self, plan: &Plan<'_>) -> Result<Option<Arc<Active>>, DispatchError> {
        let Some(p) = &plan.provisioned else { return Ok(None) };
        self.provisioned
            .get(&p.arn)
            .map(Some)
            .ok_or_else(|| DispatchError::NotReady(format!("The provisioned model {} is no longer in service.", p.arn)))
    }

    /// The pool and lane to run `offer` on: its pool on demand, only the provisioned
    /// model's reservation, or the imported model's own engine.
    fn lane<'a>(
        &'a self,
        offer: &Offer,
        active: Option<&'a Active>,
        imported: Option<&'a Serving>,
    ) -> Result<(&'a Arc<Pool>, Lane<'a>), DispatchError> {
        match (active, imported) {
            (Some(a), _) => Ok((a.reserved.pool(), Lane::Reserved(&a.reserved))),
            (None, Some(s)) => Ok((&s.pool, Lane::OnDemand)),
            (None, None) => Ok((self.pool(offer)?, Lane::OnDemand)),
        }
    }

    fn pool(&self, offer: &Offer) -> Result<&Arc<Pool>, DispatchError> {
        self.backends.get(&offer.region, &offer.backend).ok_or_else(|| {
            DispatchError::Internal(format!("backend `{}` is not running in {}", offer.backend, offer.region))
        })
    }
}
