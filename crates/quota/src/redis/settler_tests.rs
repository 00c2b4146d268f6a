//! Settlement off the answer's path, against a real Redis reached through a relay whose
//! way to Redis can be held shut (what a slow Redis or a long network path looks like to
//! the store): a settlement returns at once, is applied once Redis gets it, and one that
//! fails leaves its lease to expire.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::tests::{prefix, redis_url, request, saved_level, settings};
use super::*;
use crate::Quotas;

/// A TCP relay to Redis: Redis's answers always pass, the store's commands only while
/// the gate is open (held, not lost, while it is shut).
struct Gate {
    open: watch::Sender<bool>,
    addr: SocketAddr,
}

impl Gate {
    async fn to(url: &str) -> Self {
        let target = url.trim_start_matches("redis://").split('/').next().unwrap().to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (open, _) = watch::channel(true);
        let gate = open.subscribe();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = TcpStream::connect(&target).await.unwrap();
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_redis, mut to_redis) = upstream.into_split();
                tokio::spawn(async move { tokio::io::copy(&mut from_redis, &mut to_client).await });
                let mut gate = gate.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = from_client.read(&mut buf).await.unwrap_or(0);
                        if n == 0 || gate.wait_for(|open| *open).await.is_err() {
                            return;
                        }
                        if to_redis.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { open, addr }
    }

    fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    fn set(&self, open: bool) {
        self.open.send_replace(open);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settlement_returns_before_redis_answers_and_is_applied_after() {
    let Some(url) = redis_url().await else { return };
    let prefix = prefix();
    let gate = Gate::to(&url).await;
    let slow = RedisSettings { timeout: Duration::from_secs(30), ..settings(&gate.url(), &prefix) };
    let q = Arc::new(Quotas::Redis(RedisQuotas::connect(slow).await.unwrap()));
    let Quotas::Redis(inner) = &*q else { unreachable!() };
    let r = crate::reserve(&q, request(600)).await.unwrap();
    gate.set(false);
    // Redis cannot see the settlement, yet the caller goes on at once.
    tokio::time::timeout(Duration::from_secs(5), r.settle(&[1, 100])).await.expect("settle waited for Redis");
    assert_eq!(inner.settlements_in_flight(), 1);
    assert!(tokio::time::timeout(Duration::from_millis(100), q.settled()).await.is_err(), "applied behind a shut gate");
    let level = saved_level(&url, &prefix, &request(0)[1]).await;
    assert!((400.0..401.0).contains(&level), "not applied yet: {level}");
    gate.set(true);
    q.settled().await;
    assert_eq!(inner.settlements_in_flight(), 0);
    assert_eq!(inner.live_leases(), 0);
    let level = saved_level(&url, &prefix, &request(0)[1]).await;
    // Refilled meanwhile at 16.7 tokens/s: a second refund would read 1_000 (full).
    assert!((900.0..910.0).contains(&level), "500 back, exactly once: {level}");
    assert!(inner.is_up());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_settlement_leaves_its_lease_to_expire() {
    let Some(url) = redis_url().await else { return };
    let prefix = prefix();
    let gate = Gate::to(&url).await;
    let ttl = Duration::from_millis(600);
    let short = RedisSettings { timeout: Duration::from_millis(500), lease_ttl: ttl, ..settings(&gate.url(), &prefix) };
    let q = RedisQuotas::connect(short).await.unwrap();
    let lease = q.reserve(&request(600)).await.unwrap();
    gate.set(false);
    q.settle(lease, request(600), vec![1, 100]).await;
    q.settled().await; // it times out: the link goes down, the lease is no longer renewed
    assert!(!q.is_up());
    assert_eq!(q.live_leases(), 0);
    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
    // Another instance, straight to Redis: the whole reservation came back by the TTL.
    let other = RedisQuotas::connect(RedisSettings { lease_ttl: ttl, ..settings(&url, &prefix) }).await.unwrap();
    let lease = other.reserve(&request(1_000)).await.unwrap();
    other.settle(lease, request(1_000), vec![1, 1_000]).await;
    other.settled().await;
    gate.set(true);
}

/// With no runtime left (a `Reservation` dropped during shutdown), nothing is spawned and
/// nothing counted: the lease's TTL returns the reservation.
#[test]
fn without_a_runtime_a_settlement_is_left_to_the_ttl() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(url) = rt.block_on(redis_url()) else { return };
    let q = rt.block_on(RedisQuotas::connect(settings(&url, &prefix()))).unwrap();
    let lease = rt.block_on(q.reserve(&request(10))).unwrap();
    assert_eq!(q.live_leases(), 1);
    q.issue_settlement(lease, request(10), vec![1, 10]);
    assert_eq!((q.live_leases(), q.settlements_in_flight()), (0, 0));
    drop(rt);
}
