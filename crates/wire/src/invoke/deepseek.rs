//! DeepSeek (`prompt`, `max_tokens`, `stop`) and its text-completion answer
//! (`choices[].text`). R1 writes its reasoning first and closes it with `</think>`, so a
//! backend's reasoning is put back in the text that way: what a DeepSeek client parses.
//! A prompt in DeepSeek's chat template is split back into turns.

use serde_json::{json, Value};

use super::body::{self, Obj};
use super::members::only;
use super::{invocation_metrics, Timing};
use crate::converse::{ContentBlock, ConverseRequest, InferenceConfig, Message, Role, StopReason, SystemContentBlock};
use crate::error::BedrockError;
use crate::options::ReasoningContentBlock;
use crate::stream::{Collector, Finish, ModelEvent};

const MAX_TOKENS: f64 = 32_768.0;
const MAX_STOP: usize = 10;
const BOS: &str = "<｜begin▁of▁sentence｜>";
const EOS: &str = "<｜end▁of▁sentence｜>";
const USER: &str = "<｜User｜>";
const ASSISTANT: &str = "<｜Assistant｜>";
/// What ends the reasoning in R1's output.
pub(crate) const THINK_END: &str = "\n</think>\n\n";

pub fn parse(value: &Value) -> Result<ConverseRequest, BedrockError> {
    let root = Obj::root(value)?;
    only(&root, &["prompt", "temperature", "top_p", "max_tokens", "stop"], &[])?;
    let prompt = root.req_str("prompt")?;
    let max_tokens = root.int_min("max_tokens", 1)?;
    if let Some(n) = max_tokens {
        body::range(&root.at("max_tokens"), n as f64, 1.0, Some(MAX_TOKENS))?;
    }
    let stop = root.strings("stop")?;
    if let Some(s) = stop.as_ref().filter(|s| s.len() > MAX_STOP) {
        return Err(body::malformed(
            &root.at("stop"),
            format!("expected maximum item count: {MAX_STOP}, found: {}", s.len()),
        ));
    }
    let inference = InferenceConfig {
        max_tokens,
        temperature: root.unit("temperature")?,
        top_p: root.unit("top_p")?,
        stop_sequences: stop.filter(|s| !s.is_empty()),
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

/// `<｜begin▁of▁sentence｜>system<｜User｜>q<｜Assistant｜>a<｜end▁of▁sentence｜>…` as turns;
/// `None` when the prompt has no User marker or does not open with one. Earlier
/// reasoning (`<think>…</think>`) in an assistant turn is dropped, as DeepSeek's own
/// template drops it; the final `<｜Assistant｜><think>` only cues the answer.
fn split_chat(prompt: &str) -> Option<(Vec<SystemContentBlock>, Vec<Message>)> {
    let text = prompt.trim_start();
    let text = text.strip_prefix(BOS).unwrap_or(text);
    let first = text.find(USER)?;
    let mut system = Vec::new();
    if !text[..first].trim().is_empty() {
        system.push(SystemContentBlock::Text(text[..first].trim().to_owned()));
    }
    let mut messages = Vec::new();
    for turn in text[first + USER.len()..].split(USER) {
        let (question, answer) = turn.split_once(ASSISTANT).unwrap_or((turn, ""));
        if !question.trim().is_empty() {
            body::push_turn(&mut messages, Role::User, question.trim());
        }
        let answer = answer.replace(EOS, "");
        let answer = match answer.find("</think>") {
            Some(i) => &answer[i + "</think>".len()..],
            None => answer.trim_start().strip_prefix("<think>").map_or(answer.as_str(), |_| ""),
        };
        if !answer.trim().is_empty() {
            body::push_turn(&mut messages, Role::Assistant, answer.trim());
        }
    }
    messages.first().is_some_and(|m| m.role == Role::User).then_some((system, messages))
}

fn stop_reason(finish: Option<&Finish>) -> &'static str {
    match finish.map(|f| f.stop_reason) {
        Some(StopReason::MaxTokens | StopReason::ModelContextWindowExceeded) => "length",
        _ => "stop",
    }
}

/// The answer text as R1 writes it: reasoning, `</think>`, then the answer.
fn text(out: &Collector) -> String {
    let mut text = String::new();
    for block in out.content() {
        match block {
            ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(r)) => {
                text.push_str(&r.text);
                text.push_str(THINK_END);
            }
            ContentBlock::Text(t) => text.push_str(t),
            _ => {}
        }
    }
    text
}

pub fn response(out: &Collector) -> Value {
    json!({"choices": [{"text": text(out), "stop_reason": stop_reason(out.finish())}]})
}

