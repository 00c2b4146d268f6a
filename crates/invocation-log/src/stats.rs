//! Counters for metrics. Relaxed atomics: each counter is monotonic on its
//! own and nobody derives invariants across counters mid-flight.

use std::sync::atomic::{AtomicU64, Ordering};

/// A point-in-time copy of the logger's counters.
///
/// `accepted`/`rejected` count records at `submit`. The other counters count
/// *deliveries*: one per (record, destination), so a record configured for
/// both S3 and CloudWatch counts twice in `written`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Records taken by `submit`.
    pub accepted: u64,
    /// Records refused because shutdown had begun.
    pub rejected: u64,
    /// Deliveries durably handed to their destination.
    pub written: u64,
    /// Deliveries whose write failed after all attempts (each failed round
    /// counts; a retained delivery that later succeeds also counts in
    /// `written`).
    pub failed: u64,
    /// Deliveries given up for good: over the retention cap, still failing at
    /// shutdown, or not serialisable.
    pub dropped: u64,
    /// Deliveries currently held for retry (a gauge, not a counter).
    pub retained: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn inc(&self) {
        self.add(1);
    }

    pub(crate) fn add(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn set(&self, n: usize) {
        self.0.store(n as u64, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) accepted: Counter,
    pub(crate) rejected: Counter,
    pub(crate) written: Counter,
    pub(crate) failed: Counter,
    pub(crate) dropped: Counter,
    pub(crate) retained: Counter,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> LogStats {
        LogStats {
            accepted: self.accepted.get(),
            rejected: self.rejected.get(),
            written: self.written.get(),
            failed: self.failed.get(),
            dropped: self.dropped.get(),
            retained: self.retained.get(),
        }
    }
}
