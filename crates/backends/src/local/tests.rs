//! What the local backend does without its weights, and its request-side rules. The
//! model itself is exercised end to end (tests/e2e/test_local_model.py).

use spillway_wire::invoke::EmbedRequest;
use spillway_wire::parse::json;

use super::*;

fn missing() -> LocalConfig {
    LocalConfig {
        model_file: Some(std::env::temp_dir().join("spillway-test-no-such-model.gguf")),
        threads: Some(1),
        slots: Some(2),
        ..LocalConfig::default()
    }
}

fn request(body: &str) -> ConverseRequest {
    json(body.as_bytes()).unwrap()
}

const HELLO: &str = r#"{"messages":[{"role":"user","content":[{"text":"hello"}]}]}"#;

fn not_ready(e: BackendError) -> String {
    match e {
        BackendError::NotReady(m) => m,
        other => panic!("expected NotReady, got {other:?}"),
    }
}

#[tokio::test]
async fn without_weights_every_call_says_how_to_fetch_them() {
    let b = LocalBackend::standalone(&missing());
    let req = request(HELLO);
    let call = ChatCall { model: "m", request: &req, max_tokens: 10, stream: true };
    let m = not_ready(b.chat(call).await.err().unwrap());
    assert!(m.contains("spillway fetch-model"), "{m}");
    assert!(m.contains("spillway-test-no-such-model.gguf"), "{m}");
    assert!(not_ready(b.count_tokens("m", &req).await.unwrap_err()).contains("fetch-model"));
    let embed = EmbedRequest { texts: vec!["x".into()], ..EmbedRequest::default() };
    let call = EmbedCall { model: "m", request: &embed, default_dimensions: 8 };
    assert!(not_ready(b.embed(call).await.unwrap_err()).contains("fetch-model"));
    // Routing still reaches it (its answer says what to do), and nothing is held.
    assert_eq!(b.load(), Load { in_flight: 0, limit: 2 });
    assert!(BackendError::NotReady(String::new()).may_retry(false));
}

#[tokio::test]
async fn unreadable_requests_are_refused_before_the_model_is_needed() {
    let b = LocalBackend::standalone(&missing());
    let refused = |body: &str| {
        let req = request(body);
        let b = &b;
        async move {
            let call = ChatCall { model: "m", request: &req, max_tokens: 10, stream: false };
            b.chat(call).await.err().unwrap()
        }
    };
    let image =
        r#"{"messages":[{"role":"user","content":[{"image":{"format":"png","source":{"bytes":"iVBORw0KGgo="}}}]}]}"#;
    assert!(matches!(refused(image).await, BackendError::Unsupported(m) if m.contains("image")));
    let schema = r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],
        "outputConfig":{"textFormat":{"type":"json_schema","structure":{"jsonSchema":{"schema":"{oops"}}}}}"#;
    assert!(matches!(refused(schema).await, BackendError::Unsupported(m) if m.contains("not valid JSON")));
    // Tools are accepted: only the missing weights stop this one.
    let tools = r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],
        "toolConfig":{"tools":[{"toolSpec":{"name":"t","inputSchema":{"json":{"type":"object"}}}}]}}"#;
    assert!(matches!(refused(tools).await, BackendError::NotReady(_)));
}

#[test]
fn regions_share_one_engine_with_their_own_slices() {
    let mut cfg = missing();
    cfg.region_slots = Some(1);
    cfg.regions.insert("r2".into(), 3);
    let mut engines = Engines::default();
    let a = engines.instance("local", &cfg, "r1").unwrap();
    let b = engines.instance("local", &cfg, "r2").unwrap();
    assert!(Arc::ptr_eq(a.engine(), b.engine()));
    assert_eq!(a.slice.load().limit, 1);
    assert_eq!(b.slice.load().limit, 3);
    // A second backend on the same file must agree on the engine's settings.
    let other = LocalConfig { slots: Some(8), ..cfg.clone() };
    assert!(matches!(engines.instance("other", &other, "r1"), Err(BackendError::Config(_))));
    let same = LocalConfig { region_slots: Some(2), ..cfg };
    assert!(Arc::ptr_eq(engines.instance("other", &same, "r1").unwrap().engine(), a.engine()));
}

#[test]
fn sampling_follows_the_request_and_gemma_defaults() {
    let s = Sampling::of(&request(HELLO), 7);
    assert_eq!(s, Sampling { temperature: 1.0, top_p: 0.95, top_k: 64, seed: 7 });
    let s = Sampling::of(
        &request(
            r#"{"messages":[],"inferenceConfig":{"temperature":0,"topP":0.5},
                "additionalModelRequestFields":{"top_k":5,"seed":42}}"#,
        ),
        0,
    );
    assert_eq!((s.temperature, s.top_p, s.top_k, s.seed), (0.0, 0.5, 5, 42));
}

#[test]
fn vectors_are_padded_or_cut_then_normalised() {
    assert_eq!(fit(vec![3.0, 4.0], 4, false), [3.0, 4.0, 0.0, 0.0]);
    assert_eq!(fit(vec![3.0, 4.0], 4, true), [0.6, 0.8, 0.0, 0.0]);
    assert_eq!(fit(vec![3.0, 4.0, 12.0], 2, true), [0.6, 0.8]);
}
