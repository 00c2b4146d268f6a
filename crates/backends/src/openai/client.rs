//! The HTTP client of one OpenAI-compatible backend: for `http://` backends the plain
//! HTTP/1.1 client of [`super::plain`], for `https://` ones hyper's pooled client
//! (keep-alive, `TCP_NODELAY`, TLS through rustls with the platform's roots, as reqwest
//! had it), with the endpoints' URIs parsed once. reqwest's layers (its URL type, header
//! maps rebuilt per call, the response wrappers and their timeout futures) cost about a
//! fifth of the instructions of a whole Converse call (issue 13).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_platform_verifier::BuilderVerifierExt;

use super::plain::{Failure, PlainBody, Pool};
use crate::BackendError;

pub(super) struct Http {
    transport: Transport,
    /// `Bearer <key>`, built once; marked sensitive so hyper never logs it.
    authorization: Option<HeaderValue>,
    /// Bounds connecting, each wait for bytes, and a whole unary call.
    pub(super) timeout: Duration,
}

type HyperClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// How a backend is reached, chosen by its URL's scheme.
enum Transport {
    /// `http://`: the plain client.
    Plain(Arc<Pool>),
    /// `https://`: hyper's client with rustls (built only for these backends: the
    /// platform verifier reads the system's roots).
    Hyper(Box<HyperClient>),
}

impl Http {
    /// For the backend whose endpoints are on `origin`'s scheme, host and port.
    pub(super) fn new(
        timeout: Duration,
        max_idle: usize,
        api_key: Option<&str>,
        origin: &Uri,
    ) -> Result<Self, BackendError> {
        let config = |e: String| BackendError::Config(format!("cannot build the HTTP client: {e}"));
        let transport = match Pool::for_uri(origin, max_idle, timeout) {
            Some(pool) => Transport::Plain(pool),
            None => Transport::Hyper(Box::new(hyper_client(timeout, max_idle)?)),
        };
        let authorization = match api_key {
            Some(key) => {
                let mut v = HeaderValue::try_from(format!("Bearer {key}"))
                    .map_err(|_| config("the API key is not a valid header value".into()))?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        Ok(Self { transport, authorization, timeout })
    }

    /// POSTs a JSON `body`; the response once its status says success. Callers bound it
    /// with the timeout (the head only for streams, head and body for unary calls).
    pub(super) async fn post(&self, uri: &Uri, body: Vec<u8>) -> Result<Response<Reply>, BackendError> {
        let reply = match &self.transport {
            Transport::Plain(pool) => {
                pool.post(uri, self.authorization.as_ref(), &body).await.map_err(plain_error)?.map(Reply::Plain)
            }
            Transport::Hyper(client) => self.post_hyper(client, uri, body).await?.map(Reply::Hyper),
        };
        let status = reply.status();
        if status.is_success() {
            return Ok(reply);
        }
        let text = match read_body(reply.into_body()).await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => String::new(),
        };
        Err(super::status_error(status.as_u16(), &text))
    }

    async fn post_hyper(
        &self,
        client: &HyperClient,
        uri: &Uri,
        body: Vec<u8>,
    ) -> Result<Response<Incoming>, BackendError> {
        let mut req = Request::new(Full::new(Bytes::from(body)));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = uri.clone();
        let headers = req.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(auth) = &self.authorization {
            headers.insert(header::AUTHORIZATION, auth.clone());
        }
        client.request(req).await.map_err(send_error)
    }
}

/// hyper's pooled client for `https://` backends (keep-alive, `TCP_NODELAY`, rustls with
/// the platform's roots).
fn hyper_client(timeout: Duration, max_idle: usize) -> Result<HyperClient, BackendError> {
    let config = |e: String| BackendError::Config(format!("cannot build the HTTP client: {e}"));
    let mut tcp = HttpConnector::new();
    tcp.set_connect_timeout(Some(timeout));
    // Requests are small and latency-bound; Nagle only delays them.
    tcp.set_nodelay(true);
    tcp.enforce_http(false);
    // The provider named explicitly: more than one is compiled into the binary.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_platform_verifier())
        .map_err(|e| config(e.to_string()))?
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
    Ok(Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(max_idle)
        .pool_timer(TokioTimer::new())
        .build(connector))
}

/// A backend's response body, from whichever client fetched it.
pub(super) enum Reply {
    Hyper(Incoming),
    Plain(PlainBody),
}

impl Body for Reply {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Reply::Hyper(body) => Pin::new(body).poll_frame(cx).map_err(io::Error::other),
            Reply::Plain(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Reply::Hyper(body) => body.is_end_stream(),
            Reply::Plain(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Reply::Hyper(body) => body.size_hint(),
            Reply::Plain(body) => body.size_hint(),
        }
    }
}

/// The whole body of a response.
pub(super) async fn read_body(body: Reply) -> Result<Bytes, BackendError> {
    match body.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => Err(BackendError::Unavailable(format!("reading the backend's answer failed: {e}"))),
    }
}

/// `work` within `limit`, or [`BackendError::Timeout`].
pub(super) async fn within<T>(
    limit: Duration,
    work: impl std::future::Future<Output = Result<T, BackendError>>,
) -> Result<T, BackendError> {
    tokio::time::timeout(limit, work).await.unwrap_or(Err(BackendError::Timeout))
}

fn plain_error(failure: Failure) -> BackendError {
    let Failure { connecting, error } = failure;
    if connecting {
        BackendError::Unavailable(format!("cannot connect to the backend: {error}"))
    } else {
        BackendError::Unavailable(format!("request to the backend failed: {error}"))
    }
}

fn send_error(e: hyper_util::client::legacy::Error) -> BackendError {
    // The source chain says what failed (refused, reset, TLS); the top level only "client error".
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        detail = format!("{detail}: {s}");
        source = s.source();
    }
    if e.is_connect() {
        BackendError::Unavailable(format!("cannot connect to the backend: {detail}"))
    } else {
        BackendError::Unavailable(format!("request to the backend failed: {detail}"))
    }
}
