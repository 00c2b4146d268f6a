//! A plain-HTTP response's body, read from its connection as it is polled; the
//! connection goes back to the pool when the body has ended cleanly.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use http::Response;
use http_body::{Body, Frame};
use tokio::net::TcpStream;

use super::framing::{Decoder, Head, Step};
use super::{next_read, Pool, READ_SIZE};

pub(in crate::openai) struct PlainBody {
    /// `None` once the body has ended (the connection pooled or closed).
    conn: Option<TcpStream>,
    buf: BytesMut,
    decoder: Decoder,
    keep_alive: bool,
    pool: Arc<Pool>,
    /// How much the next read asks for ([`next_read`]).
    read_size: usize,
}

pub(super) fn response(head: Head, conn: TcpStream, buf: BytesMut, pool: Arc<Pool>) -> Response<PlainBody> {
    let decoder = Decoder::new(head.framing);
    let mut body =
        PlainBody { conn: Some(conn), buf, decoder, keep_alive: head.keep_alive, pool, read_size: READ_SIZE };
    if body.decoder.is_done() {
        body.end();
    }
    let mut response = Response::new(body);
    *response.status_mut() = head.status;
    response
}

impl std::fmt::Debug for PlainBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainBody")
            .field("buffered", &self.buf.len())
            .field("decoder", &self.decoder)
            .finish_non_exhaustive()
    }
}

impl PlainBody {
    /// The body has ended: the connection is reused if the server keeps it open and sent
    /// nothing past this answer.
    fn end(&mut self) {
        if let Some(conn) = self.conn.take() {
            if self.keep_alive && self.buf.is_empty() {
                self.pool.put(conn);
            }
        }
    }

    fn fail(&mut self, e: io::Error) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.conn = None;
        Poll::Ready(Some(Err(e)))
    }
}

/// Reads past the last one a reader needed: [`Drop`] takes at most this many more.
const TAIL_READS: usize = 2;

impl Drop for PlainBody {
    /// A reader may stop at the last event it needs (an SSE stream's `[DONE]`) and leave
    /// the body's end unread: the last chunk, usually already in the buffer. The end is
    /// taken from what has arrived (without waiting), so that the connection is reused;
    /// otherwise every stream would cost a new connection.
    fn drop(&mut self) {
        let mut reads = 0;
        while let Some(conn) = self.conn.as_ref() {
            match self.decoder.step(&mut self.buf) {
                Ok(Step::Data(_)) => {}
                Ok(Step::Done) => return self.end(),
                Ok(Step::NeedMore) if reads < TAIL_READS => {
                    reads += 1;
                    if !matches!(conn.try_read_buf(&mut self.buf), Ok(n) if n > 0) {
                        return;
                    }
                }
                Ok(Step::NeedMore) | Err(_) => return,
            }
        }
    }
}

impl Body for PlainBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        loop {
            match this.decoder.step(&mut this.buf) {
                Ok(Step::Data(data)) => {
                    if this.decoder.is_done() {
                        this.end();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Ok(Step::Done) => {
                    this.end();
                    return Poll::Ready(None);
                }
                Ok(Step::NeedMore) => {}
                Err(e) => return this.fail(e),
            }
            let Some(conn) = this.conn.as_mut() else { return Poll::Ready(None) };
            // The frames handed out share this buffer; once they are dropped, `reserve`
            // reuses its space instead of allocating.
            if this.buf.capacity() - this.buf.len() < this.read_size {
                this.buf.reserve(this.read_size);
            }
            let asked = this.buf.capacity() - this.buf.len();
            match conn.try_read_buf(&mut this.buf) {
                Ok(0) => {
                    this.conn = None;
                    match this.decoder.eof() {
                        Ok(()) => continue,
                        Err(e) => return this.fail(e),
                    }
                }
                Ok(n) => this.read_size = next_read(asked, n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if this.buf.is_empty() {
                        // Nothing buffered while the backend thinks: the buffer goes, and
                        // the next read allocates one. A stream waiting for its next
                        // tokens then holds no read buffer at all (issue 13's memory per
                        // open stream), for one allocation per read.
                        this.buf = BytesMut::new();
                    }
                    if let Err(e) = ready!(conn.poll_read_ready(cx)) {
                        return this.fail(e);
                    }
                }
                Err(e) => return this.fail(e),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.decoder.is_done()
    }
}
