//! What the Redis admission bench measures besides its own requests: the baseline (what
//! this machine's Redis and the Rust client can do at all right now), and where the time
//! goes: load average, CPU time of this process and of the Redis server, Redis's own time
//! per script, context switches.

use std::sync::Arc;
use std::time::Instant;

use super::{CALLERS, THROUGHPUT_FOR};

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map_or_else(|_| "?".to_owned(), |s| s.split(' ').take(3).collect::<Vec<_>>().join(" "))
}

/// CPU seconds (user + system) this process has used so far.
pub fn own_cpu() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // Fields after the command name (which is in parentheses): utime and stime are the
    // 12th and 13th, in clock ticks (100 per second on Linux).
    let Some((_, rest)) = stat.rsplit_once(')') else { return 0.0 };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

/// Counters of the whole machine's share of this run, read before and after a phase.
#[derive(Clone, Copy, Default)]
pub struct Counters {
    client_cpu_s: f64,
    redis_cpu_s: f64,
    evalsha_calls: u64,
    evalsha_us: u64,
}

impl Counters {
    pub async fn now(url: &str) -> Self {
        let redis = async {
            let client = redis::Client::open(url).ok()?;
            let mut conn = client.get_multiplexed_async_connection().await.ok()?;
            let info: String = redis::cmd("INFO").arg("all").query_async(&mut conn).await.ok()?;
            let num = |key: &str, field: &str| -> Option<f64> {
                let line = info.lines().find(|l| l.starts_with(key))?;
                let start = line.find(field)? + field.len();
                line[start..].split(',').next()?.trim().parse().ok()
            };
            let cpu = num("used_cpu_user:", "used_cpu_user:")? + num("used_cpu_sys:", "used_cpu_sys:")?;
            let calls = num("cmdstat_evalsha:", "calls=").unwrap_or(0.0) as u64;
            let us = num("cmdstat_evalsha:", "usec=").unwrap_or(0.0) as u64;
            Some((cpu, calls, us))
        };
        let (redis_cpu_s, evalsha_calls, evalsha_us) = redis.await.unwrap_or((0.0, 0, 0));
        Self { client_cpu_s: own_cpu(), redis_cpu_s, evalsha_calls, evalsha_us }
    }

    /// "client X µs + Redis Y µs CPU per request; Redis Z µs per script".
    pub fn per_request(&self, after: &Self, requests: f64) -> String {
        let calls = after.evalsha_calls.saturating_sub(self.evalsha_calls).max(1);
        format!(
            "CPU per request: client {:.1} µs + Redis {:.1} µs; Redis's own time per script {:.1} µs",
            (after.client_cpu_s - self.client_cpu_s) * 1e6 / requests.max(1.0),
            (after.redis_cpu_s - self.redis_cpu_s) * 1e6 / requests.max(1.0),
            after.evalsha_us.saturating_sub(self.evalsha_us) as f64 / calls as f64
        )
    }
}

/// (voluntary, involuntary) context switches of every thread of this process so far.
/// Voluntary ones are waits (a thread parks until woken): one per wake-up, whatever the
/// machine's load; involuntary ones are preemptions, which load does drive.
pub fn context_switches() -> (u64, u64) {
    let mut out = (0, 0);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return out };
    for task in tasks.flatten() {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else { continue };
        for line in status.lines() {
            let value = |l: &str| l.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            if line.starts_with("voluntary_ctxt_switches") {
                out.0 += value(line);
            } else if line.starts_with("nonvoluntary_ctxt_switches") {
                out.1 += value(line);
            }
        }
    }
    out
}

/// Trivial script calls per second through one connection manager, `CALLERS` at once.
pub async fn baseline(url: &str) -> f64 {
    // The same TCP settings as the store's own connection (TCP_NODELAY).
    let nodelay = redis::io::tcp::TcpSettings::default().set_nodelay(true);
    let Ok(info) = redis::IntoConnectionInfo::into_connection_info(url) else { return 0.0 };
    let Ok(client) = redis::Client::open(info.set_tcp_settings(nodelay)) else { return 0.0 };
    let Ok(conn) = redis::aio::ConnectionManager::new(client).await else { return 0.0 };
    let script = Arc::new(redis::Script::new("return 1"));
    let deadline = Instant::now() + THROUGHPUT_FOR;
    let started = Instant::now();
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (mut conn, script) = (conn.clone(), Arc::clone(&script));
            tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    if script.prepare_invoke().invoke_async::<i64>(&mut conn).await.is_ok() {
                        done += 1;
                    }
                }
                done
            })
        })
        .collect();
    let mut done = 0;
    for t in tasks {
        done += t.await.unwrap_or(0);
    }
    done as f64 / started.elapsed().as_secs_f64()
}
