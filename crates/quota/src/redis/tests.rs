//! Against a real Redis: `SPILLWAY_TEST_REDIS` (a URL), else 127.0.0.1:6379 if it answers
//! (scripts/test.sh starts one). Every test works under a key prefix of its own, so tests
//! run in parallel and beside other users of the same Redis.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::{Limit, Quotas};

const LOCAL: &str = "redis://127.0.0.1:6379";

/// The test Redis, or `None` (with a message) when there is none to use.
pub(super) async fn redis_url() -> Option<String> {
    if let Ok(url) = std::env::var("SPILLWAY_TEST_REDIS") {
        return Some(url);
    }
    let up = async {
        let client = redis::Client::open(LOCAL).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING").query_async::<String>(&mut conn).await.ok()
    };
    match tokio::time::timeout(Duration::from_secs(2), up).await {
        Ok(Some(_)) => Some(LOCAL.to_owned()),
        _ => {
            eprintln!("SKIPPED: no Redis (set SPILLWAY_TEST_REDIS or run one on 127.0.0.1:6379)");
            None
        }
    }
}

pub(super) fn settings(url: &str, prefix: &str) -> RedisSettings {
    RedisSettings {
        url: url.to_owned(),
        fail: FailMode::Closed,
        timeout: Duration::from_secs(2),
        lease_ttl: Duration::from_secs(10),
        instances: 3,
        key_prefix: prefix.to_owned(),
    }
}

pub(super) fn prefix() -> String {
    format!("spillway-test-{}", uuid::Uuid::new_v4().simple())
}

fn debit(scope: &str, limit: Limit, per_minute: u64, amount: u64) -> Debit {
    let key = BucketKey { account: "123456789012".into(), region: "ap-northeast-1".into(), scope: scope.into(), limit };
    Debit { key, per_minute, amount }
}

/// A request on an RPM bucket of 100 and a TPM bucket of 1_000 (16.7 tokens/s refill: a
/// debit of 100 takes 6 s to refill, far longer than any of these tests' races).
pub(super) fn request(tokens: u64) -> Vec<Debit> {
    vec![debit("m", Limit::Requests, 100, 1), debit("m", Limit::Tokens, 1_000, tokens)]
}

async fn conn(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap()
}

fn bucket_key(prefix: &str, d: &Debit) -> String {
    TagKeys::of(prefix, &d.key).bucket(&d.key, &mut String::new()).to_owned()
}

/// The saved level of a bucket (without refill since the last script touched it): the
/// first of its three little-endian doubles.
pub(super) async fn saved_level(url: &str, prefix: &str, d: &Debit) -> f64 {
    let raw: Vec<u8> = redis::cmd("GET").arg(bucket_key(prefix, d)).query_async(&mut conn(url).await).await.unwrap();
    assert_eq!(raw.len(), 24);
    f64::from_le_bytes(raw[..8].try_into().unwrap())
}

/// Milliseconds left before a key expires (-1: never, -2: no such key).
async fn pttl(url: &str, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(&mut conn(url).await).await.unwrap()
}