/// DeepSeek streaming chunks: each delta as `choices[0].text`, reasoning first and closed
/// by `</think>` when the answer starts; the last chunk has the stop reason.
#[derive(Debug, Default)]
pub struct Stream {
    thinking: bool,
    finished: bool,
}

fn chunk(text: &str) -> Value {
    json!({"choices": [{"text": text, "stop_reason": null}]})
}

impl Stream {
    pub fn push(&mut self, event: ModelEvent, timing: Timing) -> Vec<Value> {
        if self.finished {
            return Vec::new();
        }
        let mut out = Vec::new();
        let close = |thinking: &mut bool, out: &mut Vec<Value>| {
            if std::mem::take(thinking) {
                out.push(chunk(THINK_END));
            }
        };
        match event {
            ModelEvent::Reasoning(t) => {
                self.thinking = true;
                out.push(chunk(&t));
            }
            ModelEvent::Text(t) => {
                close(&mut self.thinking, &mut out);
                out.push(chunk(&t));
            }
            ModelEvent::Finish(f) => {
                close(&mut self.thinking, &mut out);
                self.finished = true;
                out.push(json!({
                    "choices": [{"text": "", "stop_reason": stop_reason(Some(&f))}],
                    "amazon-bedrock-invocationMetrics": invocation_metrics(f.usage, timing),
                }));
            }
            // The prompt body has no tools.
            ModelEvent::InputTokens(_) | ModelEvent::ToolUseStart { .. } | ModelEvent::ToolUseInput(_) => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::converse::TokenUsage;

    #[test]
    fn parses_plain_and_templated_prompts() {
        let r = parse(&json!({"prompt": "hi", "max_tokens": 9, "stop": ["x"], "temperature": 0.6})).unwrap();
        assert_eq!(r.messages[0].content, vec![ContentBlock::Text("hi".into())]);
        let cfg = r.inference_config.unwrap();
        assert_eq!((cfg.max_tokens, cfg.stop_sequences), (Some(9), Some(vec!["x".to_owned()])));
        let prompt = format!(
            "{BOS}Be brief.{USER}Hi{ASSISTANT}<think>\nhmm\n</think>\n\nHello{EOS}{USER}Bye{ASSISTANT}<think>\n"
        );
        let r = parse(&json!({ "prompt": prompt })).unwrap();
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
    }

    #[test]
    fn refusals_name_the_member() {
        let e = parse(&json!({"prompt": "x", "max_tokens": 40000})).unwrap_err();
        assert!(e.message.contains("#/max_tokens: 40000 is not less or equal to 32768"), "{}", e.message);
        let e = parse(&json!({"prompt": "x", "top_k": 5})).unwrap_err();
        assert!(e.message.contains("#: extraneous key [top_k] is not permitted"), "{}", e.message);
        let e = parse(&json!({"prompt": "x", "stop": vec!["a"; 11]})).unwrap_err();
        assert!(e.message.contains("#/stop: expected maximum item count: 10"), "{}", e.message);
        let e = parse(&json!({"max_tokens": 5})).unwrap_err();
        assert!(e.message.contains("required key [prompt]"), "{}", e.message);
    }

    #[test]
    fn reasoning_comes_first_closed_by_think() {
        let mut c = Collector::default();
        c.push(ModelEvent::Reasoning("ponder".into()));
        c.push(ModelEvent::Text("42".into()));
        c.push(ModelEvent::Finish(Finish::new(StopReason::MaxTokens, TokenUsage::new(4, 6))));
        assert_eq!(response(&c), json!({"choices": [{"text": "ponder\n</think>\n\n42", "stop_reason": "length"}]}));
        let mut s = Stream::default();
        let t = Timing::default();
        let chunks: Vec<Value> = [
            ModelEvent::Reasoning("pon".into()),
            ModelEvent::Reasoning("der".into()),
            ModelEvent::Text("42".into()),
            ModelEvent::Finish(Finish::new(StopReason::EndTurn, TokenUsage::new(4, 6))),
        ]
        .into_iter()
        .flat_map(|e| s.push(e, t))
        .collect();
        let texts: Vec<&str> = chunks.iter().map(|c| c["choices"][0]["text"].as_str().unwrap()).collect();
        assert_eq!(texts, ["pon", "der", THINK_END, "42", ""]);
        assert_eq!(chunks[4]["choices"][0]["stop_reason"], "stop");
        assert_eq!(chunks[4]["amazon-bedrock-invocationMetrics"]["outputTokenCount"], 6);
    }
}
