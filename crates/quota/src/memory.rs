//! The in-process store: every bucket of this server in one `HashMap` behind one `Mutex`.
//!
//! One lock taken once per operation is what makes a multi-bucket reserve atomic (check all,
//! then debit all, with nobody in between); the critical section is a few hash lookups and
//! float operations, and the clock is read before taking the lock.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

// foldhash instead of std's SipHash: a call hashes its bucket keys (three strings each)
// five times (check, debit, settle), ≈ 600 instructions each with SipHash (issue 13).
// The keys are the server's own configuration and callers' accounts, not an attack surface
// worth SipHash's cost here: a bucket map holds one entry per (account, region, scope).
use hashbrown::HashMap;

use crate::{Adjustment, Bucket, BucketKey, Debit, Floor, Lease, LeaseKind, QuotaStore, Refused, Throttled};

/// Milliseconds on a monotonic clock; injectable so tests can freeze or step time.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

pub struct InProcessQuotas {
    buckets: Mutex<HashMap<BucketKey, Bucket>>,
    clock: Clock,
}

impl fmt::Debug for InProcessQuotas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InProcessQuotas").field("buckets", &self.lock().len()).finish_non_exhaustive()
    }
}

impl Default for InProcessQuotas {
    fn default() -> Self {
        Self::new()
    }
}

impl InProcessQuotas {
    /// Milliseconds since construction on `Instant` (monotonic: wall-clock jumps cannot
    /// refill or drain buckets).
    pub fn new() -> Self {
        let start = Instant::now();
        Self::with_clock(Arc::new(move || u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)))
    }

    pub fn with_clock(clock: Clock) -> Self {
        Self { buckets: Mutex::new(HashMap::new()), clock }
    }

    /// A panic while holding the lock cannot leave a bucket half-updated in a way that matters
    /// (each field write is independent), so a poisoned lock is simply taken over.
    fn lock(&self) -> MutexGuard<'_, HashMap<BucketKey, Bucket>> {
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Synchronous all-or-nothing reserve.
    pub fn try_reserve(&self, debits: &[Debit]) -> Result<(), Throttled> {
        self.try_reserve_above(debits, Floor::NONE)
    }

    /// Synchronous all-or-nothing reserve that leaves `floor` of every bucket.
    pub fn try_reserve_above(&self, debits: &[Debit], floor: Floor) -> Result<(), Throttled> {
        if debits.is_empty() {
            return Ok(());
        }
        let now = (self.clock)();
        let mut buckets = self.lock();
        // Phase 1: check every bucket. A bucket named twice in one request must cover the sum,
        // hence the running total over earlier debits with the same key (requests touch ≤ ~6
        // buckets, so the quadratic scan is cheaper than a map).
        for (i, d) in debits.iter().enumerate() {
            let need =
                debits[..i].iter().filter(|e| e.key == d.key).fold(d.amount, |sum, e| sum.saturating_add(e.amount))
                    as f64;
            // `level − need < floor` (not `level < need + floor`): the same operations as
            // the Lua script, so both stores decide alike on the last token.
            if level_of(&mut buckets, &d.key, d.per_minute, now) - need < floor.tokens(d.per_minute) {
                return Err(Throttled { limit: d.key.limit });
            }
        }
        // Phase 2: debit. Still under the same lock, so the checks above still hold.
        for d in debits {
            apply(&mut buckets, &d.key, d.per_minute, now, -(d.amount as f64));
        }
        Ok(())
    }

    /// Synchronous adjust: also the `Drop` path of a [`crate::Reservation`].
    pub fn adjust_now(&self, adjustments: &[Adjustment]) {
        if adjustments.is_empty() {
            return;
        }
        let now = (self.clock)();
        let mut buckets = self.lock();
        for (key, per_minute, delta) in adjustments {
            apply(&mut buckets, key, *per_minute, now, *delta);
        }
    }

    /// Settles `debits` to what was `used` ([`crate::deltas`]), without copying their keys
    /// into a list of adjustments first.
    pub(crate) fn settle_now(&self, debits: &[Debit], used: &[u64]) {
        let mut changed = crate::deltas(debits, used);
        let Some(first) = changed.next() else { return };
        let now = (self.clock)();
        let mut buckets = self.lock();
        for (d, delta) in std::iter::once(first).chain(changed) {
            apply(&mut buckets, &d.key, d.per_minute, now, delta);
        }
    }
}

