//! Streamed chat completions: the SSE body of `"stream": true`, chunk by chunk, as
//! [`ModelEvent`]s.

use std::time::Duration;

use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::Value;
use spillway_wire::converse::TokenUsage;
use spillway_wire::stream::{Finish, ModelEvent};
use tokio::sync::OwnedSemaphorePermit;

use super::event_source::EventSource;
use super::response::{arguments_text, fallback_tool_id, stop_reason, Usage};
use crate::prompt::count_tokens;
use crate::{BackendError, EventStream};

#[derive(Debug, Default, Deserialize)]
pub(super) struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    usage: Option<Usage>,
    /// Servers that fail after the headers report it in a chunk of its own.
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Delta,
    finish_reason: Option<String>,
    stop_reason: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
struct Delta {
    content: Option<String>,
    /// The model's reasoning: `reasoning_content` (vLLM, DeepSeek, llama.cpp) or
    /// `reasoning` (Ollama, newer vLLM).
    reasoning_content: Option<String>,
    reasoning: Option<String>,
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Debug, Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: usize,
    id: Option<String>,
    function: Option<FunctionDelta>,
}

#[derive(Debug, Deserialize)]
struct FunctionDelta {
    name: Option<String>,
    #[serde(default)]
    arguments: Value,
}

/// The tool call whose fragments are arriving.
#[derive(Debug)]
struct ToolSlot {
    index: usize,
    id: Option<String>,
    name: Option<String>,
    /// Whether `ToolUseStart` went out; until the name is known arguments wait here.
    started: bool,
    pending: String,
}

/// Folds chunks into events, remembering what the finish needs.
#[derive(Debug)]
pub(super) struct Assembler {
    input_estimate: u32,
    /// Everything generated, to estimate output tokens when the server sends no usage.
    generated: String,
    tool: Option<ToolSlot>,
    tool_calls: usize,
    finish_reason: Option<String>,
    vllm_stop: Option<Value>,
    usage: Option<Usage>,
}

impl Assembler {
    pub(super) fn new(input_estimate: u32) -> Self {
        Self {
            input_estimate,
            generated: String::new(),
            tool: None,
            tool_calls: 0,
            finish_reason: None,
            vllm_stop: None,
            usage: None,
        }
    }

    /// Events for one chunk's `data`.
    #[cfg(test)]
    pub(super) fn push(&mut self, data: &str) -> Result<Vec<ModelEvent>, BackendError> {
        let mut out = Vec::new();
        self.push_into(data, &mut out)?;
        Ok(out)
    }

    /// Appends the events for one chunk's `data` to `out`.
    pub(super) fn push_into(&mut self, data: &str, out: &mut Vec<ModelEvent>) -> Result<(), BackendError> {
        let chunk: Chunk = serde_json::from_str(data)
            .map_err(|e| BackendError::Stream(format!("invalid chunk from the backend: {e}")))?;
        if let Some(err) = chunk.error.filter(|e| !e.is_null()) {
            let msg = err.get("message").and_then(Value::as_str).map_or_else(|| err.to_string(), str::to_owned);
            return Err(BackendError::Stream(msg));
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        // Only `n = 1` is ever requested, so the first choice is the answer.
        let Some(choice) = chunk.choices.into_iter().next() else { return Ok(()) };
        let delta = choice.delta;
        if let Some(thought) = delta.reasoning_content.or(delta.reasoning).filter(|t| !t.is_empty()) {
            self.generated.push_str(&thought);
            out.push(ModelEvent::Reasoning(thought));
        }
        if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
            self.generated.push_str(&text);
            out.push(ModelEvent::Text(text));
        }
        for call in delta.tool_calls.unwrap_or_default() {
            self.tool_delta(call, out)?;
        }
        if let Some(reason) = choice.finish_reason {
            self.finish_reason = Some(reason);
            self.vllm_stop = choice.stop_reason;
        }
        Ok(())
    }

