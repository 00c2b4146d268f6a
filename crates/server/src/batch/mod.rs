//! Batch inference on spare capacity: model invocation jobs (CreateModelInvocationJob)
//! and async invocations (StartAsyncInvoke).
//!
//! - [`records`]: input lines → records, and the output lines (pure);
//! - [`scheduler`]: which region has spare capacity for one more batch call;
//! - [`call`]: resolving a batch modelId and running one model input on one region;
//! - [`io`]: the input files and the atomic output uploads in the object store;
//! - [`job`]: the runner of one job (its steps: [`runner`], [`output`]);
//!   [`async_run`]: of one async invocation;
//!
//! Work is found through the store, not handed over in memory: a driver on every
//! instance leases unfinished jobs and invocations (an expired lease included: its
//! instance died) and runs them. Creating one only wakes the driver up. So a job
//! survives a crash, and several instances sharing a store share the work.

pub mod async_run;
pub mod call;
pub mod io;
pub mod job;
pub mod output;
pub mod records;
pub mod runner;
pub mod scheduler;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use spillway_catalog::Catalog;
use spillway_store::Store;
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::dispatch::Dispatcher;
use crate::imported::source::Objects;
use crate::resolve::Resolver;
use crate::serve::Lifecycle;
use crate::usage::UsageLedger;
use scheduler::Scheduler;

/// How long a lease holds without renewal: how long a job waits for a dead instance.
pub const LEASE: Duration = Duration::from_secs(10);
/// How often a runner renews its lease (and picks up a stop request).
pub const RENEW: Duration = Duration::from_secs(2);
/// How often the driver looks for work nobody holds.
const POLL: Duration = Duration::from_secs(1);
/// Jobs (and invocations) one driver pass takes at most.
const TAKE: u32 = 16;

/// What the runners need; shared by the handlers (to wake the driver) and the tasks.
#[derive(Debug)]
pub struct Batch {
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) store: Arc<Store>,
    pub(crate) dispatcher: Arc<Dispatcher>,
    pub(crate) resolver: Arc<Resolver>,
    pub(crate) usage: Arc<UsageLedger>,
    pub(crate) objects: Objects,
    pub(crate) scheduler: Arc<Scheduler>,
    /// This instance's name in leases.
    pub(crate) owner: String,
    /// Jobs and invocations this instance is running (a renewed lease is no new work).
    running: Mutex<HashSet<String>>,
    wake: Notify,
    /// Job and invocation tasks are dropped at shutdown: their progress is in the store,
    /// and their leases let any instance resume them.
    lifecycle: Lifecycle,
}

impl Batch {
    pub fn new(
        catalog: Arc<Catalog>,
        store: Arc<Store>,
        dispatcher: Arc<Dispatcher>,
        resolver: Arc<Resolver>,
        usage: Arc<UsageLedger>,
        objects: Objects,
        lifecycle: Lifecycle,
    ) -> Self {
        let scheduler = Arc::new(Scheduler::new(catalog.batch.headroom));
        let owner = uuid::Uuid::new_v4().simple().to_string();
        Self {
            catalog,
            store,
            dispatcher,
            resolver,
            usage,
            objects,
            scheduler,
            owner,
            running: Mutex::default(),
            wake: Notify::new(),
            lifecycle,
        }
    }

    /// New work was submitted (or a stop asked for): the driver looks now.
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// Starts the driver; it ends at shutdown or when the batch state is dropped.
    pub fn start(self: &Arc<Self>) {
        let weak: Weak<Self> = Arc::downgrade(self);
        let ticks = self.lifecycle.clone();
        self.lifecycle.spawn(async move {
            loop {
                let Some(batch) = weak.upgrade() else { break };
                batch.pass().await;
                let woken = async {
                    let _ = tokio::time::timeout(POLL, batch.wake.notified()).await;
                };
                if !ticks.wait(woken).await {
                    break;
                }
            }
        });
    }

    /// Leases what nobody runs and starts it.
    async fn pass(self: &Arc<Self>) {
        let now = OffsetDateTime::now_utc();
        match self.store.lease_batch_jobs(&self.owner, now, now + LEASE, TAKE).await {
            Ok(jobs) => {
                for j in jobs.into_iter().filter(|j| self.claim(&j.arn)) {
                    let batch = Arc::clone(self);
                    self.lifecycle.spawn_cancellable(async move {
                        let arn = j.arn.clone();
                        job::run(&batch, j).await;
                        batch.release(&arn);
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "batch: cannot lease jobs"),
        }
        match self.store.lease_async_invokes(&self.owner, now, now + LEASE, TAKE).await {
            Ok(invokes) => {
                for a in invokes.into_iter().filter(|a| self.claim(&a.arn)) {
                    let batch = Arc::clone(self);
                    self.lifecycle.spawn_cancellable(async move {
                        let arn = a.arn.clone();
                        async_run::run(&batch, a).await;
                        batch.release(&arn);
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "batch: cannot lease async invocations"),
        }
    }

    fn claim(&self, arn: &str) -> bool {
        self.running.lock().unwrap_or_else(PoisonError::into_inner).insert(arn.to_owned())
    }

    fn release(&self, arn: &str) {
        self.running.lock().unwrap_or_else(PoisonError::into_inner).remove(arn);
    }
}

/// `arn:aws:bedrock:{region}:{account}:model-invocation-job/{id}`.
pub fn job_arn(region: &str, account: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{region}:{account}:model-invocation-job/{id}")
}

/// `arn:aws:bedrock:{region}:{account}:async-invoke/{id}`.
pub fn async_arn(region: &str, account: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{region}:{account}:async-invoke/{id}")
}
