//! Anthropic answers: the Messages body's `message` and its streaming events, and the
//! Text Completions answer and chunks.

use serde::Serialize;
use serde_json::{json, Value};

use super::super::body;
use super::super::{invocation_metrics, Timing};
use super::{ALNUM, HUMAN};
use crate::converse::{ContentBlock, StopReason, TokenUsage};
use crate::options::ReasoningContentBlock;
use crate::stream::{Collector, Finish, ModelEvent};

/// The name Anthropic answers with: `anthropic.claude-3-5-sonnet-20240620-v1:0` (or a
/// profile / ARN around it) becomes `claude-3-5-sonnet-20240620`. Names whose version
/// suffix is all that tells them apart (`claude-v2:1`) are kept whole.
fn model_name(model_id: &str) -> &str {
    // Byte scans: `find` and `rsplit_once` with a `&str` pattern set up a two-way searcher
    // each, about 1,400 instructions for these short IDs on every answer (issue 13). The
    // patterns are ASCII, so every index found is a char boundary.
    const VENDOR: &[u8] = b"anthropic.";
    let id = model_id.rsplit('/').next().unwrap_or(model_id);
    let id = id.as_bytes().windows(VENDOR.len()).position(|w| w == VENDOR).map_or(id, |i| &id[i + VENDOR.len()..]);
    let suffix = id.as_bytes().windows(2).rposition(|w| w == b"-v");
    let stripped = suffix.map(|i| (&id[..i], &id[i + 2..])).filter(|(base, version)| {
        let mut parts = version.split(':');
        let major = parts.next().unwrap_or_default();
        !major.is_empty()
            && major.bytes().all(|b| b.is_ascii_digit())
            && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
            && base.bytes().any(|b| b.is_ascii_digit())
    });
    stripped.map_or(id, |(base, _)| base)
}

fn message_id() -> String {
    let mut id = String::with_capacity(33);
    id.push_str("msg_bdrk_");
    body::push_random_chars(&mut id, 24, ALNUM);
    id
}

fn stop_reason(reason: StopReason) -> &'static str {
    match reason {
        StopReason::EndTurn => "end_turn",
        StopReason::ToolUse => "tool_use",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        // Anthropic's own names for a safety stop and for running out of context.
        StopReason::GuardrailIntervened | StopReason::ContentFiltered => "refusal",
        StopReason::ModelContextWindowExceeded => "model_context_window_exceeded",
    }
}

/// `stop_reason` and `stop_sequence` of the Messages API.
fn messages_stop(finish: Option<&Finish>) -> (&'static str, Option<&str>) {
    match finish {
        Some(f) if f.stop_reason == StopReason::StopSequence => ("stop_sequence", f.stop_sequence.as_deref()),
        Some(f) => (stop_reason(f.stop_reason), None),
        None => ("end_turn", None),
    }
}

/// `stop_reason` and `stop` of Text Completions. Claude ends a turn by starting the next
/// `Human:` turn, which Bedrock reports as that stop sequence.
fn completion_stop(finish: Option<&Finish>) -> (&'static str, Option<String>) {
    match finish.map(|f| (f.stop_reason, f.stop_sequence.clone())) {
        Some((StopReason::MaxTokens | StopReason::ModelContextWindowExceeded, _)) => ("max_tokens", None),
        Some((StopReason::StopSequence, Some(seq))) => ("stop_sequence", Some(seq)),
        _ => ("stop_sequence", Some(HUMAN.to_owned())),
    }
}

/// Anthropic's usage: `input_tokens` without the cache, whose reads and writes are
/// counted apart (writes also by TTL), as Anthropic reports prompt caching.
#[derive(Serialize)]
struct Usage {
    input_tokens: u32,
    output_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_creation_input_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_read_input_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_creation: Option<CacheCreation>,
}

#[derive(Serialize)]
struct CacheCreation {
    ephemeral_5m_input_tokens: u32,
    ephemeral_1h_input_tokens: u32,
}

impl From<TokenUsage> for Usage {
    fn from(u: TokenUsage) -> Self {
        let cached = u.uses_cache();
        Self {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cache_creation_input_tokens: cached.then(|| u.cache_write_input_tokens()),
            cache_read_input_tokens: cached.then_some(u.cache_read_input_tokens),
            cache_creation: cached.then_some(CacheCreation {
                ephemeral_5m_input_tokens: u.cache_write_5m,
                ephemeral_1h_input_tokens: u.cache_write_1h,
            }),
        }
    }
}

