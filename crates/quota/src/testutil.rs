//! Shared helpers for the unit tests: keys, debits and a clock the test drives.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::{BucketKey, Debit, InProcessQuotas, Limit, Quotas};

pub fn key(scope: &str, limit: Limit) -> BucketKey {
    BucketKey { account: "123456789012".into(), region: "eu-west-3".into(), scope: scope.into(), limit }
}

pub fn debit(scope: &str, limit: Limit, per_minute: u64, amount: u64) -> Debit {
    Debit { key: key(scope, limit), per_minute, amount }
}

/// RPM + TPM debits of one direct call to `scope`.
pub fn call(scope: &str, rpm: u64, tpm: u64, tokens: u64) -> Vec<Debit> {
    vec![debit(scope, Limit::Requests, rpm, 1), debit(scope, Limit::Tokens, tpm, tokens)]
}

/// A test clock: stays where the test puts it.
#[derive(Clone, Default)]
pub struct TestClock(Arc<AtomicU64>);

impl TestClock {
    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

pub fn frozen() -> (TestClock, InProcessQuotas) {
    let clock = TestClock::default();
    let c = clock.0.clone();
    (clock, InProcessQuotas::with_clock(Arc::new(move || c.load(Ordering::SeqCst))))
}

pub fn frozen_quotas() -> (TestClock, Arc<Quotas>) {
    let (clock, q) = frozen();
    (clock, Arc::new(Quotas::InProcess(q)))
}
