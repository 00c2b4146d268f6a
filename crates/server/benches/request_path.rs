//! The cost of spillway's own work on the request path, on the simulator backend.
//!
//!     cargo bench -p spillway-server --bench request_path
//!
//! Prints, per operation: the routing + admission decision alone (resolve the model ID,
//! order the regions by capacity, build the quota debits, reserve and settle), the
//! simulator backend called directly (the baseline), and a whole Converse /
//! ConverseStream request through the router in-process. The gateway's overhead is the
//! difference between the last two, reported as a ratio to the baseline measured in the
//! same run. Single-threaded (a current-thread runtime), so the numbers are per core.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::http::Request;
use futures::StreamExt;
use spillway_backends::{Backend, ChatCall, ModelBackend};
use spillway_catalog::{BackendSpec, Catalog, SimBackend};
use spillway_quota::{InProcessQuotas, Quotas};
use spillway_route::{admission, order, resolve};
use spillway_server::{build_app, AppState};
use spillway_wire::converse::ConverseRequest;
use tower::ServiceExt;

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const PROFILE: &str = "us.anthropic.claude-3-haiku-20240307-v1:0";
const BODY: &str = r#"{"messages":[{"role":"user","content":[{"text":"What is the difference between S3, EBS and EFS?"}]}],"inferenceConfig":{"maxTokens":32}}"#;

/// The built-in catalog with an instant simulator and quotas nobody reaches.
fn catalog() -> Catalog {
    let mut c = spillway_catalog::builtin().unwrap();
    let fast = SimBackend {
        ttft_ms: 0,
        tokens_per_second: 0,
        max_concurrency: 1024,
        output_tokens: 32,
        ..SimBackend::default()
    };
    for spec in c.backends.values_mut() {
        *spec = BackendSpec::Sim(fast.clone());
    }
    for offer in c.models.iter_mut().flat_map(|m| m.offers.values_mut()) {
        offer.rpm = u32::MAX;
        offer.tpm = u32::MAX;
    }
    c
}

fn measure<F: FnMut()>(name: &str, iterations: u32, mut f: F) -> Duration {
    for _ in 0..iterations / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    let per = start.elapsed() / iterations;
    println!("{name:<48} {:>10.2} µs/op {:>12.0} ops/s", per.as_secs_f64() * 1e6, 1.0 / per.as_secs_f64());
    per
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let catalog = Arc::new(catalog());
    println!("spillway request-path benchmark (current-thread runtime, simulator backend, {MODEL})\n");

    // 1. The decision alone.
    let quotas = Arc::new(Quotas::InProcess(InProcessQuotas::new()));
    let decide = |id: &str| {
        let plan = resolve(&catalog, id, "us-east-1", "123456789012").unwrap();
        let ordered = order::by_capacity(&plan.candidates, "us-east-1", |_| 1.0);
        let debits = admission::debits(&catalog, &plan, "123456789012", "us-east-1", 1000);
        let reservation = rt.block_on(spillway_quota::reserve(&quotas, debits)).unwrap();
        rt.block_on(reservation.settle(&[1, 900]));
        black_box(ordered.len());
    };
    measure("decision: direct model (resolve+order+admit+settle)", 200_000, || decide(MODEL));
    measure("decision: system profile", 200_000, || decide(PROFILE));

    // 2. Baseline: the simulator backend alone, no gateway.
    let request: ConverseRequest = serde_json::from_str(BODY).unwrap();
    let backend = Backend::from_spec(&catalog.backends["sim"]).unwrap();
    let backend_only = measure("baseline: sim backend chat, collected", 20_000, || {
        rt.block_on(async {
            let call = ChatCall { model: MODEL, request: &request, max_tokens: 32, stream: false };
            let mut s = backend.chat(call).await.unwrap();
            while let Some(e) = s.next().await {
                black_box(e.unwrap());
            }
        });
    });

    // 3. The whole request path through the router, no socket.
    let dir = tempfile::tempdir().unwrap();
    let (state, _shutdown) = rt.block_on(AppState::new(Arc::clone(&catalog), dir.path(), None)).unwrap();
    let router = build_app(state);
    let path_of = |id: &str, op: &str| format!("/model/{}/{op}", id.replace(':', "%3A"));
    let run = |path: String| {
        let router = router.clone();
        rt.block_on(async move {
            let req = Request::post(path)
                .header("content-type", "application/json")
                .header("authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=0")
                .body(Body::from(BODY))
                .unwrap();
            let resp = router.oneshot(req).await.unwrap();
            assert!(resp.status().is_success(), "{}", resp.status());
            black_box(to_bytes(resp.into_body(), usize::MAX).await.unwrap());
        });
    };
    let converse = measure("path: Converse, direct model", 20_000, || run(path_of(MODEL, "converse")));
    let profile = measure("path: Converse, system profile", 20_000, || run(path_of(PROFILE, "converse")));
    let stream = measure("path: ConverseStream, direct model", 20_000, || run(path_of(MODEL, "converse-stream")));

    println!();
    for (name, total) in [("Converse", converse), ("Converse via profile", profile), ("ConverseStream", stream)] {
        let overhead = total.saturating_sub(backend_only);
        println!(
            "{name:<22} gateway overhead {:>8.2} µs per request = {:.2}× the backend's own time",
            overhead.as_secs_f64() * 1e6,
            overhead.as_secs_f64() / backend_only.as_secs_f64()
        );
    }
}
