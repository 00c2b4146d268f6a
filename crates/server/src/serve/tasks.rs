//! The process's background work and the two signals shutdown sends it.
//!
//! Every background task (the flush loop, the provisioned-throughput driver, import jobs
//! and their reconciler) runs on one [`TaskTracker`], so shutdown can stop them and wait
//! until the last one is gone before the final flush: nothing writes to the store after
//! the process says it has stopped.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Cheap to clone (one `Arc`); lives in [`crate::AppState`].
#[derive(Debug, Clone, Default)]
pub struct Lifecycle(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    tasks: TaskTracker,
    /// Background loops end at their next tick; cancellable tasks are dropped.
    stopping: CancellationToken,
    /// The shutdown deadline passed: open streams end with an exception frame.
    streams_end: CancellationToken,
}

impl Lifecycle {
    /// Runs `task` to its end; shutdown waits for it. Loops inside must wait with
    /// [`Lifecycle::tick`] so they notice shutdown.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.0.tasks.spawn(task);
    }

    /// Runs `task` until shutdown, which drops it wherever it is: for work whose state
    /// is in the store and resumes at the next start (an import job).
    pub fn spawn_cancellable(&self, task: impl Future<Output = ()> + Send + 'static) {
        let stopping = self.0.stopping.clone();
        self.0.tasks.spawn(async move {
            tokio::select! {
                biased;
                () = stopping.cancelled() => {}
                () = task => {}
            }
        });
    }

    /// Waits `period`; `false` once shutdown has begun (the loop should end).
    pub async fn tick(&self, period: Duration) -> bool {
        self.wait(tokio::time::sleep(period)).await
    }

    /// Waits for `pause` (a tick that another event may cut short); `false` once
    /// shutdown has begun.
    pub async fn wait(&self, pause: impl std::future::Future<Output = ()>) -> bool {
        tokio::select! {
            biased;
            () = self.0.stopping.cancelled() => false,
            () = pause => true,
        }
    }

    /// Resolves once open streams must end (the shutdown deadline has passed).
    pub async fn streams_ended(&self) {
        self.0.streams_end.cancelled().await;
    }

    pub fn end_streams(&self) {
        self.0.streams_end.cancel();
    }

    /// Stops the background tasks and waits for them; `false` if some were still
    /// running after `limit` (they are left to the runtime's shutdown).
    pub async fn stop_background(&self, limit: Duration) -> bool {
        self.0.stopping.cancel();
        self.0.tasks.close();
        tokio::time::timeout(limit, self.0.tasks.wait()).await.is_ok()
    }

    /// Background tasks still running.
    pub fn running(&self) -> usize {
        self.0.tasks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn stop_waits_for_loops_and_drops_cancellable_tasks() {
        let lifecycle = Lifecycle::default();
        let ticks = Arc::new(AtomicUsize::new(0));
        let (l, t) = (lifecycle.clone(), Arc::clone(&ticks));
        lifecycle.spawn(async move {
            while l.tick(Duration::from_millis(1)).await {
                t.fetch_add(1, Ordering::Relaxed);
            }
        });
        lifecycle.spawn_cancellable(std::future::pending());
        assert_eq!(lifecycle.running(), 2);
        assert!(lifecycle.stop_background(Duration::from_secs(10)).await);
        assert_eq!(lifecycle.running(), 0);
        // Stopped for good: a later tick says so at once.
        assert!(!lifecycle.tick(Duration::from_secs(3600)).await);
    }

    #[tokio::test]
    async fn a_task_that_ignores_stop_is_reported() {
        let lifecycle = Lifecycle::default();
        lifecycle.spawn(std::future::pending());
        assert!(!lifecycle.stop_background(Duration::from_millis(5)).await);
        assert_eq!(lifecycle.running(), 1);
    }

    #[tokio::test]
    async fn streams_end_only_when_told() {
        let lifecycle = Lifecycle::default();
        let ended = lifecycle.streams_ended();
        tokio::pin!(ended);
        assert!(futures::poll!(ended.as_mut()).is_pending());
        lifecycle.end_streams();
        ended.await;
    }
}
