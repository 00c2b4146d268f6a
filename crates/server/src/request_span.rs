//! The `request` span: every log line written while a request is handled carries its ID,
//! method and path, and for runtime calls the operation and model ID.
//!
//! The span is entered for the handler (`Instrument`) and again each time the response
//! body is polled or dropped, because an event-stream body outlives the handler: its
//! frames are produced, its failures logged and its abandonment recorded while hyper
//! polls it.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, HttpBody};
use axum::response::Response;
use futures::Stream;
use tracing::Span;

/// The span of one request. It is an ERROR-level span so that it is enabled whenever any
/// event is: a span below the subscriber's level would be dropped, and the warnings of a
/// server run at `RUST_LOG=warn` would lose their request ID.
pub fn span(request_id: &str, method: &axum::http::Method, path: &str) -> Span {
    // All fields at creation: the fmt layer formats a span's fields when it is created
    // and again on every `record`, so recording two of them afterwards doubled that work
    // on every request (issue 13).
    match runtime_call(path) {
        Some((operation, model)) => tracing::error_span!(
            "request",
            request_id = %request_id,
            %method,
            path = %path,
            operation,
            model = &*model,
        ),
        None => tracing::error_span!(
            "request",
            request_id = %request_id,
            %method,
            path = %path,
            operation = tracing::field::Empty,
            model = tracing::field::Empty,
        ),
    }
}

/// The operation and the (percent-decoded) model ID of a bedrock-runtime path
/// `/model/{modelId}/{action}`; `None` for every other path.
pub fn runtime_call(path: &str) -> Option<(&'static str, std::borrow::Cow<'_, str>)> {
    let rest = path.strip_prefix("/model/")?;
    let (model, action) = rest.rsplit_once('/')?;
    let operation = crate::runtime::path::Action::from_segment(action)?.operation();
    Some((operation, crate::runtime::path::decode_lossy(model)))
}

/// `response` whose body, if it is streamed (no known length), is polled and dropped
/// inside `span`. Bodies of known length are left as they are, so they keep their
/// `Content-Length`.
pub fn instrument_body(response: Response, span: Span) -> Response {
    if response.body().size_hint().exact().is_some() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let inner = Some(body.into_data_stream());
    Response::from_parts(parts, Body::from_stream(InSpan { inner, span }))
}

/// A stream polled (and dropped) inside a span.
struct InSpan<S> {
    /// `Option` so that `Drop` can drop it while the span is entered.
    inner: Option<S>,
    span: Span,
}

impl<S: Stream + Unpin> Stream for InSpan<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = &mut *self;
        let _entered = this.span.enter();
        match this.inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_next(cx),
            None => Poll::Ready(None),
        }
    }
}

impl<S> Drop for InSpan<S> {
    fn drop(&mut self) {
        let _entered = self.span.enter();
        drop(self.inner.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_paths_name_operation_and_decoded_model() {
        let (op, model) = runtime_call("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream").unwrap();
        assert_eq!(op, "ConverseStream");
        assert_eq!(model, "anthropic.claude-3-haiku-20240307-v1:0");
        let arn = "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.m/invoke";
        assert_eq!(
            runtime_call(arn).unwrap(),
            ("InvokeModel", "arn:aws:bedrock:us-east-1:1:inference-profile/us.m".into())
        );
        assert!(runtime_call("/foundation-models").is_none());
        assert!(runtime_call("/model/m/unknown").is_none());
    }
}
