//! Any OpenAI-compatible chat-completions server (vLLM, llama.cpp, Ollama, TGI) as a
//! backend: Converse requests go out as `/chat/completions` bodies, answers come back as
//! [`ModelEvent`]s, streamed over SSE when the caller streams.

mod convert;
mod response;
mod sse;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use spillway_catalog::OpenAiBackend as OpenAiConfig;
use spillway_wire::converse::ConverseRequest;
use spillway_wire::invoke::EmbedOutput;
use spillway_wire::stream::ModelEvent;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::prompt::{count_request_tokens, count_tokens};
use crate::{BackendError, ChatCall, EmbedCall, EventStream, Load, ModelBackend};

pub struct OpenAiBackend {
    cfg: OpenAiConfig,
    client: reqwest::Client,
    /// Read once at start: a key rotated in the environment needs a restart anyway.
    api_key: Option<String>,
    slots: Arc<Semaphore>,
    /// Boxed: two parsed URLs would make this the one large variant of `Backend`.
    urls: Box<Urls>,
}

/// The endpoints this backend calls, parsed once.
struct Urls {
    chat: reqwest::Url,
    embeddings: reqwest::Url,
}

impl fmt::Debug for OpenAiBackend {
    // By hand so the API key never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiBackend")
            .field("cfg", &self.cfg)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
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
        let timeout = Duration::from_millis(cfg.timeout_ms);
        // A whole-request timeout would cut long streamed answers, so the client only
        // bounds connecting and each wait for bytes (a stalled server); `post` adds the
        // whole-request limit to the calls that are not streamed.
        let client = reqwest::Client::builder()
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .pool_max_idle_per_host(cfg.max_concurrency as usize)
            // Requests are small and latency-bound; Nagle only delays them.
            .tcp_nodelay(true)
            // An inference endpoint that redirects is misconfigured; not following saves
            // the redirect layer's work on every call.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| BackendError::Config(format!("cannot build the HTTP client: {e}")))?;
        let slots = Arc::new(Semaphore::new(cfg.max_concurrency as usize));
        let endpoint = |path: &str| {
            let url = format!("{}/{path}", cfg.base_url.trim_end_matches('/'));
            reqwest::Url::parse(&url)
                .map_err(|e| BackendError::Config(format!("the backend URL {url} is not a valid URL: {e}")))
        };
        let urls = Box::new(Urls { chat: endpoint("chat/completions")?, embeddings: endpoint("embeddings")? });
        Ok(Self { cfg, client, api_key, slots, urls })
    }

    fn acquire(&self) -> Result<OwnedSemaphorePermit, BackendError> {
        // At its limit the backend answers 429 at once, so routing can try another region
        // instead of queueing here.
        Arc::clone(&self.slots).try_acquire_owned().map_err(|_| BackendError::Busy)
    }

    /// POSTs `body` and returns the response once its status says success.
    async fn post(&self, url: &reqwest::Url, body: &Value, stream: bool) -> Result<reqwest::Response, BackendError> {
        // A parsed URL: reqwest would otherwise parse (and IDNA-check) the string each time.
        let mut req = self.client.post(url.clone()).json(body);
        if !stream {
            req = req.timeout(Duration::from_millis(self.cfg.timeout_ms));
        }
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key);
        }
        let reply = req.send().await.map_err(send_error)?;
        let status = reply.status();
        if status.is_success() {
            return Ok(reply);
        }
        let text = reply.text().await.unwrap_or_default();
        Err(status_error(status.as_u16(), &text))
    }
}

fn send_error(e: reqwest::Error) -> BackendError {
    if e.is_timeout() {
        BackendError::Timeout
    } else if e.is_connect() {
        BackendError::Unavailable(format!("cannot connect to the backend: {e}"))
    } else {
        BackendError::Unavailable(format!("request to the backend failed: {e}"))
    }
}

fn status_error(status: u16, body: &str) -> BackendError {
    match status {
        429 => BackendError::Throttled,
        400..=499 => BackendError::Rejected { status, message: response::error_message(body) },
        _ => BackendError::Unavailable(format!("the backend answered {status}: {}", response::snippet(body))),
    }
}

/// Reads a whole JSON body, with the same error mapping as the request itself.
async fn read_json<T: for<'de> Deserialize<'de>>(reply: reqwest::Response) -> Result<T, BackendError> {
    let bytes = reply.bytes().await.map_err(send_error)?;
    serde_json::from_slice(&bytes).map_err(|e| {
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
        let body = convert::chat_body(call.model, call.request, call.max_tokens, call.stream, self.cfg.tools)?;
        let input_estimate = count_request_tokens(call.request);
        let permit = self.acquire()?;
        let reply = self.post(&self.urls.chat, &body, call.stream).await?;
        if call.stream {
            return Ok(sse::events(reply, permit, input_estimate));
        }
        let completion: response::Completion = read_json(reply).await?;
        let events = response::completion_events(completion, input_estimate)?;
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
        let _permit = self.acquire()?;
        let reply = self.post(&self.urls.embeddings, &body, false).await?;
        let mut out: Embeddings = read_json(reply).await?;
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
