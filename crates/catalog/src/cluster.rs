//! `[cluster]`: several instances sharing quotas, capacity and health through Redis (the
//! control plane is shared through the PostgreSQL `store`). Absent: one instance, all
//! state in memory.

use serde::Deserialize;

use crate::load::ConfigError;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// `redis://[user:password@]host:port[/db]`; no Redis, no cluster (`--redis` overrides).
    pub redis: Option<String>,
    /// What admission does while Redis does not answer (see [`Fail`]).
    #[serde(default)]
    pub fail: Fail,
    /// The longest a request waits on Redis before the fail mode applies.
    #[serde(default = "Cluster::default_timeout")]
    pub timeout_ms: u64,
    /// A reservation whose instance stops renewing it (crash) returns after this long.
    #[serde(default = "Cluster::default_lease_ttl")]
    pub lease_ttl_ms: u64,
    /// How many instances run: `fail = "local"` gives each quota ÷ this.
    #[serde(default = "Cluster::default_instances")]
    pub instances: u32,
    /// Start of every Redis key, so several deployments can share one Redis.
    #[serde(default = "Cluster::default_prefix")]
    pub key_prefix: String,
}

/// `local` by default: a Redis outage degrades quota exactness (each instance admits its
/// share, quota ÷ instances) instead of refusing all traffic; `closed` is for operators
/// who must never exceed an upstream quota, at the price of an outage while Redis is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fail {
    Closed,
    #[default]
    Local,
}

impl Cluster {
    fn default_timeout() -> u64 {
        250
    }
    fn default_lease_ttl() -> u64 {
        10_000
    }
    fn default_instances() -> u32 {
        1
    }
    fn default_prefix() -> String {
        "spillway".to_owned()
    }

    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| ConfigError::Invalid {
            key: format!("cluster.{key}"),
            message: message.to_owned(),
        };
        if let Some(url) = &self.redis {
            if !url.starts_with("redis://") && !url.starts_with("rediss://") {
                return Err(invalid("redis", "must be a redis:// URL"));
            }
        }
        if self.timeout_ms == 0 {
            return Err(invalid("timeout_ms", "must be at least 1"));
        }
        // Renewal runs every third of the TTL; below this it would be mostly renewals.
        if self.lease_ttl_ms < 300 {
            return Err(invalid("lease_ttl_ms", "must be at least 300"));
        }
        if self.instances == 0 {
            return Err(invalid("instances", "must be at least 1"));
        }
        if self.key_prefix.is_empty() || self.key_prefix.contains(['{', '}']) {
            return Err(invalid("key_prefix", "must be non-empty and free of braces (they delimit the hash tag)"));
        }
        Ok(())
    }
}

impl Default for Cluster {
    fn default() -> Self {
        Self {
            redis: None,
            fail: Fail::default(),
            timeout_ms: Self::default_timeout(),
            lease_ttl_ms: Self::default_lease_ttl(),
            instances: Self::default_instances(),
            key_prefix: Self::default_prefix(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{builtin, from_toml, BUILTIN_TOML};

    #[test]
    fn parsed_defaulted_and_checked() {
        assert_eq!(builtin().unwrap().cluster, super::Cluster::default());
        let c = from_toml(&format!(
            "{BUILTIN_TOML}\n[cluster]\nredis = \"redis://127.0.0.1:6379/2\"\nfail = \"closed\"\ninstances = 3\n"
        ))
        .unwrap();
        assert_eq!(c.cluster.redis.as_deref(), Some("redis://127.0.0.1:6379/2"));
        assert_eq!((c.cluster.fail, c.cluster.instances), (super::Fail::Closed, 3));
        for (bad, key) in [
            ("fail = \"open\"", "cluster.fail"),
            ("instances = 0", "cluster.instances"),
            ("redis = \"http://x\"", "cluster.redis"),
            ("lease_ttl_ms = 10", "cluster.lease_ttl_ms"),
            ("key_prefix = \"a{b\"", "cluster.key_prefix"),
            ("redis_url = \"redis://x\"", "cluster"),
        ] {
            let err = from_toml(&format!("{BUILTIN_TOML}\n[cluster]\n{bad}\n")).unwrap_err().to_string();
            assert!(err.contains(key), "{bad}: {err}");
        }
    }
}
