//! Meta Llama (`prompt`, `max_gen_len`). A Llama 3 chat-template prompt is split back into
//! turns so chat backends see a conversation, not the template's markup.

use serde_json::{json, Value};

use super::body::{self, Obj};
use super::{invocation_metrics, Timing};
use crate::converse::{ContentBlock, ConverseRequest, InferenceConfig, Message, Role, StopReason, SystemContentBlock};
use crate::error::BedrockError;
use crate::stream::{Collector, Finish, ModelEvent};

const BEGIN: &str = "<|begin_of_text|>";
const HEADER: &str = "<|start_header_id|>";
const END_HEADER: &str = "<|end_header_id|>";
const EOT: &str = "<|eot_id|>";

pub fn parse(body: &Value) -> Result<ConverseRequest, BedrockError> {
    let root = Obj::root(body)?;
    let prompt = root.req_str("prompt")?;
    let inference = InferenceConfig {
        max_tokens: root.int_min("max_gen_len", 1)?,
        temperature: root.unit("temperature")?,
        top_p: root.unit("top_p")?,
        stop_sequences: None,
    };
    let (system, messages) = split_chat(prompt).unwrap_or_else(|| {
        (Vec::new(), vec![Message { role: Role::User, content: vec![ContentBlock::Text(prompt.to_owned())] }])
    });
    Ok(ConverseRequest {
        messages,
        system,
        inference_config: (inference != InferenceConfig::default()).then_some(inference),
        ..ConverseRequest::default()
    })
}

/// `<|start_header_id|>role<|end_header_id|>\n\ntext<|eot_id|>` turns; `None` when the
/// prompt is not in that template (or does not start with a user turn). Tool output (`ipython`, `tool`)
/// is input to the model, so it becomes user text; the final empty assistant header only
/// cues the answer and is dropped.
fn split_chat(prompt: &str) -> Option<(Vec<SystemContentBlock>, Vec<Message>)> {
    let trimmed = prompt.trim_start();
    let mut parts = trimmed.strip_prefix(BEGIN).unwrap_or(trimmed).split(HEADER);
    if !parts.next()?.trim().is_empty() {
        return None;
    }
    let (mut system, mut messages) = (Vec::new(), Vec::new());
    for part in parts {
        let (role, text) = part.split_once(END_HEADER)?;
        let text = text.trim().trim_end_matches(EOT).trim();
        match role.trim() {
            _ if text.is_empty() => {}
            "system" => system.push(SystemContentBlock::Text(text.to_owned())),
            "assistant" => body::push_turn(&mut messages, Role::Assistant, text),
            _ => body::push_turn(&mut messages, Role::User, text),
        }
    }
    // Bedrock hands Llama the prompt as it is, so a template whose first turn is not the
    // user's (which Converse cannot express) goes to the model whole (fuzz_invoke).
    messages.first().is_some_and(|m| m.role == Role::User).then_some((system, messages))
}

fn stop_reason(finish: Option<&Finish>) -> &'static str {
    match finish.map(|f| f.stop_reason) {
        Some(StopReason::MaxTokens | StopReason::ModelContextWindowExceeded) => "length",
        _ => "stop",
    }
}

pub fn response(out: &Collector) -> Value {
    let usage = out.usage();
    json!({
        "generation": out.text(),
        "prompt_token_count": usage.input_tokens,
        "generation_token_count": usage.output_tokens,
        "stop_reason": stop_reason(out.finish()),
    })
}

/// Llama streaming chunks. The running `generation_token_count` counts deltas (backends
/// stream about one token each); the final chunk carries the backend's real count.
#[derive(Debug, Default)]
pub struct Stream {
    input_tokens: Option<u32>,
    generated: u32,
    sent: bool,
    finished: bool,
}

