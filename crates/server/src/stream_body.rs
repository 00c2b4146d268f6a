//! Event-stream response bodies. Once the first frame is out the status is 200 for good,
//! so a failure after that point becomes an exception frame and the body ends.

use std::convert::Infallible;

use axum::body::Body;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use spillway_backends::{count_tokens, EventStream};
use spillway_wire::converse::TokenUsage;
use spillway_wire::eventstream::{exception_frame, CONTENT_TYPE};
use spillway_wire::stream::ModelEvent;
use spillway_wire::BedrockError;

/// The events a stream already produced, then the rest of it.
pub fn chain(head: Vec<ModelEvent>, rest: EventStream) -> EventStream {
    Box::pin(futures::stream::iter(head.into_iter().map(Ok)).chain(rest))
}

/// Usage of a stream as it goes: exact once the backend reports it in `Finish`, counted
/// from the deltas before that (what a client that disconnects has consumed).
#[derive(Debug, Default)]
pub struct UsageTracker {
    input: u32,
    output: u32,
    finished: Option<TokenUsage>,
}

impl UsageTracker {
    pub fn see(&mut self, event: &ModelEvent) {
        match event {
            ModelEvent::InputTokens(n) => self.input = *n,
            ModelEvent::Reasoning(t) | ModelEvent::Text(t) | ModelEvent::ToolUseInput(t) => {
                self.output += count_tokens(t)
            }
            ModelEvent::ToolUseStart { .. } => {}
            ModelEvent::Finish(f) => self.finished = Some(f.usage),
        }
    }

    pub fn current(&self) -> TokenUsage {
        self.finished.unwrap_or_else(|| TokenUsage::new(self.input, self.output))
    }
}

/// The frame that ends a stream that failed after it started.
pub fn error_frame(e: &BedrockError) -> Bytes {
    exception_frame(e.stream_member(), &e.stream_payload())
}

/// A streaming response whose body is `frames`.
pub fn response(
    frames: impl Stream<Item = Bytes> + Send + 'static,
    region: &str,
    extra: &[(&'static str, &str)],
) -> Response {
    let body = Body::from_stream(frames.map(Ok::<_, Infallible>));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(v) = HeaderValue::from_str(region) {
        headers.insert("x-spillway-inference-region", v);
    }
    for (name, value) in extra {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(*name, v);
        }
    }
    response
}
