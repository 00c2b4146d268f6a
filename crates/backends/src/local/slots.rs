//! One region's slice of the shared engine: how many of its requests run at once. The
//! slice's load is what routing compares across regions: a full slice is offered no work,
//! so a burst on one region sends a profile's next requests to its other regions (and,
//! with every region full, the caller gets ThrottlingException, as on Bedrock). A caller
//! that reaches a full slice anyway (a race with routing, or a direct user of the
//! backend) waits its turn in a bounded first-come-first-served queue; past that queue
//! it is answered `Busy`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{BackendError, Load};

#[derive(Debug)]
pub struct Slice {
    permits: Arc<Semaphore>,
    limit: u32,
    queue_limit: u32,
    waiting: Arc<AtomicU32>,
}

/// Counts a waiter for as long as it waits, however the wait ends (cancelled included).
struct Waiting(Arc<AtomicU32>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Slice {
    pub fn new(limit: u32, queue_limit: u32) -> Self {
        let limit = limit.max(1);
        Self {
            permits: Arc::new(Semaphore::new(limit as usize)),
            limit,
            queue_limit,
            waiting: Arc::new(AtomicU32::new(0)),
        }
    }

    /// A place in the slice, once one is free; `Busy` when the queue is full.
    pub async fn acquire(&self) -> Result<OwnedSemaphorePermit, BackendError> {
        if let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() {
            return Ok(permit);
        }
        let before = self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(Arc::clone(&self.waiting));
        if before >= self.queue_limit {
            return Err(BackendError::Busy);
        }
        Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| BackendError::Unavailable("the local model engine has shut down".into()))
    }

    /// Running requests plus those queued for a place, against the slice's size.
    pub fn load(&self) -> Load {
        let free = u32::try_from(self.permits.available_permits()).unwrap_or(self.limit);
        let running = self.limit.saturating_sub(free);
        Load { in_flight: running.saturating_add(self.waiting.load(Ordering::Relaxed)), limit: self.limit }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn requests_beyond_the_slice_wait_then_run() {
        let slice = Arc::new(Slice::new(2, 4));
        let a = slice.acquire().await.unwrap();
        let _b = slice.acquire().await.unwrap();
        assert_eq!(slice.load(), Load { in_flight: 2, limit: 2 });
        let waiter = {
            let slice = Arc::clone(&slice);
            tokio::spawn(async move { slice.acquire().await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(slice.load(), Load { in_flight: 3, limit: 2 });
        assert!(!waiter.is_finished());
        drop(a);
        waiter.await.unwrap().unwrap();
        assert_eq!(slice.load(), Load { in_flight: 1, limit: 2 });
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy() {
        let slice = Arc::new(Slice::new(1, 1));
        let _held = slice.acquire().await.unwrap();
        let first = {
            let slice = Arc::clone(&slice);
            tokio::spawn(async move { slice.acquire().await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(slice.acquire().await.unwrap_err(), BackendError::Busy);
        // The refused request left no trace in the load.
        assert_eq!(slice.load(), Load { in_flight: 2, limit: 1 });
        first.abort();
        let _ = first.await;
        assert_eq!(slice.load(), Load { in_flight: 1, limit: 1 });
    }

    #[tokio::test]
    async fn no_queue_means_busy_at_once() {
        let slice = Slice::new(1, 0);
        let _held = slice.acquire().await.unwrap();
        assert_eq!(slice.acquire().await.unwrap_err(), BackendError::Busy);
    }
}
