//! The simulator backend: deterministic, seeded answers at a configurable pace, with a
//! concurrency limit and failure injection. It is how tests, benchmarks and demos run
//! without a model server, and it is labelled `sim` wherever backends are listed.

mod cache;
mod text;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spillway_catalog::{SimBackend as SimConfig, SimFailureKind};
use spillway_wire::converse::{ContentBlock, ConverseRequest, StopReason, TokenUsage, Tool, ToolChoice};
use spillway_wire::invoke::EmbedOutput;
use spillway_wire::stream::{Finish, ModelEvent};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::prompt::{count_request_tokens, count_tokens, render_prompt};
use crate::{BackendError, ChatCall, EmbedCall, EventStream, Load, ModelBackend};

#[derive(Debug)]
pub struct SimBackend {
    cfg: SimConfig,
    slots: Arc<Semaphore>,
    /// Counts calls so a failure rate below 1 hits a deterministic share of them.
    calls: AtomicU64,
    cache: cache::PrefixCache,
}

/// What the simulator decided to answer, before pacing it out.
#[derive(Debug, Clone, PartialEq)]
struct Plan {
    input_tokens: u32,
    events: Vec<ModelEvent>,
}

impl SimBackend {
    pub fn new(cfg: SimConfig) -> Self {
        let slots = Arc::new(Semaphore::new(cfg.max_concurrency as usize));
        Self { cfg, slots, calls: AtomicU64::new(0), cache: cache::PrefixCache::default() }
    }

    fn acquire(&self) -> Result<OwnedSemaphorePermit, BackendError> {
        // A saturated backend answers 429 at once, as a real server at its limit does.
        Arc::clone(&self.slots).try_acquire_owned().map_err(|_| BackendError::Busy)
    }

    /// The failure to inject into this call, if any.
    fn failure(&self) -> Option<(SimFailureKind, u32)> {
        let f = self.cfg.failure.as_ref()?;
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        let mut rng = text::Rng::new(text::hash(&[&self.cfg.seed.to_le_bytes(), &n.to_le_bytes()]));
        (rng.unit() < f.rate).then_some((f.kind, f.after_tokens))
    }

    fn plan(&self, model: &str, req: &ConverseRequest, max_tokens: u32) -> Plan {
        let prompt = render_prompt(req);
        let input_tokens = count_request_tokens(req);
        let temperature = req.inference_config.as_ref().and_then(|c| c.temperature).unwrap_or(1.0);
        let mut rng = text::Rng::new(text::hash(&[
            &self.cfg.seed.to_le_bytes(),
            model.as_bytes(),
            prompt.as_bytes(),
            &temperature.to_le_bytes(),
        ]));
        let mut events = vec![ModelEvent::InputTokens(input_tokens)];
        if let Some((id, name, input)) = tool_call(&mut rng, req) {
            let input = input.to_string();
            let output_tokens = count_tokens(&name) + count_tokens(&input);
            events.push(ModelEvent::ToolUseStart { id, name });
            events.push(ModelEvent::ToolUseInput(input));
            let usage = TokenUsage::new(input_tokens, output_tokens);
            events.push(ModelEvent::Finish(Finish::new(StopReason::ToolUse, usage)));
            return Plan { input_tokens, events };
        }
        if let Some(format) = spillway_wire::structured::format_of(req).ok().flatten() {
            return structured_answer(&mut rng, input_tokens, &format.schema, max_tokens, events);
        }
        let natural = self.cfg.output_tokens.max(1);
        let natural = natural / 2 + rng.below(u64::from(natural)) as u32 + 1;
        let pieces = text::pieces(&mut rng, natural.min(max_tokens));
        let stops = req.inference_config.as_ref().and_then(|c| c.stop_sequences.clone()).unwrap_or_default();
        let (pieces, stop_sequence) = cut_at_stop(pieces, &stops);
        // Asked to think (`thinking` in the additional request fields, as Converse and the
        // Anthropic body send it), the simulator reasons first, within the budget; drawn
        // after the answer so the answer is the same with or without thinking.
        let reasoning = thinking_budget(req).map(|budget| text::pieces(&mut rng, budget.min(natural / 2 + 8)));
        let output_tokens = pieces.len() as u32 + reasoning.as_ref().map_or(0, |r| r.len() as u32);
        let stop_reason = if stop_sequence.is_some() {
            StopReason::StopSequence
        } else if natural > max_tokens {
            StopReason::MaxTokens
        } else {
            StopReason::EndTurn
        };
        events.extend(reasoning.into_iter().flatten().map(ModelEvent::Reasoning));
        events.extend(pieces.into_iter().map(ModelEvent::Text));
        events.push(ModelEvent::Finish(Finish {
            stop_reason,
            usage: TokenUsage::new(input_tokens, output_tokens),
            stop_sequence,
        }));
        Plan { input_tokens, events }
    }
}

