//! Mistral AI: the text-completion body (`prompt` in `[INST]` markup; Mistral 7B,
//! Mixtral 8x7B, Mistral Large 2402, Small) and the chat-completion body (`messages`;
//! Mistral Large 2 2407, Pixtral Large), with their answers (`outputs` / `choices`).

use serde_json::{json, Value};

use super::body::{self, Obj};
use super::chat::{self, Flavor};
use super::members::only;
use super::{invocation_metrics, Dialect, Timing};
use crate::converse::{
    ContentBlock, ConverseRequest, InferenceConfig, Message, Role, StopReason, ToolChoice, ToolConfig,
};
use crate::error::BedrockError;
use crate::stream::{Collector, Finish, ModelEvent};

const TEXT_KEYS: &[&str] = &["prompt", "max_tokens", "stop", "temperature", "top_p", "top_k"];
const CHAT_KEYS: &[&str] = &["messages", "tools", "tool_choice", "max_tokens", "top_p", "temperature"];

pub fn parse(value: &Value) -> Result<(ConverseRequest, Dialect), BedrockError> {
    let root = Obj::root(value)?;
    if root.has("messages") {
        parse_chat(&root).map(|r| (r, Dialect::MistralChat))
    } else {
        parse_text(&root).map(|r| (r, Dialect::MistralText))
    }
}

fn parse_text(root: &Obj) -> Result<ConverseRequest, BedrockError> {
    only(root, TEXT_KEYS, &[])?;
    let prompt = root.req_str("prompt")?;
    let inference = InferenceConfig {
        max_tokens: root.int_min("max_tokens", 1)?,
        temperature: root.unit("temperature")?,
        top_p: root.unit("top_p")?,
        stop_sequences: root.strings("stop")?.filter(|s| !s.is_empty()),
    };
    let top_k = root.int_min("top_k", 1)?;
    let messages = split_inst(prompt)
        .unwrap_or_else(|| vec![Message { role: Role::User, content: vec![ContentBlock::Text(prompt.to_owned())] }]);
    Ok(ConverseRequest {
        messages,
        inference_config: (inference != InferenceConfig::default()).then_some(inference),
        additional_model_request_fields: top_k.map(|k| json!({ "top_k": k })),
        ..ConverseRequest::default()
    })
}

/// `<s>[INST] q [/INST] a</s>[INST] q2 [/INST]` as turns: text inside `[INST]…[/INST]` is
/// the user's, text after it the assistant's. `None` when the prompt has no `[INST]`
/// or does not open with one.
fn split_inst(prompt: &str) -> Option<Vec<Message>> {
    let text = prompt.trim_start();
    let text = text.strip_prefix("<s>").unwrap_or(text);
    let mut parts = text.split("[INST]");
    if !parts.next()?.trim().is_empty() {
        return None;
    }
    let mut messages = Vec::new();
    for part in parts {
        let (question, answer) = part.split_once("[/INST]").unwrap_or((part, ""));
        if !question.trim().is_empty() {
            body::push_turn(&mut messages, Role::User, question.trim());
        }
        let answer = answer.replace("</s>", "").replace("<s>", "");
        if !answer.trim().is_empty() {
            body::push_turn(&mut messages, Role::Assistant, answer.trim());
        }
    }
    messages.first().is_some_and(|m| m.role == Role::User).then_some(messages)
}

fn parse_chat(root: &Obj) -> Result<ConverseRequest, BedrockError> {
    only(root, CHAT_KEYS, &[])?;
    let items = root.arr("messages")?.unwrap_or_default();
    let (system, messages) = chat::messages(items, &root.at("messages"), Flavor::Mistral)?;
    let inference = InferenceConfig {
        max_tokens: root.int_min("max_tokens", 1)?,
        temperature: root.unit("temperature")?,
        top_p: root.unit("top_p")?,
        stop_sequences: None,
    };
    let mut tools = chat::tools(root.arr("tools")?.unwrap_or_default(), &root.at("tools"), &[])?;
    let tool_choice = match root.enum_str("tool_choice", &["auto", "any", "none"])? {
        None | Some("auto") => None,
        Some("any") => Some(ToolChoice::Any(json!({}))),
        // Converse has no "none": offering the model no tools has the same effect.
        Some(_) => {
            tools.clear();
            None
        }
    };
    Ok(ConverseRequest {
        messages,
        system,
        inference_config: (inference != InferenceConfig::default()).then_some(inference),
        tool_config: (!tools.is_empty()).then_some(ToolConfig { tools, tool_choice }),
        ..ConverseRequest::default()
    })
}

fn stop_reason(finish: Option<&Finish>) -> &'static str {
    match finish.map(|f| f.stop_reason) {
        Some(StopReason::MaxTokens | StopReason::ModelContextWindowExceeded) => "length",
        Some(StopReason::ToolUse) => "tool_calls",
        _ => "stop",
    }
}

pub fn text_response(out: &Collector) -> Value {
    json!({"outputs": [{"text": out.text(), "stop_reason": stop_reason(out.finish())}]})
}

pub fn chat_response(out: &Collector) -> Value {
    let mut message = json!({"role": "assistant", "content": out.text()});
    let calls = chat::tool_calls(out);
    if !calls.is_empty() {
        message["tool_calls"] = json!(calls);
    }
    json!({"choices": [{"index": 0, "message": message, "stop_reason": stop_reason(out.finish())}]})
}

/// Mistral streaming chunks: each text delta as the body's own answer shape with a
/// `null` stop reason. Tool calls are sent whole (arguments and all) once the answer is
/// done, as Mistral's chat completions stream them.
#[derive(Debug, Default)]
pub struct Stream {
    chat: bool,
    tools: Collector,
    finished: bool,
}

