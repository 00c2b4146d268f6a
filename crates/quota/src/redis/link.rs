//! Whether Redis answers, as every request sees it. A failed or slow call marks the link
//! down at once (one log line, the gauge at 0); from then on requests do not wait on Redis
//! at all but follow the fail mode, while the upkeep task probes it until it answers again
//! (one log line, the gauge back at 1). A circuit rather than a per-request retry: with
//! Redis dead, each request would otherwise pay the full timeout.
//!
//! Also here: what a failed call is ([`CallError`]), and what admission does while the
//! link is down (the fail mode: refuse, or per-instance buckets of quota ÷ instances).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{FailMode, Shared};
use crate::{Debit, Floor, Lease, LeaseKind, Refused};

/// The Prometheus gauge: 1 while Redis answers, 0 while the fail mode applies.
pub const METRIC: &str = "spillway_cluster_redis_up";

#[derive(Debug)]
pub(crate) struct Link {
    up: AtomicBool,
    url: String,
}

impl Link {
    /// `url` is only for log lines; its password (if any) is never logged.
    pub fn new(url: &str, up: bool) -> Self {
        metrics::gauge!(METRIC).set(if up { 1.0 } else { 0.0 });
        Self { up: AtomicBool::new(up), url: redact(url) }
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Logs only the transition, not every failing request.
    pub fn went_down(&self, why: &str, fail: &str) {
        if self.up.swap(false, Ordering::AcqRel) {
            metrics::gauge!(METRIC).set(0.0);
            tracing::warn!(redis = %self.url, error = why, fail, "redis unavailable: quotas follow the fail mode until it answers again");
        }
    }

    pub fn came_back(&self) {
        if !self.up.swap(true, Ordering::AcqRel) {
            metrics::gauge!(METRIC).set(1.0);
            tracing::info!(redis = %self.url, "redis answers again: quotas are shared and exact again");
        }
    }
}

/// What went wrong talking to Redis (never a throttle: that is an answer).
#[derive(Debug)]
pub(crate) enum CallError {
    Timeout,
    Redis(redis::RedisError),
    Reply(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Timeout => f.write_str("no answer within the timeout"),
            CallError::Redis(e) => write!(f, "{e}"),
            CallError::Reply(e) => write!(f, "unexpected reply: {e}"),
        }
    }
}

/// What admission does while the link is down: the fail mode.
impl Shared {
    /// The per-instance share of a quota while Redis is down: at least 1 of a non-zero
    /// quota, so a small quota split many ways does not become zero.
    pub(super) fn share(&self, per_minute: u64) -> u64 {
        if per_minute == 0 {
            return 0;
        }
        (per_minute / u64::from(self.settings.instances.max(1))).max(1)
    }

    fn scaled(&self, debits: &[Debit]) -> Vec<Debit> {
        debits.iter().map(|d| Debit { per_minute: self.share(d.per_minute), ..d.clone() }).collect()
    }

    pub(super) fn fallback(&self, debits: &[Debit], floor: Floor) -> Result<Lease, Refused> {
        match self.settings.fail {
            FailMode::Closed => Err(Refused::StoreUnavailable),
            FailMode::Local => self
                .local
                .try_reserve_above(&self.scaled(debits), floor)
                .map(|()| Lease(LeaseKind::Local))
                .map_err(Refused::Throttled),
        }
    }

    pub(super) fn settle_local(&self, debits: &[Debit], used: &[u64]) {
        self.local.settle_now(&self.scaled(debits), used);
    }
}

/// `redis://user:secret@host:6379/0` → `redis://host:6379/0`.
fn redact(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, _)), Some(at)) => format!("{scheme}://{}", &url[at + 1..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_flip_once() {
        let link = Link::new("redis://:pw@127.0.0.1:1/0", true);
        assert_eq!(link.url, "redis://127.0.0.1:1/0");
        link.went_down("x", "local");
        assert!(!link.is_up());
        link.went_down("again", "local");
        link.came_back();
        assert!(link.is_up());
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
