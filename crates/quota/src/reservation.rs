//! The guard of one admitted request: reserve at admission, settle to the real usage at the
//! end, and settle anyway if the handler's future is dropped (client disconnected).
//!
//! Exactly one of `settle`, `release` or `Drop` applies the settlement: a `settled` flag set
//! before the store is called makes every later path a no-op.

use std::fmt;
use std::sync::Arc;

use crate::{Debit, Floor, Lease, QuotaStore, Quotas, Refused};

/// Admits a request: debits every bucket in `debits` or none. The in-process store has no
/// await point, so the debit and the guard's creation cannot be separated by cancellation;
/// the Redis store covers that gap with the TTL of its lease record.
pub async fn reserve(quotas: &Arc<Quotas>, debits: Vec<Debit>) -> Result<Reservation, Refused> {
    reserve_above(quotas, debits, Floor::NONE).await
}

/// [`reserve`] leaving at least `floor` of every bucket (a service tier's admission floor).
pub async fn reserve_above(quotas: &Arc<Quotas>, debits: Vec<Debit>, floor: Floor) -> Result<Reservation, Refused> {
    let lease = quotas.reserve_above(&debits, floor).await?;
    Ok(Reservation { quotas: Arc::clone(quotas), debits, observed: None, lease: Some(lease) })
}

