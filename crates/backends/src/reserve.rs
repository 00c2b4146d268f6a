//! Provisioned throughput inside a backend pool: slots set aside for one provisioned
//! model, and the two lanes every call runs in.
//!
//! A [`Reserved`] takes `slots` of the pool's concurrency away from on-demand traffic for
//! as long as it lives: [`Pool::available`] and the on-demand limit shrink by that much,
//! so routing sees less room and on-demand calls are throttled earlier. Calls through the
//! reservation ([`Lane::Reserved`]) use only its own slots (a semaphore of that size) and
//! never the on-demand ones. The backend's own limit stays the backstop: on-demand at
//! most `limit − reserved` plus provisioned at most `reserved` never exceeds it.
//!
//! While nothing is reserved the on-demand lane only counts, it does not refuse: a
//! backend that queues requests (the local model) keeps doing so. Once something is
//! reserved, an on-demand call beyond `limit − reserved` is refused at once (`Busy`, a
//! throttle), because a queued on-demand call would otherwise take a reserved slot.

use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use spillway_wire::invoke::EmbedOutput;
use spillway_wire::stream::ModelEvent;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{BackendError, ChatCall, EmbedCall, EventStream, Load, ModelBackend, Pool};

/// The pool's split between on-demand and reserved capacity.
#[derive(Debug, Default)]
pub(crate) struct Lanes {
    /// Slots held by live reservations.
    reserved: AtomicU32,
    /// On-demand calls in flight through [`Pool::chat`] / [`Pool::embed`].
    on_demand: AtomicU32,
    /// Calls in flight on reservations.
    provisioned: AtomicU32,
}

impl Lanes {
    /// Share of the on-demand capacity that is free, 0.0–1.0. With nothing reserved this
    /// is the backend's own free share.
    pub(crate) fn on_demand_share(&self, load: Load) -> f64 {
        let limit = load.limit.saturating_sub(self.reserved.load(Ordering::Acquire));
        if limit == 0 {
            return 0.0;
        }
        let busy = load.in_flight.saturating_sub(self.provisioned.load(Ordering::Acquire));
        f64::from(limit.saturating_sub(busy)) / f64::from(limit)
    }
}

/// Whether a call that must leave `floor_percent` of `limit` on-demand slots free (its
/// service tier's floor) may take one of them while `busy` are taken. An idle backend
/// admits whatever the floor: capacity is not short, and a floor above one slot's share
/// would otherwise shut a small backend to that tier for good.
pub fn slot_admits(limit: u32, busy: u32, floor_percent: u8) -> bool {
    if floor_percent == 0 || busy == 0 {
        return true;
    }
    let left_after = f64::from(limit) - f64::from(busy) - 1.0;
    left_after >= f64::from(limit) * f64::from(floor_percent) / 100.0
}

impl Lanes {
    /// [`slot_admits`] on the on-demand lane of a pool under `load`.
    pub(crate) fn admits_above(&self, load: Load, floor_percent: u8) -> bool {
        let limit = load.limit.saturating_sub(self.reserved.load(Ordering::Acquire));
        let busy = load.in_flight.saturating_sub(self.provisioned.load(Ordering::Acquire));
        slot_admits(limit, busy, floor_percent)
    }
}

/// Which capacity a call runs on.
#[derive(Debug, Clone, Copy)]
pub enum Lane<'a> {
    OnDemand,
    Reserved(&'a Reserved),
}

/// Slots of one pool set aside (for one provisioned model); given back on drop.
#[derive(Debug)]
pub struct Reserved {
    pool: Arc<Pool>,
    slots: u32,
    permits: Arc<Semaphore>,
}

impl Reserved {
    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    pub fn slots(&self) -> u32 {
        self.slots
    }

    /// Calls running on this reservation now.
    pub fn in_flight(&self) -> u32 {
        self.slots.saturating_sub(u32::try_from(self.permits.available_permits()).unwrap_or(self.slots))
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        self.pool.lanes.reserved.fetch_sub(self.slots, Ordering::AcqRel);
    }
}