async fn three(url: &str, prefix: &str) -> Vec<Arc<Quotas>> {
    let mut out = Vec::new();
    for _ in 0..3 {
        out.push(Arc::new(Quotas::Redis(RedisQuotas::connect(settings(url, prefix)).await.unwrap())));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_racing_admit_exactly_the_quota() {
    let Some(url) = redis_url().await else { return };
    let prefix = prefix();
    let stores = three(&url, &prefix).await;
    let passed = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (i, q) in stores.iter().cycle().take(24).enumerate() {
        let (q, passed) = (Arc::clone(q), Arc::clone(&passed));
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                // Leases are held (never settled here): only the debits count.
                if let Ok(lease) = q.reserve(&request(100)).await {
                    passed.fetch_add(1, Ordering::Relaxed);
                    std::mem::forget(lease);
                }
            }
            i
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // 240 attempts on 1_000 tokens at 100 each: exactly 10, and the RPM bucket shows
    // exactly 10 debits (all or nothing across both buckets).
    assert_eq!(passed.load(Ordering::Relaxed), 10);
    let rpm = saved_level(&url, &prefix, &request(100)[0]).await;
    assert!((90.0..91.0).contains(&rpm), "{rpm}");
}

#[tokio::test]
async fn settle_refunds_charges_and_ends_the_lease() {
    let Some(url) = redis_url().await else { return };
    let prefix = prefix();
    let q = Arc::new(Quotas::Redis(RedisQuotas::connect(settings(&url, &prefix)).await.unwrap()));
    let tpm = request(0)[1].clone();
    let r = crate::reserve(&q, request(600)).await.unwrap();
    assert!(crate::reserve(&q, request(600)).await.is_err(), "400 left, 600 asked");
    r.settle(&[1, 100]).await; // 500 back, issued
    q.settled().await; // and applied
    let level = saved_level(&url, &prefix, &tpm).await;
    assert!((900.0..901.0).contains(&level), "{level}");
    let Quotas::Redis(inner) = &*q else { unreachable!() };
    assert_eq!(inner.live_leases(), 0);
    // Excess use goes below zero.
    crate::reserve(&q, request(900)).await.unwrap().settle(&[1, 2_000]).await;
    q.settled().await;
    let level = saved_level(&url, &prefix, &tpm).await;
    assert!(level < -99.0, "{level}");
    assert!(crate::reserve(&q, request(1)).await.is_err());
}

#[tokio::test]
async fn a_dead_instances_leases_return_when_they_expire() {
    let Some(url) = redis_url().await else { return };
    let prefix = prefix();
    let short = RedisSettings { lease_ttl: Duration::from_millis(300), ..settings(&url, &prefix) };
    let dead = RedisQuotas::connect(short.clone()).await.unwrap();
    let lease = dead.reserve(&request(800)).await.unwrap();
    // `kill -9`: no settlement, no more renewals.
    drop(dead);
    let LeaseKind::Redis { record } = lease.0 else { unreachable!() };
    let survivor = RedisQuotas::connect(short).await.unwrap();
    assert!(survivor.reserve(&request(800)).await.is_err(), "the dead instance's lease still holds");
    tokio::time::sleep(Duration::from_millis(600)).await;
    // The next script on the tag reaps the lease: its 800 tokens are back.
    let again = survivor.reserve(&request(800)).await.unwrap();
    // A late settlement of the reaped lease charges only its use.
    survivor.settle(Lease(LeaseKind::Redis { record }), request(800), vec![1, 50]).await;
    survivor.settle(again, request(800), vec![1, 800]).await;
    survivor.settled().await;
    let level = saved_level(&url, &prefix, &request(0)[1]).await;
    assert!((150.0..160.0).contains(&level), "{level}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_calls_lease_is_renewed() {
    let Some(url) = redis_url().await else { return };
    let prefix = prefix();
    let short = RedisSettings { lease_ttl: Duration::from_millis(300), ..settings(&url, &prefix) };
    let q = Arc::new(Quotas::Redis(RedisQuotas::connect(short.clone()).await.unwrap()));
    let held = crate::reserve(&q, request(800)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_000)).await; // > 3 TTLs
    let other = RedisQuotas::connect(short).await.unwrap();
    assert!(other.reserve(&request(800)).await.is_err(), "a renewed lease must not be reaped");
    held.release().await;
    q.settled().await;
    assert!(other.reserve(&request(800)).await.is_ok());
}

#[tokio::test]
async fn scripts_are_reloaded_after_noscript() {
    let Some(url) = redis_url().await else { return };
    let prefix = prefix();
    let q = RedisQuotas::connect(settings(&url, &prefix)).await.unwrap();
    q.reserve(&request(1)).await.unwrap();
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut conn).await.unwrap();
    q.reserve(&request(1)).await.unwrap();
    assert!(q.is_up());
}

#[tokio::test]
async fn unreachable_redis_follows_the_fail_mode() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let dead = "redis://127.0.0.1:1";
    let closed = RedisQuotas::connect(settings(dead, "x")).await.unwrap();
    assert!(!closed.is_up());
    // Closed: not a throttle, the store is unavailable (a 503 at the API).
    assert_eq!(closed.reserve(&request(1)).await.unwrap_err(), Refused::StoreUnavailable);
    // Local: quota ÷ 3 per instance (1_000 TPM → 333).
    let local = RedisQuotas::connect(RedisSettings { fail: FailMode::Local, ..settings(dead, "x") }).await.unwrap();
    let lease = local.reserve(&request(300)).await.unwrap();
    assert!(local.reserve(&request(100)).await.is_err());
    local.settle(lease, request(300), vec![1, 200]).await;
    assert!(local.reserve(&request(100)).await.is_ok());
    assert!((local.headroom(&request(0)[1].key, 1_000) - 33.0 / 333.0).abs() < 0.01);
}