pub struct Reservation {
    quotas: Arc<Quotas>,
    debits: Vec<Debit>,
    /// Real usage reported so far by the stream; what `Drop` settles to.
    observed: Option<Vec<u64>>,
    /// Taken by the one path that settles (`settle`, `release` or `Drop`), so no path can
    /// apply twice.
    lease: Option<Lease>,
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation")
            .field("debits", &self.debits)
            .field("observed", &self.observed)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl Reservation {
    pub fn debits(&self) -> &[Debit] {
        &self.debits
    }

    /// Records the real amounts used so far, one per debit in reservation order (missing
    /// entries count as the reserved amount). No I/O: call it on every usage event.
    pub fn observe(&mut self, actual: &[u64]) {
        let observed = self.observed.get_or_insert_with(Vec::new);
        observed.clear();
        observed.extend_from_slice(actual);
    }

    /// The call ended: each bucket gets back `reserved − actual`, or is charged the excess
    /// (going below zero so the next requests wait). If this future is dropped before its
    /// first poll, `Drop` settles to the last observed amounts instead.
    pub async fn settle(mut self, actual: &[u64]) {
        if let Some(lease) = self.lease.take() {
            let debits = std::mem::take(&mut self.debits);
            self.quotas.settle(lease, debits, actual.to_vec()).await;
        }
    }

    /// The call failed before the backend answered: everything goes back (a settlement to
    /// zero usage).
    pub async fn release(mut self) {
        if let Some(lease) = self.lease.take() {
            let debits = std::mem::take(&mut self.debits);
            let zero = vec![0; debits.len()];
            self.quotas.settle(lease, debits, zero).await;
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            // Nothing observed: the reserved amounts stand (the lease still ends, so a
            // shared store does not return them when it expires).
            let observed = self.observed.take().unwrap_or_default();
            let debits = std::mem::take(&mut self.debits);
            self.quotas.settle_detached(lease, debits, observed);
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::testutil::{call, frozen_quotas, key};
    use crate::{Limit, Throttled};

    const RPM: u64 = 60;
    const TPM: u64 = 1_000;

    /// (RPM level, TPM level) as absolute tokens, read through the public headroom.
    fn levels(q: &Quotas) -> (f64, f64) {
        let r = q.headroom(&key("m", Limit::Requests), RPM) * RPM as f64;
        let t = q.headroom(&key("m", Limit::Tokens), TPM) * TPM as f64;
        ((r * 1e6).round() / 1e6, (t * 1e6).round() / 1e6)
    }

    fn admit(q: &Arc<Quotas>, tokens: u64) -> Reservation {
        block_on(reserve(q, call("m", RPM, TPM, tokens))).unwrap()
    }

    #[test]
    fn settle_refunds_the_unused_part() {
        let (_c, q) = frozen_quotas();
        let r = admit(&q, 500);
        assert_eq!(levels(&q), (59.0, 500.0));
        block_on(r.settle(&[1, 200]));
        assert_eq!(levels(&q), (59.0, 800.0));
    }

    #[test]
    fn settle_charges_the_excess_and_delays_later_requests() {
        let (clock, q) = frozen_quotas();
        block_on(admit(&q, 500).settle(&[1, 1_200])); // level 1_000 − 1_200 = −200
        assert_eq!(q.headroom(&key("m", Limit::Tokens), TPM), 0.0);
        assert_eq!(
            block_on(reserve(&q, call("m", RPM, TPM, 1))).unwrap_err(),
            Refused::Throttled(Throttled { limit: Limit::Tokens })
        );
        clock.set(12_000); // +200 refilled: level 0, still short of 1
        assert!(block_on(reserve(&q, call("m", RPM, TPM, 1))).is_err());
        clock.set(12_060); // +1
        assert!(block_on(reserve(&q, call("m", RPM, TPM, 1))).is_ok());
    }

    #[test]
    fn release_gives_everything_back() {
        let (_c, q) = frozen_quotas();
        block_on(admit(&q, 700).release());
        assert_eq!(levels(&q), (60.0, 1_000.0));
    }

    #[test]
    fn throttled_attempt_costs_nothing() {
        let (_c, q) = frozen_quotas();
        let _held = admit(&q, 900);
        assert_eq!(
            block_on(reserve(&q, call("m", RPM, TPM, 200))).unwrap_err(),
            Refused::Throttled(Throttled { limit: Limit::Tokens })
        );
        assert_eq!(levels(&q), (59.0, 100.0));
    }

    #[test]
    fn drop_without_observation_keeps_the_reservation() {
        let (_c, q) = frozen_quotas();
        drop(admit(&q, 500));
        assert_eq!(levels(&q), (59.0, 500.0));
    }

    #[test]
    fn drop_after_observe_settles_to_the_last_observation() {
        let (_c, q) = frozen_quotas();
        let mut r = admit(&q, 500);
        r.observe(&[1, 50]);
        r.observe(&[1, 120]); // the latest wins
        drop(r);
        assert_eq!(levels(&q), (59.0, 880.0));
        // A dropped handler future settles the same way.
        let mut r = admit(&q, 500);
        r.observe(&[1, 30]);
        let handler = async move {
            let _r = r;
            std::future::pending::<()>().await;
        };
        drop(handler);
        assert_eq!(levels(&q), (58.0, 850.0));
    }

    #[test]
    fn settle_or_release_happens_once() {
        let (_c, q) = frozen_quotas();
        let mut r = admit(&q, 500);
        r.observe(&[1, 50]);
        block_on(r.settle(&[1, 300])); // settle's amounts win over the observation; Drop is a no-op
        assert_eq!(levels(&q), (59.0, 700.0));
        let mut r = admit(&q, 100);
        r.observe(&[1, 10]);
        block_on(r.release());
        assert_eq!(levels(&q), (59.0, 700.0));
    }

    #[test]
    fn unpolled_settle_falls_back_to_drop() {
        let (_c, q) = frozen_quotas();
        let mut r = admit(&q, 500);
        r.observe(&[1, 100]);
        drop(r.settle(&[1, 200])); // never polled: settles to the observation, once
        assert_eq!(levels(&q), (59.0, 900.0));
    }

    #[test]
    fn short_actual_keeps_the_reserved_amount() {
        let (_c, q) = frozen_quotas();
        block_on(admit(&q, 500).settle(&[1]));
        assert_eq!(levels(&q), (59.0, 500.0));
    }
}
