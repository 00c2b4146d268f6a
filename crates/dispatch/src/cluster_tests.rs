//! The dispatcher on the cluster store (quotas in Redis, reached through a relay whose
//! way to Redis can be held shut): a call's answer waits for its admission, not for its
//! settlement, which is applied once Redis gets it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use spillway_backends::Backends;
use spillway_catalog::Catalog;
use spillway_quota::{FailMode, Quotas, RedisQuotas, RedisSettings};
use spillway_route::resolve;
use spillway_wire::converse::ConverseRequest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::{Dispatcher, Origin, Progress};

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const ACCOUNT: &str = "123456789012";
/// Far longer than the test's own limit: a call that waited for Redis would fail it.
const REDIS_TIMEOUT: Duration = Duration::from_secs(60);

fn catalog() -> Catalog {
    let text = format!(
        r#"
default_region = "r"
default_backend = "slow-start"
[backends.slow-start]
kind = "sim"
ttft_ms = 1500
tokens_per_second = 0
output_tokens = 5
[regions.r]
[[models]]
id = "{MODEL}"
name = "Claude 3 Haiku"
provider = "Anthropic"
body_format = "anthropic"
[models.regions]
r = {{ rpm = 100, tpm = 100000, backend = "slow-start" }}
"#
    );
    match spillway_catalog::from_toml(&text) {
        Ok(c) => c,
        Err(e) => panic!("test catalog: {e}"),
    }
}

/// A TCP relay to Redis: Redis's answers always pass, the store's commands only while
/// the gate is open (held, not lost, while it is shut).
async fn gate(target: String) -> (String, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    let (open, gate) = watch::channel(true);
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
    (url, open)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_does_not_wait_for_the_settlement() {
    // Only where a Redis is named (scripts/test.sh names the one it starts).
    let Ok(redis) = std::env::var("SPILLWAY_TEST_REDIS") else {
        eprintln!("SKIPPED: set SPILLWAY_TEST_REDIS");
        return;
    };
    let (url, open) = gate(redis.trim_start_matches("redis://").split('/').next().unwrap().to_owned()).await;
    let settings = RedisSettings {
        url,
        fail: FailMode::Closed,
        timeout: REDIS_TIMEOUT,
        lease_ttl: Duration::from_secs(10),
        instances: 1,
        key_prefix: format!("spillway-test-{}", uuid::Uuid::new_v4().simple()),
    };
    let store = RedisQuotas::connect(settings).await.unwrap();
    assert!(store.is_up());
    let catalog = Arc::new(catalog());
    let backends = Backends::build(&catalog).unwrap();
    let dispatcher = Arc::new(Dispatcher::new(Arc::clone(&catalog), backends, Arc::new(Quotas::Redis(store.clone()))));
    let call = {
        let (dispatcher, catalog) = (Arc::clone(&dispatcher), Arc::clone(&catalog));
        tokio::spawn(async move {
            let plan = resolve(&catalog, MODEL, "r", ACCOUNT).unwrap();
            let origin = Origin { account: ACCOUNT, source_region: "r", ask: Default::default() };
            let hello: ConverseRequest =
                serde_json::from_str(r#"{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}"#).unwrap();
            dispatcher.run_chat(origin, &plan, &hello, 50, &Progress::default()).await.map(|_| ())
        })
    };
    // Admitted once the store has seen a level below full; the backend's first token is
    // 1.5 s away, so the gate shuts long before the call settles.
    let admitted = Instant::now();
    while dispatcher.admission().headroom().iter().all(|(_, _, share)| *share >= 1.0) {
        assert!(admitted.elapsed() < Duration::from_secs(10), "never admitted");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    open.send_replace(false);
    let answered = tokio::time::timeout(Duration::from_secs(10), call).await;
    assert!(matches!(answered, Ok(Ok(Ok(())))), "the answer waited for Redis: {answered:?}");
    assert_eq!(store.settlements_in_flight(), 1, "settled behind a shut gate");
    open.send_replace(true);
    store.settled().await;
    assert_eq!((store.settlements_in_flight(), store.live_leases()), (0, 0));
}