impl SimBackend {
    /// Reads and writes the prompt cache at the request's cache points and reports it in
    /// the answer's usage (the input tokens less what the cache read or wrote).
    fn use_cache(&self, model: &str, req: &ConverseRequest, plan: &mut Plan) {
        let prefixes = crate::prompt::cache_prefixes(req);
        if prefixes.is_empty() {
            return;
        }
        let used = self.cache.apply(model, &prefixes, self.cfg.cache_min_tokens, Instant::now());
        for event in &mut plan.events {
            if let ModelEvent::Finish(f) = event {
                let u = f.usage;
                f.usage = TokenUsage::cached(u.input_tokens, u.output_tokens, used.read, used.write_5m, used.write_1h);
            }
        }
    }
}

/// The thinking budget a request asks for: `{"thinking": {"type": "enabled",
/// "budget_tokens": n}}` in its additional request fields.
fn thinking_budget(req: &ConverseRequest) -> Option<u32> {
    let thinking = req.additional_model_request_fields.as_ref()?.get("thinking")?;
    if thinking.get("type")?.as_str()? != "enabled" {
        return None;
    }
    thinking.get("budget_tokens")?.as_u64().map(|b| u32::try_from(b).unwrap_or(u32::MAX))
}

/// An answer that follows the request's JSON schema, as constrained decoding yields it:
/// one JSON document, cut (and `max_tokens`) only if the limit is smaller than it.
fn structured_answer(
    rng: &mut text::Rng,
    input_tokens: u32,
    schema: &serde_json::Value,
    max_tokens: u32,
    mut events: Vec<ModelEvent>,
) -> Plan {
    let full = text::value_for_schema(rng, schema).to_string();
    let (answer, stop_reason) = if count_tokens(&full) <= max_tokens {
        (full, StopReason::EndTurn)
    } else {
        let mut cut: String = String::new();
        for c in full.chars() {
            cut.push(c);
            if count_tokens(&cut) > max_tokens {
                cut.pop();
                break;
            }
        }
        (cut, StopReason::MaxTokens)
    };
    let output_tokens = count_tokens(&answer);
    events.push(ModelEvent::Text(answer));
    events.push(ModelEvent::Finish(Finish {
        stop_reason,
        usage: TokenUsage::new(input_tokens, output_tokens),
        stop_sequence: None,
    }));
    Plan { input_tokens, events }
}

/// Whether to answer with a tool call: when the caller forces one (`any` / `tool`), or
/// under `auto` when the last user turn names a tool; never right after a tool result.
fn tool_call(rng: &mut text::Rng, req: &ConverseRequest) -> Option<(String, String, serde_json::Value)> {
    let cfg = req.tool_config.as_ref()?;
    let last = req.messages.last()?;
    if last.content.iter().any(|b| matches!(b, ContentBlock::ToolResult(_))) {
        return None;
    }
    let specs: Vec<_> =
        cfg.tools.iter().filter_map(|t| if let Tool::ToolSpec(s) = t { Some(s) } else { None }).collect();
    let spec = match &cfg.tool_choice {
        Some(ToolChoice::Tool(choice)) => specs.iter().find(|s| s.name == choice.name)?,
        Some(ToolChoice::Any(_)) => specs.first()?,
        _ => {
            let text: String = last
                .content
                .iter()
                .filter_map(|b| if let ContentBlock::Text(t) = b { Some(t.as_str()) } else { None })
                .collect();
            specs.iter().find(|s| text.contains(&s.name))?
        }
    };
    let schema = match &spec.input_schema {
        spillway_wire::converse::ToolInputSchema::Json(v) => v.clone(),
        spillway_wire::converse::ToolInputSchema::Unknown(_) => serde_json::json!({"type": "object"}),
    };
    let input = text::value_for_schema(rng, &schema);
    let id = format!("tooluse_{:016x}", rng.next_u64());
    Some((id, spec.name.clone(), input))
}

