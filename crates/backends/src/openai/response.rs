//! Chat-completions answers (and error bodies) as [`ModelEvent`]s.

use serde::Deserialize;
use serde_json::Value;
use spillway_wire::converse::{StopReason, TokenUsage};
use spillway_wire::stream::{Finish, ModelEvent};

use crate::prompt::count_tokens;
use crate::BackendError;

#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub(super) struct Usage {
    #[serde(default)]
    pub prompt_tokens: u32,
    #[serde(default)]
    pub completion_tokens: u32,
    /// The server's own prefix cache (vLLM, SGLang, OpenAI): prompt tokens it read from
    /// it. Servers report no cache writes, so none are ever claimed.
    pub prompt_tokens_details: Option<PromptTokensDetails>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub(super) struct PromptTokensDetails {
    #[serde(default)]
    pub cached_tokens: u32,
}

impl Usage {
    pub(super) fn token_usage(&self) -> TokenUsage {
        let read = self.prompt_tokens_details.map_or(0, |d| d.cached_tokens.min(self.prompt_tokens));
        TokenUsage::cached(self.prompt_tokens, self.completion_tokens, read, 0, 0)
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct Completion {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    message: ResponseMessage,
    finish_reason: Option<String>,
    /// vLLM: the stop string matched, a stop token id, or null at end of sequence.
    stop_reason: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct ResponseMessage {
    content: Option<String>,
    /// The model's reasoning, under either name servers use for it.
    reasoning_content: Option<String>,
    reasoning: Option<String>,
    tool_calls: Option<Vec<ResponseToolCall>>,
}

#[derive(Debug, Deserialize)]
struct ResponseToolCall {
    id: Option<String>,
    function: ResponseFunction,
}

#[derive(Debug, Deserialize)]
struct ResponseFunction {
    name: String,
    /// A JSON string by the spec; some servers send the object itself.
    #[serde(default)]
    arguments: Value,
}

pub(super) fn arguments_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A tool-call id for servers that send none, so tool results can still refer to it.
pub(super) fn fallback_tool_id(index: usize) -> String {
    format!("call_{index}")
}

/// How generation ended. `had_tool_calls` matters because some servers report "stop"
/// after tool calls, and Bedrock clients run their tool loop only on `tool_use`.
pub(super) fn stop_reason(
    finish_reason: &str,
    vllm_stop: Option<&Value>,
    had_tool_calls: bool,
) -> (StopReason, Option<String>) {
    match finish_reason {
        "length" => (StopReason::MaxTokens, None),
        "tool_calls" | "function_call" => (StopReason::ToolUse, None),
        "content_filter" => (StopReason::ContentFiltered, None),
        _ if had_tool_calls => (StopReason::ToolUse, None),
        _ => match vllm_stop.and_then(Value::as_str) {
            Some(s) => (StopReason::StopSequence, Some(s.to_owned())),
            None => (StopReason::EndTurn, None),
        },
    }
}

/// Events of a whole (non-streamed) completion. `input_estimate` stands in for usage
/// when the server reports none (and is only computed then).
pub(super) fn completion_events(
    c: Completion,
    input_estimate: impl FnOnce() -> u32,
) -> Result<Vec<ModelEvent>, BackendError> {
    let Some(choice) = c.choices.into_iter().next() else {
        return Err(BackendError::Invalid("the backend answered without choices".into()));
    };
    let mut events = Vec::with_capacity(4);
    // The generated text, to count when the server reports no usage (only then: a copy
    // of the whole answer otherwise).
    let mut generated = String::new();
    let counting = c.usage.is_none();
    let mut generated_push = |t: &str| {
        if counting {
            generated.push_str(t);
        }
    };
    let input = c.usage.map_or_else(input_estimate, |u| u.prompt_tokens);
    events.push(ModelEvent::InputTokens(input));
    let message = choice.message;
    if let Some(thought) = message.reasoning_content.or(message.reasoning).filter(|t| !t.is_empty()) {
        generated_push(&thought);
        events.push(ModelEvent::Reasoning(thought));
    }
    if let Some(text) = message.content.filter(|t| !t.is_empty()) {
        generated_push(&text);
        events.push(ModelEvent::Text(text));
    }
    let calls = message.tool_calls.unwrap_or_default();
    let had_tool_calls = !calls.is_empty();
    for (i, call) in calls.into_iter().enumerate() {
        let args = arguments_text(&call.function.arguments);
        generated_push(&call.function.name);
        generated_push(&args);
        events.push(ModelEvent::ToolUseStart {
            id: call.id.unwrap_or_else(|| fallback_tool_id(i)),
            name: call.function.name,
        });
        if !args.is_empty() {
            events.push(ModelEvent::ToolUseInput(args));
        }
    }
    let finish_reason = choice.finish_reason.unwrap_or_default();
    let (stop_reason, stop_sequence) = stop_reason(&finish_reason, choice.stop_reason.as_ref(), had_tool_calls);
    let usage = c.usage.map_or_else(|| TokenUsage::new(input, count_tokens(&generated)), |u| u.token_usage());
    events.push(ModelEvent::Finish(Finish { stop_reason, usage, stop_sequence }));
    Ok(events)
}

/// The message of an error body: OpenAI's `error.message`, vLLM's top-level `message`,
/// or the text itself.
pub(super) fn error_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let found = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("error").filter(|e| e.is_string()))
            .or_else(|| v.get("message"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    found.unwrap_or_else(|| snippet(body))
}

/// At most 500 characters of a body, for error messages.
pub(super) fn snippet(body: &str) -> String {
    const MAX: usize = 500;
    match body.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &body[..at]),
        None => body.to_owned(),
    }
}