impl Stream {
    pub fn push(&mut self, event: ModelEvent, timing: Timing) -> Vec<Value> {
        if self.finished {
            return Vec::new();
        }
        match event {
            ModelEvent::InputTokens(n) => self.input_tokens = Some(n),
            ModelEvent::Text(text) => {
                // Only the first chunk reports the prompt's size.
                let prompt_tokens = if self.sent { None } else { self.input_tokens };
                self.sent = true;
                self.generated = self.generated.saturating_add(1);
                return vec![json!({
                    "generation": text,
                    "prompt_token_count": prompt_tokens,
                    "generation_token_count": self.generated,
                    "stop_reason": null,
                })];
            }
            ModelEvent::Finish(finish) => {
                self.finished = true;
                return vec![json!({
                    "generation": "",
                    "prompt_token_count": (!self.sent).then_some(finish.usage.input_tokens),
                    "generation_token_count": finish.usage.output_tokens,
                    "stop_reason": stop_reason(Some(&finish)),
                    "amazon-bedrock-invocationMetrics": invocation_metrics(finish.usage, timing),
                })];
            }
            // Llama's native body has no tool use, nor a place for reasoning.
            ModelEvent::ToolUseStart { .. } | ModelEvent::ToolUseInput(_) | ModelEvent::Reasoning(_) => {}
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::converse::TokenUsage;

    #[test]
    fn parses_chat_template_and_plain_prompts() {
        let prompt = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>\
            <|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>\
            <|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|>\
            <|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
        let r = parse(&json!({"prompt": prompt, "max_gen_len": 64, "temperature": 0.2})).unwrap();
        assert_eq!(r.system, vec![SystemContentBlock::Text("Be brief.".into())]);
        let turns: Vec<_> = r.messages.iter().map(|m| (m.role, m.content[0].clone())).collect();
        assert_eq!(
            turns,
            [
                (Role::User, ContentBlock::Text("Hi".into())),
                (Role::Assistant, ContentBlock::Text("Hello".into())),
                (Role::User, ContentBlock::Text("Bye".into())),
            ]
        );
        assert_eq!(r.inference_config.unwrap().max_tokens, Some(64));
        let r = parse(&json!({"prompt": "[INST] hi [/INST]"})).unwrap();
        assert_eq!(r.messages[0].content, vec![ContentBlock::Text("[INST] hi [/INST]".into())]);
        assert!(r.inference_config.is_none());
    }

    /// Found by fuzz_invoke: an assistant turn first made a conversation Converse refuses
    /// ("must start with a user message"), though Bedrock runs any Llama prompt.
    #[test]
    fn template_starting_with_the_assistant_is_one_user_prompt() {
        let prompt = "<|start_header_id|>assistant<|end_header_id|>\n\nHi<|eot_id|>\
            <|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>";
        let r = parse(&json!({"prompt": prompt})).unwrap();
        assert_eq!(r.messages.len(), 1);
        assert_eq!(r.messages[0].role, Role::User);
        assert_eq!(r.messages[0].content, vec![ContentBlock::Text(prompt.into())]);
        assert!(crate::validate::converse(&r).is_ok());
    }

    #[test]
    fn validation_errors_name_the_field() {
        let e = parse(&json!({"max_gen_len": 5})).unwrap_err();
        assert!(e.message.contains("#: required key [prompt] not found"), "{}", e.message);
        let e = parse(&json!({"prompt": "x", "max_gen_len": "5"})).unwrap_err();
        assert!(e.message.contains("#/max_gen_len: expected type: Integer, found: String"), "{}", e.message);
    }

    #[test]
    fn response_shape() {
        let mut c = Collector::default();
        c.push(ModelEvent::Text("Hi".into()));
        c.push(ModelEvent::Finish(Finish::new(StopReason::EndTurn, TokenUsage::new(7, 1))));
        assert_eq!(
            response(&c),
            json!({"generation": "Hi", "prompt_token_count": 7, "generation_token_count": 1, "stop_reason": "stop"})
        );
    }

    #[test]
    fn stream_sequence() {
        let mut s = Stream::default();
        let t = Timing { latency_ms: 5, first_byte_ms: 1 };
        assert!(s.push(ModelEvent::InputTokens(7), t).is_empty());
        let a = s.push(ModelEvent::Text("He".into()), t);
        assert_eq!(
            a[0],
            json!({"generation": "He", "prompt_token_count": 7, "generation_token_count": 1, "stop_reason": null})
        );
        let b = s.push(ModelEvent::Text("y".into()), t);
        assert_eq!((b[0]["prompt_token_count"].is_null(), b[0]["generation_token_count"].as_u64()), (true, Some(2)));
        let last = s.push(ModelEvent::Finish(Finish::new(StopReason::MaxTokens, TokenUsage::new(7, 2))), t);
        assert_eq!(last[0]["stop_reason"], "length");
        assert_eq!(last[0]["amazon-bedrock-invocationMetrics"]["firstByteLatency"], 1);
    }
}
