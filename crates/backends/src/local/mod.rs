//! The embedded local model (backend kind `local`): a GGUF model run in-process by
//! llama.cpp, by default SmolLM2-135M-Instruct for text and Gemma 3 270M (base) for
//! embeddings, both fetched by `spillway fetch-model`. Prompts are written in the
//! model's own chat template ([`template`]); JSON schemas and tools constrain decoding
//! ([`tools`]).
//!
//! One [`Engine`] per model file owns the model on a dedicated OS thread (never on the
//! async runtime): one llama.cpp context with `slots` sequences, decoded together in one
//! batch per step (continuous batching), so a new request joins the running ones at the
//! next token. Tokens come back to the request through a channel.
//!
//! Every region that names the backend gets a [`LocalBackend`]: a *slice* of the shared
//! engine with its own capacity ([`slots::Slice`]), whose load is what routing compares.
//! The engine runs at most `slots` sequences at once; the slices together may admit
//! more, and those requests wait in the engine's queue for a sequence, first come first
//! served.
//!
//! Without the weights the service still starts: the engine stays unloaded and every
//! call answers ModelNotReadyException saying how to fetch them. The file is looked for
//! again on the next call, so `spillway fetch-model` needs no restart.

mod calls;
pub mod gguf;
// Used by the engine only; its tests run either way.
#[cfg_attr(not(feature = "local-llm"), allow(dead_code))]
mod prefix;
mod prompt;
mod slots;
mod stops;
mod template;
mod tools;

#[cfg(feature = "local-llm")]
mod engine;
#[cfg(not(feature = "local-llm"))]
#[path = "no_engine.rs"]
mod engine;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spillway_catalog::LocalBackend as LocalConfig;
use spillway_wire::converse::{ConverseRequest, StopReason, TokenUsage};
use spillway_wire::invoke::EmbedOutput;
use spillway_wire::stream::{Finish, ModelEvent};
use tokio::sync::{mpsc, oneshot, watch};

use crate::{BackendError, ChatCall, EmbedCall, EventStream, Load, ModelBackend};

pub use calls::CallStyle;
pub use prompt::{render as render_prompt, Conversation, Segment};
pub use slots::Slice;
pub use stops::{Scan, StopScanner, Utf8Decoder};
pub use template::{ChatFormat, Template};
pub use tools::{constraint, CallReader, Constraint};

/// Prompts longer than this are tokenized off the async runtime.
const INLINE_TOKENIZE_BYTES: usize = 16 * 1024;

/// What an engine is built with (one per model file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub path: PathBuf,
    pub threads: u32,
    /// Sequences decoded in parallel.
    pub slots: u32,
    /// Context window of each sequence, in tokens.
    pub context: u32,
}

impl Settings {
    pub fn from_config(cfg: &LocalConfig) -> Self {
        Self {
            path: cfg.model_path(),
            threads: cfg.resolved_threads(),
            slots: cfg.resolved_slots(),
            context: cfg.context,
        }
    }
}

/// How to pick each next token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// 0 means greedy (always the most likely token).
    pub temperature: f32,
    pub top_p: f32,
    /// 0 means no top-k cut.
    pub top_k: i32,
    pub seed: u32,
}

/// Gemma's recommended sampling, for what a request leaves out.
const DEFAULT_TEMPERATURE: f64 = 1.0;
const DEFAULT_TOP_P: f64 = 0.95;
const DEFAULT_TOP_K: i64 = 64;

impl Sampling {
    pub fn of(request: &ConverseRequest, seed: u32) -> Self {
        let cfg = request.inference_config.as_ref();
        let temperature = cfg.and_then(|c| c.temperature).unwrap_or(DEFAULT_TEMPERATURE);
        let top_p = cfg.and_then(|c| c.top_p).unwrap_or(DEFAULT_TOP_P);
        // Anthropic bodies (and Converse's additional fields) may carry top_k; a `seed`
        // there picks another sampling sequence than the backend's.
        let field = |name: &str| {
            request
                .additional_model_request_fields
                .as_ref()
                .and_then(|f| f.get(name))
                .and_then(serde_json::Value::as_i64)
        };
        let top_k = field("top_k").unwrap_or(DEFAULT_TOP_K);
        Self {
            temperature: temperature.max(0.0) as f32,
            top_p: top_p.clamp(0.0, 1.0) as f32,
            top_k: i32::try_from(top_k.max(0)).unwrap_or(0),
            seed: field("seed").and_then(|s| u32::try_from(s).ok()).unwrap_or(seed),
        }
    }
}

