//! Spare capacity: where a batch call may run now, if anywhere.
//!
//! Batch work takes a backend slot only while more than the headroom (`[batch].headroom`
//! of the backend's on-demand concurrency, at least one slot) is free after it. So
//! on-demand traffic always finds a free slot without waiting, and when it grows into the
//! headroom no new batch call starts: batch steps aside within one request (the calls
//! already running finish; nothing new takes their place). The capacity view is the one
//! routing uses ([`Pool::available`]), so a region cooling down has no spare capacity
//! either.
//!
//! Slots granted here are counted until dropped: between the grant and the call reaching
//! the backend the pool does not see it yet, and without the count every job would see
//! the same free slots at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use spillway_backends::Pool;
use tokio::sync::Notify;

/// How often a waiting job looks again when no slot was released (on-demand load may
/// have fallen meanwhile).
const RECHECK: Duration = Duration::from_millis(20);

/// Slots one backend can give batch work now: the free on-demand slots beyond the
/// headroom, less the slots granted whose calls the backend does not count yet.
pub fn spare(limit: u32, free: u32, granted: u32, started: u32, headroom: f64) -> u32 {
    let keep = ((f64::from(limit) * headroom).ceil() as u32).max(1);
    let not_yet_counted = granted.saturating_sub(started);
    free.saturating_sub(keep).saturating_sub(not_yet_counted)
}

#[derive(Debug, Default)]
struct Counts {
    granted: u32,
    started: u32,
}

/// Batch slots across the backends of this instance.
#[derive(Debug)]
pub struct Scheduler {
    headroom: f64,
    counts: Mutex<HashMap<(String, String), Counts>>,
    released: Notify,
}

/// A granted slot on one pool; given back when dropped.
#[derive(Debug)]
pub struct Slot {
    scheduler: Arc<Scheduler>,
    key: (String, String),
    started: bool,
    /// Index of the chosen pool in the caller's list.
    pub index: usize,
}

impl Slot {
    /// The call has reached the backend: the pool's own count includes it now.
    pub fn started(&mut self) {
        if !self.started {
            self.started = true;
            self.scheduler.with(&self.key, |c| c.started += 1);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let started = self.started;
        self.scheduler.with(&self.key, |c| {
            c.granted = c.granted.saturating_sub(1);
            if started {
                c.started = c.started.saturating_sub(1);
            }
        });
        self.scheduler.released.notify_waiters();
    }
}

impl Scheduler {
    pub fn new(headroom: f64) -> Self {
        Self { headroom, counts: Mutex::default(), released: Notify::new() }
    }

    fn with<T>(&self, key: &(String, String), f: impl FnOnce(&mut Counts) -> T) -> T {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        f(counts.entry(key.clone()).or_default())
    }

    /// A slot on the pool with the most spare capacity now, if any has some.
    pub fn try_acquire(self: &Arc<Self>, pools: &[&Arc<Pool>]) -> Option<Slot> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let best = pools
            .iter()
            .enumerate()
            .map(|(i, pool)| {
                let key = (pool.region.clone(), pool.name.clone());
                let limit = pool.on_demand_limit();
                let free = (pool.available() * f64::from(limit)).round() as u32;
                let c = counts.get(&key);
                let (granted, started) = c.map_or((0, 0), |c| (c.granted, c.started));
                (i, key, spare(limit, free, granted, started, self.headroom))
            })
            .filter(|(_, _, spare)| *spare > 0)
            .max_by_key(|(i, _, spare)| (*spare, std::cmp::Reverse(*i)))?;
        let (index, key, _) = best;
        counts.entry(key.clone()).or_default().granted += 1;
        Some(Slot { scheduler: Arc::clone(self), key, started: false, index })
    }

    /// Waits for a slot on one of `pools`.
    pub async fn acquire(self: &Arc<Self>, pools: &[&Arc<Pool>]) -> Slot {
        loop {
            let released = self.released.notified();
            if let Some(slot) = self.try_acquire(pools) {
                return slot;
            }
            let _ = tokio::time::timeout(RECHECK, released).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spillway_backends::Backend;
    use spillway_catalog::SimBackend;

    #[test]
    fn spare_keeps_the_headroom_free() {
        // 64 slots, a quarter kept: 16.
        assert_eq!(spare(64, 64, 0, 0, 0.25), 48);
        // Interactive traffic took 10: batch may take 38 more.
        assert_eq!(spare(64, 54, 0, 0, 0.25), 38);
        // Grants not yet seen by the backend count against the spare.
        assert_eq!(spare(64, 64, 48, 0, 0.25), 0);
        assert_eq!(spare(64, 16, 48, 48, 0.25), 0);
        // Interactive load grew into the headroom: nothing new starts.
        assert_eq!(spare(64, 10, 40, 40, 0.25), 0);
        // At least one slot is always kept.
        assert_eq!(spare(1, 1, 0, 0, 0.0), 0);
        assert_eq!(spare(4, 4, 0, 0, 0.0), 3);
    }

    fn pool(region: &str, slots: u32) -> Arc<Pool> {
        let cfg = SimBackend { max_concurrency: slots, ..SimBackend::default() };
        let backend = Backend::Sim(spillway_backends::sim::SimBackend::new(cfg));
        Arc::new(Pool::new(region.into(), "sim".into(), backend, Duration::from_secs(1)))
    }

    #[test]
    fn grants_go_to_the_emptiest_pool_and_stop_at_the_headroom() {
        let scheduler = Arc::new(Scheduler::new(0.5));
        let (a, b) = (pool("a", 4), pool("b", 8));
        let pools = [&a, &b];
        let mut held = Vec::new();
        while let Some(slot) = scheduler.try_acquire(&pools) {
            held.push(slot);
        }
        // Half of each pool is left: 2 of a's 4, 4 of b's 8.
        assert_eq!(held.iter().filter(|s| s.index == 0).count(), 2);
        assert_eq!(held.iter().filter(|s| s.index == 1).count(), 4);
        held.pop();
        assert!(scheduler.try_acquire(&pools).is_some());
    }
}
