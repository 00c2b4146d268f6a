//! Where a request goes after the request ID and authentication: a model call (a POST on
//! a bedrock-runtime path, [`runtime::path`]) straight to its handler, everything else
//! through the route table. The handlers are the route table's own, called the way its
//! routes call them (`Handler::call` with the state), so a model call meets the same
//! extractors, rejections and answers either way; what it skips is the table's lookup and
//! path-label bookkeeping (issue 13).

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::handler::Handler;
use axum::http::Method;
use axum::response::Response;
use axum::routing::future::RouteFuture;
use axum::Router;
use futures::future::{Either, Map};
use futures::FutureExt;
use tower::Service;

use crate::app::AppState;
use crate::runtime::{self, path::Action};

/// A handler's future, as axum boxes it.
type HandlerFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;
type Answered = fn(Response) -> Result<Response, Infallible>;

/// Cloned for every request (the body limit's service wraps it): one shared pointer.
#[derive(Clone)]
pub struct Lanes(Arc<Inner>);

struct Inner {
    routes: Router,
    state: AppState,
}

impl Lanes {
    pub fn new(routes: Router, state: AppState) -> Self {
        Self(Arc::new(Inner { routes, state }))
    }

    fn model_call(&self, action: Action, req: Request) -> HandlerFuture {
        let state = self.0.state.clone();
        match action {
            Action::Converse => Handler::call(runtime::converse::converse, req, state),
            Action::ConverseStream => Handler::call(runtime::converse::converse_stream, req, state),
            Action::Invoke => Handler::call(runtime::invoke::invoke, req, state),
            Action::InvokeStream => Handler::call(runtime::invoke::invoke_stream, req, state),
            Action::CountTokens => Handler::call(runtime::count_tokens::count_tokens, req, state),
        }
    }
}

impl Service<Request> for Lanes {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Map<HandlerFuture, Answered>, RouteFuture<Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let action = (req.method() == Method::POST).then(|| runtime::path::parse(req.uri().path())).flatten();
        match action.map(|p| p.action) {
            Some(action) => Either::Left(self.model_call(action, req).map(Ok as Answered)),
            None => Either::Right(self.0.routes.clone().call(req)),
        }
    }
}
