//! Capacity and health shared between instances: each instance reports, every sync
//! period, its in-flight calls and slots per backend and any cool-down that started
//! here, and gets back the other instances' totals and the cool-downs they started, in
//! one script call. An instance is a lease too: one that stops reporting (killed) drops
//! out of the totals when its lease expires.
//!
//! Every capacity key sits under one hash tag, `{<prefix>:capacity}` (one slot on Redis
//! Cluster): the script sums over every instance's report, which must be in one slot.
//! It is one small write and read per instance per period, not per request.

use std::sync::Arc;

use redis::{Script, Value};

use super::{CallError, RedisQuotas};

/// One backend as this instance sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolReport {
    /// `region/backend`.
    pub pool: String,
    pub in_flight: u32,
    pub slots: u32,
    /// Cool-down left, only when it started at this instance since the last sync (a
    /// received one is not reported back).
    pub cooling_ms: u64,
}

/// The other instances' view of one backend, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolView {
    pub others_in_flight: u32,
    pub others_slots: u32,
    /// The longest cool-down any instance started that is still running.
    pub cooling_ms: u64,
}

pub(crate) fn script() -> Script {
    Script::new(include_str!("capacity.lua"))
}

impl RedisQuotas {
    /// Reports this instance's backends and returns the others' (`None` while Redis is
    /// down: routing then uses this instance's own view only).
    pub async fn sync_capacity(&self, reports: &[PoolReport], lease_ms: u64) -> Option<Vec<PoolView>> {
        let shared = Arc::clone(&self.shared);
        if !shared.link.is_up() {
            return None;
        }
        let tag = format!("{{{}:capacity}}", shared.settings.key_prefix);
        let mut inv = shared.capacity.prepare_invoke();
        inv.key(format!("{tag}:instances")).key(format!("{tag}:load")).key(format!("{tag}:cooldown"));
        inv.arg(&shared.instance).arg(lease_ms);
        for r in reports {
            inv.arg(&r.pool).arg(r.in_flight).arg(r.slots).arg(r.cooling_ms);
        }
        let mut conn = shared.conn.clone();
        let reply = match tokio::time::timeout(shared.settings.timeout, inv.invoke_async::<Value>(&mut conn)).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                shared.went_down(&CallError::Redis(e));
                return None;
            }
            Err(_) => {
                shared.went_down(&CallError::Timeout);
                return None;
            }
        };
        let Value::Array(rows) = reply else { return None };
        let int = |v: &Value| match v {
            Value::Int(i) => u64::try_from(*i).unwrap_or(0),
            _ => 0,
        };
        let views = rows
            .iter()
            .map(|row| match row {
                Value::Array(f) if f.len() == 3 => PoolView {
                    others_in_flight: u32::try_from(int(&f[0])).unwrap_or(u32::MAX),
                    others_slots: u32::try_from(int(&f[1])).unwrap_or(u32::MAX),
                    cooling_ms: int(&f[2]),
                },
                _ => PoolView { others_in_flight: 0, others_slots: 0, cooling_ms: 0 },
            })
            .collect();
        Some(views)
    }
}
