//! Service tiers through the dispatcher, on the simulator with a frozen quota clock: who
//! is admitted when a quota or a backend runs short, and reserved capacity spilling over.

use std::sync::Arc;

use spillway_backends::Backends;
use spillway_catalog::{Catalog, ServiceTierType};
use spillway_quota::{InProcessQuotas, Limit, Quotas};
use spillway_route::tier::Ask;
use spillway_route::{resolve, Plan};
use spillway_wire::converse::ConverseRequest;
use spillway_wire::options::Latency;
use spillway_wire::{BedrockError, ErrorCode};

use super::{Declared, Dispatcher, Opened, Origin, Progress};
use crate::{Admitted, DispatchError};

const MODEL: &str = "amazon.nova-pro-v1:0";
const ACCOUNT: &str = "123456789012";

/// One region, a 4-slot backend, RPM 10; default leaves 10%, flex 30%; the account has
/// reserved 2 requests a minute.
fn catalog() -> Catalog {
    let text = format!(
        r#"
default_region = "r"
[backends.sim]
kind = "sim"
ttft_ms = 0
tokens_per_second = 0
max_concurrency = 4
[regions.r]
[[models]]
id = "{MODEL}"
name = "Nova Pro"
provider = "Amazon"
body_format = "nova"
service_tiers = ["priority", "default", "flex", "reserved"]
latency_optimized = true
[models.regions]
r = {{ rpm = 10, tpm = 1000000, backend = "sim" }}
[tiers]
default_floor_percent = 10
flex_floor_percent = 30
[[tiers.reserved]]
account = "{ACCOUNT}"
model = "{MODEL}"
requests_per_minute = 2
tokens_per_minute = 1000000
"#
    );
    match spillway_catalog::from_toml(&text) {
        Ok(c) => c,
        Err(e) => panic!("test catalog: {e}"),
    }
}

struct Fixture {
    catalog: Arc<Catalog>,
    dispatcher: Dispatcher,
}

fn fixture() -> Fixture {
    let frozen = InProcessQuotas::with_clock(Arc::new(|| 0));
    fixture_on(Quotas::InProcess(frozen))
}

fn fixture_on(quotas: Quotas) -> Fixture {
    let catalog = Arc::new(catalog());
    let backends = Backends::build(&catalog).unwrap();
    let dispatcher = Dispatcher::new(Arc::clone(&catalog), backends, Arc::new(quotas));
    Fixture { catalog, dispatcher }
}

/// The shared store, when a test Redis is configured (`SPILLWAY_TEST_REDIS`), under a key
/// prefix of its own. Its clock is Redis's: RPM 10 refills one request per 6 s, far longer
/// than the test.
async fn redis_quotas() -> Option<Quotas> {
    let Ok(url) = std::env::var("SPILLWAY_TEST_REDIS") else {
        eprintln!("SKIPPED: set SPILLWAY_TEST_REDIS to run the tiers against Redis");
        return None;
    };
    let settings = spillway_quota::RedisSettings {
        url,
        fail: spillway_quota::FailMode::Closed,
        timeout: std::time::Duration::from_secs(2),
        lease_ttl: std::time::Duration::from_secs(10),
        instances: 1,
        key_prefix: format!("spillway-tiers-{}", uuid::Uuid::new_v4().simple()),
    };
    Some(Quotas::Redis(spillway_quota::RedisQuotas::connect(settings).await.unwrap()))
}

fn ask(tier: ServiceTierType) -> Ask {
    Ask { tier: Some(tier), latency: None }
}

fn origin(ask: Ask) -> Origin<'static> {
    Origin { account: ACCOUNT, source_region: "r", ask }
}

fn hello() -> ConverseRequest {
    serde_json::from_str(r#"{"messages":[{"role":"user","content":[{"text":"Hello there"}]}]}"#).unwrap()
}

impl Fixture {
    fn plan(&self) -> Plan<'_> {
        resolve(&self.catalog, MODEL, "r", ACCOUNT).unwrap()
    }

    /// A unary call in `ask`'s tier: the tier that served it, or the error code.
    async fn call(&self, ask: Ask) -> Result<ServiceTierType, ErrorCode> {
        let plan = self.plan();
        let done = self.dispatcher.run_chat(origin(ask), &plan, &hello(), 20, &Progress::default()).await;
        done.map(|d| d.served.tier).map_err(code)
    }

    /// A stream held open (it keeps its backend slot until dropped).
    async fn open(&self, ask: Ask) -> Result<(Opened, Admitted), ErrorCode> {
        let plan = self.plan();
        let opened = self.dispatcher.open_chat(origin(ask), &plan, &hello(), 20, Declared::ModelError).await;
        opened.map_err(code)
    }

    /// Requests taken from the caller's bucket of `scope`.
    fn requests_used(&self, scope: &str) -> f64 {
        let headroom = self.dispatcher.admission().headroom();
        let found = headroom.iter().find(|(k, _, _)| *k.scope == *scope && k.limit == Limit::Requests);
        found.map_or(0.0, |(_, per_minute, share)| (*per_minute as f64 * (1.0 - share) * 1e6).round() / 1e6)
    }
}