/// Level of the bucket for `key` at `now`, creating it (full) if new and following the
/// configured quota if it changed. `get_mut` before `insert` so the common path does not
/// clone the key (`entry` would need an owned key on every call).
fn level_of(buckets: &mut HashMap<BucketKey, Bucket>, key: &BucketKey, per_minute: u64, now: u64) -> f64 {
    match buckets.get_mut(key) {
        Some(bucket) => {
            bucket.set_per_minute(per_minute, now);
            bucket.level(now)
        }
        None => {
            let bucket = Bucket::new(per_minute, now);
            let level = bucket.level(now);
            buckets.insert(key.clone(), bucket);
            level
        }
    }
}

/// Adds `delta` to the bucket for `key` (negative = debit), creating it if new.
fn apply(buckets: &mut HashMap<BucketKey, Bucket>, key: &BucketKey, per_minute: u64, now: u64, delta: f64) {
    match buckets.get_mut(key) {
        Some(bucket) => {
            bucket.set_per_minute(per_minute, now);
            bucket.adjust(delta, now);
        }
        None => {
            let mut bucket = Bucket::new(per_minute, now);
            bucket.adjust(delta, now);
            buckets.insert(key.clone(), bucket);
        }
    }
}

impl QuotaStore for InProcessQuotas {
    async fn reserve_above(&self, debits: &[Debit], floor: Floor) -> Result<Lease, Refused> {
        self.try_reserve_above(debits, floor).map(|()| Lease(LeaseKind::Local)).map_err(Refused::Throttled)
    }

    async fn settle(&self, _lease: Lease, debits: Vec<Debit>, used: Vec<u64>) {
        self.settle_now(&debits, &used);
    }

