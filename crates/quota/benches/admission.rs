//! Admission decisions per second: `cargo bench -p spillway-quota --bench admission`.
//!
//! One decision = what a request costs the quota layer: `reserve` over its RPM and TPM
//! buckets, then `settle` to a usage different from the reservation (so the adjustment path
//! runs too). Plain `Instant` timing with a warm-up, no criterion, to keep compile light.
//! The in-process store never awaits, so each future is polled once with `now_or_never`
//! instead of paying for an executor.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use futures::FutureExt;
use spillway_quota::{reserve, BucketKey, Debit, Limit, QuotaStore, Quotas};

const WARMUP: u64 = 200_000;
const ITERS: u64 = 2_000_000;
/// Large enough that nothing is ever throttled: we measure decisions, not refusals.
const PER_MINUTE: u64 = 1_000_000_000_000_000;

fn debits(model: &str) -> Vec<Debit> {
    let key =
        |limit| BucketKey { account: "123456789012".into(), region: "eu-west-3".into(), scope: model.into(), limit };
    vec![
        Debit { key: key(Limit::Requests), per_minute: PER_MINUTE, amount: 1 },
        Debit { key: key(Limit::Tokens), per_minute: PER_MINUTE, amount: 1_000 },
    ]
}

/// Full guard path: the caller builds (clones) its debits, reserves, settles. Returns failures.
fn guard_loop(q: &Arc<Quotas>, template: &[Debit], n: u64) -> u64 {
    let mut failures = 0;
    for _ in 0..n {
        match reserve(q, black_box(template.to_vec())).now_or_never() {
            Some(Ok(r)) => {
                if r.settle(&[1, 400]).now_or_never().is_none() {
                    failures += 1;
                }
            }
            _ => failures += 1,
        }
    }
    failures
}

/// Store only: borrowed debits at admission, no guard.
fn store_loop(q: &Arc<Quotas>, template: &[Debit], n: u64) -> u64 {
    let mut failures = 0;
    for _ in 0..n {
        match q.reserve(black_box(template)).now_or_never() {
            Some(Ok(lease)) => {
                if q.settle(lease, template.to_vec(), vec![1, 400]).now_or_never().is_none() {
                    failures += 1;
                }
            }
            _ => failures += 1,
        }
    }
    failures
}

type Loop = fn(&Arc<Quotas>, &[Debit], u64) -> u64;

/// Runs `body` on `models.len()` threads at once (one model each) and reports total ops/s.
fn measure(name: &str, body: Loop, models: &[&str]) {
    let q = Arc::new(Quotas::in_process());
    let start = Barrier::new(models.len());
    let (elapsed, failures) = std::thread::scope(|s| {
        let handles: Vec<_> = models
            .iter()
            .map(|model| {
                let (q, start) = (&q, &start);
                s.spawn(move || {
                    let template = debits(model);
                    let mut failures = body(q, &template, WARMUP);
                    start.wait();
                    let t0 = Instant::now();
                    failures += body(q, &template, ITERS);
                    (t0.elapsed(), failures)
                })
            })
            .collect();
        handles.into_iter().fold((Duration::ZERO, 0), |(e, f), h| match h.join() {
            Ok((t, n)) => (e.max(t), f + n),
            Err(_) => (e, f + ITERS),
        })
    });
    let ops = ITERS * models.len() as u64;
    let secs = elapsed.as_secs_f64();
    println!(
        "{name:<44} {:>12.0} ops/s {:>8.1} ns/op (wall per op over all threads){}",
        ops as f64 / secs,
        secs * 1e9 / ops as f64,
        if failures > 0 { format!("  FAILURES: {failures}") } else { String::new() }
    );
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("spillway-quota admission benchmark: {ITERS} decisions per thread, {cores} cores");
    measure("reserve+settle, 1 thread", guard_loop, &["m"]);
    measure("reserve+settle, 2 threads, same keys", guard_loop, &["m", "m"]);
    measure("reserve+settle, 2 threads, distinct keys", guard_loop, &["m", "n"]);
    measure("store only reserve+settle, 1 thread", store_loop, &["m"]);
    measure("store only reserve+settle, 2 threads, same", store_loop, &["m", "m"]);
    measure("store only reserve+settle, 2 threads, dist.", store_loop, &["m", "n"]);
}
