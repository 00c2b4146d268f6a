//! The llama.cpp side of the local model: one OS thread per engine owns the model's
//! contexts and runs every sequence, never the async runtime.
//!
//! Scheduling is continuous batching: each step decodes one batch holding the next
//! token of every generating sequence plus as much of the waiting prompts as fits, so a
//! new request starts at the next step instead of after the running ones. Sequences are
//! the context's `slots` (llama.cpp sequence ids), each with its own window of
//! `context` tokens; requests beyond them wait in a FIFO.
//!
//! A finished sequence keeps its keys and values in the cache for the next request
//! that shares its prefix ([`super::prefix`]).
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

use super::calls::CallStyle;
use super::prefix::{Pick, PrefixCache, CHUNK};
use super::stops::{Scan, StopScanner, Utf8Decoder};
use super::template::{ChatFormat, Template};
use super::tools::Constraint;
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
    format: ChatFormat,
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

    /// How this model's prompts are written.
    pub fn format(&self) -> &ChatFormat {
        &self.format
    }

    /// A prompt's tokens. Text never turns into special tokens: they come only from
    /// the chat format's markup. A vocabulary that wants `<bos>` first gets it, once.
    pub fn tokenize(&self, segments: &[Segment]) -> Vec<i32> {
        let vocab = self.model.vocab();
        let mut out = Vec::new();
        for s in segments {
            match s {
                Segment::Bos => out.push(self.bos.0),
                Segment::Markup(t) => out.extend(vocab.tokenize(t.as_bytes(), false, true).into_iter().map(|t| t.0)),
                Segment::Text(t) => out.extend(vocab.tokenize(t.as_bytes(), false, false).into_iter().map(|t| t.0)),
            }
        }
        if vocab.should_add_bos() && out.first() != Some(&self.bos.0) {
            out.insert(0, self.bos.0);
        }
        out
    }

    /// A text to embed: `<bos>` and its tokens.
    pub fn tokenize_text(&self, text: &str) -> Vec<i32> {
        let mut out = vec![self.bos.0];
        out.extend(self.model.vocab().tokenize(text.as_bytes(), false, false).into_iter().map(|t| t.0));
        out
    }

    /// The tokens among `style`'s markers that are single control tokens of the
    /// vocabulary (Mistral's `[TOOL_CALLS]`): a call starts with them, so they are
    /// written out instead of ending the answer.
    pub fn markers(&self, style: CallStyle) -> Vec<i32> {
        let vocab = self.model.vocab();
        style
            .markers()
            .iter()
            .filter_map(|m| match vocab.tokenize(m.as_bytes(), false, true).as_slice() {
                [one] if vocab.is_control(*one) => Some(one.0),
                _ => None,
            })
            .collect()
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
    let ctx = match model.new_context(backend, params) {
        Ok(ctx) => ctx,
        Err(e) => {
            publish(Err(format!("cannot create the model's context: {e}")));
            return;
        }
    };
    let format = chat_format(&model);
    let (jobs, rx) = mpsc::channel();
    let load_time = started.elapsed();
    let bos = model.vocab().bos();
    tracing::info!(
        format = format.name(),
        load_ms = load_time.as_millis() as u64,
        threads,
        slots,
        context,
        params = model.n_params(),
        "local model loaded"
    );
    let loaded = Loaded { model: Arc::clone(&model), bos, format, jobs, load_time, context };
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
        prefixes: PrefixCache::new(slots as usize, CHUNK),
        waiting: VecDeque::new(),
    };
    scheduler.serve(&rx);
}

