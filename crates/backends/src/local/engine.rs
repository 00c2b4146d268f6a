//! The llama.cpp side of the local model: one OS thread per engine owns the model's
//! contexts and runs every sequence, never the async runtime.
//!
//! Scheduling is continuous batching: each step decodes one batch holding the next
//! token of every generating sequence plus as much of the waiting prompts as fits, so a
//! new request starts at the next step instead of after the running ones. Sequences are
//! the context's `slots` (llama.cpp sequence ids), each with its own window of
//! `context` tokens; requests beyond them wait in a FIFO.
//!
//! Embeddings use a second context of the same model in embeddings mode (mean pooling of
//! the last hidden state), created on first use.

use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use spillway_wire::converse::StopReason;
use spillway_wire::stream::ModelEvent;

use super::stops::{Scan, StopScanner, Utf8Decoder};
use super::{finish, EmbedJob, Events, GenerateJob, Job, Sampling, Segment, Settings};
use crate::BackendError;

/// Tokens decoded per step at most (prompt chunks and next tokens together).
const BATCH: u32 = 512;
/// Tokens per embeddings step. Embeddings mode also computes logits for every token
/// (262,144 floats each), so small steps keep that buffer small.
const EMBED_BATCH: u32 = 32;

/// llama.cpp's process-wide initialisation, done once.
fn backend() -> Result<&'static LlamaBackend, String> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            // llama.cpp's own log lines go to tracing (target `llama-cpp-2`).
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The loaded model, as the request side sees it: tokenizer and job queue.
pub struct Loaded {
    model: Arc<LlamaModel>,
    bos: LlamaToken,
    start_of_turn: LlamaToken,
    end_of_turn: LlamaToken,
    jobs: mpsc::Sender<Job>,
    load_time: Duration,
    context: u32,
}

impl fmt::Debug for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loaded").field("load_time", &self.load_time).field("context", &self.context).finish()
    }
}

impl Loaded {
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// Tokens one sequence may hold, prompt and answer together.
    pub fn context(&self) -> u32 {
        self.context
    }

    /// A prompt's tokens. Text never turns into special tokens: markers come only from
    /// the segments.
    pub fn tokenize(&self, segments: &[Segment]) -> Vec<i32> {
        let vocab = self.model.vocab();
        let mut out = Vec::new();
        for s in segments {
            match s {
                Segment::Bos => out.push(self.bos.0),
                Segment::StartOfTurn => out.push(self.start_of_turn.0),
                Segment::EndOfTurn => out.push(self.end_of_turn.0),
                Segment::Text(t) => out.extend(vocab.tokenize(t.as_bytes(), false, false).into_iter().map(|t| t.0)),
            }
        }
        out
    }

    /// A text to embed: `<bos>` and its tokens.
    pub fn tokenize_text(&self, text: &str) -> Vec<i32> {
        let mut out = vec![self.bos.0];
        out.extend(self.model.vocab().tokenize(text.as_bytes(), false, false).into_iter().map(|t| t.0));
        out
    }

    pub fn submit(&self, job: Job) -> Result<(), BackendError> {
        self.jobs.send(job).map_err(|_| BackendError::Unavailable("the local model engine has stopped".into()))
    }
}

/// Load the model on a new thread and serve jobs there; `publish` hears the outcome.
pub fn spawn(
    settings: Settings,
    publish: impl FnOnce(Result<Arc<Loaded>, String>) + Send + 'static,
) -> std::io::Result<()> {
    std::thread::Builder::new().name("spillway-llm".into()).spawn(move || run(&settings, publish)).map(|_| ())
}

