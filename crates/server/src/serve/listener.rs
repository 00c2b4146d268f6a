//! The accept loop and one task per connection, on hyper-util's connection builder.
//!
//! Limits, all before any authentication:
//! - at most `max_connections` at once; one more is answered 503 and closed (plain HTTP;
//!   over TLS it is closed, a handshake being the very work the limit saves);
//! - the TLS handshake and the first request head within `header_timeout` of the
//!   accept; later heads (and idle keep-alive waits) within `header_timeout` too, which
//!   hyper's HTTP/1 timer enforces; HTTP/2 peers are pinged and dropped when silent;
//! - every request body within `body_timeout` ([`super::request`]).
//!
//! Shutdown ([`super::shutdown`]) drains connections (idle ones close at once, busy
//! ones after their current call) and, past the deadline, force-closes the rest.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use spillway_catalog::ServerSettings;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::protocol::{sniff, Builders, Protocol};
use super::request::Requests;

/// The open connections and the two steps that end them.
#[derive(Debug, Default)]
pub struct Connections {
    pub tasks: TaskTracker,
    /// Stop reading new requests: idle connections close now, busy ones after the call.
    pub drain: CancellationToken,
    /// Close whatever is left, mid-call or not.
    pub force: CancellationToken,
}

/// Over-limit connections being answered at once; more are just closed.
const MAX_REFUSING: usize = 64;
/// How long an over-limit connection may take to get its 503.
const REFUSE_WITHIN: Duration = Duration::from_secs(1);

pub struct Server {
    requests: Arc<Requests>,
    builders: Builders,
    header_timeout: Duration,
    tls: Option<TlsAcceptor>,
    max_connections: usize,
    permits: Arc<Semaphore>,
    refusing: Arc<Semaphore>,
    refused: AtomicU64,
    pub connections: Connections,
}

impl Server {
    pub fn new(requests: Requests, settings: &ServerSettings, tls: Option<TlsAcceptor>) -> Arc<Self> {
        Arc::new(Self {
            requests: Arc::new(requests),
            builders: Builders::new(settings.header_timeout),
            header_timeout: settings.header_timeout,
            tls,
            max_connections: settings.max_connections,
            permits: Arc::new(Semaphore::new(settings.max_connections)),
            refusing: Arc::new(Semaphore::new(MAX_REFUSING)),
            refused: AtomicU64::new(0),
            connections: Connections::default(),
        })
    }

    pub fn requests(&self) -> &Requests {
        &self.requests
    }

    /// Accepts until the future is dropped (which closes the listening socket).
    pub async fn accept_loop(self: &Arc<Self>, listener: TcpListener) -> Infallible {
        loop {
            let tcp = match listener.accept().await {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors, most likely: wait for some to close
                    // rather than spin on an error that repeats.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // An event stream is many small writes, and with Nagle each one after the
            // first waits for the client's delayed ACK (40 ms a frame on Linux).
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY not set");
            }
            match Arc::clone(&self.permits).try_acquire_owned() {
                Ok(permit) => {
                    self.connections.tasks.spawn(Arc::clone(self).connection(tcp, permit));
                }
                Err(_) => self.refuse(tcp),
            }
        }
    }

    fn refuse(&self, tcp: TcpStream) {
        let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        if n == 1 || n.is_multiple_of(1000) {
            tracing::warn!(
                max_connections = self.max_connections,
                refused_so_far = n,
                "connection refused: the server is at its connection limit (max_connections)"
            );
        }
        let Ok(permit) = Arc::clone(&self.refusing).try_acquire_owned() else { return };
        if self.tls.is_none() {
            self.connections.tasks.spawn(async move {
                let _permit = permit;
                let _ = tokio::time::timeout(REFUSE_WITHIN, answer_503(tcp)).await;
            });
        }
    }

    async fn connection(self: Arc<Self>, tcp: TcpStream, permit: OwnedSemaphorePermit) {
        let _permit = permit;
        let first_request_by = Instant::now() + self.header_timeout;
        let Some(acceptor) = &self.tls else {
            let sniffed = tokio::select! {
                sniffed = tokio::time::timeout_at(first_request_by, sniff(&tcp)) => sniffed,
                () = self.connections.drain.cancelled() => return,
            };
            let protocol = match sniffed {
                Ok(Ok(Some(protocol))) => protocol,
                Ok(Ok(None)) => return,
                Ok(Err(e)) => return tracing::debug!(error = %e, "reading the first bytes failed"),
                Err(_) => return tracing::debug!("no request within the header timeout; connection closed"),
            };
            return self.serve(tcp, protocol, first_request_by).await;
        };
        // Boxed: the handshake's and the TLS connection's state would otherwise be part of
        // every plain connection's task too (issue 13: memory per open stream).
        Box::pin(self.serve_tls(acceptor, tcp, first_request_by)).await;
    }

    async fn serve_tls(&self, acceptor: &TlsAcceptor, tcp: TcpStream, first_request_by: Instant) {
        let handshake = tokio::time::timeout_at(first_request_by, acceptor.accept(tcp));
        let stream = tokio::select! {
            stream = handshake => stream,
            () = self.connections.drain.cancelled() => return,
        };
        match stream {
            Ok(Ok(stream)) => {
                let protocol = Protocol::from_alpn(stream.get_ref().1.alpn_protocol());
                self.serve(stream, protocol, first_request_by).await;
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!("TLS handshake not done within the header timeout; connection closed"),
        }
    }

    async fn serve<I>(&self, io: I, protocol: Protocol, first_request_by: Instant)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // hyper-util reads the first bytes to tell HTTP/1 from HTTP/2 with no timeout of
        // its own: a client that sends nothing would stay forever without this.
        let seen = Arc::new(AtomicBool::new(false));
        let (requests, flag) = (Arc::clone(&self.requests), Arc::clone(&seen));
        let service = hyper::service::service_fn(move |req| {
            flag.store(true, Ordering::Relaxed);
            let requests = Arc::clone(&requests);
            async move { Ok::<_, Infallible>(requests.handle(req).await) }
        });
        let conn = self.builders.get(protocol).serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let first = tokio::time::sleep_until(first_request_by);
        tokio::pin!(first);
        let (mut waiting_first, mut draining) = (true, false);
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    return;
                }
                () = &mut first, if waiting_first => {
                    waiting_first = false;
                    if !seen.load(Ordering::Relaxed) {
                        tracing::debug!("no request within the header timeout; connection closed");
                        return;
                    }
                }
                () = self.connections.drain.cancelled(), if !draining => {
                    // hyper counts a new connection busy until its first request ends,
                    // so one that sent half a head would wait for the header timeout.
                    if !seen.load(Ordering::Relaxed) {
                        return;
                    }
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
                () = self.connections.force.cancelled() => return,
            }
        }
    }
}

/// A Bedrock-shaped 503 written before reading the request; the request is then read and
/// dropped, because closing a socket with unread data resets the connection, which can
/// destroy the answer before the client reads it.
async fn answer_503(mut tcp: TcpStream) -> std::io::Result<()> {
    let body = serde_json::json!({
        "message": "Too many open connections: the server is at its connection limit. Retry the request."
    })
    .to_string();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nx-amzn-errortype: ServiceUnavailableException\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await?;
    tcp.write_all(body.as_bytes()).await?;
    tcp.shutdown().await?;
    let mut sink = [0u8; 4096];
    while tcp.read(&mut sink).await? > 0 {}
    Ok(())
}