#[tokio::test]
async fn instances_share_backend_load_and_cool_downs() {
    let Some(url) = redis_url().await else { return };
    let prefix = prefix();
    let a = RedisQuotas::connect(settings(&url, &prefix)).await.unwrap();
    let b = RedisQuotas::connect(settings(&url, &prefix)).await.unwrap();
    let report =
        |in_flight, cooling_ms| vec![PoolReport { pool: "us-east-1/sim".into(), in_flight, slots: 4, cooling_ms }];
    let view = a.sync_capacity(&report(3, 0), 400).await.unwrap();
    assert_eq!(view[0], PoolView { others_in_flight: 0, others_slots: 0, cooling_ms: 0 });
    // b saw a fault: its cool-down is shared.
    let view = b.sync_capacity(&report(1, 5_000), 400).await.unwrap();
    assert_eq!((view[0].others_in_flight, view[0].others_slots), (3, 4));
    let view = a.sync_capacity(&report(3, 0), 400).await.unwrap();
    assert_eq!((view[0].others_in_flight, view[0].others_slots), (1, 4));
    assert!((4_000..=5_000).contains(&view[0].cooling_ms), "{view:?}");
    // a stops reporting (killed): after its lease, b no longer counts it.
    drop(a);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let view = b.sync_capacity(&report(1, 0), 400).await.unwrap();
    assert_eq!((view[0].others_in_flight, view[0].others_slots), (0, 0));
}

#[tokio::test]
async fn buckets_expire_a_refill_window_after_they_are_full_again() {
    let Some(url) = redis_url().await else { return };
    let prefix = prefix();
    let q = Arc::new(Quotas::Redis(RedisQuotas::connect(settings(&url, &prefix)).await.unwrap()));
    let (rpm, tpm) = (request(0)[0].clone(), request(0)[1].clone());
    let leases = TagKeys::of(&prefix, &tpm.key).leases;
    let r = crate::reserve(&q, request(600)).await.unwrap();
    // TPM at 400 of 1_000: full again in 36 s, then one more minute.
    let t = pttl(&url, &bucket_key(&prefix, &tpm)).await;
    assert!((95_000..=96_000).contains(&t), "{t}");
    // RPM at 99 of 100: full in 0.6 s, then one more minute.
    let t = pttl(&url, &bucket_key(&prefix, &rpm)).await;
    assert!((60_000..=60_600).contains(&t), "{t}");
    // The lease set outlives its leases by an hour (it goes when empty anyway).
    let t = pttl(&url, &leases).await;
    assert!((3_600_000..=3_610_000).contains(&t), "{t}");
    // Overdrawn to −1_000: two minutes to full, so three before the key may go.
    r.settle(&[1, 2_000]).await;
    q.settled().await;
    let t = pttl(&url, &bucket_key(&prefix, &tpm)).await;
    assert!((179_000..=180_000).contains(&t), "{t}");
    assert_eq!(pttl(&url, &leases).await, -2, "the last lease settled: the set is gone");
}

#[tokio::test]
async fn a_bucket_named_twice_must_cover_the_sum_and_settles_both() {
    let Some(url) = redis_url().await else { return };
    let prefix = prefix();
    let q = RedisQuotas::connect(settings(&url, &prefix)).await.unwrap();
    let twice = vec![debit("m", Limit::Tokens, 1_000, 400), debit("m", Limit::Tokens, 1_000, 400)];
    let lease = q.reserve(&twice).await.unwrap(); // 800 of 1_000
    assert!(q.reserve(&twice).await.is_err(), "800 asked, 200 left");
    // Both entries refund 300 to the one bucket (read once, written once).
    q.settle(lease, twice.clone(), vec![100, 100]).await;
    q.settled().await;
    let level = saved_level(&url, &prefix, &twice[0]).await;
    assert!((800.0..801.0).contains(&level), "{level}");
}

/// The Lua script applies a tier's floor exactly as the in-process store does.
#[tokio::test]
async fn a_floor_keeps_the_top_of_every_bucket() {
    let Some(url) = redis_url().await else { return };
    let q = RedisQuotas::connect(settings(&url, &prefix())).await.unwrap();
    let flex = crate::Floor(20);
    let lease = q.reserve_above(&request(800), flex).await.unwrap();
    std::mem::forget(lease);
    assert_eq!(
        q.reserve_above(&request(1), flex).await.unwrap_err(),
        Refused::Throttled(Throttled { limit: Limit::Tokens })
    );
    // Nothing was debited by the refusal: a floorless call still takes the last 200.
    let lease = q.reserve_above(&request(200), crate::Floor::NONE).await.unwrap();
    std::mem::forget(lease);
    assert!(q.reserve(&request(1)).await.is_err());
}