fn run(settings: &Settings, publish: impl FnOnce(Result<Arc<Loaded>, String>)) {
    let started = Instant::now();
    let opened = backend().and_then(|backend| {
        let model = LlamaModel::load_from_file(backend, &settings.path, &LlamaModelParams::default())
            .map_err(|e| format!("{}: {e}", settings.path.display()))?;
        Ok((backend, Arc::new(model)))
    });
    let (backend, model) = match opened {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "the local model could not be loaded");
            publish(Err(e));
            return;
        }
    };
    // Sequences get whole 256-token pages of the context (llama.cpp pads them so).
    let context = settings.context.div_ceil(256) * 256;
    let slots = settings.slots.max(1);
    let threads = i32::try_from(settings.threads.max(1)).unwrap_or(1);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(context.saturating_mul(slots)))
        .with_n_seq_max(slots)
        .with_n_batch(BATCH)
        .with_n_ubatch(BATCH)
        .with_n_threads(threads)
        .with_n_threads_batch(threads)
        // Sliding-window layers keep only their window: every request starts afresh,
        // so nothing is lost, and the cache is a fraction of the size.
        .with_swa_full(false);
    let specials = special_tokens(&model);
    let ctx = match (specials, model.new_context(backend, params)) {
        (Ok(s), Ok(ctx)) => (s, ctx),
        (Err(e), _) => {
            publish(Err(e));
            return;
        }
        (_, Err(e)) => {
            publish(Err(format!("cannot create the model's context: {e}")));
            return;
        }
    };
    let ((bos, start_of_turn, end_of_turn), ctx) = ctx;
    let (jobs, rx) = mpsc::channel();
    let load_time = started.elapsed();
    let loaded = Loaded { model: Arc::clone(&model), bos, start_of_turn, end_of_turn, jobs, load_time, context };
    tracing::info!(
        load_ms = load_time.as_millis() as u64,
        threads,
        slots,
        context,
        params = model.n_params(),
        "local model loaded"
    );
    publish(Ok(Arc::new(loaded)));
    let mut scheduler = Scheduler {
        backend,
        model: &model,
        ctx,
        embed_ctx: None,
        threads,
        context,
        batch: LlamaBatch::new(BATCH as usize, 1),
        seqs: (0..slots).map(|_| None).collect(),
        waiting: VecDeque::new(),
    };
    scheduler.serve(&rx);
}

/// `<bos>`, `<start_of_turn>` and `<end_of_turn>` of a Gemma vocabulary.
fn special_tokens(model: &LlamaModel) -> Result<(LlamaToken, LlamaToken, LlamaToken), String> {
    let vocab = model.vocab();
    let one = |marker: &str| match vocab.tokenize(marker.as_bytes(), false, true).as_slice() {
        [t] => Ok(*t),
        _ => Err(format!("the model has no `{marker}` token: it is not a Gemma model")),
    };
    Ok((vocab.bos(), one("<start_of_turn>")?, one("<end_of_turn>")?))
}

/// One running generation.
struct Seq {
    prompt: Vec<LlamaToken>,
    /// Prompt tokens already decoded.
    fed: usize,
    /// Position of the next token in the sequence.
    pos: i32,
    /// The sampled token to decode next.
    next: Option<LlamaToken>,
    /// Index in the current batch of the logits to sample from.
    logits_at: Option<i32>,
    sampler: LlamaSampler,
    input_tokens: u32,
    generated: u32,
    max_tokens: u32,
    decoder: Utf8Decoder,
    stops: StopScanner,
    events: Events,
}

/// What became of a sequence after a token.
enum Step {
    Continue,
    /// Finished or cancelled: its place is free.
    Done,
}

impl Seq {
    fn new(job: GenerateJob) -> Self {
        Self {
            input_tokens: u32::try_from(job.prompt.len()).unwrap_or(u32::MAX),
            prompt: job.prompt.into_iter().map(LlamaToken).collect(),
            fed: 0,
            pos: 0,
            next: None,
            logits_at: None,
            sampler: sampler(&job.sampling),
            generated: 0,
            max_tokens: job.max_tokens,
            decoder: Utf8Decoder::default(),
            stops: StopScanner::new(&job.stops),
            events: job.events,
        }
    }

    fn send_text(&self, text: String) -> bool {
        text.is_empty() || self.events.send(Ok(ModelEvent::Text(text))).is_ok()
    }

    /// Take `token` into the answer.
    fn advance(&mut self, model: &LlamaModel, token: LlamaToken, context: u32) -> Step {
        let vocab = model.vocab();
        // `<end_of_turn>`, `<eos>`, or any other control token ends the answer.
        if vocab.is_eog(token) || vocab.is_control(token) {
            return self.finish(StopReason::EndTurn, None);
        }
        self.generated += 1;
        let text = self.decoder.push(&vocab.token_to_piece(token, false, None));
        match self.stops.push(&text) {
            Scan::Emit(text) => {
                if !self.send_text(text) {
                    return Step::Done; // the caller is gone
                }
            }
            Scan::Stop { text, sequence } => {
                self.send_text(text);
                return self.finish(StopReason::StopSequence, Some(sequence));
            }
        }
        if self.generated >= self.max_tokens {
            return self.finish(StopReason::MaxTokens, None);
        }
        if u32::try_from(self.pos).unwrap_or(u32::MAX) >= context {
            return self.finish(StopReason::ModelContextWindowExceeded, None);
        }
        self.next = Some(token);
        Step::Continue
    }