    fn headroom(&self, key: &BucketKey, per_minute: u64) -> f64 {
        if per_minute == 0 {
            return 0.0;
        }
        let now = (self.clock)();
        let level = self.lock().get(key).map_or(per_minute as f64, |b| b.level(now));
        (level / per_minute as f64).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Barrier;

    use futures::executor::block_on;

    use super::*;
    use crate::testutil::{call, debit, frozen, key};
    use crate::Limit;

    #[test]
    fn all_or_nothing_across_two_buckets() {
        let (_clock, q) = frozen();
        // 100 RPM has room, 1_000 TPM does not fit 1_500 tokens: neither is debited.
        assert_eq!(
            block_on(q.reserve(&call("m", 100, 1_000, 1_500))).map(drop),
            Err(Refused::Throttled(Throttled { limit: Limit::Tokens }))
        );
        assert_eq!(q.headroom(&key("m", Limit::Requests), 100), 1.0);
        assert_eq!(q.headroom(&key("m", Limit::Tokens), 1_000), 1.0);
        // And the other way round: RPM exhausted blocks the TPM debit.
        assert!(block_on(q.reserve(&call("n", 1, 1_000, 10))).is_ok());
        assert_eq!(
            block_on(q.reserve(&call("n", 1, 1_000, 10))).map(drop),
            Err(Refused::Throttled(Throttled { limit: Limit::Requests }))
        );
        assert!((q.headroom(&key("n", Limit::Tokens), 1_000) - 0.99).abs() < 1e-9);
    }

    #[test]
    fn a_floor_keeps_the_top_of_every_bucket() {
        let (_clock, q) = frozen();
        // Flex keeps 20% of 100 RPM / 1_000 TPM: 800 tokens pass, the next 1 does not…
        let flex = Floor(20);
        assert!(q.try_reserve_above(&call("m", 100, 1_000, 800), flex).is_ok());
        assert_eq!(q.try_reserve_above(&call("m", 100, 1_000, 1), flex), Err(Throttled { limit: Limit::Tokens }));
        // …and nothing was debited by the refusal; a floorless (priority) call takes the rest.
        assert!((q.headroom(&key("m", Limit::Tokens), 1_000) - 0.2).abs() < 1e-9);
        assert!(q.try_reserve_above(&call("m", 100, 1_000, 200), Floor::NONE).is_ok());
        assert_eq!(q.headroom(&key("m", Limit::Tokens), 1_000), 0.0);
        // The RPM bucket has its own floor: 79 more requests of 0 tokens leave 20 of 100.
        let (_clock, q) = frozen();
        let passed = (0..100).filter(|_| q.try_reserve_above(&call("n", 100, 1_000, 0), flex).is_ok()).count();
        assert_eq!(passed, 80);
    }

    #[test]
    fn same_bucket_twice_must_cover_the_sum() {
        let (_clock, q) = frozen();
        let twice = vec![debit("p", Limit::Tokens, 100, 60), debit("p", Limit::Tokens, 100, 60)];
        assert_eq!(q.try_reserve(&twice), Err(Throttled { limit: Limit::Tokens }));
        assert_eq!(q.headroom(&key("p", Limit::Tokens), 100), 1.0);
    }

    #[test]
    fn headroom_is_a_clamped_fraction_that_refills() {
        let (clock, q) = frozen();
        let k = key("m", Limit::Tokens);
        assert_eq!(q.headroom(&k, 600), 1.0);
        assert_eq!(q.headroom(&k, 0), 0.0);
        q.try_reserve(&[debit("m", Limit::Tokens, 600, 600)]).unwrap();
        q.adjust_now(&[(k.clone(), 600, -300.0)]);
        assert_eq!(q.headroom(&k, 600), 0.0); // overdrawn reads 0, not negative
        clock.set(60_000); // -300 + 600 refilled = 300
        assert!((q.headroom(&k, 600) - 0.5).abs() < 1e-9);
    }

    /// 16 threads race for a frozen bucket of `quota`; returns how many reservations passed.
    fn race(q: &InProcessQuotas, attempts_per_thread: usize, request: &[Debit]) -> usize {
        let passed = AtomicUsize::new(0);
        let start = Barrier::new(16);
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    start.wait();
                    for _ in 0..attempts_per_thread {
                        if block_on(q.reserve(request)).is_ok() {
                            passed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        passed.into_inner()
    }

    #[test]
    fn concurrent_reservations_never_exceed_the_quota() {
        let (_clock, q) = frozen();
        // 16 × 200 = 3_200 attempts on a quota of 1_000.
        assert_eq!(race(&q, 200, &[debit("m", Limit::Requests, 1_000, 1)]), 1_000);
        assert_eq!(q.headroom(&key("m", Limit::Requests), 1_000), 0.0);
    }

    #[test]
    fn concurrent_two_bucket_reservations_are_atomic() {
        // TPM binds: 5_000 / 10 = 500 requests; the RPM bucket must show exactly 500 debits.
        let (_clock, q) = frozen();
        assert_eq!(race(&q, 100, &call("m", 1_000, 5_000, 10)), 500);
        assert_eq!(q.headroom(&key("m", Limit::Tokens), 5_000), 0.0);
        assert!((q.headroom(&key("m", Limit::Requests), 1_000) - 0.5).abs() < 1e-9);
        // RPM binds: 300 requests; TPM keeps 10_000 − 300 × 10.
        let (_clock, q) = frozen();
        assert_eq!(race(&q, 100, &call("m", 300, 10_000, 10)), 300);
        assert!((q.headroom(&key("m", Limit::Tokens), 10_000) - 0.7).abs() < 1e-9);
    }
}
