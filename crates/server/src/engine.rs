//! Running a request on the regions of its plan: admission against the caller's quotas,
//! then the destination regions in capacity order, with failover. A region that fails
//! before anything reached the client is replaced by the next one. Non-streaming calls
//! can fail over at any point (the client sees nothing until the end); streams commit at
//! their first content event. A plan through provisioned throughput runs only on that
//! model's reserved slots (no failover, no on-demand capacity).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use spillway_backends::{
    count_request_tokens, BackendError, Backends, ChatCall, EmbedCall, EventStream, Lane, ModelBackend, Pool,
};
use spillway_catalog::{Catalog, Offer};
use spillway_quota::{BucketKey, Limit, QuotaStore, Quotas, Reservation};
use spillway_route::{admission, order, Plan};
use spillway_wire::converse::{ConverseRequest, TokenUsage};
use spillway_wire::invoke::{EmbedOutput, EmbedRequest};
use spillway_wire::stream::{Collector, ModelEvent};
use spillway_wire::{BedrockError, ErrorCode};

use crate::context::Caller;
use crate::imported::Serving;
use crate::provisioned::{Active, Registry};

#[derive(Debug)]
pub struct Engine {
    catalog: Arc<Catalog>,
    backends: Backends,
    quotas: Arc<Quotas>,
    /// Buckets admission has touched, for the headroom gauges.
    seen_buckets: Mutex<HashMap<BucketKey, u64>>,
    /// Provisioned models in service here, with their reserved capacity.
    provisioned: Registry,
    /// Imported models with an engine here.
    imported: crate::imported::Registry,
}

/// An admitted request: its quota reservation, settled to the real usage when it ends.
pub struct Admitted {
    reservation: Reservation,
    burndown: f64,
}

impl Admitted {
    /// What was used, one amount per debit: one request, the tokens at the burn-down.
    fn amounts(&self, usage: TokenUsage) -> Vec<u64> {
        let used = admission::used_tokens(usage, self.burndown);
        let amount = |limit| if limit == Limit::Requests { 1 } else { used };
        self.reservation.debits().iter().map(|d| amount(d.key.limit)).collect()
    }

    /// Record usage so far, so a dropped request (client gone) settles to it.
    pub fn observe(&mut self, usage: TokenUsage) {
        let amounts = self.amounts(usage);
        self.reservation.observe(&amounts);
    }

    pub async fn settle(self, usage: TokenUsage) {
        let amounts = self.amounts(usage);
        self.reservation.settle(&amounts).await;
    }

    /// Nothing ran: the reservation is given back whole.
    pub async fn release(self) {
        self.reservation.release().await;
    }
}

/// A generation that ran to its end.
#[derive(Debug)]
pub struct Completed {
    pub region: String,
    pub output: Collector,
    /// Time spent in backend calls, failed attempts included.
    pub backend_time: std::time::Duration,
}

/// A stream committed to a region: the events read so far, then the rest.
pub struct Opened {
    pub region: String,
    pub head: Vec<ModelEvent>,
    pub rest: EventStream,
    /// Reports the stream's failure to the region's health when it breaks later.
    pub pool: Arc<Pool>,
}

impl Engine {
    pub fn new(catalog: Arc<Catalog>, backends: Backends, quotas: Arc<Quotas>) -> Self {
        let provisioned = Registry::default();
        let imported = crate::imported::Registry::new(&catalog);
        Self { catalog, backends, quotas, seen_buckets: Mutex::new(HashMap::new()), provisioned, imported }
    }

    /// (bucket, per-minute quota, remaining share) of every bucket used so far.
    pub fn quota_headroom(&self) -> Vec<(BucketKey, u64, f64)> {
        let seen: Vec<(BucketKey, u64)> = match self.seen_buckets.lock() {
            Ok(g) => g.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            Err(p) => p.into_inner().iter().map(|(k, v)| (k.clone(), *v)).collect(),
        };
        seen.into_iter()
            .map(|(k, per_minute)| {
                let h = self.quotas.headroom(&k, per_minute);
                (k, per_minute, h)
            })
            .collect()
    }

    pub fn backends(&self) -> &Backends {
        &self.backends
    }

    pub fn quotas(&self) -> &Arc<Quotas> {
        &self.quotas
    }

    pub fn provisioned(&self) -> &Registry {
        &self.provisioned
    }

    pub fn imported(&self) -> &crate::imported::Registry {
        &self.imported
    }

    /// The imported model a plan runs on, if it names one; it must still exist.
    fn imported_serving(&self, plan: &Plan<'_>) -> Result<Option<Arc<Serving>>, BedrockError> {
        let Some(arn) = &plan.imported else { return Ok(None) };
        self.imported.get(arn).map(Some).ok_or_else(|| {
            BedrockError::new(ErrorCode::ModelNotReady, format!("The imported model {arn} has just been deleted."))
        })
    }