    fn finish(&mut self, mut reason: StopReason, mut sequence: Option<String>) -> Step {
        if sequence.is_none() {
            // What is still held: an unfinished character, the start of a stop sequence.
            let tail = self.decoder.finish();
            let text = match self.stops.push(&tail) {
                Scan::Emit(text) => text + &self.stops.flush(),
                Scan::Stop { text, sequence: s } => {
                    reason = StopReason::StopSequence;
                    sequence = Some(s);
                    text
                }
            };
            self.send_text(text);
        }
        let _ = self.events.send(Ok(finish(reason, self.input_tokens, self.generated, sequence)));
        Step::Done
    }
}

fn sampler(s: &Sampling) -> LlamaSampler {
    if s.temperature <= 0.0 {
        return LlamaSampler::greedy();
    }
    LlamaSampler::chain_simple([
        LlamaSampler::top_k(s.top_k),
        LlamaSampler::top_p(s.top_p, 1),
        LlamaSampler::temp(s.temperature),
        LlamaSampler::dist(s.seed),
    ])
}

struct Scheduler<'m> {
    backend: &'static LlamaBackend,
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    embed_ctx: Option<LlamaContext<'m>>,
    threads: i32,
    context: u32,
    batch: LlamaBatch<'static>,
    /// By llama.cpp sequence id.
    seqs: Vec<Option<Seq>>,
    waiting: VecDeque<GenerateJob>,
}