fn usage_json(u: TokenUsage) -> Value {
    serde_json::to_value(Usage::from(u)).unwrap_or(Value::Null)
}

/// The Messages API's `message`, borrowed from the finished answer. InvokeModel writes it
/// straight into the response body: building a `Value` first cost a dozen allocations and
/// a copy of the answer's text on every call (issue 13).
#[derive(Serialize)]
pub struct Message<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<Block<'a>>,
    stop_reason: &'static str,
    stop_sequence: Option<&'a str>,
    usage: Usage,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Thinking {
        thinking: &'a str,
        signature: Option<&'a str>,
    },
    Text {
        #[serde(serialize_with = "crate::json_text::serialize")]
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: &'a Value,
    },
}

pub fn messages_answer<'a>(model_id: &'a str, out: &'a Collector) -> Message<'a> {
    let content = out
        .content()
        .iter()
        .filter_map(|b| match b {
            ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(r)) => {
                Some(Block::Thinking { thinking: &r.text, signature: r.signature.as_deref() })
            }
            ContentBlock::Text(text) => Some(Block::Text { text }),
            ContentBlock::ToolUse(t) => Some(Block::ToolUse { id: &t.tool_use_id, name: &t.name, input: &t.input }),
            _ => None,
        })
        .collect();
    let (stop_reason, stop_sequence) = messages_stop(out.finish());
    Message {
        id: message_id(),
        kind: "message",
        role: "assistant",
        model: model_name(model_id),
        content,
        stop_reason,
        stop_sequence,
        usage: out.usage().into(),
    }
}

impl Message<'_> {
    /// The message's JSON, the bytes `serde_json::to_writer` writes for it (tested), with
    /// the keys written as the constants they are and the texts through the word-at-a-time
    /// escaper: serde_json escaped fifteen keys a byte at a time on every InvokeModel
    /// answer, about 2,000 instructions (issue 13). Tool inputs still go through serde_json.
    pub fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        text(out, b"{\"id\":", &self.id);
        text(out, b",\"type\":", self.kind);
        text(out, b",\"role\":", self.role);
        text(out, b",\"model\":", self.model);
        out.extend_from_slice(b",\"content\":[");
        for (i, block) in self.content.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            match block {
                Block::Thinking { thinking, signature } => {
                    out.extend_from_slice(b"{\"type\":\"thinking\"");
                    text(out, b",\"thinking\":", thinking);
                    out.extend_from_slice(b",\"signature\":");
                    optional(out, *signature);
                }
                Block::Text { text: t } => text(out, b"{\"type\":\"text\",\"text\":", t),
                Block::ToolUse { id, name, input } => {
                    text(out, b"{\"type\":\"tool_use\",\"id\":", id);
                    text(out, b",\"name\":", name);
                    out.extend_from_slice(b",\"input\":");
                    serde_json::to_writer(&mut *out, input)?;
                }
            }
            out.push(b'}');
        }
        text(out, b"],\"stop_reason\":", self.stop_reason);
        out.extend_from_slice(b",\"stop_sequence\":");
        optional(out, self.stop_sequence);
        let usage = &self.usage;
        number(out, b",\"usage\":{\"input_tokens\":", usage.input_tokens);
        number(out, b",\"output_tokens\":", usage.output_tokens);
        if let Some(n) = usage.cache_creation_input_tokens {
            number(out, b",\"cache_creation_input_tokens\":", n);
        }
        if let Some(n) = usage.cache_read_input_tokens {
            number(out, b",\"cache_read_input_tokens\":", n);
        }
        if let Some(c) = &usage.cache_creation {
            number(out, b",\"cache_creation\":{\"ephemeral_5m_input_tokens\":", c.ephemeral_5m_input_tokens);
            number(out, b",\"ephemeral_1h_input_tokens\":", c.ephemeral_1h_input_tokens);
            out.push(b'}');
        }
        out.extend_from_slice(b"}}");
        Ok(())
    }
}

/// `key` (with what comes before it), then `value` as a JSON string.
fn text(out: &mut Vec<u8>, key: &[u8], value: &str) {
    out.extend_from_slice(key);
    crate::json_text::write_quoted(out, value);
}

