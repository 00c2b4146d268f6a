//! Bedrock-style request and token quotas (RPM/TPM) per account, source region and model or
//! cross-region profile.
//!
//! Admission reserves every bucket a request touches at once (all or nothing), and the
//! returned [`Reservation`] settles to the real usage when the call ends, fails or is
//! dropped. Callers hold an `Arc<Quotas>` and never learn which store runs behind it: today
//! the in-process one; a Redis one (one Lua script per operation, every key of a request
//! under one hash tag) joins the [`Quotas`] enum later without changing callers.

mod bucket;
mod memory;
mod redis;
mod reservation;
#[cfg(test)]
mod testutil;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

pub use bucket::Bucket;
pub use memory::InProcessQuotas;
pub use redis::{FailMode, PoolReport, PoolView, RedisQuotas, RedisSettings};
pub use reservation::{reserve, reserve_above, Reservation};

/// Which per-minute limit a bucket enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limit {
    Requests,
    Tokens,
}

/// Identifies one bucket: quotas are per account and *source* region, and per model for
/// direct calls or per profile for cross-region calls (a profile has its own quota, by
/// default twice the source region's on-demand one).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BucketKey {
    // Shared text: a request's two buckets (requests, tokens) name the same account,
    // region and scope, and a key is cloned into every lease and settlement.
    pub account: Arc<str>,
    pub region: Arc<str>,
    /// A model id or an inference-profile id.
    pub scope: Arc<str>,
    pub limit: Limit,
}

/// One bucket debited by one request. `per_minute` travels with every call (rather than
/// living in the store) so a configuration reload takes effect on the next request.
#[derive(Clone, Debug, PartialEq)]
pub struct Debit {
    pub key: BucketKey,
    pub per_minute: u64,
    pub amount: u64,
}

/// The share of every bucket a request must leave in it, in percent of the bucket's
/// capacity: the admission floor of a service tier (flex may not take the last 20% of a
/// quota, priority may take all of it). `Floor::NONE` admits down to the last token.
///
/// Both stores compare `level − need < capacity × percent / 100` in the same IEEE
/// operations (the Lua script in `redis/reserve.lua` too), so a decision never depends
/// on which store runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Floor(pub u8);

impl Floor {
    pub const NONE: Floor = Floor(0);

    /// Tokens of a bucket of `per_minute` that this floor keeps.
    pub fn tokens(self, per_minute: u64) -> f64 {
        per_minute as f64 * f64::from(self.0) / 100.0
    }
}

/// `(key, per_minute, delta)`: positive delta refunds, negative charges extra.
pub type Adjustment = (BucketKey, u64, f64);

/// The request was refused; `limit` says which kind of bucket was short (the first one in
/// the request's debit order), for metrics and messages. Nothing was debited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub limit: Limit,
}

impl fmt::Display for Throttled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.limit {
            Limit::Requests => f.write_str("requests-per-minute quota exhausted"),
            Limit::Tokens => f.write_str("tokens-per-minute quota exhausted"),
        }
    }
}

impl std::error::Error for Throttled {}

/// Why admission refused a request. Nothing was debited either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// A bucket was short: the caller is throttled (429, retry later).
    Throttled(Throttled),
    /// The shared quota store (Redis) cannot be reached and `fail = "closed"` forbids
    /// admitting without it. Not a throttle: the caller did nothing wrong, the service is
    /// unavailable (503) until the store answers again.
    StoreUnavailable,
}

impl From<Throttled> for Refused {
    fn from(t: Throttled) -> Self {
        Refused::Throttled(t)
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Throttled(t) => t.fmt(f),
            Refused::StoreUnavailable => f.write_str("the shared quota store is unreachable"),
        }
    }
}

impl std::error::Error for Refused {}

/// What a store hands back for an admitted request and takes back at settlement. The
/// in-process store needs nothing; the Redis store names the lease record whose TTL
/// returns the reservation if this instance dies before settling.
#[derive(Debug)]
pub struct Lease(pub(crate) LeaseKind);

#[derive(Debug)]
pub(crate) enum LeaseKind {
    /// Held in this process's own buckets (the in-process store, or the Redis store's
    /// per-instance fallback while Redis is unreachable).
    Local,
    /// A lease record in Redis (the sorted-set member itself), renewed while the call runs.
    Redis { record: std::sync::Arc<str> },
}