#[tokio::test]
async fn a_short_quota_turns_flex_away_first_then_default_and_priority_takes_the_rest() {
    short_quota_order(&fixture()).await;
}

/// The same order with the quotas in Redis (the floor is an argument of reserve.lua).
#[tokio::test]
async fn the_redis_store_orders_the_tiers_alike() {
    let Some(quotas) = redis_quotas().await else { return };
    short_quota_order(&fixture_on(quotas)).await;
}

async fn short_quota_order(f: &Fixture) {
    use ServiceTierType::*;
    // RPM 10: flex leaves 3, default leaves 1, priority leaves nothing.
    for i in 0..7 {
        assert_eq!(f.call(ask(Flex)).await, Ok(Flex), "flex call {i}");
    }
    assert_eq!(f.call(ask(Flex)).await, Err(ErrorCode::Throttling));
    assert_eq!(f.call(ask(Default)).await, Ok(Default));
    assert_eq!(f.call(Ask::default()).await, Ok(Default), "no tier named is the default tier");
    assert_eq!(f.call(ask(Default)).await, Err(ErrorCode::Throttling));
    assert_eq!(f.call(ask(Priority)).await, Ok(Priority));
    assert_eq!(f.call(ask(Priority)).await, Err(ErrorCode::Throttling));
    // Refusals cost nothing: exactly the 10 admitted requests were taken (the Redis store's
    // headroom is the level it last reported refilled since, so a hair less there).
    let used = f.requests_used(MODEL);
    assert!(used > 9.9 && used <= 10.0, "{used}");
}

#[tokio::test]
async fn latency_optimized_default_requests_go_first_among_default_ones() {
    let f = fixture();
    for _ in 0..9 {
        f.call(Ask::default()).await.unwrap();
    }
    assert_eq!(f.call(Ask::default()).await, Err(ErrorCode::Throttling));
    let fast = Ask { tier: None, latency: Some(Latency::Optimized) };
    assert_eq!(f.call(fast).await, Ok(ServiceTierType::Default));
}

#[tokio::test]
async fn a_saturated_backend_throttles_flex_while_priority_still_runs() {
    use ServiceTierType::*;
    let f = fixture();
    // One of the four slots busy: flex may take the second (two, 50%, are left)…
    let _a = f.open(ask(Default)).await.unwrap();
    let (c, c_admitted) = f.open(ask(Flex)).await.unwrap();
    assert_eq!(c.served.tier, Flex);
    // …not the third (it must leave 30% of 4 slots); the refused calls gave their quota back.
    let used = f.requests_used(MODEL);
    assert_eq!(f.open(ask(Flex)).await.err(), Some(ErrorCode::Throttling));
    assert_eq!(f.call(ask(Flex)).await, Err(ErrorCode::Throttling));
    assert_eq!(f.requests_used(MODEL), used);
    // Default leaves 10%: it takes the third slot, not the last one, which is priority's.
    let d = f.open(ask(Default)).await.unwrap();
    assert_eq!(f.call(ask(Default)).await, Err(ErrorCode::Throttling));
    assert_eq!(f.call(ask(Priority)).await, Ok(Priority));
    // Once streams end, flex runs again.
    drop((c, c_admitted, d));
    assert_eq!(f.call(ask(Flex)).await, Ok(Flex));
}

#[tokio::test]
async fn reserved_runs_on_the_reservation_then_spills_over_to_default() {
    use ServiceTierType::*;
    let f = fixture();
    let reserved = format!("reserved/{MODEL}");
    assert_eq!(f.call(ask(Reserved)).await, Ok(Reserved));
    assert_eq!(f.call(ask(Reserved)).await, Ok(Reserved));
    assert_eq!((f.requests_used(&reserved), f.requests_used(MODEL)), (2.0, 0.0));
    // The reservation's minute is used up: the next one runs (and says it ran) as default,
    // on the on-demand quota.
    assert_eq!(f.call(ask(Reserved)).await, Ok(Default));
    assert_eq!((f.requests_used(&reserved), f.requests_used(MODEL)), (2.0, 1.0));
}

#[tokio::test]
async fn an_account_without_a_reservation_spills_over_at_once() {
    let f = fixture();
    let plan = f.plan();
    let other = Origin { account: "210987654321", source_region: "r", ask: ask(ServiceTierType::Reserved) };
    let done = f.dispatcher.run_chat(other, &plan, &hello(), 20, &Progress::default()).await.unwrap();
    assert_eq!(done.served.tier, ServiceTierType::Default);
}

/// The Bedrock error code the server gives a dispatcher error (crates/server/src/error.rs).
fn code(e: DispatchError) -> ErrorCode {
    match e {
        DispatchError::Throttled => ErrorCode::Throttling,
        DispatchError::Backend(b) => BedrockError::from(b).code,
        DispatchError::Model(b) => b.into_model_error().code,
        other => panic!("unexpected dispatcher error: {other:?}"),
    }
}
