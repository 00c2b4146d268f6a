//! In-process tests: the whole router, no socket. Requests are built as the SDKs send them
//! (percent-encoded model IDs, SigV4 credential scopes).

// Integration-test helpers are not `#[test]` functions, so clippy's in-test allowance
// does not reach them; a failing unwrap here is a failing test.
#![allow(clippy::unwrap_used)]
use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use spillway_server::{build_app, App, AppState};
use tower::ServiceExt;

async fn router() -> App {
    let catalog = spillway_catalog::builtin().unwrap().with_sim_backends();
    // The data directory outlives the test process's interest in it; the OS cleans /tmp.
    let dir = tempfile::tempdir().unwrap().keep();
    let (state, _shutdown) = AppState::new(Arc::new(catalog), &dir, None).await.unwrap();
    build_app(state)
}

fn signed(region: &str) -> String {
    format!("AWS4-HMAC-SHA256 Credential=AKID/20260101/{region}/bedrock/aws4_request, SignedHeaders=host, Signature=00")
}

async fn post(path: &str, region: &str, body: Value) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let req = Request::post(path)
        .header("authorization", signed(region))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = router().await.oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    (parts.status, parts.headers, to_bytes(body, usize::MAX).await.unwrap().to_vec())
}

fn hello() -> Value {
    json!({"messages": [{"role": "user", "content": [{"text": "Hello"}]}]})
}

#[tokio::test]
async fn converse_answers_with_request_id_and_region() {
    let (status, headers, body) =
        post("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", "us-west-2", hello()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-spillway-inference-region"], "us-west-2");
    assert_eq!(headers["x-amzn-requestid"].len(), 36);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["output"]["message"]["role"], "assistant");
    assert_eq!(v["stopReason"], "end_turn");
}

#[tokio::test]
async fn encoded_profile_arn_routes_to_the_profile() {
    let path = "/model/arn%3Aaws%3Abedrock%3Aeu-west-3%3A123456789012%3Ainference-profile%2Feu.anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse";
    let (status, headers, _) = post(path, "eu-west-3", hello()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-spillway-inference-region"], "eu-central-1");
}

#[tokio::test]
async fn errors_carry_shape_status_and_request_id() {
    let (status, headers, body) =
        post("/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse", "eu-west-3", hello()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["x-amzn-errortype"], "ValidationException");
    assert!(headers.contains_key("x-amzn-requestid"));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["message"], "The provided model doesn't support on-demand throughput.");
}

#[tokio::test]
async fn stream_is_an_event_stream() {
    let (status, headers, body) =
        post("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream", "us-east-1", hello()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/vnd.amazon.eventstream");
    // The first frame is messageStart: total length, then the header block.
    let total = u32::from_be_bytes(body[0..4].try_into().unwrap()) as usize;
    assert!(body.len() > total);
    assert!(body[..total].windows(12).any(|w| w == b"messageStart"));
}

#[tokio::test]
async fn unknown_route_is_unknown_operation() {
    let (status, headers, _) = post("/models", "us-east-1", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["x-amzn-errortype"], "UnknownOperationException");
}