/// Events of one generation, as the engine sends them.
pub type Events = mpsc::UnboundedSender<Result<ModelEvent, BackendError>>;

/// A generation for the engine: the prompt's tokens and when to stop.
pub struct GenerateJob {
    pub prompt: Vec<i32>,
    pub max_tokens: u32,
    pub sampling: Sampling,
    pub stops: Vec<String>,
    /// A GBNF grammar the answer must follow (JSON schemas, tool calls).
    pub grammar: Option<String>,
    /// Control tokens that are part of the answer, not its end (a tool call's marker).
    pub keep: Vec<i32>,
    /// Text deltas, then `Finish` (or an error). Dropping the receiver cancels.
    pub events: Events,
}

/// Texts to embed, each already tokenized.
pub struct EmbedJob {
    pub texts: Vec<Vec<i32>>,
    pub reply: oneshot::Sender<Result<Vec<Vec<f32>>, BackendError>>,
}

pub enum Job {
    Generate(GenerateJob),
    Embed(EmbedJob),
}

/// Where an engine stands.
#[derive(Clone)]
enum Phase {
    /// Not started: the model file was missing when last looked for.
    Absent,
    Loading,
    Ready(Arc<engine::Loaded>),
    Failed(String),
}

/// One model loaded once, shared by every region that runs it.
pub struct Engine {
    settings: Settings,
    phase: Arc<watch::Sender<Phase>>,
    /// Serialises starts, so two first requests load the model once.
    starting: Mutex<()>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match &*self.phase.borrow() {
            Phase::Absent => "absent".to_owned(),
            Phase::Loading => "loading".to_owned(),
            Phase::Ready(_) => "ready".to_owned(),
            Phase::Failed(e) => format!("failed: {e}"),
        };
        f.debug_struct("Engine").field("settings", &self.settings).field("phase", &phase).finish()
    }
}

impl Engine {
    pub fn new(settings: Settings) -> Arc<Self> {
        let (phase, _) = watch::channel(Phase::Absent);
        Arc::new(Self { settings, phase: Arc::new(phase), starting: Mutex::new(()) })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// What every call answers while the weights are missing.
    pub fn missing_message(&self) -> String {
        format!(
            "The model is not ready: its weights ({}) are not on this machine. Run `spillway fetch-model` to fetch them, then try again.",
            self.settings.path.display()
        )
    }

    /// Start loading the model if it is not loaded, loading or failed, and its file is
    /// there now. Returns whether the engine is (being) loaded.
    pub fn start(&self) -> bool {
        let _guard = self.starting.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !matches!(*self.phase.borrow(), Phase::Absent) {
            return true;
        }
        if !self.settings.path.is_file() {
            return false;
        }
        self.phase.send_replace(Phase::Loading);
        let publish = Arc::clone(&self.phase);
        if let Err(e) = engine::spawn(self.settings.clone(), move |loaded| {
            publish.send_replace(match loaded {
                Ok(l) => Phase::Ready(l),
                Err(e) => Phase::Failed(e),
            });
        }) {
            self.phase.send_replace(Phase::Failed(format!("cannot start the model thread: {e}")));
        }
        true
    }

    /// The loaded model, waiting while it loads.
    async fn ready(&self) -> Result<Arc<engine::Loaded>, BackendError> {
        if !self.start() {
            return Err(BackendError::NotReady(self.missing_message()));
        }
        let mut rx = self.phase.subscribe();
        let phase = rx
            .wait_for(|p| !matches!(p, Phase::Loading))
            .await
            .map(|p| p.clone())
            .map_err(|_| BackendError::Unavailable("the local model engine has shut down".into()))?;
        match phase {
            Phase::Ready(loaded) => Ok(loaded),
            Phase::Failed(e) => Err(BackendError::NotReady(format!("The model could not be loaded: {e}"))),
            Phase::Absent | Phase::Loading => Err(BackendError::NotReady(self.missing_message())),
        }
    }

    /// Whether the model file is there (it may still be loading).
    pub fn is_present(&self) -> bool {
        self.settings.path.is_file()
    }
}

/// The engines of one catalog, one per model file.
#[derive(Debug, Default)]
pub struct Engines {
    by_path: HashMap<PathBuf, (String, Arc<Engine>)>,
}

impl Engines {
    /// The engine of `cfg`'s model file, started if its file is there. Two backends may
    /// share a file only with the same engine settings.
    pub fn engine(&mut self, name: &str, cfg: &LocalConfig) -> Result<Arc<Engine>, BackendError> {
        let settings = Settings::from_config(cfg);
        if let Some((first, engine)) = self.by_path.get(&settings.path) {
            if engine.settings != settings {
                return Err(BackendError::Config(format!(
                    "backends `{first}` and `{name}` run the same model file {} with different threads, slots or context; give them the same settings (they share one engine)",
                    settings.path.display()
                )));
            }
            return Ok(Arc::clone(engine));
        }
        let engine = Engine::new(settings.clone());
        if engine.start() {
            tracing::info!(backend = name, model = %settings.path.display(), threads = settings.threads, slots = settings.slots, context = settings.context, "loading the local model");
        } else {
            tracing::warn!(
                backend = name,
                model = %settings.path.display(),
                "the local model is not fetched: its models answer ModelNotReadyException until `spillway fetch-model` has run"
            );
        }
        self.by_path.insert(settings.path, (name.to_owned(), Arc::clone(&engine)));
        Ok(engine)
    }

