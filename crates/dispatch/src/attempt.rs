//! The one candidate loop. Every call kind (unary, stream, embedding) runs through
//! [`Dispatcher::attempt`]: the plan's candidates in the order to try them now, one
//! attempt each, and the error's [`RetryClass`](spillway_backends::RetryClass) alone decides
//! whether the next candidate may run the request. Nothing an attempt produced has reached
//! the client while it is inside this loop (a unary answer is buffered, a stream commits
//! only once its first content event is out of the loop), so every retryable class moves
//! on; a `Never` error ends the call with that error.

use std::future::Future;
use std::sync::Arc;

use spillway_backends::{BackendError, Lane, Pool};
use spillway_catalog::Offer;
use spillway_quota::Floor;
use spillway_route::{order, Plan};

use super::progress::Progress;
use super::{DispatchError, Dispatcher};

/// What one candidate produced, and where it ran.
pub struct Landed<T> {
    pub region: String,
    pub pool: Arc<Pool>,
    pub value: T,
}

/// Why no candidate produced an answer.
#[derive(Debug)]
pub enum Failure {
    /// The plan cannot run at all (its provisioned or imported model is gone).
    Refused(DispatchError),
    /// A candidate failed in a way no other candidate would fix.
    Final(BackendError),
    /// Every candidate failed with a retryable error; `last` is the last one's.
    Exhausted { last: Option<BackendError>, single: bool },
}

/// The error an operation answers (as HTTP, before any event) for a generation that
/// broke: each operation answers only what its botocore model declares. Every runtime
/// operation declares `ModelErrorException`; only InvokeModelWithResponseStream also
/// declares `ModelStreamErrorException` (ConverseStream has it as a stream event only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declared {
    ModelError,
    ModelStreamError,
}

impl Failure {
    pub fn into_error(self, declared: Declared) -> DispatchError {
        let convert = |e: BackendError| match declared {
            Declared::ModelError => DispatchError::Model(e),
            Declared::ModelStreamError => DispatchError::Backend(e),
        };
        match self {
            Failure::Refused(e) => e,
            Failure::Final(e) => convert(e),
            // A direct call reports its one region's failure; a model that is not loaded
            // anywhere (local weights not fetched) says so; a profile whose regions are all
            // out of room answers the standard throttle (Bedrock's rule).
            Failure::Exhausted { last: Some(e), single: true } => convert(e),
            Failure::Exhausted { last: Some(e @ BackendError::NotReady(_)), .. } => DispatchError::Backend(e),
            Failure::Exhausted { .. } => DispatchError::Throttled,
        }
    }
}

/// One call kind's attempt on one candidate ([`super::run`] has the three).
pub(super) trait Attempt {
    type Output;

    fn run<'a>(
        &'a mut self,
        pool: &'a Arc<Pool>,
        lane: Lane<'a>,
        offer: &'a Offer,
    ) -> impl Future<Output = Result<Self::Output, BackendError>> + Send + 'a;
}

impl Dispatcher {
    /// Run `attempt` on the plan's candidates until one succeeds or a failure is final.
    /// `progress`, when given, learns which region runs the call now. `floor` is the
    /// share of a backend's on-demand slots the call's service tier must leave free: a
    /// candidate short of it is passed over as if it were busy (flex is turned away from
    /// a nearly full backend that still takes priority calls).
    pub(super) async fn attempt<A: Attempt>(
        &self,
        plan: &Plan<'_>,
        source_region: &str,
        progress: Option<&Progress>,
        floor: Floor,
        mut attempt: A,
    ) -> Result<Landed<A::Output>, Failure> {
        let active = self.active(plan).map_err(Failure::Refused)?;
        let imported = self.imported_serving(plan).map_err(Failure::Refused)?;
        let mut last = None;
        for offer in self.ordered(plan, source_region) {
            let (pool, lane) = self.lane(offer, active.as_deref(), imported.as_deref()).map_err(Failure::Refused)?;
            if matches!(lane, Lane::OnDemand) && !pool.admits_above(floor.0) {
                tracing::debug!(region = %offer.region, floor = floor.0, "candidate too full for the service tier");
                last = Some(BackendError::Busy);
                continue;
            }
            if let Some(p) = progress {
                p.start(&offer.region);
            }
            match attempt.run(pool, lane, offer).await {
                Ok(value) => return Ok(Landed { region: offer.region.clone(), pool: Arc::clone(pool), value }),
                Err(e) => {
                    pool.report(&e);
                    if !e.may_retry(false) {
                        return Err(Failure::Final(e));
                    }
                    tracing::debug!(region = %offer.region, error = %e, "candidate failed, trying the next");
                    last = Some(e);
                }
            }
        }
        Err(Failure::Exhausted { last, single: plan.candidates.len() == 1 })
    }

    /// The plan's candidates in the order to try them now.
    fn ordered<'c>(&self, plan: &Plan<'c>, source_region: &str) -> Vec<&'c Offer> {
        // Reserved slots are not on-demand capacity: a provisioned plan's one offer runs
        // however full the pool's on-demand share is. An imported model runs on its own
        // engine, in its one region.
        if plan.provisioned.is_some() || plan.imported.is_some() {
            return plan.candidates.clone();
        }
        order::by_capacity(&plan.candidates, source_region, |o| {
            self.backends.get(&o.region, &o.backend).map_or(0.0, |p| p.available())
        })
    }
}