/// The pool cannot set that many slots aside.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("backend `{backend}` in {region} has {free} of its {limit} concurrent slots left to reserve, {wanted} needed")]
pub struct ReserveError {
    pub region: String,
    pub backend: String,
    pub wanted: u32,
    pub free: u32,
    pub limit: u32,
}

/// One slot of a lane, held while a call runs.
enum Slot {
    OnDemand(Arc<Pool>),
    Reserved { pool: Arc<Pool>, _permit: OwnedSemaphorePermit },
}

impl Drop for Slot {
    fn drop(&mut self) {
        match self {
            Slot::OnDemand(pool) => pool.lanes.on_demand.fetch_sub(1, Ordering::AcqRel),
            Slot::Reserved { pool, .. } => pool.lanes.provisioned.fetch_sub(1, Ordering::AcqRel),
        };
    }
}

/// A stream that holds its slot until it is dropped. The stream is declared first so
/// it (and the backend's own permit inside it) goes before the slot does.
struct Held {
    stream: EventStream,
    _slot: Slot,
}

impl Stream for Held {
    type Item = Result<ModelEvent, BackendError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.stream.as_mut().poll_next(cx)
    }
}

// === impl Pool ===

impl Pool {
    /// Sets `slots` of this pool's concurrency aside, or says how many are left.
    pub fn reserve(self: &Arc<Self>, slots: u32) -> Result<Reserved, ReserveError> {
        let limit = self.backend.load().limit;
        let taken = self.lanes.reserved.fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
            held.checked_add(slots).filter(|total| *total <= limit)
        });
        match taken {
            Ok(_) => {
                let permits = Arc::new(Semaphore::new(slots as usize));
                Ok(Reserved { pool: Arc::clone(self), slots, permits })
            }
            Err(held) => Err(ReserveError {
                region: self.region.clone(),
                backend: self.name.clone(),
                wanted: slots,
                free: limit.saturating_sub(held),
                limit,
            }),
        }
    }

    /// Slots held by provisioned models.
    pub fn reserved_slots(&self) -> u32 {
        self.lanes.reserved.load(Ordering::Acquire)
    }

    /// Concurrent on-demand calls this pool admits: its limit less the reservations.
    pub fn on_demand_limit(&self) -> u32 {
        self.backend.load().limit.saturating_sub(self.reserved_slots())
    }

    fn slot(self: &Arc<Self>, lane: Lane<'_>) -> Result<Slot, BackendError> {
        match lane {
            Lane::OnDemand => {
                let lanes = &self.lanes;
                if lanes.reserved.load(Ordering::Acquire) == 0 {
                    lanes.on_demand.fetch_add(1, Ordering::AcqRel);
                } else {
                    let limit = self.on_demand_limit();
                    lanes
                        .on_demand
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1))
                        .map_err(|_| BackendError::Busy)?;
                }
                Ok(Slot::OnDemand(Arc::clone(self)))
            }
            Lane::Reserved(r) => {
                if !Arc::ptr_eq(&r.pool, self) {
                    return Err(BackendError::Config("a reservation runs only on its own pool".into()));
                }
                // Past the units bought, a provisioned model throttles like Bedrock's does.
                let permit = Arc::clone(&r.permits).try_acquire_owned().map_err(|_| BackendError::Busy)?;
                self.lanes.provisioned.fetch_add(1, Ordering::AcqRel);
                Ok(Slot::Reserved { pool: Arc::clone(self), _permit: permit })
            }
        }
    }

    /// A chat generation on `lane`; the slot is held until the stream is dropped.
    pub async fn chat(self: &Arc<Self>, lane: Lane<'_>, call: ChatCall<'_>) -> Result<EventStream, BackendError> {
        let slot = self.slot(lane)?;
        let stream = self.backend.chat(call).await?;
        Ok(Box::pin(Held { stream, _slot: slot }))
    }

    pub async fn embed(self: &Arc<Self>, lane: Lane<'_>, call: EmbedCall<'_>) -> Result<EmbedOutput, BackendError> {
        let _slot = self.slot(lane)?;
        self.backend.embed(call).await
    }
}

#[cfg(test)]
mod tests;