impl Scheduler<'_> {
    fn serve(&mut self, jobs: &mpsc::Receiver<Job>) {
        loop {
            if self.seqs.iter().all(Option::is_none) && self.waiting.is_empty() {
                match jobs.recv() {
                    Ok(job) => self.accept(job),
                    Err(_) => return, // every sender is gone
                }
            }
            while let Ok(job) = jobs.try_recv() {
                self.accept(job);
            }
            self.admit();
            self.step();
        }
    }

    fn accept(&mut self, job: Job) {
        match job {
            Job::Generate(job) => self.waiting.push_back(job),
            Job::Embed(job) => self.embed(job),
        }
    }

    /// Waiting generations into free sequences.
    fn admit(&mut self) {
        for id in 0..self.seqs.len() {
            if self.seqs[id].is_some() {
                continue;
            }
            while let Some(job) = self.waiting.pop_front() {
                if let Some(seq) = self.start(job) {
                    self.seqs[id] = Some(seq);
                    break;
                }
            }
        }
    }

    /// A sequence for `job`, or `None` when it needs none (cancelled, refused, or asks
    /// for no tokens at all).
    fn start(&self, job: GenerateJob) -> Option<Seq> {
        if job.events.is_closed() {
            return None; // cancelled while it waited
        }
        if u32::try_from(job.prompt.len()).unwrap_or(u32::MAX) >= self.context {
            let _ = job.events.send(Err(BackendError::Unsupported("Input is too long for requested model.".into())));
            return None;
        }
        let mut seq = Seq::new(job);
        if seq.max_tokens == 0 {
            seq.finish(StopReason::MaxTokens, None);
            return None;
        }
        Some(seq)
    }

    fn free(&mut self, id: usize) {
        self.seqs[id] = None;
        let seq_id = u32::try_from(id).ok();
        if let Err(e) = self.ctx.clear_kv_cache_seq(seq_id, None, None) {
            tracing::warn!(error = %e, "cannot clear a finished sequence");
        }
    }

    /// Decode one batch and sample every sequence that has logits in it.
    fn step(&mut self) {
        // Callers that went away while their text was held back.
        for id in 0..self.seqs.len() {
            if self.seqs[id].as_ref().is_some_and(|s| s.events.is_closed()) {
                self.free(id);
            }
        }
        self.batch.clear();
        let mut room = BATCH as usize;
        // Generating sequences first: one token each.
        for (id, seq) in self.seqs.iter_mut().enumerate() {
            let Some(seq) = seq else { continue };
            let Some(token) = seq.next.take() else { continue };
            if self.batch.add(token, seq.pos, &[id as i32], true).is_err() {
                seq.next = Some(token);
                continue;
            }
            seq.logits_at = Some(self.batch.n_tokens() - 1);
            seq.pos += 1;
            room -= 1;
        }
        // Then as much of the prompts as fits.
        for (id, seq) in self.seqs.iter_mut().enumerate() {
            let Some(seq) = seq else { continue };
            let left = seq.prompt.len() - seq.fed;
            if left == 0 || room == 0 {
                continue;
            }
            let take = left.min(room);
            let mut added = 0;
            for i in seq.fed..seq.fed + take {
                let last = i + 1 == seq.prompt.len();
                if self.batch.add(seq.prompt[i], i as i32, &[id as i32], last).is_err() {
                    break;
                }
                added += 1;
                if last {
                    seq.logits_at = Some(self.batch.n_tokens() - 1);
                }
            }
            seq.fed += added;
            seq.pos = i32::try_from(seq.fed).unwrap_or(i32::MAX);
            room -= added;
        }
        if self.batch.n_tokens() == 0 {
            return;
        }
        if let Err(e) = self.ctx.decode(&mut self.batch) {
            tracing::error!(error = %e, "llama.cpp decode failed");
            for id in 0..self.seqs.len() {
                if let Some(seq) = self.seqs[id].take() {
                    let _ = seq.events.send(Err(BackendError::Stream(format!("the model failed to decode: {e}"))));
                    self.free(id);
                }
            }
            return;
        }
        for id in 0..self.seqs.len() {
            let Some(seq) = self.seqs[id].as_mut() else { continue };
            let Some(at) = seq.logits_at.take() else { continue };
            let token = seq.sampler.sample(&self.ctx, at);
            if let Step::Done = seq.advance(self.model, token, self.context) {
                self.free(id);
            }
        }
    }

    fn embed(&mut self, job: EmbedJob) {
        let result = self.embed_all(&job.texts);
        let _ = job.reply.send(result);
    }

    fn embed_all(&mut self, texts: &[Vec<i32>]) -> Result<Vec<Vec<f32>>, BackendError> {
        let failed = |e: String| BackendError::Unavailable(format!("the model failed to embed: {e}"));
        if self.embed_ctx.is_none() {
            let params = LlamaContextParams::default()
                .with_n_ctx(NonZeroU32::new(self.context))
                .with_n_seq_max(1)
                .with_n_batch(EMBED_BATCH)
                .with_n_ubatch(EMBED_BATCH)
                .with_n_threads(self.threads)
                .with_n_threads_batch(self.threads)
                .with_embeddings(true)
                .with_pooling_type(LlamaPoolingType::Mean)
                .with_swa_full(false);
            self.embed_ctx = Some(self.model.new_context(self.backend, params).map_err(|e| failed(e.to_string()))?);
        }
        let Some(ctx) = self.embed_ctx.as_mut() else {
            return Err(failed("no embeddings context".into()));
        };
        let dims = usize::try_from(self.model.n_embd()).unwrap_or(0);
        let mut batch = LlamaBatch::new(EMBED_BATCH as usize, 1);
        let mut out = Vec::with_capacity(texts.len());
        for tokens in texts {
            ctx.clear_kv_cache();
            // The mean over every token: each step pools its own tokens, and the steps'
            // means are weighted by their sizes (the cache carries the earlier tokens).
            let mut sum = vec![0f32; dims];
            for (c, chunk) in tokens.chunks(EMBED_BATCH as usize).enumerate() {
                batch.clear();
                for (k, &t) in chunk.iter().enumerate() {
                    let pos = i32::try_from(c * EMBED_BATCH as usize + k).unwrap_or(i32::MAX);
                    batch.add(LlamaToken(t), pos, &[0], true).map_err(|e| failed(e.to_string()))?;
                }
                ctx.decode(&mut batch).map_err(|e| failed(e.to_string()))?;
                let mean = ctx.embeddings_seq_ith(0).map_err(|e| failed(e.to_string()))?;
                let weight = chunk.len() as f32;
                sum.iter_mut().zip(mean).for_each(|(s, m)| *s += m * weight);
            }
            let n = tokens.len().max(1) as f32;
            sum.iter_mut().for_each(|s| *s /= n);
            out.push(sum);
        }
        Ok(out)
    }
}
