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
//! 2. Added latency per request over the in-process store, one caller at a time (one
//!    connection, nothing else in flight) and in an open loop at 2,000 requests/s, two
//!    ways: what a server's request waits for (its admission answered, its settlement
//!    issued: the store settles off the answer's path), and until both scripts are
//!    answered (`Quotas::settled` after each request; in the open loop that also waits
//!    for settlements of other requests still in flight).
//!
//! The runtime is the server's: multi-threaded, one worker per CPU this process may use.
//! `SPILLWAY_BENCH_WORKERS=N` sets another count (0: a current-thread runtime), to see
//! what waking another thread costs; context switches per request are printed for the
//! one-at-a-time and open-loop runs (a measure of wake-ups that does not move with the
//! machine's load).
//!
//! Also printed, because the machine is shared and wall-clock numbers move with its load:
//! the load average before and after, and where the time goes during each Redis
//! throughput run: CPU time per request of this process (the client: tokio, redis-rs,
//! the store's own code) and of the Redis server (`INFO cpu`), and Redis's own time per
//! script call (`INFO commandstats`). Redis figures are diffs of server-wide counters, so
//! other clients of the same Redis count too.

use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "redis_admission/counters.rs"]
mod counters;

use counters::{baseline, context_switches, loadavg, Counters};
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
        scope: format!("model-{scope}").into(),
        limit,
    };
    vec![
        Debit { key: key(Limit::Requests), per_minute: PER_MINUTE, amount: 1 },
        Debit { key: key(Limit::Tokens), per_minute: PER_MINUTE, amount: 1_000 },
    ]
}