/// Cut the answer before the earliest stop sequence, as a model stops on it.
fn cut_at_stop(pieces: Vec<String>, stops: &[String]) -> (Vec<String>, Option<String>) {
    if stops.is_empty() {
        return (pieces, None);
    }
    let full: String = pieces.concat();
    let Some((at, stop)) = stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| full.find(s.as_str()).map(|i| (i, s)))
        .min_by_key(|(i, _)| *i)
    else {
        return (pieces, None);
    };
    let mut kept = Vec::new();
    let mut len = 0;
    for p in pieces {
        if len + p.len() > at {
            let head = &p[..at - len];
            if !head.is_empty() {
                kept.push(head.to_owned());
            }
            break;
        }
        len += p.len();
        kept.push(p);
    }
    (kept, Some(stop.clone()))
}

/// The injected failures that happen before anything is answered; `MidStream` happens
/// later, inside the stream.
async fn fail_before_answer(kind: SimFailureKind, ttft: Duration) -> Result<(), BackendError> {
    match kind {
        SimFailureKind::Throttle => Err(BackendError::Throttled),
        SimFailureKind::Error => Err(BackendError::Unavailable("simulated backend error (500)".into())),
        SimFailureKind::Timeout => {
            tokio::time::sleep(ttft.max(Duration::from_millis(1))).await;
            Err(BackendError::Timeout)
        }
        SimFailureKind::MidStream => Ok(()),
    }
}

impl ModelBackend for SimBackend {
    async fn chat(&self, call: ChatCall<'_>) -> Result<EventStream, BackendError> {
        let permit = self.acquire()?;
        let failure = self.failure();
        let ttft = Duration::from_millis(self.cfg.ttft_ms);
        if let Some(kind) = failure.map(|f| f.0) {
            fail_before_answer(kind, ttft).await?;
        }
        let mut plan = self.plan(call.model, call.request, call.max_tokens);
        self.use_cache(call.model, call.request, &mut plan);
        let fail_after = match failure {
            Some((SimFailureKind::MidStream, n)) => Some(n),
            _ => None,
        };
        let tps = self.cfg.tokens_per_second;
        let stream = async_stream::stream! {
            // Hold the slot for as long as the stream lives.
            let _permit = permit;
            let start = Instant::now();
            // A zero sleep still waits for the next timer tick (about 1 ms): skip it.
            if !ttft.is_zero() {
                tokio::time::sleep(ttft).await;
            }
            let mut emitted = 0u32;
            for event in plan.events {
                let is_token = matches!(event, ModelEvent::Text(_) | ModelEvent::ToolUseInput(_));
                if is_token {
                    if fail_after.is_some_and(|n| emitted >= n) {
                        yield Err(BackendError::Stream("simulated failure mid-stream".into()));
                        return;
                    }
                    if tps > 0 {
                        // Pace against the clock, not per sleep, so timer granularity
                        // does not slow the stream down.
                        let due = start + ttft + Duration::from_secs_f64(f64::from(emitted) / f64::from(tps));
                        tokio::time::sleep_until(due).await;
                    }
                    emitted += 1;
                }
                if fail_after.is_some_and(|n| emitted > n) {
                    yield Err(BackendError::Stream("simulated failure mid-stream".into()));
                    return;
                }
                yield Ok(event);
            }
        };
        Ok(Box::pin(stream))
    }

    async fn embed(&self, call: EmbedCall<'_>) -> Result<EmbedOutput, BackendError> {
        let _permit = self.acquire()?;
        if let Some((kind, _)) = self.failure() {
            // An embedding has no stream to break: a mid-stream failure is a 500 here.
            let kind = if kind == SimFailureKind::MidStream { SimFailureKind::Error } else { kind };
            fail_before_answer(kind, Duration::from_millis(self.cfg.ttft_ms)).await?;
        }
        let dims = call.request.dimensions.unwrap_or(call.default_dimensions).max(1);
        if self.cfg.ttft_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.cfg.ttft_ms)).await;
        }
        let embeddings = call.request.texts.iter().map(|t| text::embedding(self.cfg.seed, t, dims, true)).collect();
        let input_tokens = call.request.texts.iter().map(|t| count_tokens(t)).sum();
        Ok(EmbedOutput { embeddings, input_tokens })
    }

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