fn optional(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(v) => crate::json_text::write_quoted(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

fn number(out: &mut Vec<u8>, key: &[u8], n: u32) {
    out.extend_from_slice(key);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// [`messages_answer`] as a JSON value (batch outputs, `additionalModelResponseFieldPaths`).
pub fn messages_response(model_id: &str, out: &Collector) -> Value {
    serde_json::to_value(messages_answer(model_id, out)).unwrap_or(Value::Null)
}

pub fn completion_response(out: &Collector) -> Value {
    let (reason, stop) = completion_stop(out.finish());
    json!({"type": "completion", "completion": out.text(), "stop_reason": reason, "stop": stop})
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Thinking,
    Text,
    Tool,
}

/// Anthropic's Messages streaming events. `message_start` waits for the first content
/// event so that a preceding `InputTokens` can fill its usage, as Anthropic's does.
#[derive(Debug)]
pub struct MessagesStream {
    model: String,
    input_tokens: u32,
    started: bool,
    finished: bool,
    block: Option<(u32, Kind)>,
    next_index: u32,
    /// The open thinking block's text, signed when the block ends.
    thinking: String,
}

impl MessagesStream {
    pub fn new(model_id: &str) -> Self {
        Self {
            model: model_name(model_id).to_owned(),
            input_tokens: 0,
            started: false,
            finished: false,
            block: None,
            next_index: 0,
            thinking: String::new(),
        }
    }

    fn close(&mut self, out: &mut Vec<Value>) {
        if let Some((index, kind)) = self.block.take() {
            if kind == Kind::Thinking {
                let signature = crate::reasoning::sign(&std::mem::take(&mut self.thinking));
                let delta = json!({"type": "signature_delta", "signature": signature});
                out.push(json!({"type": "content_block_delta", "index": index, "delta": delta}));
            }
            out.push(json!({"type": "content_block_stop", "index": index}));
        }
    }

    fn start_block(&mut self, kind: Kind, block: Value, out: &mut Vec<Value>) -> u32 {
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        self.block = Some((index, kind));
        out.push(json!({"type": "content_block_start", "index": index, "content_block": block}));
        index
    }

    pub fn push(&mut self, event: ModelEvent, timing: Timing) -> Vec<Value> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        if let ModelEvent::InputTokens(n) = event {
            self.input_tokens = n;
            return out;
        }
        if !self.started {
            self.started = true;
            out.push(json!({"type": "message_start", "message": {
                "id": message_id(), "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": self.input_tokens, "output_tokens": 1},
            }}));
        }
        match event {
            ModelEvent::InputTokens(_) => {}
            ModelEvent::Reasoning(text) => {
                let index = match self.block {
                    Some((i, Kind::Thinking)) => i,
                    _ => self.start_block(Kind::Thinking, json!({"type": "thinking", "thinking": ""}), &mut out),
                };
                self.thinking.push_str(&text);
                let delta = json!({"type": "thinking_delta", "thinking": text});
                out.push(json!({"type": "content_block_delta", "index": index, "delta": delta}));
            }
            ModelEvent::Text(text) => {
                let index = match self.block {
                    Some((i, Kind::Text)) => i,
                    _ => self.start_block(Kind::Text, json!({"type": "text", "text": ""}), &mut out),
                };
                let delta = json!({"type": "text_delta", "text": text});
                out.push(json!({"type": "content_block_delta", "index": index, "delta": delta}));
            }
            ModelEvent::ToolUseStart { id, name } => {
                let block = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
                self.start_block(Kind::Tool, block, &mut out);
            }
            ModelEvent::ToolUseInput(partial) => {
                if let Some((index, Kind::Tool)) = self.block {
                    let delta = json!({"type": "input_json_delta", "partial_json": partial});
                    out.push(json!({"type": "content_block_delta", "index": index, "delta": delta}));
                }
            }
            ModelEvent::Finish(finish) => {
                self.close(&mut out);
                self.finished = true;
                let (reason, stop_sequence) = messages_stop(Some(&finish));
                out.push(json!({
                    "type": "message_delta",
                    "delta": {"stop_reason": reason, "stop_sequence": stop_sequence},
                    "usage": usage_json(finish.usage),
                }));
                out.push(json!({
                    "type": "message_stop",
                    "amazon-bedrock-invocationMetrics": invocation_metrics(finish.usage, timing),
                }));
            }
        }
        out
    }
}

/// Text Completions streaming chunks; tool events have no place in this API.
#[derive(Debug, Default)]
pub struct CompletionStream {
    finished: bool,
}

impl CompletionStream {
    pub fn push(&mut self, event: ModelEvent, timing: Timing) -> Vec<Value> {
        match event {
            _ if self.finished => Vec::new(),
            ModelEvent::Text(text) => vec![json!({"completion": text, "stop_reason": null, "stop": null})],
            ModelEvent::Finish(finish) => {
                self.finished = true;
                let (reason, stop) = completion_stop(Some(&finish));
                vec![json!({
                    "completion": "",
                    "stop_reason": reason,
                    "stop": stop,
                    "amazon-bedrock-invocationMetrics": invocation_metrics(finish.usage, timing),
                })]
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finish(reason: StopReason) -> ModelEvent {
        ModelEvent::Finish(Finish::new(reason, TokenUsage::new(5, 3)))
    }

    #[test]
    fn model_names() {
        assert_eq!(model_name("anthropic.claude-3-5-sonnet-20240620-v1:0"), "claude-3-5-sonnet-20240620");
        assert_eq!(model_name("us.anthropic.claude-3-haiku-20240307-v1:0"), "claude-3-haiku-20240307");
        assert_eq!(model_name("anthropic.claude-v2:1"), "claude-v2:1");
    }

    #[test]
    fn response_shapes() {
        let mut c = Collector::default();
        c.push(ModelEvent::Text("Hi".into()));
        c.push(ModelEvent::ToolUseStart { id: "t1".into(), name: "f".into() });
        c.push(ModelEvent::ToolUseInput("{\"a\":1}".into()));
        c.push(finish(StopReason::ToolUse));
        let v = messages_response("anthropic.claude-3-5-sonnet-20240620-v1:0", &c);
        let id = v["id"].as_str().unwrap();
        assert!(id.starts_with("msg_bdrk_") && id.len() == 33, "{id}");
        assert_eq!(v["model"], "claude-3-5-sonnet-20240620");
        assert_eq!(v["content"][0], json!({"type": "text", "text": "Hi"}));
        assert_eq!(v["content"][1], json!({"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}));
        assert_eq!((v["stop_reason"].as_str(), v["stop_sequence"].is_null()), (Some("tool_use"), true));
        assert_eq!(v["usage"], json!({"input_tokens": 5, "output_tokens": 3}));
        let v = completion_response(&c);
        assert_eq!(v, json!({"type": "completion", "completion": "Hi", "stop_reason": "stop_sequence", "stop": HUMAN}));
    }

    #[test]
    fn the_written_body_is_the_value() {
        let model = "anthropic.claude-3-haiku-20240307-v1:0";
        let mut c = Collector::default();
        c.push(ModelEvent::Text("Say \"hi\"\n".into()));
        c.push(ModelEvent::ToolUseStart { id: "t1".into(), name: "f".into() });
        c.push(ModelEvent::ToolUseInput("{\"a\":[1,2]}".into()));
        let mut f = Finish::new(StopReason::StopSequence, TokenUsage::cached(1500, 3, 1000, 0, 400));
        f.stop_sequence = Some("END".into());
        c.push(ModelEvent::Finish(f));
        let body = crate::invoke::chat_body(crate::invoke::Dialect::AnthropicMessages, model, &c, 0);
        let mut written: Value = serde_json::from_slice(&body).unwrap();
        let mut value = messages_response(model, &c);
        assert!(written["id"].as_str().unwrap().starts_with("msg_bdrk_"));
        written["id"] = Value::Null;
        value["id"] = Value::Null;
        assert_eq!(written, value);
        assert_eq!(
            (written["stop_reason"].as_str(), written["stop_sequence"].as_str()),
            (Some("stop_sequence"), Some("END"))
        );
        assert_eq!(written["usage"]["cache_read_input_tokens"], 1000);
        // Anthropic's own member order.
        let text = String::from_utf8(body).unwrap();
        assert!(
            text.starts_with(r#"{"id":"msg_bdrk_"#)
                && text.contains(
                    r#""type":"message","role":"assistant","model":"claude-3-haiku-20240307","content":[{"type":"text""#
                ),
            "{text}"
        );
    }

    /// The hand-written body against serde_json's bytes for the same message: every kind
    /// of block, texts an escaper can get wrong, stop sequences, cache usage.
    #[test]
    fn written_message_is_what_serde_json_writes() {
        let texts = ["", "Say \"hi\"\n\t\\ \u{1}", "naïve ✓ 日本", &"x".repeat(70)];
        for (i, t) in texts.iter().enumerate() {
            let mut c = Collector::default();
            c.push(ModelEvent::Reasoning((*t).to_owned()));
            c.push(ModelEvent::Text((*t).to_owned()));
            c.push(ModelEvent::ToolUseStart { id: format!("t{t}"), name: (*t).to_owned() });
            c.push(ModelEvent::ToolUseInput(serde_json::to_string(&json!({"a": [1, t]})).unwrap()));
            let usage = if i % 2 == 0 { TokenUsage::new(5, 3) } else { TokenUsage::cached(1500, 3, 1000, 7, 400) };
            let mut f = Finish::new([StopReason::StopSequence, StopReason::EndTurn][i % 2], usage);
            f.stop_sequence = (i % 2 == 0).then(|| (*t).to_owned());
            c.push(ModelEvent::Finish(f));
            let model = format!("anthropic.{t}-v1:0");
            let message = messages_answer(&model, &c);
            let mut written = Vec::new();
            message.write_json(&mut written).unwrap();
            assert_eq!(String::from_utf8(written).unwrap(), serde_json::to_string(&message).unwrap());
        }
    }

    #[test]
    fn cache_usage_is_reported_apart() {
        let mut c = Collector::default();
        c.push(ModelEvent::Text("Hi".into()));
        c.push(ModelEvent::Finish(Finish::new(StopReason::EndTurn, TokenUsage::cached(1500, 3, 1000, 0, 400))));
        let v = messages_response("anthropic.claude-3-haiku-20240307-v1:0", &c);
        assert_eq!(
            v["usage"],
            json!({"input_tokens": 100, "output_tokens": 3, "cache_creation_input_tokens": 400,
                "cache_read_input_tokens": 1000,
                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 400}})
        );
    }

    #[test]
    fn messages_stream_sequence() {
        let mut s = MessagesStream::new("anthropic.claude-3-haiku-20240307-v1:0");
        let timing = Timing { latency_ms: 9, first_byte_ms: 2 };
        let events = [
            ModelEvent::InputTokens(5),
            ModelEvent::Text("He".into()),
            ModelEvent::Text("y".into()),
            ModelEvent::ToolUseStart { id: "t".into(), name: "f".into() },
            ModelEvent::ToolUseInput("{}".into()),
            finish(StopReason::ToolUse),
        ];
        let chunks: Vec<Value> = events.into_iter().flat_map(|e| s.push(e, timing)).collect();
        let types: Vec<_> = chunks.iter().map(|c| c["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ]
        );
        assert_eq!(chunks[0]["message"]["usage"]["input_tokens"], 5);
        assert_eq!(chunks[5]["index"], 1);
        assert_eq!(chunks[6]["delta"], json!({"type": "input_json_delta", "partial_json": "{}"}));
        assert_eq!(chunks[8]["delta"]["stop_reason"], "tool_use");
        assert_eq!(chunks[8]["usage"], json!({"input_tokens": 5, "output_tokens": 3}));
        let metrics = &chunks[9]["amazon-bedrock-invocationMetrics"];
        assert_eq!((metrics["inputTokenCount"].as_u64(), metrics["invocationLatency"].as_u64()), (Some(5), Some(9)));
    }

    #[test]
    fn completion_stream_sequence() {
        let mut s = CompletionStream::default();
        let t = Timing::default();
        assert!(s.push(ModelEvent::InputTokens(5), t).is_empty());
        assert_eq!(
            s.push(ModelEvent::Text(" Hi".into()), t)[0],
            json!({"completion": " Hi", "stop_reason": null, "stop": null})
        );
        let last = s.push(finish(StopReason::MaxTokens), t);
        assert_eq!((last[0]["stop_reason"].as_str(), last[0]["stop"].is_null()), (Some("max_tokens"), true));
        assert!(last[0]["amazon-bedrock-invocationMetrics"].is_object());
    }
}
