//! Scale-out: which quota store this instance uses. With `[cluster] redis` (or
//! `--redis`) every instance shares the buckets in Redis and behaves as one; without it
//! the store is this process's memory.

use std::time::Duration;

use anyhow::Context;
use spillway_catalog::cluster::{Cluster, Fail};
use spillway_quota::{FailMode, Quotas, RedisQuotas, RedisSettings};

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
