//! The dispatcher against simulator backends that fail on demand: every failure kind on
//! every call kind, the failover it allows, the error it ends with, and the quota each
//! path leaves behind.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use spillway_backends::{BackendError, Backends, RetryClass};
use spillway_catalog::Catalog;
use spillway_quota::{InProcessQuotas, Limit, Quotas};
use spillway_route::{resolve, Plan};
use spillway_wire::converse::ConverseRequest;
use spillway_wire::invoke::EmbedRequest;

use super::{Declared, DispatchError, Dispatcher, Origin, Progress};

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const ACCOUNT: &str = "123456789012";
/// The quotas' clock is frozen: the levels a test reads are exactly what its calls left.
const RPM: u64 = 2;
const TPM: u64 = 100_000;

/// One region per failure kind, a healthy one, and profiles pairing them.
fn catalog() -> Catalog {
    let text = format!(
        r#"
default_region = "healthy"
default_backend = "ok"
[routing]
cooldown_ms = 0
[backends.ok]
kind = "sim"
ttft_ms = 0
tokens_per_second = 0
[backends.slow]
kind = "sim"
ttft_ms = 0
tokens_per_second = 50
output_tokens = 400
[backends.throttle]
kind = "sim"
failure = {{ kind = "throttle" }}
[backends.error]
kind = "sim"
failure = {{ kind = "error" }}
[backends.timeout]
kind = "sim"
ttft_ms = 1
failure = {{ kind = "timeout" }}
[backends.mid-stream]
kind = "sim"
ttft_ms = 0
tokens_per_second = 0
failure = {{ kind = "mid-stream", after_tokens = 3 }}
[backends.empty-stream]
kind = "sim"
ttft_ms = 0
tokens_per_second = 0
failure = {{ kind = "mid-stream", after_tokens = 0 }}
[regions.healthy]
[regions.slow]
[regions.throttle]
[regions.error]
[regions.timeout]
[regions.mid-stream]
[regions.empty-stream]
[[models]]
id = "{MODEL}"
name = "Claude 3 Haiku"
provider = "Anthropic"
body_format = "anthropic"
[models.regions]
healthy = {{ rpm = {RPM}, tpm = {TPM}, backend = "ok" }}
slow = {{ rpm = {RPM}, tpm = {TPM}, backend = "slow" }}
throttle = {{ rpm = {RPM}, tpm = {TPM}, backend = "throttle" }}
error = {{ rpm = {RPM}, tpm = {TPM}, backend = "error" }}
timeout = {{ rpm = {RPM}, tpm = {TPM}, backend = "timeout" }}
mid-stream = {{ rpm = {RPM}, tpm = {TPM}, backend = "mid-stream" }}
empty-stream = {{ rpm = {RPM}, tpm = {TPM}, backend = "empty-stream" }}
[[models]]
id = "amazon.titan-embed-text-v2:0"
name = "Titan Text Embeddings V2"
provider = "Amazon"
body_format = "titan-embed"
output_modalities = ["EMBEDDING"]
streaming = false
[models.regions]
healthy = {{ rpm = {RPM}, tpm = {TPM}, backend = "ok" }}
throttle = {{ rpm = {RPM}, tpm = {TPM}, backend = "throttle" }}
error = {{ rpm = {RPM}, tpm = {TPM}, backend = "error" }}
timeout = {{ rpm = {RPM}, tpm = {TPM}, backend = "timeout" }}
"#
    );
    let mut text = text;
    for (name, regions) in [
        ("throttle", r#"["throttle", "healthy"]"#),
        ("error", r#"["error", "healthy"]"#),
        ("timeout", r#"["timeout", "healthy"]"#),
        ("midstream", r#"["mid-stream", "healthy"]"#),
        ("empty", r#"["empty-stream", "healthy"]"#),
        ("allbad", r#"["error", "throttle", "timeout"]"#),
    ] {
        text.push_str(&format!(
            "[[profiles]]\nid = \"{name}.{MODEL}\"\nname = \"{name}\"\nmodel = \"{MODEL}\"\nregions = {regions}\n"
        ));
    }
    text.push_str(
        "[[profiles]]\nid = \"emb.amazon.titan-embed-text-v2:0\"\nname = \"emb\"\nmodel = \"amazon.titan-embed-text-v2:0\"\nregions = [\"error\", \"throttle\", \"healthy\"]\n",
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
    let catalog = Arc::new(catalog());
    let backends = Backends::build(&catalog).unwrap();
    let frozen = InProcessQuotas::with_clock(Arc::new(|| 0));
    let dispatcher = Dispatcher::new(Arc::clone(&catalog), backends, Arc::new(Quotas::InProcess(frozen)));
    Fixture { catalog, dispatcher }
}

impl Fixture {
    fn plan(&self, model_id: &str, source: &str) -> Plan<'_> {
        resolve(&self.catalog, model_id, source, ACCOUNT).unwrap()
    }

    /// (requests, tokens) the caller's buckets for `scope` in `source` are down by.
    fn used(&self, source: &str, scope: &str) -> (f64, f64) {
        let mut out = (0.0, 0.0);
        for (key, per_minute, share) in self.dispatcher.admission().headroom() {
            if *key.region == *source && *key.scope == *scope {
                // Rounded: the share is a quotient, its product is not exact.
                let used = (per_minute as f64 * (1.0 - share) * 1e6).round() / 1e6;
                match key.limit {
                    Limit::Requests => out.0 = used,
                    Limit::Tokens => out.1 = used,
                }
            }
        }
        out
    }
}

fn origin(source: &str) -> Origin<'_> {
    Origin { account: ACCOUNT, source_region: source, ask: Default::default() }
}

fn hello() -> ConverseRequest {
    serde_json::from_str(r#"{"messages":[{"role":"user","content":[{"text":"Hello there"}]}]}"#).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn retry_classes_follow_the_error() {
    assert_eq!(BackendError::Throttled.retry_class(), RetryClass::BeforeFirstByte);
    assert_eq!(BackendError::Timeout.retry_class(), RetryClass::BeforeFirstByte);
    assert_eq!(BackendError::Stream("x".into()).retry_class(), RetryClass::AfterFirstByte);
    assert_eq!(BackendError::Rejected { status: 400, message: "x".into() }.retry_class(), RetryClass::Never);
    assert!(BackendError::Stream("x".into()).may_retry(false));
    assert!(!BackendError::Stream("x".into()).may_retry(true));
    assert!(!BackendError::Unsupported("x".into()).may_retry(false));
}

#[tokio::test]
async fn unary_fails_over_from_every_kind_of_failure_and_settles_to_real_usage() {
    for (profile, source) in
        [("throttle", "throttle"), ("error", "error"), ("timeout", "timeout"), ("midstream", "mid-stream")]
    {
        let f = fixture();
        let id = format!("{profile}.{MODEL}");
        let plan = f.plan(&id, source);
        let progress = Progress::default();
        let done = f.dispatcher.run_chat(origin(source), &plan, &hello(), 50, &progress).await.unwrap();
        assert_eq!(done.region, "healthy", "{profile}");
        let usage = done.output.usage();
        assert!(usage.output_tokens > 0);
        // One request, and exactly the tokens the answer used (burn-down 1).
        let (requests, tokens) = f.used(source, &id);
        assert!(close(requests, 1.0), "{profile}: {requests} requests");
        assert!(close(tokens, f64::from(usage.total_tokens)), "{profile}: {tokens} tokens");
        assert_eq!(progress.snapshot().0.as_deref(), Some("healthy"));
    }
}

#[tokio::test]
async fn unary_exhausted_answers_the_throttle_and_gives_the_quota_back() {
    let f = fixture();
    let id = format!("allbad.{MODEL}");
    let plan = f.plan(&id, "error");
    let e = f.dispatcher.run_chat(origin("error"), &plan, &hello(), 50, &Progress::default()).await.unwrap_err();
    assert!(matches!(e, DispatchError::Throttled), "{e:?}");
    assert_eq!(f.used("error", &id), (0.0, 0.0));
}

#[tokio::test]
async fn a_direct_call_reports_its_one_regions_failure_in_the_unary_shape() {
    type Check = fn(&DispatchError) -> bool;
    let cases: [(&str, Check); 4] = [
        ("throttle", |e| matches!(e, DispatchError::Model(BackendError::Throttled))),
        ("error", |e| matches!(e, DispatchError::Model(BackendError::Unavailable(_)))),
        ("timeout", |e| matches!(e, DispatchError::Model(BackendError::Timeout))),
        // Non-streaming operations declare ModelErrorException, not the stream's error
        // (the server's error mapping turns `Model(Stream)` into ModelErrorException).
        ("mid-stream", |e| matches!(e, DispatchError::Model(BackendError::Stream(_)))),
    ];
    for (region, expected) in cases {
        let f = fixture();
        let plan = f.plan(MODEL, region);
        let e = f.dispatcher.run_chat(origin(region), &plan, &hello(), 50, &Progress::default()).await.unwrap_err();
        assert!(expected(&e), "{region}: {e:?}");
        assert_eq!(f.used(region, MODEL), (0.0, 0.0), "{region}");
    }
}

#[tokio::test]
async fn a_stream_fails_over_until_it_commits_and_not_after() {
    // Failures before the first content event move on to the next region.
    for (profile, source) in
        [("throttle", "throttle"), ("error", "error"), ("timeout", "timeout"), ("empty", "empty-stream")]
    {
        let f = fixture();
        let plan = f.plan(&format!("{profile}.{MODEL}"), source);
        let (opened, admitted) =
            f.dispatcher.open_chat(origin(source), &plan, &hello(), 50, Declared::ModelStreamError).await.unwrap();
        assert_eq!(opened.region, "healthy", "{profile}");
        assert!(opened.head.iter().any(spillway_wire::stream::ModelEvent::is_content));
        admitted.release().await;
    }
    // A stream that breaks after its first content event has committed: the error comes
    // from the stream, on the region that started it.
    let f = fixture();
    let plan = f.plan(&format!("midstream.{MODEL}"), "mid-stream");
    let (opened, admitted) =
        f.dispatcher.open_chat(origin("mid-stream"), &plan, &hello(), 50, Declared::ModelStreamError).await.unwrap();
    assert_eq!(opened.region, "mid-stream");
    let rest: Vec<_> = opened.rest.collect().await;
    assert!(matches!(rest.last(), Some(Err(BackendError::Stream(_)))), "{rest:?}");
    admitted.release().await;
}

#[tokio::test]
async fn a_stream_that_cannot_open_uses_the_stream_error_shape_and_releases_the_quota() {
    let f = fixture();
    let plan = f.plan(MODEL, "empty-stream");
    // InvokeModelWithResponseStream declares ModelStreamErrorException; ConverseStream
    // declares only ModelErrorException.
    for declared in [Declared::ModelStreamError, Declared::ModelError] {
        let Err(e) = f.dispatcher.open_chat(origin("empty-stream"), &plan, &hello(), 50, declared).await else {
            panic!("an empty stream opened");
        };
        match (declared, e) {
            (Declared::ModelStreamError, DispatchError::Backend(BackendError::Stream(_))) => {}
            (Declared::ModelError, DispatchError::Model(BackendError::Stream(_))) => {}
            (declared, e) => panic!("{declared:?}: {e:?}"),
        }
    }
    assert_eq!(f.used("empty-stream", MODEL), (0.0, 0.0));
}

#[tokio::test]
async fn embeddings_fail_over_like_everything_else() {
    let f = fixture();
    let id = "emb.amazon.titan-embed-text-v2:0";
    let plan = f.plan(id, "error");
    let request = EmbedRequest { texts: vec!["hello".into()], ..EmbedRequest::default() };
    let done = f.dispatcher.run_embed(origin("error"), &plan, &request, 8).await.unwrap();
    assert_eq!(done.region, "healthy");
    assert_eq!(f.used("error", id), (1.0, f64::from(done.output.input_tokens)));
    // A direct call to a region that times out says so.
    let plan = f.plan("amazon.titan-embed-text-v2:0", "timeout");
    let e = f.dispatcher.run_embed(origin("timeout"), &plan, &request, 8).await.unwrap_err();
    assert!(matches!(e, DispatchError::Model(BackendError::Timeout)), "{e:?}");
}

#[tokio::test]
async fn an_abandoned_unary_call_settles_to_what_it_generated() {
    let f = fixture();
    let plan = f.plan(MODEL, "slow");
    let progress = Progress::default();
    // 50 tokens a second, up to 400 tokens: abandoned after about 300 ms.
    let request = hello();
    let call = f.dispatcher.run_chat(origin("slow"), &plan, &request, 400, &progress);
    assert!(tokio::time::timeout(Duration::from_millis(300), call).await.is_err());
    let (region, usage) = progress.snapshot();
    assert_eq!(region.as_deref(), Some("slow"));
    assert!(usage.output_tokens > 0 && usage.output_tokens < 400, "{usage:?}");
    // The reservation (input + 400) was settled to the tokens seen, not kept whole.
    let seen = f64::from(usage.input_tokens + usage.output_tokens);
    assert_eq!(f.used("slow", MODEL), (1.0, seen));
}
