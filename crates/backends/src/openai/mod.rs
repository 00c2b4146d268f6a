//! Any OpenAI-compatible chat-completions server (vLLM, llama.cpp, Ollama, TGI) as a
//! backend: Converse requests go out as `/chat/completions` bodies, answers come back as
//! [`ModelEvent`]s, streamed over SSE when the caller streams.

mod client;
mod convert;
mod event_source;
mod plain;
mod response;
mod sse;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;
use spillway_catalog::OpenAiBackend as OpenAiConfig;
use spillway_wire::converse::ConverseRequest;
use spillway_wire::invoke::EmbedOutput;
use spillway_wire::stream::ModelEvent;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::prompt::{count_request_tokens, count_tokens};
use crate::{BackendError, ChatCall, EmbedCall, EventStream, Load, ModelBackend};

pub struct OpenAiBackend {
    cfg: OpenAiConfig,
    /// Whether an API key was configured (the key itself lives only in the client's
    /// prepared header).
    keyed: bool,
    slots: Arc<Semaphore>,
    /// Boxed: the client and two URIs would make this the one large variant of `Backend`.
    inner: Box<Inner>,
}

struct Inner {
    http: client::Http,
    /// The endpoints this backend calls, parsed once.
    chat: http::Uri,
    embeddings: http::Uri,
}

impl fmt::Debug for OpenAiBackend {
    // By hand so the API key never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiBackend")
            .field("cfg", &self.cfg)
            .field("api_key", &self.keyed.then_some("<redacted>"))
            .field("load", &self.load())
            .finish_non_exhaustive()
    }
}

impl OpenAiBackend {
    pub fn new(cfg: OpenAiConfig) -> Result<Self, BackendError> {
        let api_key = match &cfg.api_key_env {
            Some(var) => Some(std::env::var(var).map_err(|e| {
                BackendError::Config(format!("the API key variable {var} named by api_key_env cannot be read: {e}"))
            })?),
            None => None,
        };
        // A whole-request timeout would cut long streamed answers, so streams bound
        // connecting and each wait for bytes (a stalled server), unary calls the whole call.
        let timeout = Duration::from_millis(cfg.timeout_ms);
        let slots = Arc::new(Semaphore::new(cfg.max_concurrency as usize));
        let endpoint = |path: &str| {
            let url = format!("{}/{path}", cfg.base_url.trim_end_matches('/'));
            match url.parse::<http::Uri>() {
                Ok(uri) if uri.scheme().is_some() && uri.host().is_some() => Ok(uri),
                Ok(_) => {
                    Err(BackendError::Config(format!("the backend URL {url} is not a valid URL: no scheme or host")))
                }
                Err(e) => Err(BackendError::Config(format!("the backend URL {url} is not a valid URL: {e}"))),
            }
        };
        let chat = endpoint("chat/completions")?;
        let http = client::Http::new(timeout, cfg.max_concurrency as usize, api_key.as_deref(), &chat)?;
        let inner = Box::new(Inner { http, chat, embeddings: endpoint("embeddings")? });
        Ok(Self { cfg, keyed: api_key.is_some(), slots, inner })
    }

    fn acquire(&self) -> Result<OwnedSemaphorePermit, BackendError> {
        // At its limit the backend answers 429 at once, so routing can try another region
        // instead of queueing here.
        Arc::clone(&self.slots).try_acquire_owned().map_err(|_| BackendError::Busy)
    }
}

fn status_error(status: u16, body: &str) -> BackendError {
    match status {
        429 => BackendError::Throttled,
        400..=499 => BackendError::Rejected { status, message: response::error_message(body) },
        _ => BackendError::Unavailable(format!("the backend answered {status}: {}", response::snippet(body))),
    }
}

/// Reads a whole JSON body.
async fn read_json<T: for<'de> Deserialize<'de>>(reply: http::Response<client::Reply>) -> Result<T, BackendError> {
    let bytes = client::read_body(reply.into_body()).await?;
    spillway_wire::parse::from_text(&bytes).map_err(|e| {
        let text = String::from_utf8_lossy(&bytes);
        BackendError::Invalid(format!("{e}: {}", response::snippet(&text)))
    })
}

#[derive(Debug, Deserialize)]
struct Embeddings {
    data: Vec<Embedding>,
    usage: Option<response::Usage>,
}

#[derive(Debug, Deserialize)]
struct Embedding {
    #[serde(default)]
    index: usize,
    embedding: Vec<f32>,
}

fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

impl ModelBackend for OpenAiBackend {
    async fn chat(&self, call: ChatCall<'_>) -> Result<EventStream, BackendError> {
        // Built before taking a slot: a request this backend refuses costs no capacity.
        let body = convert::chat_body_bytes(call.model, call.request, call.max_tokens, call.stream, self.cfg.tools)?;
        let permit = self.acquire()?;
        let Inner { http, chat, .. } = &*self.inner;
        if call.stream {
            let input_estimate = count_request_tokens(call.request);
            let reply = client::within(http.timeout, http.post(chat, body)).await?;
            return Ok(sse::events(reply.into_body(), http.timeout, permit, input_estimate));
        }
        let completion: response::Completion =
            client::within(http.timeout, async { read_json(http.post(chat, body).await?).await }).await?;
        // The estimate only stands in for a usage the server did not report.
        let events = response::completion_events(completion, || count_request_tokens(call.request))?;
        let stream = futures::stream::iter(events).map(move |e: ModelEvent| {
            // The slot stays taken until the caller has consumed or dropped the answer.
            let _held = &permit;
            Ok(e)
        });
        Ok(Box::pin(stream))
    }

    async fn embed(&self, call: EmbedCall<'_>) -> Result<EmbedOutput, BackendError> {
        let texts = &call.request.texts;
        let mut body = json!({"model": call.model, "input": texts});
        if let Some(d) = call.request.dimensions {
            body["dimensions"] = json!(d);
        }
        let body = serde_json::to_vec(&body).map_err(|e| BackendError::Invalid(e.to_string()))?;
        let _permit = self.acquire()?;
        let Inner { http, embeddings, .. } = &*self.inner;
        let mut out: Embeddings =
            client::within(http.timeout, async { read_json(http.post(embeddings, body).await?).await }).await?;
        if out.data.len() != texts.len() {
            return Err(BackendError::Invalid(format!(
                "the backend returned {} embeddings for {} inputs",
                out.data.len(),
                texts.len()
            )));
        }
        out.data.sort_by_key(|e| e.index);
        let mut embeddings: Vec<Vec<f32>> = out.data.into_iter().map(|e| e.embedding).collect();
        if call.request.normalize {
            embeddings.iter_mut().for_each(|v| normalize(v));
        }
        let input_tokens = out.usage.map_or_else(|| texts.iter().map(|t| count_tokens(t)).sum(), |u| u.prompt_tokens);
        Ok(EmbedOutput { embeddings, input_tokens })
    }

    /// An estimate with the local tokenizer: OpenAI-compatible servers have no standard
    /// count endpoint, and a round trip per count would cost more than it is worth.
    async fn count_tokens(&self, _model: &str, request: &ConverseRequest) -> Result<u32, BackendError> {
        Ok(count_request_tokens(request))
    }

    fn load(&self) -> Load {
        let limit = self.cfg.max_concurrency;
        let free = u32::try_from(self.slots.available_permits()).unwrap_or(limit);
        Load { in_flight: limit.saturating_sub(free), limit }
    }
}

#[cfg(test)]
mod tests;