/// The model's chat template when it has one that renders; else Gemma's turns when the
/// vocabulary has their tokens; else a plain transcript.
fn chat_format(model: &LlamaModel) -> ChatFormat {
    let vocab = model.vocab();
    let text = |t: LlamaToken| vocab.text(t).map(|c| c.to_string_lossy().into_owned()).unwrap_or_default();
    if let Some(source) = model.chat_template(None).ok().and_then(|t| t.to_string().ok()) {
        // What user strings in a template's markup must not spell.
        let specials = vocab.tokens().filter(|&t| vocab.is_control(t)).map(text).filter(|t| !t.is_empty()).collect();
        match Template::new(source, text(vocab.bos()), text(vocab.eos()), specials) {
            Ok(template) => return ChatFormat::Template(template),
            Err(e) => tracing::warn!(error = %e, "the model's chat template does not render: using a fallback format"),
        }
    }
    let single = |marker: &str| vocab.tokenize(marker.as_bytes(), false, true).len() == 1;
    if single("<start_of_turn>") && single("<end_of_turn>") {
        ChatFormat::Gemma
    } else {
        ChatFormat::Plain
    }
}

/// The GBNF grammar of `constraint` for a model that writes calls in `style`: its JSON
/// schema's; for tools, the call wrapped in the style's markers, and for `auto` tool
/// choice, that or text that does not start like a call.
pub fn grammar(constraint: &Constraint, style: CallStyle) -> Result<String, BackendError> {
    let json = llama_cpp_2::json_schema_to_grammar(&constraint.schema(style)).map_err(|e| {
        BackendError::Unsupported(format!("The JSON schema cannot be turned into a grammar for the local model: {e}"))
    })?;
    if !constraint.has_tools() {
        return Ok(json);
    }
    let renamed: Vec<String> = json
        .lines()
        .map(|l| l.strip_prefix("root ::=").map_or_else(|| l.to_owned(), |rest| format!("spillway-json ::={rest}")))
        .collect();
    // Mistral 7B v0.3 writes `[TOOL_CALLS] [`, Nemo `[TOOL_CALLS][`.
    let open = match style {
        CallStyle::Mistral => "\"[TOOL_CALLS]\" \" \"? \"[\"".to_owned(),
        other => gbnf_literal(other.open()),
    };
    let call = format!("spillway-call ::= {open} spillway-json {}", gbnf_literal(style.close()));
    let call = call.replace(" \"\"", "");
    let root = if constraint.text_allowed {
        let first = style.first_char();
        let first =
            if first == ']' || first == '\\' || first == '^' { format!("\\{first}") } else { first.to_string() };
        format!("root ::= [ \\t\\n]* (spillway-call | text)\ntext ::= [^{first} \\t\\n] [^\\x00]*")
    } else {
        "root ::= spillway-call".to_owned()
    };
    Ok(format!("{}\n{call}\n{root}\n", renamed.join("\n")))
}

/// `text` as a GBNF string literal (`""` for none).
fn gbnf_literal(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
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
    /// Every token decoded into this sequence's cache so far, in order (what it leaves
    /// to the prefix cache).
    decoded: Vec<i32>,
    /// Prompt tokens found in the prefix cache.
    cached: u32,
    sampler: LlamaSampler,
    /// Whether the sampler has a grammar: then tokens are checked as they are accepted.
    constrained: bool,
    /// Control tokens that are part of the answer (a tool call's marker).
    keep: Vec<i32>,
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
    fn new(job: GenerateJob, model: &LlamaModel) -> Result<Self, (Events, BackendError)> {
        let constrained = job.grammar.is_some();
        let sampler = match sampler(model, &job.sampling, job.grammar.as_deref()) {
            Ok(s) => s,
            Err(e) => return Err((job.events, e)),
        };
        Ok(Self {
            input_tokens: u32::try_from(job.prompt.len()).unwrap_or(u32::MAX),
            decoded: Vec::with_capacity(job.prompt.len() + job.max_tokens.min(4096) as usize),
            prompt: job.prompt.into_iter().map(LlamaToken).collect(),
            cached: 0,
            fed: 0,
            pos: 0,
            next: None,
            logits_at: None,
            sampler,
            constrained,
            keep: job.keep,
            generated: 0,
            max_tokens: job.max_tokens,
            decoder: Utf8Decoder::default(),
            stops: StopScanner::new(&job.stops),
            events: job.events,
        })
    }

    /// The next token from the logits at `at`. Under a grammar the token is chosen
    /// from the grammar's candidates and accepted through llama.cpp's checked call, so
    /// a grammar that cannot go on ends the answer instead of aborting the process.
    fn sample(&mut self, ctx: &LlamaContext<'_>, at: i32) -> Option<LlamaToken> {
        if !self.constrained {
            return Some(self.sampler.sample(ctx, at));
        }
        let mut candidates = ctx.token_data_array_ith(at);
        candidates.apply_sampler(&mut self.sampler);
        let token = candidates.selected_token()?;
        self.sampler.try_accept(token).ok()?;
        Some(token)
    }

    fn send_text(&self, text: String) -> bool {
        text.is_empty() || self.events.send(Ok(ModelEvent::Text(text))).is_ok()
    }

    /// Take `token` into the answer.
    fn advance(&mut self, model: &LlamaModel, token: LlamaToken, context: u32) -> Step {
        let vocab = model.vocab();
        // `<end_of_turn>`, `<eos>`, or any other control token ends the answer, but for
        // the marker of a tool call.
        let kept = self.keep.contains(&token.0);
        if vocab.is_eog(token) || (vocab.is_control(token) && !kept) {
            return self.finish(StopReason::EndTurn, None);
        }
        self.generated += 1;
        let text = self.decoder.push(&vocab.token_to_piece(token, kept, None));
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
        let _ = self.events.send(Ok(finish(reason, self.input_tokens, self.generated, sequence, self.cached)));
        Step::Done
    }
}