/// Admission, then settlement: issued (what a server's response waits for), or, with
/// `applied`, answered too.
async fn one_request(q: &Arc<Quotas>, scope: usize, applied: bool) -> bool {
    let Ok(r) = reserve(q, debits(scope)).await else { return false };
    r.settle(&[1, 400]).await;
    if applied {
        q.settled().await;
    }
    true
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
                    if one_request(&q, i % 16, false).await {
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
    // Settlements are issued, not awaited: the run ends when the last one is applied.
    for q in stores {
        q.settled().await;
    }
    (done as f64 / started.elapsed().as_secs_f64(), failed)
}

/// Latencies (µs, sorted) of requests one at a time, and this process's (voluntary,
/// involuntary) context switches per request.
async fn sequential(q: &Arc<Quotas>, applied: bool) -> (Vec<f64>, (f64, f64)) {
    let mut out = Vec::with_capacity(SEQUENTIAL);
    let before = context_switches();
    for i in 0..SEQUENTIAL {
        let t = Instant::now();
        one_request(q, i % 16, applied).await;
        out.push(t.elapsed().as_secs_f64() * 1e6);
    }
    q.settled().await;
    let after = context_switches();
    let per = |a: u64, b: u64| a.saturating_sub(b) as f64 / SEQUENTIAL as f64;
    out.sort_by(f64::total_cmp);
    (out, (per(after.0, before.0), per(after.1, before.1)))
}

/// Latencies (µs, sorted, from each request's intended start) of requests started at
/// `RATE` per second whatever the previous ones are doing (an open loop, as independent
/// clients behave).
///
/// The pacer is a thread of its own sleeping to each start: tokio's timer has a 1 ms
/// resolution, so an `interval` of 500 µs started the requests in pairs (two at once every
/// millisecond, the second queued behind the first), which is not a rate of 2,000/s. A
/// request is spawned onto the runtime from outside, as a connection's readiness arrives
/// at a server's workers; its latency counts from the time it was due, so the pacer's own
/// lateness and the worker's wake-up are in both stores' figures alike.
async fn open_loop(q: &Arc<Quotas>, applied: bool) -> (Vec<f64>, (f64, f64)) {
    let before = context_switches();
    let handle = tokio::runtime::Handle::current();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let q = Arc::clone(q);
    std::thread::spawn(move || {
        let start = Instant::now() + Duration::from_millis(1);
        let mut tasks = Vec::with_capacity(OPEN_LOOP);
        for i in 0..OPEN_LOOP {
            let due = start + Duration::from_nanos(i as u64 * 1_000_000_000 / RATE);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let q = Arc::clone(&q);
            tasks.push(handle.spawn(async move {
                one_request(&q, i % 16, applied).await;
                due.elapsed().as_secs_f64() * 1e6
            }));
        }
        let _ = tx.send((tasks, q));
    });
    let mut out = Vec::with_capacity(OPEN_LOOP);
    let Ok((tasks, q)) = rx.await else { return (out, (0.0, 0.0)) };
    for t in tasks {
        out.push(t.await.unwrap_or(f64::NAN));
    }
    q.settled().await;
    let after = context_switches();
    let per = |a: u64, b: u64| a.saturating_sub(b) as f64 / OPEN_LOOP as f64;
    out.sort_by(f64::total_cmp);
    (out, (per(after.0, before.0), per(after.1, before.1)))
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(name: &str, local: &[f64], redis: &[f64]) {
    let (l50, l99, r50, r99) = (pct(local, 0.5), pct(local, 0.99), pct(redis, 0.5), pct(redis, 0.99));
    println!(
        "{name:<36} in-process p50 {l50:>6.1} µs p99 {l99:>6.1} µs | redis p50 {r50:>7.1} µs p99 {r99:>8.1} µs | added p50 {:>7.1} µs",
        r50 - l50
    );
}

/// The one-at-a-time rows: latency, and context switches per request of the Redis run.
async fn one_at_a_time(local: &Arc<Quotas>, redis: &Arc<Quotas>, applied: bool, name: &str) {
    let (l, _) = sequential(local, applied).await;
    let (r, switches) = sequential(redis, applied).await;
    report(name, &l, &r);
    report_switches(switches);
}

/// The open-loop rows, the same way.
async fn open(local: &Arc<Quotas>, redis: &Arc<Quotas>, applied: bool, name: &str) {
    let (l, _) = open_loop(local, applied).await;
    let (r, switches) = open_loop(redis, applied).await;
    report(name, &l, &r);
    report_switches(switches);
}

fn report_switches((voluntary, involuntary): (f64, f64)) {
    println!("{:<36} context switches per request (redis): {voluntary:.2} voluntary, {involuntary:.2} involuntary", "");
}

fn main() {
    let url = std::env::var("SPILLWAY_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    // As the server (crates/cli): tokio's default worker count, the CPUs this process may
    // run on (sched affinity), unless the environment says otherwise.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = std::env::var("SPILLWAY_BENCH_WORKERS").ok().and_then(|w| w.parse().ok()).unwrap_or(cores);
    let mut builder = match workers {
        0 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
    };
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("no runtime: {e}");
            std::process::exit(2);
        }
    };
    // Everything runs in a spawned task, on a worker thread, as a server's request does
    // (hyper spawns one per connection); `block_on`'s own thread is no worker, so every
    // wake-up of a task running there would cross threads, which no request of a server
    // pays.
    let bench = rt.spawn(async move {
        let prefix = format!("bench-{}", std::process::id());
        println!("spillway-quota Redis admission benchmark ({cores} cores, {workers} workers (0: current-thread), Redis at {url}, prefix {prefix})");
        let local = Arc::new(Quotas::in_process());
        let one = vec![redis_store(&url, &prefix).await];
        let three = vec![one[0].clone(), redis_store(&url, &prefix).await, redis_store(&url, &prefix).await];
        // Warm-up: connections, script load, bucket creation.
        for i in 0..2_000 {
            one_request(&three[i % 3], i % 16, true).await;
            one_request(&local, i % 16, true).await;
        }
        println!("load average before: {}", loadavg());
        let base = baseline(&url).await;
        let (ips, _) = throughput(std::slice::from_ref(&local)).await;
        let (ops1, f1, cpu1) = measured(&url, &one).await;
        let (ops3, f3, cpu3) = measured(&url, &three).await;
        println!("{CALLERS} callers; a request is 1 admission + 1 settlement (2 scripts), all settlements applied by the end:");
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
        println!("added latency: what a request waits for (admission answered, settlement issued):");
        one_at_a_time(&local, &one[0], false, "  one at a time").await;
        open(&local, &one[0], false, &format!("  open loop {RATE}/s")).await;
        println!("until admission and settlement are both answered:");
        one_at_a_time(&local, &one[0], true, "  one at a time").await;
        open(&local, &one[0], true, &format!("  open loop {RATE}/s (all in flight)")).await;
        println!("load average after: {}", loadavg());
    });
    if let Err(e) = rt.block_on(bench) {
        eprintln!("bench failed: {e}");
        std::process::exit(1);
    }
}
