//! Admission: the caller's quota reserved before anything runs, settled to the real usage
//! when the call ends (DESIGN.md §2 rule 4, shared/reference/quotas.md).

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

// foldhash: `note` looks every debit's bucket up on every call.
use hashbrown::HashMap;

use spillway_catalog::{Catalog, ServiceTierType};
use spillway_quota::{BucketKey, Debit, Floor, Limit, QuotaStore, Quotas, Reservation};
use spillway_route::tier::{self, Ask, Served};
use spillway_route::{admission, Plan};
use spillway_wire::converse::TokenUsage;

use crate::DispatchError;

/// An admitted request: its quota reservation, settled to the real usage when it ends.
/// Dropped unsettled (the caller went away), it settles to the last observed usage.
pub struct Admitted {
    reservation: Reservation,
    burndown: f64,
    /// Reused for every observation: streams observe once per event.
    scratch: Vec<u64>,
    served: Served,
    /// The share of a backend's on-demand slots this call must leave (its tier's floor).
    floor: Floor,
}

impl Admitted {
    /// The tier that serves the call (after any spill-over), for the answer to report.
    pub fn served(&self) -> Served {
        self.served
    }

    pub(super) fn floor(&self) -> Floor {
        self.floor
    }

    /// What was used, one amount per debit: one request, the tokens at the burn-down.
    fn amounts(&mut self, usage: TokenUsage) -> &[u64] {
        let used = admission::used_tokens(usage, self.burndown);
        self.scratch.clear();
        let debits = self.reservation.debits().iter();
        self.scratch.extend(debits.map(|d| if d.key.limit == Limit::Requests { 1 } else { used }));
        &self.scratch
    }

    /// Record usage so far, so a dropped request (client gone) settles to it.
    pub fn observe(&mut self, usage: TokenUsage) {
        self.amounts(usage);
        let amounts = std::mem::take(&mut self.scratch);
        self.reservation.observe(&amounts);
        self.scratch = amounts;
    }

    pub async fn settle(mut self, usage: TokenUsage) {
        let amounts = self.amounts(usage).to_vec();
        self.reservation.settle(&amounts).await;
    }

    /// Nothing ran: the reservation is given back whole.
    pub async fn release(self) {
        self.reservation.release().await;
    }
}

/// `spillway_service_tier_admissions_total{requested, served}`: admissions by the tier
/// asked for and the tier that took the call (`throttled` when the quota refused it; a
/// backend too full for the tier afterwards shows in `InvocationThrottles`).
fn count(ask: Ask, served: Option<Served>) {
    // One handle per (requested, served) pair, registered on first use: `counter!` with
    // labels looks the series up in the recorder (hashing its name and labels) on every
    // call (issue 13). Registered lazily, so /metrics lists only the pairs that happened.
    type Cells = [[OnceLock<metrics::Counter>; 5]; 4];
    static COUNTERS: Cells = [const { [const { OnceLock::new() }; 5] }; 4];
    let index = |t: ServiceTierType| match t {
        ServiceTierType::Priority => 0,
        ServiceTierType::Default => 1,
        ServiceTierType::Flex => 2,
        ServiceTierType::Reserved => 3,
    };
    let requested = ask.tier();
    let cell = &COUNTERS[index(requested)][served.map_or(4, |s| index(s.tier))];
    cell.get_or_init(|| {
        let served = served.map_or("throttled", |s| s.tier.as_str());
        metrics::counter!("spillway_service_tier_admissions_total", "requested" => requested.as_str(), "served" => served)
    })
    .increment(1);
}

/// The quota store, and the buckets admission has touched (for the headroom gauges).
#[derive(Debug)]
pub struct Admission {
    catalog: Arc<Catalog>,
    quotas: Arc<Quotas>,
    seen: Mutex<HashMap<BucketKey, u64>>,
}

impl Admission {
    pub fn new(catalog: Arc<Catalog>, quotas: Arc<Quotas>) -> Self {
        Self { catalog, quotas, seen: Mutex::new(HashMap::default()) }
    }

    pub fn quotas(&self) -> &Arc<Quotas> {
        &self.quotas
    }

    /// Reserve the caller's quota for this request in the tier it asked for, or answer the
    /// throttle. A `reserved` request runs on its account's reservation while that has
    /// room and spills over to the default tier when it is full (or there is none); every
    /// other tier must leave its floor of each bucket (crate `spillway_route::tier`).
    pub async fn admit(
        &self,
        account: &str,
        source_region: &str,
        plan: &Plan<'_>,
        ask: Ask,
        input_estimate: u32,
        max_tokens: u32,
    ) -> Result<Admitted, DispatchError> {
        let burndown = plan.model.output_burndown;
        let tokens = admission::reserved_tokens(input_estimate, max_tokens, burndown);
        let settings = &self.catalog.tiers;
        let mut served = Served { tier: ask.tier(), latency: ask.latency };
        if served.tier == ServiceTierType::Reserved {
            if let Some(debits) = tier::reserved_debits(settings, plan, account, source_region, tokens) {
                self.note(&debits);
                let scratch = Vec::with_capacity(debits.len());
                if let Ok(reservation) = spillway_quota::reserve(&self.quotas, debits).await {
                    count(ask, Some(served));
                    return Ok(Admitted { reservation, burndown, scratch, served, floor: Floor::NONE });
                }
            }
            served.tier = ServiceTierType::Default;
        }
        // Provisioned throughput is the caller's own capacity: no tier keeps any of it.
        let floor = if plan.provisioned.is_some() { Floor::NONE } else { tier::floor(settings, served.tier, ask) };
        let debits = admission::debits(&self.catalog, plan, account, source_region, tokens);
        self.note(&debits);
        let scratch = Vec::with_capacity(debits.len());
        match spillway_quota::reserve_above(&self.quotas, debits, floor).await {
            Ok(reservation) => {
                count(ask, Some(served));
                Ok(Admitted { reservation, burndown, scratch, served, floor })
            }
            Err(refused) => {
                count(ask, None);
                Err(DispatchError::from(refused))
            }
        }
    }

    /// Remembers the buckets for the headroom gauges.
    fn note(&self, debits: &[Debit]) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        for d in debits {
            if !seen.contains_key(&d.key) {
                seen.insert(d.key.clone(), d.per_minute);
            }
        }
    }

    /// (bucket, per-minute quota, remaining share) of every bucket used so far.
    pub fn headroom(&self) -> Vec<(BucketKey, u64, f64)> {
        let seen: Vec<(BucketKey, u64)> = {
            let g = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            g.iter().map(|(k, v)| (k.clone(), *v)).collect()
        };
        seen.into_iter()
            .map(|(k, per_minute)| {
                let h = self.quotas.headroom(&k, per_minute);
                (k, per_minute, h)
            })
            .collect()
    }
}
