//! A fast mock OpenAI-compatible backend: `POST /v1/chat/completions` answers a canned
//! ~1 KB completion (with `usage`), or with `"stream": true` the same text as SSE in N
//! chunks, a finish chunk, a usage chunk and `data: [DONE]`, after a fixed latency.
//!
//! Requests for the *hold* model (`--hold-model`, default `bench-hold`) are answered with
//! a stream that never ends (one chunk per `--hold-interval-ms`) until the client goes
//! away: the harness uses it to keep streams open (memory with 1,000 open streams) and to
//! keep a backend's only slot busy (a profile call that must re-route).
//!
//! Every answer is serialised once at start-up; a request costs a JSON parse of its body
//! (for `model` and `stream`) and a copy of a shared buffer.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Either, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;

/// What the mock answers and how fast.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Delay before the response headers (every answer, streamed or not).
    pub latency: Duration,
    /// Content chunks of a streamed answer (before the finish and usage chunks).
    pub chunks: usize,
    /// Pause between streamed chunks.
    pub chunk_interval: Duration,
    /// Length of the completion text in bytes (the whole JSON answer is ~300 bytes more).
    pub content_bytes: usize,
    /// Requests for this model get a stream that never ends.
    pub hold_model: String,
    /// Pause between the chunks of a held stream.
    pub hold_interval: Duration,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            chunks: 16,
            chunk_interval: Duration::ZERO,
            content_bytes: 720,
            hold_model: "bench-hold".to_owned(),
            hold_interval: Duration::from_secs(1),
        }
    }
}

const MODEL: &str = "bench-model";
const PROMPT_TOKENS: u32 = 24;

/// The answers, serialised once.
#[derive(Debug)]
pub struct Canned {
    pub completion: Bytes,
    /// The whole SSE body, for streams without pauses.
    pub stream_whole: Bytes,
    /// The SSE body event by event, for paced streams.
    pub stream_parts: Vec<Bytes>,
    /// A held stream's first event (role and some text) and the one it repeats.
    pub hold_first: Bytes,
    pub hold_next: Bytes,
}

fn text_of(len: usize) -> String {
    const SENTENCE: &str = "Amazon S3 stores objects, EBS provides block volumes for one instance, \
                            and EFS is a shared file system mounted by many instances at once. ";
    let mut s = String::with_capacity(len + SENTENCE.len());
    while s.len() < len {
        s.push_str(SENTENCE);
    }
    s.truncate(len);
    s
}

