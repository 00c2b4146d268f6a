//! Where request handlers leave records for the writer task.
//!
//! A channel would wake the writer for every record. The writer has nothing to do with a
//! record until its batch is due, and on a runtime with several workers that wake-up
//! moved the writer onto an idle worker in the middle of the request (a futex call and
//! two context switches a call). Here a record is pushed onto a shared list and the
//! writer is woken only when a batch starts (to arm its deadline) or fills up, so a busy
//! server wakes it about twice per batch instead of once per record.

use std::mem;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::writer::Envelope;

pub(crate) struct Intake {
    state: Mutex<State>,
    wake: Notify,
    /// A batch of this many records is written at once.
    batch_max: usize,
}

struct State {
    records: Vec<Envelope>,
    /// Cleared by shutdown: later records are refused, not lost silently.
    open: bool,
    /// Every request-side handle is gone: nothing more can arrive.
    orphaned: bool,
}

impl Intake {
    pub(crate) fn new(batch_max: usize) -> Arc<Self> {
        let state = State { records: Vec::new(), open: true, orphaned: false };
        Arc::new(Self { state: Mutex::new(state), wake: Notify::new(), batch_max: batch_max.max(1) })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a record; `false` once intake is closed (the record is refused).
    pub(crate) fn push(&self, envelope: Envelope) -> bool {
        let pending = {
            let mut state = self.lock();
            if !state.open {
                return false;
            }
            state.records.push(envelope);
            state.records.len()
        };
        if pending == 1 || pending == self.batch_max {
            self.wake.notify_one();
        }
        true
    }

    /// Everything queued so far, for the writer.
    pub(crate) fn take(&self) -> Vec<Envelope> {
        mem::take(&mut self.lock().records)
    }

    /// How many records wait, and whether the batch they form is full.
    pub(crate) fn pending(&self) -> (usize, bool) {
        let n = self.lock().records.len();
        (n, n >= self.batch_max)
    }

    /// Refuses every later record; those already queued stay for [`Intake::take`].
    pub(crate) fn close(&self) {
        self.lock().open = false;
    }

    /// No request-side handle is left (and none can appear).
    pub(crate) fn orphaned(&self) -> bool {
        self.lock().orphaned
    }

    /// Resolves after a batch started or filled, or the last handle went away. A wake-up
    /// sent while the writer was busy is kept (`Notify` stores one permit).
    pub(crate) async fn notified(&self) {
        self.wake.notified().await;
    }
}

/// The request side's end: shared by every clone of the logger; when the last clone
/// goes, the writer drains what is queued and ends.
pub(crate) struct Sender(pub(crate) Arc<Intake>);

impl Drop for Sender {
    fn drop(&mut self) {
        self.0.lock().orphaned = true;
        self.0.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LoggingConfig;
    use crate::record::ModelInvocationLog;

    fn envelope() -> Envelope {
        let record = ModelInvocationLog::new(
            time::OffsetDateTime::UNIX_EPOCH,
            "123456789012",
            "arn:aws:iam::123456789012:root",
            "us-east-1",
            "r",
            crate::record::Operation::Converse,
            "m",
        );
        Envelope { config: Arc::new(LoggingConfig::default()), record }
    }

    #[tokio::test]
    async fn the_writer_is_woken_when_a_batch_starts_and_when_it_fills_not_per_record() {
        let intake = Intake::new(3);
        assert!(intake.push(envelope()));
        // The first record of a batch wakes the writer (a permit is stored)...
        tokio::time::timeout(std::time::Duration::from_secs(1), intake.notified()).await.unwrap();
        // ...the second does not...
        assert!(intake.push(envelope()));
        let woken = tokio::time::timeout(std::time::Duration::from_millis(50), intake.notified()).await;
        assert!(woken.is_err(), "a record in the middle of a batch woke the writer");
        // ...and the one that fills the batch does.
        assert!(intake.push(envelope()));
        tokio::time::timeout(std::time::Duration::from_secs(1), intake.notified()).await.unwrap();
        assert_eq!(intake.pending(), (3, true));
        assert_eq!(intake.take().len(), 3);
        assert_eq!(intake.pending(), (0, false));
    }

    #[tokio::test]
    async fn a_closed_intake_refuses_records_and_keeps_the_queued_ones() {
        let intake = Intake::new(10);
        assert!(intake.push(envelope()));
        intake.close();
        assert!(!intake.push(envelope()));
        assert_eq!(intake.take().len(), 1);
    }

    #[tokio::test]
    async fn the_last_handle_going_away_wakes_the_writer() {
        let intake = Intake::new(10);
        let sender = Sender(Arc::clone(&intake));
        assert!(!intake.orphaned());
        drop(sender);
        tokio::time::timeout(std::time::Duration::from_secs(1), intake.notified()).await.unwrap();
        assert!(intake.orphaned());
    }
}
