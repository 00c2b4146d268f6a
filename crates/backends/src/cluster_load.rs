//! What the other instances of a cluster report about one backend, for routing: their
//! in-flight calls and their slots, as of the last sync (the server's cluster sync writes
//! it every 100 ms), and how many faults this instance has seen (so the sync shares only
//! cool-downs that started here, never echoes one it received).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::Load;

#[derive(Debug, Default)]
pub(crate) struct ClusterLoad {
    in_flight: AtomicU32,
    slots: AtomicU32,
    pub(crate) faults: AtomicU64,
}

impl ClusterLoad {
    pub fn set(&self, others_in_flight: u32, others_slots: u32) {
        self.in_flight.store(others_in_flight, Ordering::Relaxed);
        self.slots.store(others_slots, Ordering::Relaxed);
    }

    /// This instance's load plus the others': the whole cluster's use of this backend.
    pub fn with_others(&self, mine: Load) -> Load {
        Load {
            in_flight: mine.in_flight.saturating_add(self.in_flight.load(Ordering::Relaxed)),
            limit: mine.limit.saturating_add(self.slots.load(Ordering::Relaxed)),
        }
    }
}
