//! Settlement off the answer's path. A request waits for one round trip, its admission;
//! its settlement is *issued* (a spawned task sends the `settle` script) and the caller
//! goes on at once, so a response never waits for a second round trip to Redis.
//!
//! Exactly once, never lost: the lease is taken by the one path that settles (see
//! `Reservation`), and the task runs to its end even though nobody awaits it. What can
//! still go wrong is what could before: Redis fails or is down, or the runtime shuts down
//! before the task runs. Then the lease is not renewed any more and its TTL gives the
//! whole reservation back (logged), as when an instance dies.
//!
//! Settlements in flight are counted, so [`RedisQuotas::settled`] can wait for them: at
//! shutdown, and in tests that read the buckets afterwards.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

use super::keys::TagKeys;
use super::{array, RedisQuotas, Shared};
use crate::{Debit, Lease, LeaseKind};

/// How many settlements were issued and have not finished (applied or failed).
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

/// Held by one issued settlement; finishing (or being dropped with its task at shutdown)
/// counts it out.
struct Issued(Arc<Shared>);

impl Drop for Issued {
    fn drop(&mut self) {
        let in_flight = &self.0.in_flight;
        if in_flight.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            in_flight.idle.notify_waiters();
        }
    }
}

impl RedisQuotas {
    /// Settles `lease` without waiting for Redis: the local fallback's buckets at once,
    /// a Redis lease by a spawned task. Callable from `Drop` (no `.await`).
    pub(crate) fn issue_settlement(&self, lease: Lease, debits: Vec<Debit>, used: Vec<u64>) {
        match lease.0 {
            LeaseKind::Local => self.shared.settle_local(&debits, &used),
            LeaseKind::Redis { record } => match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    self.shared.in_flight.count.fetch_add(1, Ordering::AcqRel);
                    let issued = Issued(Arc::clone(&self.shared));
                    rt.spawn(async move {
                        issued.0.settle_remote(record, debits, used).await;
                        drop(issued);
                    });
                }
                // Shutting down: the lease's TTL returns the reservation.
                Err(_) => {
                    tracing::warn!(lease = %record, "no runtime to settle on: the lease's TTL returns its reservation");
                    self.shared.leases.remove(&record);
                }
            },
        }
    }

    /// Settlements issued so far, and not yet finished.
    pub fn settlements_in_flight(&self) -> usize {
        self.shared.in_flight.count.load(Ordering::Acquire)
    }

    /// Waits until no settlement is in flight (every one issued before or meanwhile has
    /// been applied by Redis, or has failed and left its lease to expire).
    pub async fn settled(&self) {
        let in_flight = &self.shared.in_flight;
        loop {
            // Registered before the count is read, so a last settlement finishing in
            // between still wakes us.
            let idle = std::pin::pin!(in_flight.idle.notified());
            let mut idle = idle;
            idle.as_mut().enable();
            if in_flight.count.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}

impl Shared {
    /// `EVALSHA settle`: KEYS as for reserve; ARGV = the lease record, then (per_minute,
    /// reserved, used) per debit.
    pub(super) async fn settle_remote(&self, record: Arc<str>, debits: Vec<Debit>, used: Vec<u64>) {
        self.leases.remove(&record);
        let Some(first) = debits.first() else { return };
        if !self.link.is_up() {
            // The lease expires and returns the whole reservation (the use is not charged).
            tracing::debug!(lease = %record, "redis down: the lease's TTL returns its reservation");
            return;
        }
        let keys = TagKeys::of(&self.settings.key_prefix, &first.key);
        let mut cmd = self.settle.cmd(1 + debits.len());
        self.push_keys(&mut cmd, &keys, &debits);
        cmd.arg(&*record);
        for (i, d) in debits.iter().enumerate() {
            cmd.arg(d.per_minute).arg(d.amount).arg(used.get(i).copied().unwrap_or(d.amount));
        }
        match self.call(&self.settle, &cmd).await.and_then(array) {
            Ok(levels) => self.remember(debits.iter().map(|d| &d.key), &levels),
            Err(e) => {
                tracing::warn!(lease = %record, error = %e, "settlement failed: the lease's TTL returns its reservation");
                self.went_down(&e);
            }
        }
    }
}
