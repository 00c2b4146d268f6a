//! Around the router, per request: the whole body must arrive within the body timeout
//! (hyper bounds only the head), and once the shutdown deadline has passed a call still
//! running is answered 503 instead of being cut off without a word.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use spillway_wire::{BedrockError, ErrorCode};
use tokio::time::{Instant, Sleep};

use super::Lifecycle;
use crate::app::App;
use crate::error::ApiError;

/// What every request of a server shares.
pub struct Requests {
    pub app: App,
    pub body_timeout: Duration,
    pub lifecycle: Lifecycle,
}

/// What ends a stream or a call cut off by shutdown.
pub fn shutting_down_error() -> BedrockError {
    BedrockError::new(
        ErrorCode::ServiceUnavailable,
        "The server is shutting down and its shutdown deadline has passed before this call finished. Retry the request.",
    )
}

impl Requests {
    pub async fn handle(&self, req: Request<Incoming>) -> Response {
        let timed_out = Arc::new(AtomicBool::new(false));
        let deadline = Instant::now() + self.body_timeout;
        let req = req.map(|body| Body::new(DeadlineBody::new(body, deadline, Arc::clone(&timed_out))));
        let response = tokio::select! {
            biased;
            // Boxed: hyper keeps room for one in-flight request future in every
            // connection for the connection's life, so a large future here costs every
            // idle keep-alive connection and every open stream (2.3 KiB unboxed).
            response = Box::pin(self.app.handle(req)) => response,
            () = self.lifecycle.streams_ended() => closing(ApiError::from(shutting_down_error()).into_response()),
        };
        if timed_out.load(Ordering::Relaxed) {
            return self.body_too_slow(&response);
        }
        response
    }

    /// 408 `RequestTimeoutException`: the name AWS front ends use for it, which the SDKs'
    /// standard retry mode treats as transient. The handler's own answer (a body it could
    /// not read) is replaced; its request ID is kept.
    fn body_too_slow(&self, inner: &Response) -> Response {
        let message =
            format!("The request body did not arrive within {:?} (the server's body timeout).", self.body_timeout);
        tracing::info!(timeout = ?self.body_timeout, "request body too slow; connection closed");
        let mut response =
            (StatusCode::REQUEST_TIMEOUT, serde_json::json!({ "message": message }).to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("x-amzn-errortype", HeaderValue::from_static("RequestTimeoutException"));
        if let Some(id) = inner.headers().get("x-amzn-requestid") {
            headers.insert("x-amzn-requestid", id.clone());
        }
        closing(response)
    }
}

/// The rest of the connection is not worth reading: ask the client to close it.
fn closing(mut response: Response) -> Response {
    response.headers_mut().insert("connection", HeaderValue::from_static("close"));
    response
}

/// A request body that fails once `deadline` passes before its end.
struct DeadlineBody<B> {
    inner: B,
    deadline: Instant,
    /// Armed at the first wait: bodies that come with their head never need a timer.
    timer: Option<Pin<Box<Sleep>>>,
    timed_out: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within the body timeout")]
struct BodyTimeout;

impl<B> DeadlineBody<B> {
    fn new(inner: B, deadline: Instant, timed_out: Arc<AtomicBool>) -> Self {
        Self { inner, deadline, timer: None, timed_out }
    }
}

impl<B> http_body::Body for DeadlineBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.as_mut().poll(cx).is_ready() {
            this.timed_out.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(BodyTimeout.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn body_of(chunks: Vec<&'static str>, then_stall: bool) -> Body {
        let head = futures::stream::iter(chunks.into_iter().map(|c| Ok::<_, std::io::Error>(Bytes::from(c))));
        if then_stall {
            Body::from_stream(head.chain(futures::stream::pending()))
        } else {
            Body::from_stream(head)
        }
    }

    #[tokio::test]
    async fn a_body_that_stalls_fails_at_the_deadline() {
        let flag = Arc::new(AtomicBool::new(false));
        let deadline = Instant::now() + Duration::from_millis(20);
        let body = Body::new(DeadlineBody::new(body_of(vec!["{\"mess"], true), deadline, Arc::clone(&flag)));
        let err = axum::body::to_bytes(body, 1024).await.unwrap_err();
        assert!(format!("{err:#}").contains("body timeout"), "{err:#}");
        assert!(flag.load(Ordering::Relaxed));
    }

    #[tokio::test]
    async fn a_body_that_ends_is_passed_through() {
        let flag = Arc::new(AtomicBool::new(false));
        // Even a deadline already past: a body that does not wait never arms the timer.
        let body = Body::new(DeadlineBody::new(body_of(vec!["ab", "cd"], false), Instant::now(), Arc::clone(&flag)));
        assert_eq!(axum::body::to_bytes(body, 1024).await.unwrap(), "abcd");
        assert!(!flag.load(Ordering::Relaxed));
    }
}
