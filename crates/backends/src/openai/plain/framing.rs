//! HTTP/1.1 response framing (RFC 9112): the head, parsed by `httparse` (hyper's own
//! parser), and where the body ends: a content length, the chunked coding, or the
//! connection's close. Pure functions over a buffer, so every split of the bytes can be
//! tested without a socket.

use bytes::{Buf as _, Bytes, BytesMut};
use http::StatusCode;

/// A response head larger than this is refused (hyper's client allowed about 400 KiB;
/// an inference server's heads are a few hundred bytes).
pub(super) const MAX_HEAD: usize = 64 * 1024;
/// Header fields in one response head.
const MAX_HEADERS: usize = 100;
/// A chunk-size line or trailer field longer than this is refused.
const MAX_LINE: usize = 8 * 1024;

/// What went wrong, in words for the backend error that carries it.
pub(super) type Error = std::io::Error;

fn invalid(what: &str) -> Error {
    Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

/// How the body of a response ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    Length(u64),
    Chunked,
    /// Read until the server closes the connection (no length, no chunked coding).
    Close,
}

#[derive(Debug)]
pub(super) struct Head {
    pub status: StatusCode,
    // No header map: the fields are read here for the framing, and nothing downstream
    // reads a backend's headers (building the map cost four allocations an answer).
    pub framing: Framing,
    /// The connection may carry another request once this body has ended.
    pub keep_alive: bool,
}

#[derive(Debug)]
pub(super) enum Parsed {
    /// More bytes are needed.
    Partial,
    /// A 1xx interim response of this many bytes, to be skipped.
    Interim(usize),
    /// The final head and its length in bytes.
    Head(Head, usize),
}

/// Parses the response head at the start of `buf`.
pub(super) fn parse_head(buf: &[u8]) -> Result<Parsed, Error> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut fields);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
            return Err(invalid("the backend's response head is larger than 64 KiB"))
        }
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(e) => return Err(invalid(&format!("the backend's response head is not HTTP/1.1: {e}"))),
    };
    let code = response.code.unwrap_or(0);
    if code == 101 {
        return Err(invalid("the backend switched protocols (101), which a POST never asks for"));
    }
    if (100..200).contains(&code) {
        return Ok(Parsed::Interim(len));
    }
    let status = StatusCode::from_u16(code).map_err(|_| invalid("the backend's status code is out of range"))?;
    let (mut length, mut chunked, mut coded, mut close, mut keep_alive_token) = (None, false, false, false, false);
    for field in response.headers.iter() {
        // httparse has checked the name is a token and the value holds no control bytes.
        let name = field.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = std::str::from_utf8(field.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| invalid("the backend's content-length is not a number"))?;
            if length.is_some_and(|m| m != n) {
                return Err(invalid("the backend sent two different content-lengths"));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Only the last coding says how the message ends (RFC 9112 §6.3).
            coded = true;
            let last = field.value.rsplit(|b| *b == b',').next().unwrap_or_default();
            chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in field.value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    let framing = if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        Framing::Length(0)
    } else if coded {
        // A transfer coding overrides any content-length; one not ending in chunked is
        // delimited by the close.
        if chunked {
            Framing::Chunked
        } else {
            Framing::Close
        }
    } else {
        length.map_or(Framing::Close, Framing::Length)
    };
    let persistent = if response.version == Some(0) { keep_alive_token } else { !close };
    let keep_alive = persistent && framing != Framing::Close;
    Ok(Parsed::Head(Head { status, framing, keep_alive }, len))
}

/// One step of reading a body.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    Data(Bytes),
    NeedMore,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    /// The line break after a chunk's data.
    ChunkEnd,
    /// Trailer fields after the last chunk, up to an empty line.
    Trailers,
    Close,
    Done,
}

/// Takes a body's data out of the read buffer, frame by frame, without copying it.
#[derive(Debug)]
pub(super) struct Decoder {
    state: State,
}

impl Decoder {
    pub(super) fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::ChunkSize,
            Framing::Close => State::Close,
        };
        Self { state }
    }

    pub(super) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The next piece of the body from `buf` (what it uses is removed from `buf`).
    pub(super) fn step(&mut self, buf: &mut BytesMut) -> Result<Step, Error> {
        loop {
            match self.state {
                State::Done => return Ok(Step::Done),
                State::Length(_) | State::ChunkData(_) | State::Close if buf.is_empty() => return Ok(Step::NeedMore),
                State::Close => return Ok(Step::Data(buf.split().freeze())),
                State::Length(n) => {
                    let (data, left) = take(buf, n);
                    self.state = if left == 0 { State::Done } else { State::Length(left) };
                    return Ok(Step::Data(data));
                }
                State::ChunkData(n) => {
                    let (data, left) = take(buf, n);
                    self.state = if left == 0 { State::ChunkEnd } else { State::ChunkData(left) };
                    return Ok(Step::Data(data));
                }
                State::ChunkSize => match httparse::parse_chunk_size(buf) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        buf.advance(used);
                        self.state = if size == 0 { State::Trailers } else { State::ChunkData(size) };
                    }
                    Ok(httparse::Status::Partial) if buf.len() > MAX_LINE => {
                        return Err(invalid("the backend's chunk-size line is too long"))
                    }
                    Ok(httparse::Status::Partial) => return Ok(Step::NeedMore),
                    Err(_) => return Err(invalid("the backend sent an invalid chunk size")),
                },
                State::ChunkEnd => match line_end(buf)? {
                    Some((0, used)) => {
                        buf.advance(used);
                        self.state = State::ChunkSize;
                    }
                    Some(_) => return Err(invalid("the backend's chunk is longer than its size")),
                    None => return Ok(Step::NeedMore),
                },
                State::Trailers => match line_end(buf)? {
                    Some((0, used)) => {
                        buf.advance(used);
                        self.state = State::Done;
                    }
                    // A trailer field: not used, skipped.
                    Some((_, used)) => buf.advance(used),
                    None => return Ok(Step::NeedMore),
                },
            }
        }
    }

    /// The connection closed: fine only where the close is the body's end.
    pub(super) fn eof(&mut self) -> Result<(), Error> {
        match self.state {
            State::Close | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the backend closed the connection before the end of its answer",
            )),
        }
    }
}

/// Up to `n` bytes from the front of `buf`, and how many of `n` are left.
fn take(buf: &mut BytesMut, n: u64) -> (Bytes, u64) {
    let k = usize::try_from(n).unwrap_or(usize::MAX).min(buf.len());
    (buf.split_to(k).freeze(), n - k as u64)
}

/// The first line in `buf`: its length without the line break and with it (a bare LF is
/// accepted, as hyper does); `None` if no line break has arrived yet.
fn line_end(buf: &[u8]) -> Result<Option<(usize, usize)>, Error> {
    match memchr::memchr(b'\n', buf) {
        Some(i) if i > 0 && buf[i - 1] == b'\r' => Ok(Some((i - 1, i + 1))),
        Some(i) => Ok(Some((i, i + 1))),
        None if buf.len() > MAX_LINE => Err(invalid("the backend's trailer field is too long")),
        None => Ok(None),
    }
}

#[cfg(test)]
#[path = "framing_tests.rs"]
mod tests;
