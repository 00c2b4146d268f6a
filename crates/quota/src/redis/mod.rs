//! The quota store shared by every instance of a cluster: the buckets live in Redis and
//! each operation is one Lua script, run atomically by Redis over every bucket the request
//! touches (one round trip to admit, one to settle). Refill is computed from Redis's clock.
//!
//! Every reservation is a lease: a record with an expiry, renewed while the call runs
//! ([`leases`]), and given back to the buckets by the next script that touches the same
//! tag once it has expired. Scripts are loaded once and called by their SHA (`EVALSHA`);
//! after a Redis restart (`NOSCRIPT`) the client loads them again and retries.
//!
//! When Redis fails or answers slower than the timeout, the [`link`] goes down and
//! requests follow the fail mode: `closed` refuses them (the store is unavailable: a 503,
//! not a throttle), `local` admits them against this instance's own buckets of quota ÷
//! instance count.

mod capacity;
mod keys;
mod leases;
mod link;
mod script;
mod settler;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::io::tcp::TcpSettings;
use redis::{Cmd, IntoConnectionInfo, Script, Value};

pub use self::capacity::{PoolReport, PoolView};
use self::keys::{lease_record, same_tag, TagKeys};
use self::leases::Leases;
use self::link::{CallError, Link};
use self::script::Lua;
use self::settler::InFlight;
use crate::{BucketKey, Debit, Floor, InProcessQuotas, Lease, LeaseKind, QuotaStore, Refused, Throttled};

/// What happens to admission while Redis is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// Refuse every request that needs a quota (ServiceUnavailableException, 503) until
    /// Redis is back.
    Closed,
    /// Admit against per-instance buckets of quota ÷ `instances`.
    Local,
}

#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: String,
    pub fail: FailMode,
    /// The longest any request waits on Redis before the fail mode applies.
    pub timeout: Duration,
    /// A lease not renewed for this long returns its reservation.
    pub lease_ttl: Duration,
    /// How many instances share the quotas (the divisor of `fail = "local"`).
    pub instances: u32,
    /// Start of every key (and hash tag), so several deployments or tests share a Redis.
    pub key_prefix: String,
}

/// Cheap to clone: everything lives behind one `Arc`.
#[derive(Clone)]
pub struct RedisQuotas {
    shared: Arc<Shared>,
}

impl fmt::Debug for RedisQuotas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisQuotas")
            .field("up", &self.shared.link.is_up())
            .field("leases", &self.shared.leases.len())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared {
    conn: ConnectionManager,
    settings: RedisSettings,
    link: Link,
    leases: Leases,
    /// Settlements issued and not yet answered ([`settler`]).
    in_flight: InFlight,
    /// The per-instance buckets of `fail = "local"`.
    local: InProcessQuotas,
    /// Last level Redis reported per bucket, for [`QuotaStore::headroom`] (approximate).
    seen: Mutex<HashMap<BucketKey, (f64, Instant)>>,
    instance: String,
    next_lease: AtomicU64,
    reserve: Lua,
    settle: Lua,
    renew: Lua,
    capacity: Script,
}

const PRELUDE: &str = include_str!("prelude.lua");

impl RedisQuotas {
    /// Connects (inside a Tokio runtime) and starts the upkeep task. A Redis that does not
    /// answer yet is not an error: the store starts down and follows the fail mode until
    /// the first probe succeeds. Only a malformed URL fails.
    pub async fn connect(settings: RedisSettings) -> redis::RedisResult<Self> {
        // TCP_NODELAY: redis-rs leaves Nagle's algorithm on, which holds back a command
        // written while an earlier one is unacknowledged, i.e. every pipelined command
        // of a busy multiplexed connection, for up to a round trip (or a delayed ACK).
        let info = settings.url.as_str().into_connection_info()?;
        let info = info.set_tcp_settings(TcpSettings::default().set_nodelay(true));
        let client = redis::Client::open(info)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        let shared = Arc::new(Shared {
            conn,
            link: Link::new(&settings.url, true),
            leases: Leases::default(),
            in_flight: InFlight::default(),
            local: InProcessQuotas::new(),
            seen: Mutex::new(HashMap::new()),
            instance: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
            next_lease: AtomicU64::new(0),
            reserve: Lua::with_prelude(include_str!("reserve.lua")),
            settle: Lua::with_prelude(include_str!("settle.lua")),
            renew: Lua::with_prelude(include_str!("renew.lua")),
            capacity: capacity::script(),
            settings,
        });
        if !shared.ping().await {
            shared.link.went_down("no answer at startup", shared.fail_name());
        }
        let renew_every = shared.settings.lease_ttl / 3;
        tokio::spawn(leases::upkeep(Arc::downgrade(&shared), renew_every));
        Ok(Self { shared })
    }

    pub fn is_up(&self) -> bool {
        self.shared.link.is_up()
    }

    /// Leases this instance holds now (renewed by the upkeep task).
    pub fn live_leases(&self) -> usize {
        self.shared.leases.len()
    }
}

impl QuotaStore for RedisQuotas {
    async fn reserve_above(&self, debits: &[Debit], floor: Floor) -> Result<Lease, Refused> {
        let Some(first) = debits.first() else { return Ok(Lease(LeaseKind::Local)) };
        if !debits.iter().all(|d| same_tag(&first.key, &d.key)) {
            // Admission never builds such a request (see keys.rs); refusing beats a
            // non-atomic reserve across shards.
            tracing::error!(?debits, "one request debits buckets of several accounts or source regions");
            return Err(Refused::Throttled(Throttled { limit: first.key.limit }));
        }
        if self.shared.link.is_up() {
            match self.shared.reserve_remote(debits, floor).await {
                Ok(result) => return result,
                Err(e) => self.shared.went_down(&e),
            }
        }
        self.shared.fallback(debits, floor)
    }

