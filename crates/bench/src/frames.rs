//! Counting the events of a streamed body as it arrives: server-sent events (OpenAI
//! chat-completion chunks) or AWS event-stream frames (ConverseStream,
//! InvokeModelWithResponseStream), noting the ones that report a failure.

use std::str::FromStr;

/// How a streamed response body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// `text/event-stream`: `data: …` lines, events separated by a blank line.
    Sse,
    /// `application/vnd.amazon.eventstream`: length-prefixed binary frames.
    EventStream,
}

impl FromStr for StreamKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sse" => Ok(Self::Sse),
            "event-stream" | "eventstream" => Ok(Self::EventStream),
            other => Err(format!("unknown stream kind {other:?} (sse | event-stream)")),
        }
    }
}

/// Counts events across arbitrarily split body chunks.
#[derive(Debug)]
pub struct EventCounter {
    kind: StreamKind,
    /// SSE: the unfinished line; event-stream: the unfinished frame.
    buf: Vec<u8>,
    /// SSE: whether the current event has a data line yet.
    in_event: bool,
    pub events: u64,
    /// Events that report a failure: event-stream `:message-type` exception/error, SSE
    /// `data: {"error": …}`.
    pub failures: u64,
    /// The body could not be parsed as its kind.
    pub malformed: Option<String>,
}

impl EventCounter {
    pub fn new(kind: StreamKind) -> Self {
        Self { kind, buf: Vec::new(), in_event: false, events: 0, failures: 0, malformed: None }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        if self.malformed.is_some() {
            return;
        }
        match self.kind {
            StreamKind::Sse => self.push_sse(chunk),
            StreamKind::EventStream => self.push_frames(chunk),
        }
    }