impl Stream {
    pub fn new(chat: bool) -> Self {
        Self { chat, ..Self::default() }
    }

    fn chunk(&self, text: &str, reason: Option<&str>) -> Value {
        if self.chat {
            json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "stop_reason": reason}]})
        } else {
            json!({"outputs": [{"text": text, "stop_reason": reason}]})
        }
    }

    pub fn push(&mut self, event: ModelEvent, timing: Timing) -> Vec<Value> {
        if self.finished {
            return Vec::new();
        }
        match event {
            ModelEvent::Text(t) => vec![self.chunk(&t, None)],
            e @ (ModelEvent::ToolUseStart { .. } | ModelEvent::ToolUseInput(_)) => {
                self.tools.push(e);
                Vec::new()
            }
            ModelEvent::Finish(f) => {
                self.finished = true;
                let mut last = self.chunk("", Some(stop_reason(Some(&f))));
                self.tools.push(ModelEvent::Finish(f.clone()));
                let calls = chat::tool_calls(&self.tools);
                if self.chat && !calls.is_empty() {
                    last["choices"][0]["message"]["tool_calls"] = json!(calls);
                }
                last["amazon-bedrock-invocationMetrics"] = invocation_metrics(f.usage, timing);
                vec![last]
            }
            // Neither body has a place for reasoning.
            ModelEvent::InputTokens(_) | ModelEvent::Reasoning(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::converse::TokenUsage;

    #[test]
    fn text_body_splits_inst_turns() {
        let prompt = "<s>[INST] Hi [/INST] Hello</s>[INST] Bye [/INST]";
        let (r, d) = parse(&json!({"prompt": prompt, "max_tokens": 20, "top_k": 5, "stop": ["."]})).unwrap();
        assert_eq!(d, Dialect::MistralText);
        let turns: Vec<_> = r.messages.iter().map(|m| (m.role, m.content[0].clone())).collect();
        assert_eq!(
            turns,
            [
                (Role::User, ContentBlock::Text("Hi".into())),
                (Role::Assistant, ContentBlock::Text("Hello".into())),
                (Role::User, ContentBlock::Text("Bye".into())),
            ]
        );
        assert_eq!(r.additional_model_request_fields, Some(json!({"top_k": 5})));
        let (r, _) = parse(&json!({"prompt": "plain"})).unwrap();
        assert_eq!(r.messages[0].content, vec![ContentBlock::Text("plain".into())]);
    }

    #[test]
    fn chat_body_with_tools() {
        let body = json!({
            "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": "any", "max_tokens": 50, "temperature": 0.1,
        });
        let (r, d) = parse(&body).unwrap();
        assert_eq!(d, Dialect::MistralChat);
        assert_eq!(r.system.len(), 1);
        assert!(matches!(r.tool_config.unwrap().tool_choice, Some(ToolChoice::Any(_))));
        let (r, _) = parse(&json!({"messages": [{"role": "user", "content": "q"}], "tool_choice": "none",
            "tools": [{"type": "function", "function": {"name": "f"}}]}))
        .unwrap();
        assert!(r.tool_config.is_none());
    }

    #[test]
    fn refusals_name_the_member() {
        let e = parse(&json!({"prompt": "x", "seed": 1})).unwrap_err();
        assert!(e.message.contains("#: extraneous key [seed]"), "{}", e.message);
        let e = parse(&json!({"messages": [{"role": "user", "content": "x"}], "stop": ["a"]})).unwrap_err();
        assert!(e.message.contains("#: extraneous key [stop]"), "{}", e.message);
        let e = parse(&json!({"messages": [{"role": "user", "content": "x"}], "tool_choice": "required"})).unwrap_err();
        assert!(e.message.contains("#/tool_choice: required is not a valid enum value"), "{}", e.message);
        let e = parse(&json!({"prompt": "x", "temperature": 2})).unwrap_err();
        assert!(e.message.contains("#/temperature"), "{}", e.message);
    }

    fn run(chat: bool) -> (Collector, Vec<Value>) {
        let events = [
            ModelEvent::Text("Hi".into()),
            ModelEvent::ToolUseStart { id: "t1".into(), name: "f".into() },
            ModelEvent::ToolUseInput("{\"a\":1}".into()),
            ModelEvent::Finish(Finish::new(StopReason::ToolUse, TokenUsage::new(3, 4))),
        ];
        let mut c = Collector::default();
        let mut s = Stream::new(chat);
        let mut chunks = Vec::new();
        for e in events {
            c.push(e.clone());
            chunks.extend(s.push(e, Timing::default()));
        }
        (c, chunks)
    }

    #[test]
    fn answers_and_streams() {
        let (c, chunks) = run(false);
        assert_eq!(text_response(&c), json!({"outputs": [{"text": "Hi", "stop_reason": "tool_calls"}]}));
        assert_eq!(chunks[0], json!({"outputs": [{"text": "Hi", "stop_reason": null}]}));
        assert_eq!(chunks[1]["outputs"][0]["stop_reason"], "tool_calls");
        let (c, chunks) = run(true);
        let v = chat_response(&c);
        assert_eq!(v["choices"][0]["message"]["content"], "Hi");
        assert_eq!(
            v["choices"][0]["message"]["tool_calls"][0]["function"],
            json!({"name": "f", "arguments": "{\"a\":1}"})
        );
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1]["choices"][0]["message"]["tool_calls"][0]["id"], "t1");
        assert_eq!(chunks[1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"], 4);
    }
}
