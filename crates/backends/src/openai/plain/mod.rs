//! The HTTP/1.1 client of a plain-HTTP (`http://`) OpenAI-compatible backend: the
//! inference servers a team runs next to the gateway (vLLM, llama.cpp's server, Ollama).
//! `https://` backends keep hyper's pooled client ([`super::client`]).
//!
//! Why not hyper's client here too: each of its connections carries a dispatch channel
//! (a block of 32 request slots, 9 KiB), an 8 KiB write buffer, an 8 KiB read buffer and a
//! task of its own, about 27 KiB in all, and an open stream holds one connection for as
//! long as the model talks: half of what an open ConverseStream cost (issue 13, ≤ 20 KiB
//! per stream). This client keeps a pooled connection as the socket alone, writes each
//! request with one `write`, and reads into one buffer that starts at [`READ_SIZE`]
//! (a head and a short answer, or a stream's first events), grows while reads fill it,
//! and is let go while a stream waits for the backend's next tokens. Parsing is `httparse`'s, hyper's own parser; [`framing`] decides where a
//! body ends.

mod body;
mod framing;

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Buf as _, BytesMut};
use http::{HeaderValue, Response, Uri};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;

pub(super) use body::PlainBody;
use framing::Parsed;

/// The read buffer's first size, and what a read may fill at least.
const READ_SIZE: usize = 4096;
/// The most a read asks for: the buffer doubles while reads fill it, up to this.
const MAX_READ: usize = 64 * 1024;
/// A pooled connection idle for longer is closed rather than reused (hyper's default).
const IDLE_LIMIT: Duration = Duration::from_secs(90);

/// One backend origin's connections.
pub(super) struct Pool {
    /// `host:port`, to connect to.
    address: String,
    /// The `Host` field of every request.
    host: String,
    idle: Mutex<Vec<(TcpStream, Instant)>>,
    max_idle: usize,
    connect_timeout: Duration,
}

/// A failed call, and whether it failed while connecting.
#[derive(Debug)]
pub(super) struct Failure {
    pub connecting: bool,
    pub error: io::Error,
}

impl Pool {
    /// For `uri`'s origin; `None` unless it is an `http://` URI.
    pub(super) fn for_uri(uri: &Uri, max_idle: usize, connect_timeout: Duration) -> Option<Arc<Self>> {
        if uri.scheme_str() != Some("http") {
            return None;
        }
        let authority = uri.authority()?;
        let address = match authority.port_u16() {
            Some(_) => authority.as_str().to_owned(),
            None => format!("{}:80", authority.host()),
        };
        let host = authority.as_str().to_owned();
        Some(Arc::new(Self { address, host, idle: Mutex::new(Vec::new()), max_idle, connect_timeout }))
    }

    /// POSTs `body` (JSON) to `uri`'s path; the response once its head has arrived, its
    /// body read as it is polled.
    ///
    /// A pooled connection is checked before use ([`Pool::checkout`]); one whose write
    /// fails (the server had closed it) is replaced by a new one, once. Once the request
    /// is written it is never sent again: a server that read it and closed without an
    /// answer may have started the generation, and a second one would run it twice (the
    /// caller's failover decides what happens next, as with hyper's client).
    pub(super) async fn post(
        self: &Arc<Self>,
        uri: &Uri,
        authorization: Option<&HeaderValue>,
        body: &[u8],
    ) -> Result<Response<PlainBody>, Failure> {
        let request = self.request(uri, authorization, body);
        let mut pooled = self.checkout();
        let mut conn = loop {
            let reused = pooled.is_some();
            let mut conn = match pooled.take() {
                Some(conn) => conn,
                None => self.connect().await.map_err(|error| Failure { connecting: true, error })?,
            };
            match conn.write_all(&request).await {
                Ok(()) => break conn,
                Err(e) if reused && is_disconnect(&e) => {
                    tracing::debug!(error = %e, "pooled backend connection was closed; reconnecting");
                }
                Err(error) => return Err(Failure { connecting: false, error }),
            }
        };
        let mut buf = BytesMut::with_capacity(READ_SIZE);
        match read_head(&mut conn, &mut buf).await {
            Ok(head) => Ok(body::response(head, conn, buf, Arc::clone(self))),
            Err(error) => Err(Failure { connecting: false, error }),
        }
    }

    /// The request's bytes: head and body in one buffer, for one `write`.
    fn request(&self, uri: &Uri, authorization: Option<&HeaderValue>, body: &[u8]) -> Vec<u8> {
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut out = Vec::with_capacity(160 + path.len() + body.len());
        out.extend_from_slice(b"POST ");
        out.extend_from_slice(path.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        out.extend_from_slice(self.host.as_bytes());
        out.extend_from_slice(b"\r\ncontent-type: application/json\r\n");
        if let Some(auth) = authorization {
            out.extend_from_slice(b"authorization: ");
            out.extend_from_slice(auth.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(body);
        out
    }

    /// The most recently used idle connection that is still open.
    fn checkout(&self) -> Option<TcpStream> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some((tcp, since)) = idle.pop() {
            if since.elapsed() > IDLE_LIMIT {
                continue;
            }
            // An idle connection has nothing to read: a byte or the end of the stream
            // means the server closed it (or broke the protocol), and it is dropped.
            match tcp.try_read(&mut [0u8; 1]) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(tcp),
                _ => continue,
            }
        }
        None
    }

    /// Back to the pool after a body that ended cleanly with nothing after it.
    fn put(&self, tcp: TcpStream) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.max_idle {
            idle.push((tcp, Instant::now()));
        }
    }

    async fn connect(&self) -> io::Result<TcpStream> {
        let connect = TcpStream::connect(self.address.as_str());
        let tcp = tokio::time::timeout(self.connect_timeout, connect).await.map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no connection within {} ms", self.connect_timeout.as_millis()),
            )
        })??;
        // Requests are small and latency-bound; Nagle only delays them.
        tcp.set_nodelay(true)?;
        Ok(tcp)
    }
}

/// The next read's size after one that read `n` bytes of the `asked` it could: doubled
/// while reads come back full, back to [`READ_SIZE`] once one does not.
fn next_read(asked: usize, n: usize) -> usize {
    if n >= asked {
        (asked * 2).min(MAX_READ)
    } else {
        READ_SIZE
    }
}

/// Reads until a final response head is in `buf`; leaves what follows it (the body's
/// first bytes) there.
async fn read_head(conn: &mut TcpStream, buf: &mut BytesMut) -> io::Result<framing::Head> {
    loop {
        match framing::parse_head(buf)? {
            Parsed::Head(head, len) => {
                buf.advance(len);
                return Ok(head);
            }
            Parsed::Interim(len) => {
                buf.advance(len);
                continue;
            }
            Parsed::Partial => {}
        }
        if buf.capacity() - buf.len() < READ_SIZE / 4 {
            // The head so far is kept: room for as much again (64 KiB at most, above).
            buf.reserve(buf.len().max(READ_SIZE));
        }
        if conn.read_buf(buf).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the backend closed the connection before answering",
            ));
        }
    }
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
