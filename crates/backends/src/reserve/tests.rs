use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use spillway_catalog::SimBackend as SimConfig;
use spillway_wire::converse::ConverseRequest;

use crate::{Backend, BackendError, ChatCall, Lane, Pool};

fn pool(slots: u32) -> Arc<Pool> {
    // A stream keeps its slot until dropped, however fast it runs.
    let cfg = SimConfig { max_concurrency: slots, ttft_ms: 0, output_tokens: 8, ..SimConfig::default() };
    let backend = Backend::Sim(crate::sim::SimBackend::new(cfg));
    Arc::new(Pool::new("r".into(), "b".into(), backend, Duration::from_millis(1000)))
}

fn request() -> ConverseRequest {
    serde_json::from_value(serde_json::json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})).unwrap()
}

fn call(request: &ConverseRequest) -> ChatCall<'_> {
    ChatCall { model: "m", request, max_tokens: 50, stream: true }
}

#[tokio::test]
async fn a_reservation_shrinks_on_demand_capacity_until_dropped() {
    let p = pool(4);
    assert_eq!(p.available(), 1.0);
    let r = p.reserve(3).unwrap();
    assert_eq!((p.reserved_slots(), p.on_demand_limit()), (3, 1));
    let err = p.reserve(2).unwrap_err();
    assert_eq!((err.free, err.limit, err.wanted), (1, 4, 2));
    assert!(err.to_string().contains("1 of its 4"), "{err}");

    let req = request();
    let held = p.chat(Lane::OnDemand, call(&req)).await.unwrap();
    assert_eq!(p.available(), 0.0);
    // The one on-demand slot is taken: the next on-demand call is refused at once.
    assert!(matches!(p.chat(Lane::OnDemand, call(&req)).await, Err(BackendError::Busy)));
    // The reserved slots still serve, up to their number.
    let mut reserved = Vec::new();
    for _ in 0..3 {
        reserved.push(p.chat(Lane::Reserved(&r), call(&req)).await.unwrap());
    }
    assert_eq!(r.in_flight(), 3);
    assert!(matches!(p.chat(Lane::Reserved(&r), call(&req)).await, Err(BackendError::Busy)));
    // Provisioned calls do not count against on-demand room.
    drop(held);
    assert_eq!(p.available(), 1.0);
    drop(reserved);
    assert_eq!(r.in_flight(), 0);
    drop(r);
    assert_eq!((p.reserved_slots(), p.on_demand_limit()), (0, 4));
}

#[tokio::test]
async fn a_stream_holds_its_slot_until_it_ends() {
    let p = pool(2);
    let r = p.reserve(1).unwrap();
    let req = request();
    let mut stream = p.chat(Lane::Reserved(&r), call(&req)).await.unwrap();
    while stream.next().await.is_some() {}
    assert_eq!(r.in_flight(), 1, "finished but not dropped: still held");
    drop(stream);
    assert_eq!(r.in_flight(), 0);
}

#[tokio::test]
async fn without_reservations_on_demand_is_not_gated() {
    // Nothing reserved: the backend's own limit decides, as before reservations existed.
    let p = pool(1);
    let req = request();
    let _a = p.chat(Lane::OnDemand, call(&req)).await.unwrap();
    assert!(matches!(p.chat(Lane::OnDemand, call(&req)).await, Err(BackendError::Busy)));
    assert_eq!(p.available(), 0.0);
}

#[tokio::test]
async fn a_reservation_runs_only_on_its_pool() {
    let (a, b) = (pool(2), pool(2));
    let r = a.reserve(1).unwrap();
    let req = request();
    assert!(matches!(b.chat(Lane::Reserved(&r), call(&req)).await, Err(BackendError::Config(_))));
    assert_eq!(b.available(), 1.0);
}

#[test]
fn slot_floors_keep_the_last_slots_for_higher_tiers() {
    use crate::reserve::slot_admits;
    // 10 slots, flex leaves 20%: it may take the 8th slot (2 left), not the 9th.
    assert!(slot_admits(10, 7, 20));
    assert!(!slot_admits(10, 8, 20));
    // Priority (no floor) takes the very last one.
    assert!(slot_admits(10, 9, 0));
    // An idle backend admits any tier, however small.
    assert!(slot_admits(1, 0, 50));
    assert!(!slot_admits(4, 3, 20));
    assert!(slot_admits(4, 2, 20));
}

#[tokio::test]
async fn a_pool_applies_the_floor_to_its_on_demand_lane() {
    let p = pool(4);
    let r = request();
    let _a = p.chat(Lane::OnDemand, call(&r)).await.unwrap();
    let _b = p.chat(Lane::OnDemand, call(&r)).await.unwrap();
    assert!(p.admits_above(20), "2 of 4 busy: one more leaves 25%");
    let _c = p.chat(Lane::OnDemand, call(&r)).await.unwrap();
    assert!(!p.admits_above(20), "3 of 4 busy: the last slot is not flex's");
    assert!(p.admits_above(0));
}
