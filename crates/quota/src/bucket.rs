//! Token-bucket arithmetic for one per-minute limit: pure math, no I/O, no clock reads.
//!
//! The bucket holds at most C tokens (C = the per-minute quota) and refills continuously at
//! C/60 per second. A burst may take the whole minute at once; afterwards requests pass at
//! the refill rate. There is deliberately no reset on calendar-minute boundaries: a fixed
//! window admits up to 2×C across a boundary (C at 0:59.999, C again at 1:00.000).
//!
//! The level is an `f64` because refill is fractional (60 RPM = one token per second, so
//! after 250 ms a quarter token is back). Debits and quotas are integers below 2^53, so they
//! are represented exactly and a frozen clock never drifts.

const MS_PER_MINUTE: f64 = 60_000.0;

/// One RPM or TPM bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct Bucket {
    capacity: f64,
    /// Tokens at `updated_ms`; may be negative after an extra charge at settlement.
    level: f64,
    updated_ms: u64,
}

impl Bucket {
    /// A fresh bucket is full: a new account/model starts with its whole minute available.
    pub fn new(per_minute: u64, now_ms: u64) -> Self {
        let capacity = per_minute as f64;
        Self { capacity, level: capacity, updated_ms: now_ms }
    }

    pub fn capacity(&self) -> f64 {
        self.capacity
    }

    /// Tokens available at `now_ms`. A `now_ms` earlier than the last update (callers read the
    /// clock before taking the lock, so two callers may arrive out of order) counts as no
    /// elapsed time rather than draining the bucket.
    pub fn level(&self, now_ms: u64) -> f64 {
        let elapsed = now_ms.saturating_sub(self.updated_ms) as f64;
        (self.level + elapsed * self.capacity / MS_PER_MINUTE).min(self.capacity)
    }

    /// Takes `amount` only when the level covers it. A request larger than the capacity can
    /// never pass; callers should cap their reservation at the quota.
    pub fn try_take(&mut self, amount: u64, now_ms: u64) -> bool {
        self.advance(now_ms);
        let amount = amount as f64;
        if self.level >= amount {
            self.level -= amount;
            true
        } else {
            false
        }
    }

    /// Positive `delta` refunds (never above capacity: unused tokens do not bank beyond one
    /// minute); negative `delta` charges extra and may push the level below zero, so that the
    /// next requests wait until the overdraft has refilled.
    pub fn adjust(&mut self, delta: f64, now_ms: u64) {
        self.advance(now_ms);
        self.level = (self.level + delta).min(self.capacity);
    }

    /// Follows a quota change (configuration reload). Refill up to now runs at the old rate;
    /// tokens above a lowered capacity are dropped, a raised one fills at the new rate.
    pub fn set_per_minute(&mut self, per_minute: u64, now_ms: u64) {
        let capacity = per_minute as f64;
        if capacity != self.capacity {
            self.advance(now_ms);
            self.capacity = capacity;
            self.level = self.level.min(capacity);
        }
    }

    fn advance(&mut self, now_ms: u64) {
        self.level = self.level(now_ms);
        self.updated_ms = self.updated_ms.max(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    enum Op {
        Take(u64, bool),
        Adjust(f64),
        Level(f64),
    }
    use Op::*;

    /// (name, per-minute quota, steps of (now_ms, operation)).
    type Case = (&'static str, u64, Vec<(u64, Op)>);

    fn run(name: &str, per_minute: u64, steps: &[(u64, Op)]) {
        let mut b = Bucket::new(per_minute, 0);
        for (i, (now, op)) in steps.iter().enumerate() {
            match op {
                Take(amount, want) => {
                    assert_eq!(b.try_take(*amount, *now), *want, "{name}: step {i} take {amount} at {now}")
                }
                Adjust(delta) => b.adjust(*delta, *now),
                Level(want) => {
                    let got = b.level(*now);
                    assert!((got - want).abs() < 1e-9, "{name}: step {i} level at {now}: {got} != {want}");
                }
            }
        }
    }

    #[test]
    fn bucket_table() {
        let cases: Vec<Case> = vec![
            (
                // The whole minute in one burst, then one request per second (60 RPM).
                "burst then refill rate",
                60,
                vec![
                    (0, Take(60, true)),
                    (0, Take(1, false)),
                    (999, Take(1, false)),
                    (1_000, Take(1, true)),
                    (1_500, Level(0.5)),
                    (2_000, Take(1, true)),
                    (2_000, Take(1, false)),
                ],
            ),
            (
                // A fixed window would admit 60 more at 60_000; the bucket admits ~0.
                "no double quota across a minute boundary",
                60,
                vec![
                    (59_999, Take(60, true)),
                    (60_000, Take(1, false)),
                    (60_001, Level(2.0 / 1_000.0)),
                    (60_999, Take(1, true)),
                    (61_000, Take(1, false)),
                ],
            ),
            (
                "extra charge goes negative and delays the next request",
                60,
                vec![
                    (0, Take(60, true)),
                    (0, Adjust(-30.0)),
                    (0, Level(-30.0)),
                    (30_000, Take(1, false)),
                    (30_999, Take(1, false)),
                    (31_000, Take(1, true)),
                ],
            ),
            (
                "refund is capped at capacity",
                60,
                vec![
                    (0, Take(10, true)),
                    (20_000, Level(60.0)),
                    (20_000, Adjust(10.0)),
                    (20_000, Level(60.0)),
                    (20_000, Take(61, false)),
                    (20_000, Take(60, true)),
                ],
            ),
            (
                "refill is capped at capacity after a long idle",
                1_000,
                vec![(0, Take(1, true)), (3_600_000, Level(1_000.0)), (3_600_000, Take(1_001, false))],
            ),
            (
                "clock going backwards adds nothing and takes nothing",
                60,
                vec![(10_000, Take(60, true)), (5_000, Level(0.0)), (5_000, Take(1, false)), (11_000, Take(1, true))],
            ),
            ("zero quota admits nothing", 0, vec![(0, Take(1, false)), (60_000, Take(1, false))]),
        ];
        for (name, per_minute, steps) in &cases {
            run(name, *per_minute, steps);
        }
    }

    #[test]
    fn greedy_client_gets_quota_plus_refill_per_window() {
        // Hammer every 10 ms for two minutes: admissions ≈ C (burst) + C per minute of refill.
        let mut b = Bucket::new(600, 0);
        let admitted = (0..12_000u64).filter(|t| b.try_take(1, t * 10)).count();
        assert!((1_790..=1_800).contains(&admitted), "{admitted}");
    }

    #[test]
    fn quota_change_follows_config() {
        let mut b = Bucket::new(100, 0);
        assert!(b.try_take(50, 0));
        b.set_per_minute(20, 0);
        assert_eq!(b.capacity(), 20.0);
        assert!((b.level(0) - 20.0).abs() < 1e-9);
        b.set_per_minute(600, 0);
        assert!((b.level(1_000) - 30.0).abs() < 1e-9);
    }
}
