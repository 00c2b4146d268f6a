//! Admission through Redis against the in-process store, in the same run:
//! `cargo bench -p spillway-quota --bench redis_admission` (Redis: `SPILLWAY_TEST_REDIS`,
//! else 127.0.0.1:6379; every run works under a key prefix of its own).
//!
//! 0. Baseline: the same client calling a script that does nothing (`return 1`), 128
//!    concurrent callers: what this machine's Redis and client can do at all right now.
//! 1. Throughput: requests (one reserve + one settle: one round trip each) per second
//!    from one store instance and from three (three connections, as three servers would
//!    hold), 128 concurrent callers in all; printed as scripts/s and as a share of the
//!    baseline.
//! 2. Added latency per request (reserve + settle) over the in-process store: one caller
//!    at a time (one connection, nothing else in flight), and an open loop at 2,000
//!    requests/s.
//!
//! Also printed, because the machine is shared and wall-clock numbers move with its load:
//! the load average before and after, and where the time goes during each Redis
//! throughput run: CPU time per request of this process (the client: tokio, redis-rs,
//! the store's own code) and of the Redis server (`INFO cpu`), and Redis's own time per
//! script call (`INFO commandstats`). Redis figures are diffs of server-wide counters, so
//! other clients of the same Redis count too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use spillway_quota::{reserve, BucketKey, Debit, FailMode, Limit, Quotas, RedisQuotas, RedisSettings};

/// Nothing is ever throttled: we measure decisions, not refusals.
const PER_MINUTE: u64 = 1_000_000_000_000;
const CALLERS: usize = 128;
const THROUGHPUT_FOR: Duration = Duration::from_secs(4);
const SEQUENTIAL: usize = 5_000;
const RATE: u64 = 2_000;
const OPEN_LOOP: usize = 10_000;

fn debits(scope: usize) -> Vec<Debit> {
    let key = |limit| BucketKey {
        account: "123456789012".into(),
        region: "ap-northeast-1".into(),
        scope: format!("model-{scope}"),
        limit,
    };
    vec![
        Debit { key: key(Limit::Requests), per_minute: PER_MINUTE, amount: 1 },
        Debit { key: key(Limit::Tokens), per_minute: PER_MINUTE, amount: 1_000 },
    ]
}

async fn one_request(q: &Arc<Quotas>, scope: usize) -> bool {
    match reserve(q, debits(scope)).await {
        Ok(r) => {
            r.settle(&[1, 400]).await;
            true
        }
        Err(_) => false,
    }
}

async fn redis_store(url: &str, prefix: &str) -> Arc<Quotas> {
    let settings = RedisSettings {
        url: url.to_owned(),
        fail: FailMode::Closed,
        timeout: Duration::from_secs(2),
        lease_ttl: Duration::from_secs(10),
        instances: 3,
        key_prefix: prefix.to_owned(),
    };
    match RedisQuotas::connect(settings).await {
        Ok(q) if q.is_up() => Arc::new(Quotas::Redis(q)),
        _ => {
            eprintln!("no Redis at {url}: set SPILLWAY_TEST_REDIS");
            std::process::exit(2);
        }
    }
}

/// Requests per second from `CALLERS` tasks spread over `stores`, the failures, and
/// where the time went (client and Redis CPU per request).
async fn measured(url: &str, stores: &[Arc<Quotas>]) -> (f64, u64, String) {
    let before = Counters::now(url).await;
    let started = Instant::now();
    let (ops, failed) = throughput(stores).await;
    let requests = ops * started.elapsed().as_secs_f64();
    (ops, failed, before.per_request(&Counters::now(url).await, requests))
}

/// Requests per second from `CALLERS` tasks spread over `stores`, and the failures.
async fn throughput(stores: &[Arc<Quotas>]) -> (f64, u64) {
    let deadline = Instant::now() + THROUGHPUT_FOR;
    let started = Instant::now();
    let tasks: Vec<_> = (0..CALLERS)
        .map(|i| {
            let q = Arc::clone(&stores[i % stores.len()]);
            tokio::spawn(async move {
                let (mut done, mut failed) = (0u64, 0u64);
                while Instant::now() < deadline {
                    if one_request(&q, i % 16).await {
                        done += 1;
                    } else {
                        failed += 1;
                    }
                }
                (done, failed)
            })
        })
        .collect();
    let (mut done, mut failed) = (0, 0);
    for t in tasks {
        let (d, f) = t.await.unwrap_or((0, 1));
        done += d;
        failed += f;
    }
    (done as f64 / started.elapsed().as_secs_f64(), failed)
}

/// Trivial script calls per second through one connection manager, `CALLERS` at once.
async fn baseline(url: &str) -> f64 {
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

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map_or_else(|_| "?".to_owned(), |s| s.split(' ').take(3).collect::<Vec<_>>().join(" "))
}