fn sse(v: &serde_json::Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

fn chunk(delta: serde_json::Value, finish: Option<&str>) -> serde_json::Value {
    json!({
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    })
}

impl Canned {
    pub fn new(cfg: &MockConfig) -> Self {
        let text = text_of(cfg.content_bytes);
        // About four bytes per token, as tokenizers go for English.
        let completion_tokens = u32::try_from(text.len().div_ceil(4)).unwrap_or(u32::MAX);
        let usage = json!({
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": completion_tokens,
            "total_tokens": PROMPT_TOKENS.saturating_add(completion_tokens),
        });
        let completion = json!({
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": MODEL,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }],
            "usage": usage,
        });

        let n = cfg.chunks.max(1);
        let per = text.len().div_ceil(n).max(1);
        let mut parts = Vec::with_capacity(n + 3);
        let bytes = text.as_bytes();
        for (i, piece) in bytes.chunks(per).enumerate() {
            let piece = String::from_utf8_lossy(piece);
            let delta = if i == 0 { json!({"role": "assistant", "content": piece}) } else { json!({"content": piece}) };
            parts.push(sse(&chunk(delta, None)));
        }
        parts.push(sse(&chunk(json!({}), Some("stop"))));
        parts.push(sse(&json!({
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": MODEL,
            "choices": [],
            "usage": usage,
        })));
        parts.push(Bytes::from_static(b"data: [DONE]\n\n"));
        let stream_whole = Bytes::from(parts.iter().flat_map(|p| p.iter().copied()).collect::<Vec<u8>>());

        Self {
            completion: Bytes::from(completion.to_string()),
            stream_whole,
            stream_parts: parts,
            hold_first: sse(&chunk(json!({"role": "assistant", "content": "Holding"}), None)),
            hold_next: sse(&chunk(json!({"content": "."}), None)),
        }
    }
}

/// Requests served, by kind (`GET /stats`).
#[derive(Debug, Default)]
pub struct Counters {
    pub completions: AtomicU64,
    pub streams: AtomicU64,
    pub held: AtomicU64,
    pub rejected: AtomicU64,
}

#[derive(Debug)]
struct Shared {
    cfg: MockConfig,
    canned: Canned,
    counters: Counters,
}

#[derive(Debug, Deserialize)]
struct ChatRequest {
    #[serde(default)]
    model: String,
    #[serde(default)]
    stream: bool,
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<Frame<Bytes>, Infallible>> + Send>>;
pub type MockBody = Either<Full<Bytes>, StreamBody<ChunkStream>>;

fn full(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<MockBody> {
    let mut r = Response::new(Either::Left(Full::new(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    r
}

fn error(status: StatusCode, message: &str) -> Response<MockBody> {
    let body = json!({"error": {"message": message, "type": "invalid_request_error"}});
    full(status, "application/json", Bytes::from(body.to_string()))
}

fn streamed(stream: ChunkStream) -> Response<MockBody> {
    let mut r = Response::new(Either::Right(StreamBody::new(stream)));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-cache"));
    r
}

fn paced(parts: Vec<Bytes>, interval: Duration) -> ChunkStream {
    let stream = futures::stream::unfold((parts.into_iter(), true), move |(mut it, first)| async move {
        let part = it.next()?;
        if !first {
            tokio::time::sleep(interval).await;
        }
        Some((Ok(Frame::data(part)), (it, false)))
    });
    Box::pin(stream)
}

fn held(first: Bytes, next: Bytes, interval: Duration) -> ChunkStream {
    let stream = futures::stream::unfold(true, move |is_first| {
        let (first, next) = (first.clone(), next.clone());
        async move {
            if is_first {
                return Some((Ok(Frame::data(first)), false));
            }
            tokio::time::sleep(interval).await;
            Some((Ok(Frame::data(next)), false))
        }
    });
    Box::pin(stream)
}

async fn handle(req: Request<Incoming>, shared: Arc<Shared>) -> Result<Response<MockBody>, Infallible> {
    let path = req.uri().path();
    let chat = matches!(path, "/v1/chat/completions" | "/chat/completions");
    if !chat {
        return Ok(match (req.method(), path) {
            (&Method::GET, "/health") => full(StatusCode::OK, "application/json", Bytes::from_static(b"{\"ok\":true}")),
            (&Method::GET, "/v1/models") => {
                let body = json!({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "bench"}]});
                full(StatusCode::OK, "application/json", Bytes::from(body.to_string()))
            }
            (&Method::GET, "/stats") => {
                let c = &shared.counters;
                let body = json!({
                    "completions": c.completions.load(Ordering::Relaxed),
                    "streams": c.streams.load(Ordering::Relaxed),
                    "held": c.held.load(Ordering::Relaxed),
                    "rejected": c.rejected.load(Ordering::Relaxed),
                });
                full(StatusCode::OK, "application/json", Bytes::from(body.to_string()))
            }
            _ => error(StatusCode::NOT_FOUND, "not found"),
        });
    }
    if req.method() != Method::POST {
        return Ok(error(StatusCode::METHOD_NOT_ALLOWED, "use POST"));
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            shared.counters.rejected.fetch_add(1, Ordering::Relaxed);
            return Ok(error(StatusCode::BAD_REQUEST, &format!("cannot read the body: {e}")));
        }
    };
    let parsed: ChatRequest = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            shared.counters.rejected.fetch_add(1, Ordering::Relaxed);
            return Ok(error(StatusCode::BAD_REQUEST, &format!("invalid JSON body: {e}")));
        }
    };
    let cfg = &shared.cfg;
    let canned = &shared.canned;
    if !cfg.latency.is_zero() {
        tokio::time::sleep(cfg.latency).await;
    }
    if parsed.model == cfg.hold_model {
        shared.counters.held.fetch_add(1, Ordering::Relaxed);
        return Ok(streamed(held(canned.hold_first.clone(), canned.hold_next.clone(), cfg.hold_interval)));
    }
    if !parsed.stream {
        shared.counters.completions.fetch_add(1, Ordering::Relaxed);
        return Ok(full(StatusCode::OK, "application/json", canned.completion.clone()));
    }
    shared.counters.streams.fetch_add(1, Ordering::Relaxed);
    if cfg.chunk_interval.is_zero() {
        let whole = canned.stream_whole.clone();
        return Ok(streamed(Box::pin(futures::stream::once(async move { Ok(Frame::data(whole)) }))));
    }
    Ok(streamed(paced(canned.stream_parts.clone(), cfg.chunk_interval)))
}

/// Binds `listen` and returns the bound address and the serving future.
pub async fn bind(
    listen: SocketAddr,
    cfg: MockConfig,
) -> anyhow::Result<(SocketAddr, impl std::future::Future<Output = ()>)> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared { canned: Canned::new(&cfg), cfg, counters: Counters::default() });
    Ok((addr, serve(listener, shared)))
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: wait and keep serving.
                eprintln!("bench-mock: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, Arc::clone(&shared)));
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::{EventCounter, StreamKind};

    #[test]
    fn canned_completion_is_about_one_kilobyte() {
        let c = Canned::new(&MockConfig::default());
        let v: serde_json::Value = serde_json::from_slice(&c.completion).unwrap();
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert!(v["usage"]["completion_tokens"].as_u64().unwrap() > 0);
        assert!((900..=1200).contains(&c.completion.len()), "{}", c.completion.len());
    }

    #[test]
    fn stream_has_chunks_finish_usage_and_done() {
        let cfg = MockConfig { chunks: 5, ..MockConfig::default() };
        let c = Canned::new(&cfg);
        assert_eq!(c.stream_parts.len(), 5 + 3);
        let mut counter = EventCounter::new(StreamKind::Sse);
        counter.push(&c.stream_whole);
        counter.finish();
        assert_eq!(counter.events, 8);
        let text: String = c.stream_parts[..5]
            .iter()
            .map(|p| {
                let s = std::str::from_utf8(p).unwrap();
                let v: serde_json::Value = serde_json::from_str(s.trim().trim_start_matches("data: ")).unwrap();
                v["choices"][0]["delta"]["content"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(text.len(), cfg.content_bytes);
        assert!(std::str::from_utf8(&c.stream_parts[6]).unwrap().contains("\"usage\""));
    }
}
