//! Scale-out: which quota store this instance uses, and the capacity view it shares.
//! With `[cluster] redis` (or `--redis`) every instance shares the quota buckets in Redis
//! and behaves as one, and routes on the whole cluster's load and cool-downs; without it
//! everything lives in this process's memory.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use spillway_backends::{ModelBackend, Pool};
use spillway_catalog::cluster::{Cluster, Fail};
use spillway_quota::{FailMode, PoolReport, Quotas, RedisQuotas, RedisSettings};

use crate::dispatch::Dispatcher;
use crate::serve::Lifecycle;

/// Builds the quota store. Inside the Tokio runtime: the Redis store starts its lease
/// upkeep task. A Redis that is down at startup is not fatal (the fail mode applies until
/// it answers); a malformed URL is.
pub async fn quotas(cluster: &Cluster) -> anyhow::Result<Quotas> {
    let Some(url) = &cluster.redis else { return Ok(Quotas::in_process()) };
    let settings = RedisSettings {
        url: url.clone(),
        fail: match cluster.fail {
            Fail::Closed => FailMode::Closed,
            Fail::Local => FailMode::Local,
        },
        timeout: Duration::from_millis(cluster.timeout_ms),
        lease_ttl: Duration::from_millis(cluster.lease_ttl_ms),
        instances: cluster.instances,
        key_prefix: cluster.key_prefix.clone(),
    };
    let store = RedisQuotas::connect(settings).await.context("cluster.redis is not a usable Redis URL")?;
    tracing::info!(up = store.is_up(), instances = cluster.instances, "quotas shared through redis");
    Ok(Quotas::Redis(store))
}

/// How often an instance shares its backends' load and learns the others'.
const SYNC_EVERY: Duration = Duration::from_millis(100);
/// An instance that has not reported for this long no longer counts.
const INSTANCE_LEASE_MS: u64 = 1_000;

/// With the Redis store: every [`SYNC_EVERY`], report this instance's in-flight calls,
/// slots and new cool-downs per backend, and apply the other instances' to routing
/// (`Pool::available`). Stops at shutdown or when the dispatcher is dropped. Without
/// Redis, nothing to do.
pub fn start_capacity_sync(dispatcher: &Arc<Dispatcher>, lifecycle: &Lifecycle) {
    if !matches!(&**dispatcher.admission().quotas(), Quotas::Redis(_)) {
        return;
    }
    let pools: Vec<Arc<Pool>> = dispatcher.backends().iter().cloned().collect();
    let quotas = Arc::downgrade(dispatcher.admission().quotas());
    let ticks = lifecycle.clone();
    lifecycle.spawn(async move {
        // Faults seen per pool at the last sync: only a cool-down that started here since
        // then is reported (one received from others is not echoed back).
        let mut faults: Vec<u64> = pools.iter().map(|p| p.faults()).collect();
        while ticks.tick(SYNC_EVERY).await {
            let Some(quotas) = quotas.upgrade() else { break };
            let Quotas::Redis(redis) = &*quotas else { break };
            let reports: Vec<PoolReport> = pools
                .iter()
                .zip(faults.iter_mut())
                .map(|(pool, seen)| {
                    let now = pool.faults();
                    let cooling_ms = if now != *seen { pool.cooling_remaining_ms() } else { 0 };
                    *seen = now;
                    let load = ModelBackend::load(&pool.backend);
                    PoolReport {
                        pool: format!("{}/{}", pool.region, pool.name),
                        in_flight: load.in_flight,
                        slots: load.limit,
                        cooling_ms,
                    }
                })
                .collect();
            match redis.sync_capacity(&reports, INSTANCE_LEASE_MS).await {
                Some(views) => {
                    for (pool, view) in pools.iter().zip(views) {
                        pool.set_cluster_load(view.others_in_flight, view.others_slots);
                        if view.cooling_ms > 0 {
                            pool.cool_down_for(view.cooling_ms);
                        }
                    }
                }
                // Redis down: each instance routes on its own view until it is back.
                None => pools.iter().for_each(|p| p.set_cluster_load(0, 0)),
            }
        }
    });
}