/// CPU seconds (user + system) this process has used so far.
fn own_cpu() -> f64 {
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
struct Counters {
    client_cpu_s: f64,
    redis_cpu_s: f64,
    evalsha_calls: u64,
    evalsha_us: u64,
}

impl Counters {
    async fn now(url: &str) -> Self {
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
    fn per_request(&self, after: &Self, requests: f64) -> String {
        let calls = after.evalsha_calls.saturating_sub(self.evalsha_calls).max(1);
        format!(
            "CPU per request: client {:.1} µs + Redis {:.1} µs; Redis's own time per script {:.1} µs",
            (after.client_cpu_s - self.client_cpu_s) * 1e6 / requests.max(1.0),
            (after.redis_cpu_s - self.redis_cpu_s) * 1e6 / requests.max(1.0),
            after.evalsha_us.saturating_sub(self.evalsha_us) as f64 / calls as f64
        )
    }
}

/// Latencies (µs, sorted) of requests one at a time.
async fn sequential(q: &Arc<Quotas>) -> Vec<f64> {
    let mut out = Vec::with_capacity(SEQUENTIAL);
    for i in 0..SEQUENTIAL {
        let t = Instant::now();
        one_request(q, i % 16).await;
        out.push(t.elapsed().as_secs_f64() * 1e6);
    }
    out.sort_by(f64::total_cmp);
    out
}

/// Latencies (µs, sorted) of requests started at `RATE` per second whatever the
/// previous ones are doing (an open loop, as independent clients behave).
async fn open_loop(q: &Arc<Quotas>) -> Vec<f64> {
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / RATE));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(OPEN_LOOP);
    for i in 0..OPEN_LOOP {
        tick.tick().await;
        let q = Arc::clone(q);
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            one_request(&q, i % 16).await;
            t.elapsed().as_secs_f64() * 1e6
        }));
    }
    let mut out = Vec::with_capacity(OPEN_LOOP);
    for t in tasks {
        out.push(t.await.unwrap_or(f64::NAN));
    }
    out.sort_by(f64::total_cmp);
    out
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(name: &str, local: &[f64], redis: &[f64]) {
    let (l50, l99, r50, r99) = (pct(local, 0.5), pct(local, 0.99), pct(redis, 0.5), pct(redis, 0.99));
    println!(
        "{name:<22} in-process p50 {l50:>6.1} µs p99 {l99:>6.1} µs | redis p50 {r50:>7.1} µs p99 {r99:>8.1} µs | added p50 {:>7.1} µs",
        r50 - l50
    );
}

fn main() {
    let url = std::env::var("SPILLWAY_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(cores).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("no runtime: {e}");
            std::process::exit(2);
        }
    };
    rt.block_on(async {
        let prefix = format!("bench-{}", std::process::id());
        println!("spillway-quota Redis admission benchmark ({cores} cores, Redis at {url}, prefix {prefix})");
        let local = Arc::new(Quotas::in_process());
        let one = vec![redis_store(&url, &prefix).await];
        let three = vec![one[0].clone(), redis_store(&url, &prefix).await, redis_store(&url, &prefix).await];
        // Warm-up: connections, script load, bucket creation.
        for i in 0..2_000 {
            one_request(&three[i % 3], i % 16).await;
            one_request(&local, i % 16).await;
        }
        println!("load average before: {}", loadavg());
        let base = baseline(&url).await;
        let (ips, _) = throughput(std::slice::from_ref(&local)).await;
        let (ops1, f1, cpu1) = measured(&url, &one).await;
        let (ops3, f3, cpu3) = measured(&url, &three).await;
        println!("{CALLERS} callers; a request is 1 admission + 1 settlement (2 scripts):");
        println!("  baseline: `return 1` scripts/s  {base:>10.0}");
        println!("  in-process store, requests/s    {ips:>10.0}");
        for (name, ops, failed, cpu) in [("redis, 1 instance", ops1, f1, cpu1), ("redis, 3 instances", ops3, f3, cpu3)] {
            println!(
                "  {name:<18} requests/s  {ops:>10.0}  scripts/s {:>8.0} ({:.0}% of baseline, {:.1}% of in-process)  failures {failed}",
                2.0 * ops,
                200.0 * ops / base.max(1.0),
                100.0 * ops / ips.max(1.0)
            );
            println!("    {cpu}");
        }
        report("one at a time", &sequential(&local).await, &sequential(&one[0]).await);
        report(&format!("open loop {RATE}/s"), &open_loop(&local).await, &open_loop(&one[0]).await);
        println!("load average after: {}", loadavg());
    });
}
