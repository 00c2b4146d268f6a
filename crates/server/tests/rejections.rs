//! In-process tests of the answers axum would give on its own (wrong method, oversized
//! bodies) and of the request span: every log line of a request carries its ID, also
//! the lines written while an event-stream body is polled after the handler returned.

// Integration-test helpers are not `#[test]` functions, so clippy's in-test allowance
// does not reach them; a failing unwrap here is a failing test.
#![allow(clippy::unwrap_used)]
use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body};
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::{json, Value};
use spillway_server::{build_app, App, AppState};
use tower::ServiceExt;

const FAULTS: &str = include_str!("../../../tests/e2e/configs/faults.toml");
const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1%3A0";

async fn router() -> App {
    let catalog = spillway_catalog::from_toml(FAULTS).unwrap();
    let dir = tempfile::tempdir().unwrap().keep();
    let (state, _shutdown) = AppState::new(Arc::new(catalog), &dir, None).await.unwrap();
    build_app(state)
}

async fn call(req: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let resp = router().await.oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    (parts.status, parts.headers, to_bytes(body, usize::MAX).await.unwrap().to_vec())
}

fn converse(region: &str, action: &str) -> Request<Body> {
    let body = json!({"messages": [{"role": "user", "content": [{"text": "Hello"}]}]});
    Request::post(format!("/model/{HAIKU}/{action}"))
        .header("authorization", format!("AWS4-HMAC-SHA256 Credential=AK/20260101/{region}/bedrock/aws4_request"))
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// The answer is a Bedrock error: the shape in the header and the body, and a message.
fn assert_shaped(status: StatusCode, headers: &HeaderMap, body: &[u8], want: (u16, &str)) -> String {
    assert_eq!(status.as_u16(), want.0);
    assert_eq!(headers["x-amzn-errortype"], want.1);
    assert_eq!(headers["content-type"], "application/json");
    assert!(headers.contains_key("x-amzn-requestid"));
    let v: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["__type"], want.1);
    v["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn wrong_method_is_an_unknown_operation_naming_the_method() {
    let req = Request::get(format!("/model/{HAIKU}/converse")).body(Body::empty()).unwrap();
    let (status, headers, body) = call(req).await;
    let message = assert_shaped(status, &headers, &body, (404, "UnknownOperationException"));
    assert!(message.starts_with("No operation matches GET /model/"), "{message}");
    assert!(message.ends_with("the path exists, but not for GET."), "{message}");
}

#[tokio::test]
async fn declared_oversized_body_is_refused_before_reading() {
    let req = Request::post(format!("/model/{HAIKU}/invoke"))
        .header("content-length", "30000000")
        .body(Body::from("{}"))
        .unwrap();
    let (status, headers, body) = call(req).await;
    let message = assert_shaped(status, &headers, &body, (400, "ValidationException"));
    assert!(message.contains("30000000 bytes") && message.contains("limit of 25000000 bytes"), "{message}");
}

#[tokio::test]
async fn streamed_oversized_body_is_a_validation_error() {
    // No Content-Length: the limit is met while the body is read.
    let chunk = axum::body::Bytes::from(vec![b' '; 1 << 20]);
    let chunks = (0..25).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
    let req =
        Request::post(format!("/model/{HAIKU}/invoke")).body(Body::from_stream(futures::stream::iter(chunks))).unwrap();
    let (status, headers, body) = call(req).await;
    let message = assert_shaped(status, &headers, &body, (400, "ValidationException"));
    assert!(message.contains("exceeds the limit of 25000000 bytes"), "{message}");
}

/// Log lines written while `req` is handled and its body read, at WARN and above.
async fn logs_of(req: Request<Body>) -> (String, String) {
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .finish();
    // The test runtime has one thread: every task of the request runs under this default.
    let _guard = tracing::subscriber::set_default(subscriber);
    // Under `cargo test` the other tests' threads run without a subscriber and cache
    // "never" for shared callsites; recompute it now that this thread has one (nextest,
    // a process per test, never sees that race).
    tracing::callsite::rebuild_interest_cache();
    let (_, headers, _) = call(req).await;
    let id = headers["x-amzn-requestid"].to_str().unwrap().to_owned();
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    (id, logs)
}

#[tokio::test]
async fn handler_log_lines_carry_the_request_span() {
    // eu-west-1's backend fails every call: the 5xx answer is logged as a warning.
    let (id, logs) = logs_of(converse("eu-west-1", "converse")).await;
    let line = logs.lines().find(|l| l.contains("request failed")).unwrap_or_else(|| panic!("no warning in {logs}"));
    assert!(line.contains(&format!("request_id={id}")), "{line}");
    assert!(line.contains("operation=\"Converse\""), "{line}");
    assert!(line.contains("model=\"anthropic.claude-3-haiku-20240307-v1:0\""), "{line}");
}

#[tokio::test]
async fn stream_body_log_lines_carry_the_request_span() {
    // eu-central-1's backend breaks after three tokens: the failure is logged while the
    // body is read, after the handler returned.
    let (id, logs) = logs_of(converse("eu-central-1", "converse-stream")).await;
    let line = logs
        .lines()
        .find(|l| l.contains("stream failed after it started"))
        .unwrap_or_else(|| panic!("no warning in {logs}"));
    assert!(line.contains(&format!("request_id={id}")), "{line}");
    assert!(line.contains("operation=\"ConverseStream\""), "{line}");
}
