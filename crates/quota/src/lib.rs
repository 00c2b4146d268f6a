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
mod reservation;
#[cfg(test)]
mod testutil;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

pub use bucket::Bucket;
pub use memory::InProcessQuotas;
pub use reservation::{reserve, Reservation};

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
    pub account: String,
    pub region: String,
    /// A model id or an inference-profile id.
    pub scope: String,
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

/// A quota store. Each operation is atomic over all the buckets it names.
pub trait QuotaStore: Send + Sync {
    /// Debits every bucket, or none and returns which limit refused. Two concurrent callers
    /// never both pass on the last token.
    fn reserve(&self, debits: &[Debit]) -> impl Future<Output = Result<(), Throttled>> + Send;

    /// Applies settlements. Must be cancel-safe: once the future has been polled, the
    /// adjustment happens even if it is then dropped (the in-process store finishes on the
    /// first poll; a networked store must hand the call to a spawned task).
    fn adjust(&self, adjustments: &[Adjustment]) -> impl Future<Output = ()> + Send;

    /// Remaining fraction of a bucket's minute, 0..=1 (an overdrawn bucket reads 0). A bucket
    /// never used reads 1. Cheap and synchronous: metrics and routing call it often.
    fn headroom(&self, key: &BucketKey, per_minute: u64) -> f64;
}

/// The closed set of store implementations. Callers use it only through [`QuotaStore`] and
/// [`reserve`].
#[derive(Debug)]
pub enum Quotas {
    InProcess(InProcessQuotas),
}

impl Quotas {
    /// In-process store on the monotonic clock.
    pub fn in_process() -> Self {
        Self::InProcess(InProcessQuotas::new())
    }

    /// Settlement from a `Drop` (no `.await` possible there). The in-process store applies it
    /// synchronously. A networked variant would do, instead:
    /// `if let Ok(h) = tokio::runtime::Handle::try_current() { let q = Arc::clone(self);
    /// h.spawn(async move { q.adjust(&adjustments).await }); }` and, with no runtime left
    /// (shutdown), rely on the reservation record's TTL to return the tokens.
    pub(crate) fn adjust_detached(self: &Arc<Self>, adjustments: Vec<Adjustment>) {
        match &**self {
            Quotas::InProcess(q) => q.adjust_now(&adjustments),
        }
    }
}

impl QuotaStore for Quotas {
    async fn reserve(&self, debits: &[Debit]) -> Result<(), Throttled> {
        match self {
            Quotas::InProcess(q) => q.reserve(debits).await,
        }
    }

    async fn adjust(&self, adjustments: &[Adjustment]) {
        match self {
            Quotas::InProcess(q) => q.adjust(adjustments).await,
        }
    }

    fn headroom(&self, key: &BucketKey, per_minute: u64) -> f64 {
        match self {
            Quotas::InProcess(q) => q.headroom(key, per_minute),
        }
    }
}