    /// `region`'s instance of backend `name`.
    pub fn instance(&mut self, name: &str, cfg: &LocalConfig, region: &str) -> Result<LocalBackend, BackendError> {
        let engine = self.engine(name, cfg)?;
        Ok(LocalBackend::new(engine, cfg, region))
    }
}

/// One region's slice of a shared engine.
#[derive(Debug)]
pub struct LocalBackend {
    engine: Arc<Engine>,
    slice: Slice,
    seed: u32,
    /// maxTokens of requests that set none.
    default_max_tokens: u32,
}

impl LocalBackend {
    pub fn new(engine: Arc<Engine>, cfg: &LocalConfig, region: &str) -> Self {
        Self {
            slice: Slice::new(cfg.slice(region), cfg.queue),
            seed: cfg.seed,
            default_max_tokens: cfg.default_max_tokens,
            engine,
        }
    }

    /// A backend of its own engine, with the whole engine as its slice (benchmarks).
    pub fn standalone(cfg: &LocalConfig) -> Self {
        let engine = Engine::new(Settings::from_config(cfg));
        let slice = Slice::new(engine.settings.slots, cfg.queue);
        Self { engine, slice, seed: cfg.seed, default_max_tokens: cfg.default_max_tokens }
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Wait for the model; how long loading it took.
    pub async fn load_time(&self) -> Result<Duration, BackendError> {
        Ok(self.engine.ready().await?.load_time())
    }

    /// The prompt's tokens, off the runtime when it is long.
    async fn tokenize(loaded: &Arc<engine::Loaded>, segments: Vec<Segment>) -> Result<Vec<i32>, BackendError> {
        let size: usize = segments.iter().map(|s| if let Segment::Text(t) = s { t.len() } else { 1 }).sum();
        if size <= INLINE_TOKENIZE_BYTES {
            return Ok(loaded.tokenize(&segments));
        }
        let loaded = Arc::clone(loaded);
        tokio::task::spawn_blocking(move || loaded.tokenize(&segments))
            .await
            .map_err(|e| BackendError::Unavailable(format!("tokenizing failed: {e}")))
    }
}

/// What the model reads for `request` and the constraint on its answer; checked
/// before the model is needed, so refusals do not wait for it. How the constraint is
/// told depends on the model's chat format ([`ChatFormat::segments`]).
fn read(request: &ConverseRequest) -> Result<(Conversation, Option<Constraint>), BackendError> {
    let constraint = tools::constraint(request)?;
    Ok((Conversation::of(request)?, constraint))
}

/// A toolUse id in Bedrock's shape.
fn tool_use_id() -> String {
    use std::hash::BuildHasher;
    let random = std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now());
    format!("tooluse_{random:016x}")
}

/// Embedding vectors at the size the caller asked for. The model's own vectors (its
/// hidden size, 640 for Gemma 3 270M) are cut, or padded with zeros, to `dims`: padding
/// keeps every dot product and cosine similarity exactly; cutting keeps the leading
/// components. Then they are L2-normalised if the request says so.
fn fit(mut v: Vec<f32>, dims: usize, normalize: bool) -> Vec<f32> {
    v.resize(dims, 0.0);
    if normalize {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
    }
    v
}

impl ModelBackend for LocalBackend {
    async fn chat(&self, call: ChatCall<'_>) -> Result<EventStream, BackendError> {
        let (conversation, constraint) = read(call.request)?;
        let loaded = self.engine.ready().await?;
        let format = loaded.format();
        let segments = format.segments(&conversation, constraint.as_ref())?;
        let grammar = constraint.as_ref().map(|c| engine::grammar(c, format.style())).transpose()?;
        let tools = constraint.filter(Constraint::has_tools);
        let keep = if tools.is_some() { loaded.markers(format.style()) } else { Vec::new() };
        let mut calls = tools.map(|c| CallReader::new(format.style(), c.callable, tool_use_id()));
        let prompt = Self::tokenize(&loaded, segments).await?;
        let input_tokens = u32::try_from(prompt.len()).unwrap_or(u32::MAX);
        if input_tokens >= loaded.context() {
            return Err(BackendError::Unsupported(format!(
                "Input is too long for requested model: {input_tokens} tokens, and the model's context window is {} tokens.",
                loaded.context()
            )));
        }
        let stops = call.request.inference_config.as_ref().and_then(|c| c.stop_sequences.clone()).unwrap_or_default();
        let explicit = call.request.inference_config.as_ref().and_then(|c| c.max_tokens).is_some();
        let max_tokens = if explicit { call.max_tokens } else { call.max_tokens.min(self.default_max_tokens) };
        let permit = self.slice.acquire().await?;
        let (events, mut rx) = mpsc::unbounded_channel();
        let sampling = Sampling::of(call.request, self.seed);
        let job = GenerateJob { prompt, max_tokens, sampling, stops, grammar, keep, events };
        loaded.submit(Job::Generate(job))?;
        let stream = async_stream::stream! {
            // The slice's place is held for as long as the answer is being read; dropping
            // the stream drops the receiver, which cancels the sequence in the engine.
            let _permit = permit;
            yield Ok(ModelEvent::InputTokens(input_tokens));
            let mut finished = false;
            while let Some(event) = rx.recv().await {
                finished = matches!(event, Ok(ModelEvent::Finish(_)) | Err(_));
                match (event, calls.as_mut()) {
                    // An answer that may be a tool call is read as one.
                    (Ok(event), Some(reader)) => {
                        for event in reader.push(event) {
                            yield Ok(event);
                        }
                    }
                    (event, _) => yield event,
                }
                if finished {
                    break;
                }
            }
            if !finished {
                yield Err(BackendError::Stream("the local model engine stopped".into()));
            }
        };
        Ok(Box::pin(stream))
    }

