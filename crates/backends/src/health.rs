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
}

impl Pool {
    pub fn new(region: String, name: String, backend: Backend, cooldown: Duration) -> Self {
        let lanes = crate::reserve::Lanes::default();
        Self { region, name, backend, cooldown, epoch: Instant::now(), cooling_until_ms: AtomicU64::new(0), lanes }
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
        self.lanes.on_demand_share(self.backend.load())
    }

    /// Record a failure; backend faults start (or extend) the cool-down. `Busy` (our own
    /// slots are full) is not a fault: the slot count already says so.
    pub fn report(&self, error: &BackendError) {
        if error.is_backend_fault() {
            let until = self.now_ms().saturating_add(u64::try_from(self.cooldown.as_millis()).unwrap_or(u64::MAX));
            self.cooling_until_ms.fetch_max(until, Ordering::Relaxed);
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
    fn busy_and_client_errors_do_not_cool_down() {
        let p = pool(1000);
        p.report(&BackendError::Busy);
        p.report(&BackendError::Rejected { status: 400, message: "bad".into() });
        assert!(!p.is_cooling_down());
        p.report(&BackendError::Throttled);
        assert!(p.is_cooling_down());
    }
}
