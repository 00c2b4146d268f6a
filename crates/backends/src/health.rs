//! One backend instance serving one region, with its health: a backend that answers 429,
//! 5xx or times out is left alone for a cool-down, during which it has no capacity.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::{Backend, BackendError, ModelBackend};

#[derive(Debug)]
pub struct Pool {
    pub region: String,
    pub name: String,
    pub backend: Backend,
    cooldown: Duration,
    epoch: Instant,
    /// Milliseconds since `epoch` until which the backend cools down (0: healthy).
    cooling_until_ms: AtomicU64,
    /// On-demand vs provisioned capacity (crate::reserve).
    pub(crate) lanes: crate::reserve::Lanes,
    /// The other instances' load on this backend (clustered only).
    cluster: crate::cluster_load::ClusterLoad,
}

impl Pool {
    pub fn new(region: String, name: String, backend: Backend, cooldown: Duration) -> Self {
        let lanes = crate::reserve::Lanes::default();
        let cluster = crate::cluster_load::ClusterLoad::default();
        Self {
            region,
            name,
            backend,
            cooldown,
            epoch: Instant::now(),
            cooling_until_ms: AtomicU64::new(0),
            lanes,
            cluster,
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub fn is_cooling_down(&self) -> bool {
        self.now_ms() < self.cooling_until_ms.load(Ordering::Relaxed)
    }

    /// Share of the backend's on-demand concurrency that is free, 0.0–1.0 (slots reserved
    /// by provisioned throughput are not on-demand capacity); 0 while cooling down. This
    /// is the number routing compares across regions.
    pub fn available(&self) -> f64 {
        if self.is_cooling_down() {
            return 0.0;
        }
        self.lanes.on_demand_share(self.cluster.with_others(self.backend.load()))
    }

    /// Whether an on-demand call of a service tier that leaves `floor_percent` of the
    /// slots to the tiers above it may start here now (over the whole cluster's use).
    /// A snapshot, like `available()`: two calls racing for the band may both start, so
    /// the floor can be overshot by the calls in flight at once, never undershot by more.
    pub fn admits_above(&self, floor_percent: u8) -> bool {
        self.lanes.admits_above(self.cluster.with_others(self.backend.load()), floor_percent)
    }

    /// Milliseconds of cool-down left (0: healthy).
    pub fn cooling_remaining_ms(&self) -> u64 {
        self.cooling_until_ms.load(Ordering::Relaxed).saturating_sub(self.now_ms())
    }

    /// Faults this instance has seen so far (a counter: the cluster sync shares a
    /// cool-down when it moved).
    pub fn faults(&self) -> u64 {
        self.cluster.faults.load(Ordering::Relaxed)
    }

    /// A cool-down another instance started: this one leaves the backend alone too.
    pub fn cool_down_for(&self, ms: u64) {
        self.cooling_until_ms.fetch_max(self.now_ms().saturating_add(ms), Ordering::Relaxed);
    }

    /// What the other instances of the cluster run on this backend, as of the last sync:
    /// `available()` then compares the whole cluster's use with all its slots.
    pub fn set_cluster_load(&self, others_in_flight: u32, others_slots: u32) {
        self.cluster.set(others_in_flight, others_slots);
    }

    /// Record a failure; backend faults start (or extend) the cool-down. `Busy` (our own
    /// slots are full) is not a fault: the slot count already says so.
    pub fn report(&self, error: &BackendError) {
        if error.is_backend_fault() {
            let until = self.now_ms().saturating_add(u64::try_from(self.cooldown.as_millis()).unwrap_or(u64::MAX));
            self.cooling_until_ms.fetch_max(until, Ordering::Relaxed);
            self.cluster.faults.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(region = %self.region, backend = %self.name, %error, cooldown_ms = self.cooldown.as_millis() as u64, "backend cooling down");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spillway_catalog::SimBackend;

    fn pool(cooldown_ms: u64) -> Pool {
        let backend =
            Backend::Sim(crate::sim::SimBackend::new(SimBackend { max_concurrency: 4, ..SimBackend::default() }));
        Pool::new("r".into(), "b".into(), backend, Duration::from_millis(cooldown_ms))
    }

    #[test]
    fn healthy_idle_backend_is_fully_available() {
        assert_eq!(pool(1000).available(), 1.0);
    }

    #[test]
    fn faults_cool_down_and_recover() {
        let p = pool(30);
        p.report(&BackendError::Unavailable("x".into()));
        assert!(p.is_cooling_down());
        assert_eq!(p.available(), 0.0);
        std::thread::sleep(Duration::from_millis(40));
        assert!(!p.is_cooling_down());
    }

    #[test]
    fn the_clusters_load_and_cool_downs_count() {
        let p = pool(10_000);
        // Others run 12 of their 12 slots: the cluster uses 12 of 16.
        p.set_cluster_load(12, 12);
        assert_eq!(p.available(), 0.25);
        p.set_cluster_load(0, 0);
        assert_eq!(p.available(), 1.0);
        assert_eq!(p.faults(), 0);
        p.cool_down_for(5_000);
        assert_eq!(p.available(), 0.0);
        assert!((4_000..=5_000).contains(&p.cooling_remaining_ms()));
        assert_eq!(p.faults(), 0, "a received cool-down is not a fault of this instance");
        p.report(&BackendError::Throttled);
        assert_eq!(p.faults(), 1);
    }

    #[test]
    fn busy_and_client_errors_do_not_cool_down() {
        let p = pool(1000);
        p.report(&BackendError::Busy);
        p.report(&BackendError::Rejected { status: 400, message: "bad".into() });
        assert!(!p.is_cooling_down());
        p.report(&BackendError::Throttled);
        assert!(p.is_cooling_down());
    }
}