    async fn embed(&self, call: EmbedCall<'_>) -> Result<EmbedOutput, BackendError> {
        let loaded = self.engine.ready().await?;
        let max = loaded.context() as usize;
        let texts: Vec<Vec<i32>> = call
            .request
            .texts
            .iter()
            .map(|t| {
                let mut tokens = loaded.tokenize_text(t);
                tokens.truncate(max);
                tokens
            })
            .collect();
        let input_tokens =
            texts.iter().map(|t| u32::try_from(t.len()).unwrap_or(u32::MAX)).fold(0, u32::saturating_add);
        let _permit = self.slice.acquire().await?;
        let (reply, rx) = oneshot::channel();
        loaded.submit(Job::Embed(EmbedJob { texts, reply }))?;
        let vectors = rx.await.map_err(|_| BackendError::Unavailable("the local model engine stopped".into()))??;
        let dims = call.request.dimensions.unwrap_or(call.default_dimensions).max(1) as usize;
        let embeddings = vectors.into_iter().map(|v| fit(v, dims, call.request.normalize)).collect();
        Ok(EmbedOutput { embeddings, input_tokens })
    }

    /// Exact: the model's own tokenizer over the prompt exactly as generation formats
    /// it, turn markers and `<bos>` included, so it equals the usage's input tokens.
    async fn count_tokens(&self, _model: &str, request: &ConverseRequest) -> Result<u32, BackendError> {
        let (conversation, constraint) = read(request)?;
        let loaded = self.engine.ready().await?;
        let segments = loaded.format().segments(&conversation, constraint.as_ref())?;
        let tokens = Self::tokenize(&loaded, segments).await?;
        Ok(u32::try_from(tokens.len()).unwrap_or(u32::MAX))
    }

    /// The slice's load, weights or not: routing must still reach a region without them,
    /// whose answer (ModelNotReadyException) says what to do.
    fn load(&self) -> Load {
        self.slice.load()
    }
}

/// The `Finish` of a generation (engine side, and tests).
/// `cached` of the `input` tokens came from the prefix cache (reported as a cache read).
pub fn finish(
    stop_reason: StopReason,
    input: u32,
    output: u32,
    stop_sequence: Option<String>,
    cached: u32,
) -> ModelEvent {
    ModelEvent::Finish(Finish { stop_reason, usage: TokenUsage::cached(input, output, cached, 0, 0), stop_sequence })
}

#[cfg(test)]
mod tests;