    /// The provisioned model a plan runs on, if it names one; it must still serve.
    fn active(&self, plan: &Plan<'_>) -> Result<Option<Arc<Active>>, BedrockError> {
        let Some(p) = &plan.provisioned else { return Ok(None) };
        self.provisioned.get(&p.arn).map(Some).ok_or_else(|| {
            BedrockError::new(
                ErrorCode::ModelNotReady,
                format!("The provisioned model {} is no longer in service.", p.arn),
            )
        })
    }

    /// The pool and lane to run `offer` on: its pool on demand, only the provisioned
    /// model's reservation, or the imported model's own engine.
    fn lane<'a>(
        &'a self,
        offer: &Offer,
        active: Option<&'a Active>,
        imported: Option<&'a Serving>,
    ) -> Result<(&'a Arc<Pool>, Lane<'a>), BedrockError> {
        match (active, imported) {
            (Some(a), _) => Ok((a.reserved.pool(), Lane::Reserved(&a.reserved))),
            (None, Some(s)) => Ok((&s.pool, Lane::OnDemand)),
            (None, None) => Ok((self.pool(offer)?, Lane::OnDemand)),
        }
    }

    fn pool(&self, offer: &Offer) -> Result<&Arc<Pool>, BedrockError> {
        self.backends.get(&offer.region, &offer.backend).ok_or_else(|| {
            BedrockError::internal(format!("backend `{}` is not running in {}", offer.backend, offer.region))
        })
    }

    /// Reserve the caller's quota for this request, or answer the throttle.
    pub async fn admit(
        &self,
        caller: &Caller,
        plan: &Plan<'_>,
        input_estimate: u32,
        max_tokens: u32,
    ) -> Result<Admitted, BedrockError> {
        let burndown = plan.model.output_burndown;
        let tokens = admission::reserved_tokens(input_estimate, max_tokens, burndown);
        let debits = admission::debits(&self.catalog, plan, &caller.account, &caller.source_region, tokens);
        {
            let mut seen = self.seen_buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for d in &debits {
                if !seen.contains_key(&d.key) {
                    seen.insert(d.key.clone(), d.per_minute);
                }
            }
        }
        match spillway_quota::reserve(&self.quotas, debits).await {
            Ok(reservation) => Ok(Admitted { reservation, burndown }),
            Err(_) => Err(BedrockError::throttled()),
        }
    }

    /// The whole non-streaming path: admit, run to the end, settle to the real usage (or
    /// give the reservation back when nothing ran).
    pub async fn run_chat(
        &self,
        caller: &Caller,
        plan: &Plan<'_>,
        request: &ConverseRequest,
        max_tokens: u32,
    ) -> Result<Completed, BedrockError> {
        let admitted = self.admit(caller, plan, count_request_tokens(request), max_tokens).await?;
        match self.complete(plan, &caller.source_region, request, max_tokens).await {
            Ok(done) => {
                admitted.settle(done.output.usage()).await;
                Ok(done)
            }
            Err(e) => {
                admitted.release().await;
                Err(e)
            }
        }
    }

    /// Admit and open a stream. The reservation comes back with it: the stream settles it.
    pub async fn open_chat(
        &self,
        caller: &Caller,
        plan: &Plan<'_>,
        request: &ConverseRequest,
        max_tokens: u32,
    ) -> Result<(Opened, Admitted), BedrockError> {
        let admitted = self.admit(caller, plan, count_request_tokens(request), max_tokens).await?;
        match self.open(plan, &caller.source_region, request, max_tokens).await {
            Ok(opened) => Ok((opened, admitted)),
            Err(e) => {
                admitted.release().await;
                Err(e)
            }
        }
    }

    /// The plan's regions in the order to try them now.
    fn ordered<'c>(&self, plan: &Plan<'c>, source_region: &str) -> Vec<&'c Offer> {
        // Reserved slots are not on-demand capacity: a provisioned plan's one offer runs
        // however full the pool's on-demand share is.
        // An imported model runs on its own engine, in its one region.
        if plan.provisioned.is_some() || plan.imported.is_some() {
            return plan.candidates.clone();
        }
        order::by_capacity(&plan.candidates, source_region, |o| {
            self.backends.get(&o.region, &o.backend).map_or(0.0, |p| p.available())
        })
    }

    /// Generate to the end, trying the plan's regions in capacity order.
    pub async fn complete(
        &self,
        plan: &Plan<'_>,
        source_region: &str,
        request: &ConverseRequest,
        max_tokens: u32,
    ) -> Result<Completed, BedrockError> {
        let mut last = None;
        let started = std::time::Instant::now();
        let active = self.active(plan)?;
        let imported = self.imported_serving(plan)?;
        for offer in self.ordered(plan, source_region) {
            let (pool, lane) = self.lane(offer, active.as_deref(), imported.as_deref())?;
            let call = ChatCall { model: &offer.backend_model, request, max_tokens, stream: false };
            match collect(pool.chat(lane, call).await).await {
                Ok(output) => {
                    let backend_time = started.elapsed();
                    return Ok(Completed { region: offer.region.clone(), output, backend_time });
                }
                Err(e) => {
                    pool.report(&e);
                    if !(e.is_retryable_elsewhere() || matches!(e, BackendError::Stream(_))) {
                        return Err(e.into());
                    }
                    tracing::debug!(region = %offer.region, error = %e, "region failed, trying the next");
                    last = Some(e);
                }
            }
        }
        Err(exhausted(plan, last))
    }

    /// Open a stream, trying the plan's regions until one produces content.
    pub async fn open(
        &self,
        plan: &Plan<'_>,
        source_region: &str,
        request: &ConverseRequest,
        max_tokens: u32,
    ) -> Result<Opened, BedrockError> {
        let mut last = None;
        let active = self.active(plan)?;
        let imported = self.imported_serving(plan)?;
        'regions: for offer in self.ordered(plan, source_region) {
            let (pool, lane) = self.lane(offer, active.as_deref(), imported.as_deref())?;
            let call = ChatCall { model: &offer.backend_model, request, max_tokens, stream: true };
            let mut rest = match pool.chat(lane, call).await {
                Ok(s) => s,
                Err(e) => {
                    pool.report(&e);
                    if !e.is_retryable_elsewhere() {
                        return Err(e.into());
                    }
                    last = Some(e);
                    continue;
                }
            };
            let mut head = Vec::new();
            loop {
                match rest.next().await {
                    Some(Ok(event)) => {
                        let commit = event.is_content();
                        head.push(event);
                        if commit {
                            let region = offer.region.clone();
                            return Ok(Opened { region, head, rest, pool: Arc::clone(pool) });
                        }
                    }
                    // Nothing has reached the client yet: another region may still answer.
                    Some(Err(e)) => {
                        pool.report(&e);
                        if !(e.is_retryable_elsewhere() || matches!(e, BackendError::Stream(_))) {
                            return Err(e.into());
                        }
                        last = Some(e);
                        continue 'regions;
                    }
                    None => {
                        last = Some(BackendError::Stream("the backend ended the stream without output".into()));
                        continue 'regions;
                    }
                }
            }
        }
        Err(exhausted(plan, last))
    }

    pub async fn embed(
        &self,
        plan: &Plan<'_>,
        source_region: &str,
        request: &EmbedRequest,
        default_dimensions: u32,
    ) -> Result<(String, EmbedOutput), BedrockError> {
        let mut last = None;
        let active = self.active(plan)?;
        let imported = self.imported_serving(plan)?;
        for offer in self.ordered(plan, source_region) {
            let (pool, lane) = self.lane(offer, active.as_deref(), imported.as_deref())?;
            let call = EmbedCall { model: &offer.backend_model, request, default_dimensions };
            match pool.embed(lane, call).await {
                Ok(out) => return Ok((offer.region.clone(), out)),
                Err(e) => {
                    pool.report(&e);
                    if !e.is_retryable_elsewhere() {
                        return Err(e.into());
                    }
                    last = Some(e);
                }
            }
        }
        Err(exhausted(plan, last))
    }

    pub async fn count_tokens(&self, offer: &Offer, request: &ConverseRequest) -> Result<u32, BedrockError> {
        Ok(self.pool(offer)?.backend.count_tokens(&offer.backend_model, request).await?)
    }
}

async fn collect(stream: Result<EventStream, BackendError>) -> Result<Collector, BackendError> {
    let mut stream = stream?;
    let mut out = Collector::default();
    while let Some(event) = stream.next().await {
        out.push(event?);
    }
    if out.is_finished() {
        Ok(out)
    } else {
        Err(BackendError::Stream("the backend ended the answer without a stop reason".into()))
    }
}

/// What the caller hears when no region could run the request. A profile answers the
/// standard throttle (Bedrock's rule); a direct call reports its one region's failure.
fn exhausted(plan: &Plan<'_>, last: Option<BackendError>) -> BedrockError {
    match last {
        Some(e) if plan.candidates.len() == 1 => e.into(),
        // A model that is not loaded anywhere (local weights not fetched) says so.
        Some(e @ BackendError::NotReady(_)) => e.into(),
        _ => BedrockError::throttled(),
    }
}
