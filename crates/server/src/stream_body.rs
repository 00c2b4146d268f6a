//! Event-stream response bodies. Once the first frame is out the status is 200 for good,
//! so a failure after that point becomes an exception frame and the body ends.

use std::convert::Infallible;

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use spillway_backends::EventStream;
use spillway_wire::eventstream::{exception_frame, CONTENT_TYPE};
use spillway_wire::stream::ModelEvent;
use spillway_wire::BedrockError;

const REGION: HeaderName = HeaderName::from_static("x-spillway-inference-region");

/// The events a stream already produced, then the rest of it.
pub fn chain(head: Vec<ModelEvent>, rest: EventStream) -> EventStream {
    Box::pin(futures::stream::iter(head.into_iter().map(Ok)).chain(rest))
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
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(v) = HeaderValue::from_str(region) {
        headers.insert(REGION, v);
    }
    for (name, value) in extra {
        if let Ok(v) = HeaderValue::from_str(value) {
            // A `&str` name is parsed, and a custom one copied, on every insert; these
            // are lower-case literals.
            headers.insert(HeaderName::from_static(name), v);
        }
    }
    response
}
