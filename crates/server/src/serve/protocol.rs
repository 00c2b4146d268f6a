//! Which HTTP a new connection speaks, decided before hyper reads from it where that can
//! be known (ALPN over TLS, the first bytes peeked on plain TCP).

use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;

/// HTTP/2 peers that do not answer a ping within this are dropped.
const H2_PING: Duration = Duration::from_secs(20);

/// What a connection speaks, when it is known before its first request is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Protocol {
    Http1,
    Http2,
    /// hyper-util reads the first bytes itself.
    Unknown,
}

impl Protocol {
    /// From the protocol a TLS handshake agreed on (none: the client did not say).
    pub(super) fn from_alpn(alpn: Option<&[u8]>) -> Self {
        match alpn {
            Some(b"h2") => Self::Http2,
            Some(b"http/1.1") => Self::Http1,
            _ => Self::Unknown,
        }
    }
}

/// One connection builder per [`Protocol`], configured alike.
///
/// Why not hyper-util's sniffing builder for everything: it reads the first 24 bytes on
/// their own and replays them, so hyper's first read of a request returns those 24 bytes,
/// and its read buffer (8 KiB) then grows to 16 KiB to make room for the next read. That
/// extra 8 KiB stays with the connection, i.e. with every open stream (issue 13). A
/// protocol known in advance (ALPN, or the peeked bytes) skips the replay.
pub(super) struct Builders {
    http1: auto::Builder<TokioExecutor>,
    http2: auto::Builder<TokioExecutor>,
    either: auto::Builder<TokioExecutor>,
}

impl Builders {
    pub(super) fn new(header_timeout: Duration) -> Self {
        let mut either = auto::Builder::new(TokioExecutor::new());
        either.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
        either.http2().timer(TokioTimer::new()).keep_alive_interval(H2_PING).keep_alive_timeout(H2_PING);
        Self { http1: either.clone().http1_only(), http2: either.clone().http2_only(), either }
    }

    pub(super) fn get(&self, protocol: Protocol) -> &auto::Builder<TokioExecutor> {
        match protocol {
            Protocol::Http1 => &self.http1,
            Protocol::Http2 => &self.http2,
            Protocol::Unknown => &self.either,
        }
    }
}

/// The HTTP/2 connection preface (RFC 9113, section 3.4), which an HTTP/1 request never
/// starts with.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A plain connection's protocol from its first bytes, peeked (left in the socket for
/// hyper to read); `None` if the peer closed without sending any. Bytes that are a strict
/// prefix of the preface (an HTTP/1 `P…` request cut short, or a preface split) leave the
/// question to hyper-util: peeking again would see the same bytes at once, not wait.
pub(super) async fn sniff(tcp: &TcpStream) -> std::io::Result<Option<Protocol>> {
    let mut first = [0u8; H2_PREFACE.len()];
    let n = tcp.peek(&mut first).await?;
    Ok(match &first[..n] {
        [] => None,
        seen if seen == H2_PREFACE => Some(Protocol::Http2),
        seen if H2_PREFACE.starts_with(seen) => Some(Protocol::Unknown),
        _ => Some(Protocol::Http1),
    })
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt as _;
    use tokio::net::TcpListener;

    use super::*;

    /// The protocol sniffed from a client that sends `bytes` (then closes), and whether the
    /// bytes are all still there to read afterwards.
    async fn sniffed(bytes: &'static [u8]) -> (Option<Protocol>, bool) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            tcp.write_all(bytes).await.unwrap();
            tcp.shutdown().await.unwrap();
            tcp
        });
        let (tcp, _) = listener.accept().await.unwrap();
        let _client = client.await.unwrap();
        let protocol = sniff(&tcp).await.unwrap();
        let mut left = vec![0u8; bytes.len() + 1];
        let n = tcp.peek(&mut left).await.unwrap();
        (protocol, &left[..n] == bytes)
    }

    #[tokio::test]
    async fn http1_request_is_http1_and_stays_unread() {
        let (p, kept) = sniffed(b"POST /model/m/converse HTTP/1.1\r\nhost: x\r\n\r\n").await;
        assert_eq!(p, Some(Protocol::Http1));
        assert!(kept);
    }

    #[tokio::test]
    async fn preface_is_http2() {
        let (p, kept) = sniffed(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04").await;
        assert_eq!(p, Some(Protocol::Http2));
        assert!(kept);
    }

    #[tokio::test]
    async fn a_prefix_of_the_preface_is_left_to_hyper() {
        assert_eq!(sniffed(b"PRI * HT").await.0, Some(Protocol::Unknown));
        assert_eq!(sniffed(b"P").await.0, Some(Protocol::Unknown));
    }

    #[test]
    fn alpn_decides_over_tls() {
        assert_eq!(Protocol::from_alpn(Some(b"h2")), Protocol::Http2);
        assert_eq!(Protocol::from_alpn(Some(b"http/1.1")), Protocol::Http1);
        assert_eq!(Protocol::from_alpn(None), Protocol::Unknown);
    }

    #[tokio::test]
    async fn nothing_sent_is_none() {
        assert_eq!(sniffed(b"").await.0, None);
    }
}