/// A quota store. Each operation is atomic over all the buckets it names.
pub trait QuotaStore: Send + Sync {
    /// Debits every bucket, or none and says why (which limit was short, or that the
    /// shared store is unreachable). Two concurrent callers
    /// never both pass on the last token.
    fn reserve(&self, debits: &[Debit]) -> impl Future<Output = Result<Lease, Refused>> + Send {
        self.reserve_above(debits, Floor::NONE)
    }

    /// [`QuotaStore::reserve`], but every bucket must keep `floor` of its capacity after
    /// the debit (a bucket below its floor refuses, although it could cover the debit).
    fn reserve_above(&self, debits: &[Debit], floor: Floor) -> impl Future<Output = Result<Lease, Refused>> + Send;

    /// Ends a lease: each debit is settled to `used[i]` (the reserved amount where `used`
    /// is short). Must be cancel-safe: once the future has been polled, the settlement
    /// happens even if it is then dropped (the in-process store finishes on the first
    /// poll; the Redis store hands the call to a spawned task and returns without waiting
    /// for Redis's answer: [`Quotas::settled`] waits for it).
    fn settle(&self, lease: Lease, debits: Vec<Debit>, used: Vec<u64>) -> impl Future<Output = ()> + Send;

    /// Remaining fraction of a bucket's minute, 0..=1 (an overdrawn bucket reads 0). A bucket
    /// never used reads 1. Cheap and synchronous: metrics and routing call it often.
    fn headroom(&self, key: &BucketKey, per_minute: u64) -> f64;
}

/// `(debit, reserved − used)` for every debit whose use differs from its reservation:
/// what a settlement changes in a bucket (positive = refund of the unused part, negative =
/// the excess charged).
pub(crate) fn deltas<'d>(debits: &'d [Debit], used: &'d [u64]) -> impl Iterator<Item = (&'d Debit, f64)> {
    debits.iter().enumerate().filter_map(|(i, d)| {
        let used = used.get(i).copied().unwrap_or(d.amount);
        (used != d.amount).then_some((d, d.amount as f64 - used as f64))
    })
}

/// The closed set of store implementations. Callers use it only through [`QuotaStore`] and
/// [`reserve`].
#[derive(Debug)]
pub enum Quotas {
    InProcess(InProcessQuotas),
    Redis(RedisQuotas),
}

impl Quotas {
    /// In-process store on the monotonic clock.
    pub fn in_process() -> Self {
        Self::InProcess(InProcessQuotas::new())
    }

    /// Settlement from a `Drop` (no `.await` possible there). The in-process store applies
    /// it synchronously; the Redis store spawns it, and with no runtime left (shutdown)
    /// relies on the lease's TTL to return the reservation.
    pub(crate) fn settle_detached(&self, lease: Lease, debits: Vec<Debit>, used: Vec<u64>) {
        match self {
            Quotas::InProcess(q) => q.settle_now(&debits, &used),
            Quotas::Redis(q) => q.issue_settlement(lease, debits, used),
        }
    }

    /// Waits until every settlement issued so far has been applied (or has failed and
    /// left its lease to expire). The Redis store settles off the caller's path; the
    /// in-process one has nothing in flight. For shutdown, and for tests that read levels.
    pub async fn settled(&self) {
        if let Quotas::Redis(q) = self {
            q.settled().await;
        }
    }

    /// Whether the shared store answers (always true for the in-process one).
    pub fn shared_store_up(&self) -> bool {
        match self {
            Quotas::InProcess(_) => true,
            Quotas::Redis(q) => q.is_up(),
        }
    }
}

impl QuotaStore for Quotas {
    async fn reserve_above(&self, debits: &[Debit], floor: Floor) -> Result<Lease, Refused> {
        match self {
            Quotas::InProcess(q) => q.reserve_above(debits, floor).await,
            Quotas::Redis(q) => q.reserve_above(debits, floor).await,
        }
    }

    async fn settle(&self, lease: Lease, debits: Vec<Debit>, used: Vec<u64>) {
        match self {
            Quotas::InProcess(q) => q.settle(lease, debits, used).await,
            Quotas::Redis(q) => q.settle(lease, debits, used).await,
        }
    }

    fn headroom(&self, key: &BucketKey, per_minute: u64) -> f64 {
        match self {
            Quotas::InProcess(q) => q.headroom(key, per_minute),
            Quotas::Redis(q) => q.headroom(key, per_minute),
        }
    }
}