fn sampler(model: &LlamaModel, s: &Sampling, grammar: Option<&str>) -> Result<LlamaSampler, BackendError> {
    let mut chain = Vec::with_capacity(5);
    if let Some(grammar) = grammar {
        let g = LlamaSampler::grammar(model, grammar, "root").map_err(|e| {
            BackendError::Unsupported(format!("The JSON schema's grammar is not usable by the local model: {e}"))
        })?;
        chain.push(g);
    }
    if s.temperature <= 0.0 {
        chain.push(LlamaSampler::greedy());
    } else {
        chain.extend([
            LlamaSampler::top_k(s.top_k),
            LlamaSampler::top_p(s.top_p, 1),
            LlamaSampler::temp(s.temperature),
            LlamaSampler::dist(s.seed),
        ]);
    }
    Ok(LlamaSampler::chain_simple(chain))
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
    /// What the idle sequences hold.
    prefixes: PrefixCache,
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

    /// Waiting generations into free sequences, first come first served, each into the
    /// idle sequence that holds the longest prefix of its prompt.
    fn admit(&mut self) {
        while let Some(job) = self.waiting.front() {
            let seqs = &self.seqs;
            let Some(pick) = self.prefixes.pick(|id| seqs[id].is_none(), &job.prompt) else { break };
            let Some(job) = self.waiting.pop_front() else { break };
            if let Some(seq) = self.start(job, pick) {
                self.seqs[pick.seq] = Some(seq);
            }
        }
    }

    /// A sequence for `job` in `pick`'s place, or `None` when it needs none (cancelled,
    /// refused, or asks for no tokens at all).
    fn start(&mut self, job: GenerateJob, pick: Pick) -> Option<Seq> {
        if job.events.is_closed() {
            return None; // cancelled while it waited
        }
        if u32::try_from(job.prompt.len()).unwrap_or(u32::MAX) >= self.context {
            let _ = job.events.send(Err(BackendError::Unsupported("Input is too long for requested model.".into())));
            return None;
        }
        let mut seq = match Seq::new(job, self.model) {
            Ok(seq) => seq,
            Err((events, e)) => {
                let _ = events.send(Err(e));
                return None;
            }
        };
        if seq.max_tokens == 0 {
            seq.finish(StopReason::MaxTokens, None);
            return None;
        }
        let reuse = self.reuse(pick);
        self.prefixes.take(pick.seq);
        seq.decoded.extend(seq.prompt[..reuse].iter().map(|t| t.0));
        seq.fed = reuse;
        seq.pos = i32::try_from(reuse).unwrap_or(0);
        seq.cached = u32::try_from(reuse).unwrap_or(0);
        Some(seq)
    }

    /// Keep the first `pick.reuse` tokens of the sequence's cache and drop the rest;
    /// how many were kept. A cache that cannot be cut there (a sliding-window layer has
    /// already dropped the start of it) is emptied.
    fn reuse(&mut self, pick: Pick) -> usize {
        let Ok(id) = u32::try_from(pick.seq) else { return 0 };
        if pick.reuse > 0 {
            let cut = self.ctx.clear_kv_cache_seq(Some(id), u32::try_from(pick.reuse).ok(), None);
            if matches!(cut, Ok(true)) && self.ctx.kv_cache_seq_pos_min(id as i32) <= 0 {
                return pick.reuse;
            }
        }
        if let Err(e) = self.ctx.clear_kv_cache_seq(Some(id), None, None) {
            tracing::warn!(error = %e, "cannot clear a sequence's cache");
        }
        0
    }

    /// A sequence ends: its cache stays, for the next prompt that starts the same way.
    fn free(&mut self, id: usize) {
        if let Some(seq) = self.seqs[id].take() {
            self.prefixes.release(id, seq.decoded);
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
            seq.decoded.push(token.0);
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
            // Whole chunks from the prompt's start (`super::prefix`): the same pieces
            // whether or not a prefix came from the cache.
            let take = left.min(room).min(CHUNK - seq.fed % CHUNK);
            let mut added = 0;
            for i in seq.fed..seq.fed + take {
                let last = i + 1 == seq.prompt.len();
                if self.batch.add(seq.prompt[i], i as i32, &[id as i32], last).is_err() {
                    break;
                }
                seq.decoded.push(seq.prompt[i].0);
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
            // What the cache holds is unknown now: empty it, and forget what it held.
            self.ctx.clear_kv_cache();
            for id in 0..self.seqs.len() {
                if let Some(seq) = self.seqs[id].take() {
                    let _ = seq.events.send(Err(BackendError::Stream(format!("the model failed to decode: {e}"))));
                }
                self.prefixes.release(id, Vec::new());
            }
            return;
        }
        for id in 0..self.seqs.len() {
            let Some(seq) = self.seqs[id].as_mut() else { continue };
            let Some(at) = seq.logits_at.take() else { continue };
            let step = match seq.sample(&self.ctx, at) {
                Some(token) => seq.advance(self.model, token, self.context),
                None => seq.finish(StopReason::EndTurn, None),
            };
            if let Step::Done = step {
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

#[cfg(test)]
mod tests {
    use super::super::tools::ToolDef;
    use super::*;

    fn tools(text_allowed: bool) -> Constraint {
        let schema = serde_json::json!({"type": "object", "properties": {"city": {"type": "string"}}});
        Constraint {
            json_schema: None,
            tools: vec![ToolDef { name: "get_weather".into(), description: String::new(), schema }],
            callable: vec!["get_weather".into()],
            chosen: None,
            text_allowed,
        }
    }

    #[test]
    fn tool_grammars_wrap_the_call_in_the_styles_markers() {
        let hermes = grammar(&tools(false), CallStyle::Hermes).unwrap();
        assert!(hermes.contains("spillway-call ::= \"<tool_call>\\n\" spillway-json \"\\n</tool_call>\""), "{hermes}");
        assert!(hermes.contains("root ::= spillway-call\n"), "{hermes}");
        let mistral = grammar(&tools(true), CallStyle::Mistral).unwrap();
        assert!(mistral.contains("spillway-call ::= \"[TOOL_CALLS]\" \" \"? \"[\" spillway-json \"]\""), "{mistral}");
        assert!(mistral.contains("text ::= [^[ \\t\\n]"), "{mistral}");
        let llama = grammar(&tools(true), CallStyle::Llama3).unwrap();
        assert!(llama.contains("spillway-call ::= spillway-json\n"), "{llama}");
        assert!(llama.contains("parameters"), "{llama}");
        assert!(llama.contains("text ::= [^{ \\t\\n]"), "{llama}");
    }
}
