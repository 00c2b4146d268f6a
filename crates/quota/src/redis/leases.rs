//! The leases this instance holds, and the upkeep task that renews them and probes a
//! Redis that stopped answering.
//!
//! A lease expires `lease_ttl` after its last renewal; the task renews every live lease
//! every third of that, one script call per hash tag (not per request), so a call of any
//! length (a long stream) keeps its reservation, and an instance killed with `kill -9`
//! stops renewing: its reservations go back to the buckets within one TTL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use super::keys::TagKeys;
use super::link::CallError;
use super::{ms, Shared};

/// Live leases: record (the sorted-set member, which starts with the lease's unique id) →
/// the keys of its tag.
#[derive(Debug, Default)]
pub(crate) struct Leases(Mutex<HashMap<Arc<str>, Arc<TagKeys>>>);

impl Leases {
    /// Registers a lease before its reserve call goes out, so a renewal can never miss it; the
    /// guard unregisters it unless the reservation succeeds (a throttle, an error, or a
    /// future dropped mid-call; in the last case, if Redis did apply the reserve, the
    /// lease simply expires and returns its tokens).
    pub fn pending<'a>(&'a self, record: &Arc<str>, keys: &Arc<TagKeys>) -> Pending<'a> {
        self.lock().insert(Arc::clone(record), Arc::clone(keys));
        Pending { leases: self, record: Arc::clone(record), keep: false }
    }

    pub fn remove(&self, record: &str) {
        self.lock().remove(record);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Live lease records grouped by tag.
    fn by_tag(&self) -> HashMap<Arc<TagKeys>, Vec<Arc<str>>> {
        let mut out: HashMap<Arc<TagKeys>, Vec<Arc<str>>> = HashMap::new();
        for (record, keys) in self.lock().iter() {
            out.entry(Arc::clone(keys)).or_default().push(Arc::clone(record));
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Arc<TagKeys>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) struct Pending<'a> {
    leases: &'a Leases,
    record: Arc<str>,
    keep: bool,
}

impl Pending<'_> {
    pub fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.keep {
            self.leases.remove(&self.record);
        }
    }
}

impl Shared {
    /// `EVALSHA renew`: every live lease of one tag gets a new expiry.
    pub(super) async fn renew(&self, keys: &TagKeys, records: &[Arc<str>]) -> Result<(), CallError> {
        let mut cmd = self.renew.cmd(1);
        cmd.arg(&keys.leases).arg(ms(self.settings.lease_ttl));
        for r in records {
            cmd.arg(&**r);
        }
        self.call(&self.renew, &cmd).await.map(drop)
    }
}

/// How often a down link is probed.
const PROBE_EVERY: Duration = Duration::from_millis(200);

/// Runs until the store is dropped: renews leases while Redis answers, probes it while it
/// does not.
pub(crate) async fn upkeep(shared: Weak<Shared>, renew_every: Duration) {
    let tick = renew_every.min(PROBE_EVERY);
    let mut since_renewal = Duration::ZERO;
    loop {
        tokio::time::sleep(tick).await;
        let Some(shared) = shared.upgrade() else { return };
        since_renewal += tick;
        if !shared.link.is_up() {
            if shared.ping().await {
                shared.link.came_back();
            }
        } else if since_renewal >= renew_every {
            since_renewal = Duration::ZERO;
            for (keys, records) in shared.leases.by_tag() {
                if let Err(e) = shared.renew(&keys, &records).await {
                    shared.went_down(&e);
                    break;
                }
            }
        }
    }
}