    /// Returns once the settlement is issued, not answered: a call's response does not
    /// wait for a second round trip ([`settler`]). It completes even if nobody awaits it;
    /// [`RedisQuotas::settled`] waits for it.
    async fn settle(&self, lease: Lease, debits: Vec<Debit>, used: Vec<u64>) {
        self.issue_settlement(lease, debits, used);
    }

    /// From the levels Redis reported to this instance's own calls, refilled since on the
    /// local clock: approximate (other instances' debits since then are not seen). While
    /// Redis is down in `local` mode, the per-instance buckets' headroom.
    fn headroom(&self, key: &BucketKey, per_minute: u64) -> f64 {
        if per_minute == 0 {
            return 0.0;
        }
        if !self.shared.link.is_up() && self.shared.settings.fail == FailMode::Local {
            return self.shared.local.headroom(key, self.shared.share(per_minute));
        }
        let seen = self.shared.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((level, at)) = seen.get(key) else { return 1.0 };
        let pm = per_minute as f64;
        let refilled = level + at.elapsed().as_secs_f64() * pm / 60.0;
        (refilled / pm).clamp(0.0, 1.0)
    }
}

impl Shared {
    fn fail_name(&self) -> &'static str {
        match self.settings.fail {
            FailMode::Closed => "closed",
            FailMode::Local => "local",
        }
    }

    fn went_down(&self, e: &CallError) {
        self.link.went_down(&e.to_string(), self.fail_name());
    }

    /// One script call (a command from [`Lua::cmd`]), bounded by the timeout.
    async fn call(&self, script: &Lua, cmd: &Cmd) -> Result<Value, CallError> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.settings.timeout, script.run(cmd, &mut conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(CallError::Redis(e)),
            Err(_) => Err(CallError::Timeout),
        }
    }

    async fn ping(&self) -> bool {
        let mut conn = self.conn.clone();
        let ping = redis::cmd("PING");
        matches!(tokio::time::timeout(self.settings.timeout, ping.query_async::<String>(&mut conn)).await, Ok(Ok(_)))
    }

    /// `EVALSHA reserve`: KEYS = the lease set then each debit's bucket; ARGV = the lease
    /// record, its TTL, then (per_minute, amount) per debit, then the tier's floor.
    async fn reserve_remote(&self, debits: &[Debit], floor: Floor) -> Result<Result<Lease, Refused>, CallError> {
        let keys = Arc::new(TagKeys::of(&self.settings.key_prefix, &debits[0].key));
        let id = format!("{}-{}", self.instance, self.next_lease.fetch_add(1, Ordering::Relaxed));
        let record: Arc<str> = lease_record(&id, debits).into();
        let mut cmd = self.reserve.cmd(1 + debits.len());
        self.push_keys(&mut cmd, &keys, debits);
        cmd.arg(&*record).arg(ms(self.settings.lease_ttl));
        for d in debits {
            cmd.arg(d.per_minute).arg(d.amount);
        }
        // The tier's floor goes last, so the per-debit pairs keep their places.
        cmd.arg(floor.0);
        let pending = self.leases.pending(&record, &keys);
        let items = array(self.call(&self.reserve, &cmd).await?)?;
        match items.first() {
            Some(Value::Int(1)) => {
                pending.keep();
                self.remember(debits.iter().map(|d| &d.key), &items[1..]);
                Ok(Ok(Lease(LeaseKind::Redis { record })))
            }
            Some(Value::Int(0)) => {
                let i = match items.get(1) {
                    Some(Value::Int(i)) => usize::try_from(*i).unwrap_or(0),
                    _ => 0,
                };
                let limit = debits.get(i).unwrap_or(&debits[0]).key.limit;
                Ok(Err(Refused::Throttled(Throttled { limit })))
            }
            other => Err(CallError::Reply(format!("{other:?}"))),
        }
    }

    /// KEYS of the reserve and settle scripts: the tag's lease set, then one bucket per debit.
    fn push_keys(&self, cmd: &mut Cmd, keys: &TagKeys, debits: &[Debit]) {
        cmd.arg(&keys.leases);
        let mut buf = String::with_capacity(128);
        for d in debits {
            cmd.arg(keys.bucket(&d.key, &mut buf));
        }
    }

    /// Levels come back from the scripts in thousandths of a token (an integer reply).
    fn remember<'a>(&self, keys: impl Iterator<Item = &'a BucketKey>, levels: &[Value]) {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        for (key, level) in keys.zip(levels) {
            let Value::Int(milli) = level else { continue };
            let level = *milli as f64 / 1000.0;
            match seen.get_mut(key) {
                Some(entry) => *entry = (level, now),
                None => {
                    seen.insert(key.clone(), (level, now));
                }
            }
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn array(v: Value) -> Result<Vec<Value>, CallError> {
    match v {
        Value::Array(items) => Ok(items),
        other => Err(CallError::Reply(format!("{other:?}"))),
    }
}

#[cfg(test)]
mod settler_tests;
#[cfg(test)]
mod tests;