    /// Call at the end of the body: an event-stream frame left unfinished is malformed.
    pub fn finish(&mut self) {
        if self.kind == StreamKind::EventStream && !self.buf.is_empty() && self.malformed.is_none() {
            self.malformed = Some(format!("the body ended inside a frame ({} bytes left)", self.buf.len()));
        }
        if self.kind == StreamKind::Sse && !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            self.sse_line(line.strip_suffix(b"\r").unwrap_or(&line));
        }
        if self.kind == StreamKind::Sse && self.in_event {
            // A final event without its blank line still counts.
            self.events += 1;
            self.in_event = false;
        }
    }

    fn push_sse(&mut self, chunk: &[u8]) {
        for piece in chunk.split_inclusive(|b| *b == b'\n') {
            if piece.last() != Some(&b'\n') {
                self.buf.extend_from_slice(piece);
                continue;
            }
            let line_owned;
            let line: &[u8] = if self.buf.is_empty() {
                piece
            } else {
                self.buf.extend_from_slice(piece);
                line_owned = std::mem::take(&mut self.buf);
                &line_owned
            };
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            self.sse_line(line);
        }
    }

    fn sse_line(&mut self, line: &[u8]) {
        if line.is_empty() {
            if self.in_event {
                self.events += 1;
                self.in_event = false;
            }
            return;
        }
        if let Some(data) = line.strip_prefix(b"data:") {
            self.in_event = true;
            let data = data.trim_ascii_start();
            if data.starts_with(b"{\"error\"") {
                self.failures += 1;
            }
        } else if !line.starts_with(b":") {
            // `event:`, `id:`, `retry:` lines belong to the event too.
            self.in_event = true;
        }
    }

    fn push_frames(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
        let mut at = 0;
        while self.buf.len() - at >= 12 {
            let total = be32(&self.buf[at..]) as usize;
            let headers_len = be32(&self.buf[at + 4..]) as usize;
            // AWS caps a message at 16 MiB; anything else is not an event-stream.
            if !(16..=16 << 20).contains(&total) || headers_len > total - 16 {
                self.malformed = Some(format!("bad frame prelude (total {total}, headers {headers_len})"));
                self.buf.clear();
                return;
            }
            if self.buf.len() - at < total {
                break;
            }
            let headers = &self.buf[at + 12..at + 12 + headers_len];
            if matches!(message_type(headers), Some(b"exception" | b"error")) {
                self.failures += 1;
            }
            self.events += 1;
            at += total;
        }
        self.buf.drain(..at);
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The `:message-type` header's value, if the headers are well formed enough to find it.
fn message_type(mut h: &[u8]) -> Option<&[u8]> {
    while !h.is_empty() {
        let name_len = usize::from(*h.first()?);
        let name = h.get(1..1 + name_len)?;
        let kind = *h.get(1 + name_len)?;
        h = h.get(2 + name_len..)?;
        let value_len = match kind {
            0 | 1 => 0,
            2 => 1,
            3 => 2,
            4 => 4,
            5 | 8 => 8,
            9 => 16,
            6 | 7 => {
                let n = usize::from(u16::from_be_bytes([*h.first()?, *h.get(1)?]));
                h = h.get(2..)?;
                n
            }
            _ => return None,
        };
        let value = h.get(..value_len)?;
        if name == b":message-type" {
            return Some(value);
        }
        h = h.get(value_len..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
        let mut h = Vec::new();
        for (name, value) in headers {
            h.push(name.len() as u8);
            h.extend_from_slice(name.as_bytes());
            h.push(7);
            h.extend_from_slice(&(value.len() as u16).to_be_bytes());
            h.extend_from_slice(value.as_bytes());
        }
        let total = 12 + h.len() + payload.len() + 4;
        let mut f = Vec::new();
        f.extend_from_slice(&(total as u32).to_be_bytes());
        f.extend_from_slice(&(h.len() as u32).to_be_bytes());
        f.extend_from_slice(&[0; 4]);
        f.extend_from_slice(&h);
        f.extend_from_slice(payload);
        f.extend_from_slice(&[0; 4]);
        f
    }

    #[test]
    fn sse_split_anywhere() {
        let body = b"data: {\"a\":1}\n\ndata: {\"b\":2}\r\n\r\n: comment\n\ndata: [DONE]\n\n";
        for cut in 0..body.len() {
            let mut c = EventCounter::new(StreamKind::Sse);
            c.push(&body[..cut]);
            c.push(&body[cut..]);
            c.finish();
            assert_eq!((c.events, c.failures), (3, 0), "cut at {cut}");
        }
    }

    #[test]
    fn sse_errors_and_unterminated_last_event() {
        let mut c = EventCounter::new(StreamKind::Sse);
        c.push(b"data: {\"error\": {\"message\": \"boom\"}}\n\ndata: x");
        c.finish();
        assert_eq!((c.events, c.failures), (2, 1));
    }

    #[test]
    fn event_stream_split_anywhere() {
        let mut body = frame(&[(":message-type", "event"), (":event-type", "messageStart")], b"{}");
        body.extend(frame(&[(":event-type", "contentBlockDelta"), (":message-type", "event")], b"{\"x\":1}"));
        body.extend(frame(&[(":message-type", "exception"), (":exception-type", "throttlingException")], b"{}"));
        for cut in 0..body.len() {
            let mut c = EventCounter::new(StreamKind::EventStream);
            c.push(&body[..cut]);
            c.push(&body[cut..]);
            c.finish();
            assert_eq!((c.events, c.failures, c.malformed.as_deref()), (3, 1, None), "cut at {cut}");
        }
    }

    #[test]
    fn event_stream_truncated_or_garbage() {
        let f = frame(&[(":message-type", "event")], b"{}");
        let mut c = EventCounter::new(StreamKind::EventStream);
        c.push(&f[..f.len() - 1]);
        c.finish();
        assert!(c.malformed.is_some());
        let mut c = EventCounter::new(StreamKind::EventStream);
        c.push(b"HTTP/1.1 200 OK\r\n\r\n");
        assert!(c.malformed.is_some());
    }
}