    fn tool_delta(&mut self, call: ToolCallDelta, out: &mut Vec<ModelEvent>) -> Result<(), BackendError> {
        let (name, args) = match call.function {
            Some(f) => (f.name, arguments_text(&f.arguments)),
            None => (None, String::new()),
        };
        let same = self
            .tool
            .as_ref()
            .is_some_and(|t| t.index == call.index && (call.id.is_none() || call.id == t.id || t.id.is_none()));
        if !same {
            // Events carry one tool use at a time, so a call cannot be resumed later.
            if self.tool.as_ref().is_some_and(|t| call.index < t.index) {
                return Err(BackendError::Stream("the backend interleaved tool call fragments".into()));
            }
            if self.tool.as_ref().is_some_and(|t| !t.started) {
                return Err(BackendError::Stream("the backend sent a tool call without a function name".into()));
            }
            self.tool =
                Some(ToolSlot { index: call.index, id: None, name: None, started: false, pending: String::new() });
            self.tool_calls += 1;
        }
        let Some(slot) = self.tool.as_mut() else { return Ok(()) };
        if call.id.is_some() {
            slot.id = call.id;
        }
        if let Some(n) = name.filter(|n| !n.is_empty()) {
            if !slot.started {
                slot.name = Some(n);
            }
        }
        self.generated.push_str(&args);
        if slot.started {
            if !args.is_empty() {
                out.push(ModelEvent::ToolUseInput(args));
            }
            return Ok(());
        }
        slot.pending.push_str(&args);
        if let Some(name) = slot.name.clone() {
            slot.started = true;
            self.generated.push_str(&name);
            let id = slot.id.clone().unwrap_or_else(|| fallback_tool_id(self.tool_calls - 1));
            out.push(ModelEvent::ToolUseStart { id, name });
            if !slot.pending.is_empty() {
                out.push(ModelEvent::ToolUseInput(std::mem::take(&mut slot.pending)));
            }
        }
        Ok(())
    }

    /// The closing event, once the body has ended.
    pub(super) fn finish(self) -> Result<ModelEvent, BackendError> {
        let Some(reason) = self.finish_reason else {
            return Err(BackendError::Stream("the backend stream ended before the model finished".into()));
        };
        if self.tool.as_ref().is_some_and(|t| !t.started) {
            return Err(BackendError::Stream("the backend sent a tool call without a function name".into()));
        }
        let (stop_reason, stop_sequence) = stop_reason(&reason, self.vllm_stop.as_ref(), self.tool_calls > 0);
        let usage = match self.usage {
            Some(u) => u.token_usage(),
            None => TokenUsage::new(self.input_estimate, count_tokens(&self.generated)),
        };
        Ok(ModelEvent::Finish(Finish { stop_reason, usage, stop_sequence }))
    }
}

/// The events of a streamed response. `permit` is the backend slot, held until the
/// stream is dropped so a slow reader still counts against the limit. A server that sends
/// nothing for `read_timeout` has stalled: the stream fails.
pub(super) fn events(
    body: super::client::Reply,
    read_timeout: Duration,
    permit: OwnedSemaphorePermit,
    input_estimate: u32,
) -> EventStream {
    let stream = async_stream::stream! {
        let _permit = permit;
        let mut body = body;
        let mut source = EventSource::default();
        // One timer for the whole stream, pushed back as bytes arrive.
        let stall = tokio::time::sleep(read_timeout);
        tokio::pin!(stall);
        let mut asm = Assembler::new(input_estimate);
        let mut events = 0usize;
        let mut out = Vec::new();
        loop {
            let next = tokio::select! {
                biased;
                next = body.frame() => next,
                () = &mut stall => {
                    yield Err(BackendError::Stream(format!("the backend sent nothing for {} ms", read_timeout.as_millis())));
                    return;
                }
            };
            let Some(frame) = next else { break };
            stall.as_mut().reset(tokio::time::Instant::now() + read_timeout);
            let chunk = match frame {
                Ok(frame) => match frame.into_data() {
                    Ok(chunk) => chunk,
                    Err(_) => continue, // trailers
                },
                Err(e) => {
                    yield Err(BackendError::Stream(format!("the backend stream broke: {e}")));
                    return;
                }
            };
            let (mut failed, mut done) = (None, false);
            source.feed(&chunk, &mut |data: &[u8]| {
                events += 1;
                let data = match std::str::from_utf8(data) {
                    Ok(d) => d.trim(),
                    Err(e) => {
                        failed = Some(BackendError::Stream(format!("the backend stream broke: {e}")));
                        return false;
                    }
                };
                if data == "[DONE]" {
                    done = true;
                    return false;
                }
                if !data.is_empty() {
                    if let Err(e) = asm.push_into(data, &mut out) {
                        failed = Some(e);
                        return false;
                    }
                }
                true
            });
            for e in out.drain(..) {
                yield Ok(e);
            }
            if let Some(e) = failed {
                yield Err(e);
                return;
            }
            if done {
                break;
            }
        }
        // A body with no server-sent event at all is no event stream (a JSON answer, an
        // error page): the backend's answer is invalid, not a stream cut short.
        if events == 0 {
            yield Err(BackendError::Invalid("the backend's answer is not an event stream".into()));
            return;
        }
        yield asm.finish();
    };
    Box::pin(stream)
}
