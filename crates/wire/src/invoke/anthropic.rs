//! Anthropic on Bedrock: the Messages body (`anthropic_version`) and the legacy Text
//! Completions body (`prompt`, Claude Instant / 2.x), their answers and stream chunks.

use serde_json::{json, Value};

use super::body::{self, Obj};
use super::members::only;
use super::{invocation_metrics, Dialect, Timing};
use crate::converse::{
    ContentBlock, ConverseRequest, ImageBlock, ImageSource, InferenceConfig, Message, Role, SpecificToolChoice,
    StopReason, SystemContentBlock, Tool, ToolChoice, ToolConfig, ToolInputSchema, ToolResultBlock,
    ToolResultContentBlock, ToolSpec, ToolUseBlock,
};
use crate::error::BedrockError;
use crate::options::{
    JsonSchemaDefinition, OutputConfig, OutputFormat, OutputFormatStructure, OutputFormatType, ReasoningContentBlock,
    ReasoningTextBlock,
};
use crate::stream::{Collector, Finish, ModelEvent};

const VERSION: &str = "bedrock-2023-05-31";
const IMAGE_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];
/// Members of the Messages body this endpoint honours.
const ROOT_KEYS: &[&str] = &[
    "anthropic_version",
    "max_tokens",
    "messages",
    "system",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "tools",
    "tool_choice",
    // `user_id` is an opaque caller tag for the provider's abuse monitoring: accepting
    // it has no effect on the answer, here as on Bedrock.
    "metadata",
    "output_config",
];
/// Members Anthropic models take on Bedrock that this endpoint does not provide yet.
const ROOT_UNHONOURED: &[(&str, &str)] = &[
    ("thinking", "Extended thinking"),
    ("cache_control", "Prompt caching"),
    ("anthropic_beta", "Anthropic beta features"),
    ("service_tier", "Service tiers"),
];
/// Members every content block, tool and system block may carry but this endpoint does
/// not honour.
const BLOCK_UNHONOURED: &[(&str, &str)] = &[("cache_control", "Prompt caching"), ("citations", "Citations")];
const HUMAN: &str = "\n\nHuman:";
const ASSISTANT: &str = "\n\nAssistant:";
const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

pub fn parse(body: &Value) -> Result<(ConverseRequest, Dialect), BedrockError> {
    let root = Obj::root(body)?;
    if root.has("prompt") && !root.has("messages") {
        return parse_completion(&root).map(|r| (r, Dialect::AnthropicCompletion));
    }
    let version = root.req_str("anthropic_version")?;
    if !known_version(version) {
        return Err(body::not_enum(&root.at("anthropic_version"), version));
    }
    only(&root, ROOT_KEYS, ROOT_UNHONOURED)?;
    if let Some(meta) = root.obj("metadata")? {
        only(&meta, &["user_id"], &[])?;
        meta.str("user_id")?;
    }
    let (inference, extra) = sampling(&root, "max_tokens")?;
    let items = root.arr("messages")?.ok_or_else(|| root.missing("messages"))?;
    if items.is_empty() {
        return Err(body::malformed("#/messages", "expected minimum item count: 1, found: 0"));
    }
    let messages = body::each(items, "#/messages", message)?;
    let system = match root.get("system") {
        None => Vec::new(),
        Some(Value::String(s)) if s.is_empty() => Vec::new(),
        Some(Value::String(s)) => vec![SystemContentBlock::Text(s.clone())],
        Some(Value::Array(items)) => body::each(items, "#/system", |v, path| {
            let b = typed(v, path, "text")?;
            only(&b, &["type", "text"], BLOCK_UNHONOURED)?;
            b.req_str("text").map(|t| SystemContentBlock::Text(t.into()))
        })?,
        Some(other) => return Err(body::expected("#/system", "String", other)),
    };
    let mut tools = body::each(root.arr("tools")?.unwrap_or_default(), "#/tools", tool)?;
    let choice = root.obj("tool_choice")?;
    if let Some(c) = &choice {
        only(c, &["type", "name"], &[("disable_parallel_tool_use", "Disabling parallel tool use")])?;
    }
    let tool_choice = match choice {
        None => None,
        Some(c) => match c.req_str("type")? {
            "auto" => Some(ToolChoice::Auto(json!({}))),
            "any" => Some(ToolChoice::Any(json!({}))),
            "tool" => Some(ToolChoice::Tool(SpecificToolChoice { name: c.req_str("name")?.to_owned() })),
            // Converse has no "none"; offering the model no tools has the same effect.
            "none" => {
                tools.clear();
                None
            }
            other => return Err(body::not_enum(&c.at("type"), other)),
        },
    };
    let tool_config = (!tools.is_empty()).then_some(ToolConfig { tools, tool_choice });
    let output_config = root.obj("output_config")?.map(|o| output_config(&o)).transpose()?;
    let request = ConverseRequest {
        messages,
        system,
        inference_config: Some(inference),
        tool_config,
        additional_model_request_fields: extra,
        output_config,
        ..ConverseRequest::default()
    };
    Ok((request, Dialect::AnthropicMessages))
}

/// `bedrock-2023-05-31`, Bedrock's own, or a dated Anthropic API version
/// (`YYYY-MM-DD`, 2023-06-01 or later), which the official Anthropic SDKs send to
/// Bedrock as they send it to Anthropic's API.
fn known_version(version: &str) -> bool {
    if version == VERSION {
        return true;
    }
    let b = version.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let shape = b.len() == 10 && b[4] == b'-' && b[7] == b'-' && digits(0..4) && digits(5..7) && digits(8..10);
    let month = version.get(5..7).and_then(|m| m.parse::<u8>().ok()).unwrap_or(0);
    let day = version.get(8..10).and_then(|d| d.parse::<u8>().ok()).unwrap_or(0);
    shape && (1..=12).contains(&month) && (1..=31).contains(&day) && version >= "2023-06-01"
}

/// `output_config.format` (a JSON schema object) as Converse's `outputConfig.textFormat`
/// (the same schema as a string); it is checked with every Converse request.
fn output_config(o: &Obj) -> Result<OutputConfig, BedrockError> {
    only(o, &["format"], &[("effort", "Reasoning effort")])?;
    let Some(f) = o.obj("format")? else { return Ok(OutputConfig::default()) };
    only(&f, &["type", "schema"], &[])?;
    match f.req_str("type")? {
        "json_schema" => {}
        other => return Err(body::not_enum(&f.at("type"), other)),
    }
    let schema = f.req("schema")?;
    Obj::new(schema, f.at("schema"))?;
    let structure = OutputFormatStructure::JsonSchema(JsonSchemaDefinition {
        schema: schema.to_string(),
        name: None,
        description: None,
    });
    Ok(OutputConfig { text_format: Some(OutputFormat { kind: OutputFormatType::JsonSchema, structure }), effort: None })
}

/// Sampling members both bodies share; only the name of the token limit differs.
/// `top_k` has no Converse field, so it travels in the additional request fields.
fn sampling(root: &Obj, max_key: &str) -> Result<(InferenceConfig, Option<Value>), BedrockError> {
    let max_tokens = root.int_min(max_key, 1)?.ok_or_else(|| root.missing(max_key))?;
    let config = InferenceConfig {
        max_tokens: Some(max_tokens),
        temperature: root.unit("temperature")?,
        top_p: root.unit("top_p")?,
        stop_sequences: root.strings("stop_sequences")?,
    };
    let top_k = root.int_min("top_k", 0)?;
    Ok((config, top_k.map(|k| json!({ "top_k": k }))))
}

/// An object whose `type` must be `kind`.
fn typed<'a>(v: &'a Value, path: String, kind: &str) -> Result<Obj<'a>, BedrockError> {
    let obj = Obj::new(v, path)?;
    match obj.req_str("type")? {
        t if t == kind => Ok(obj),
        other => Err(body::not_enum(&obj.at("type"), other)),
    }
}

fn message(v: &Value, path: String) -> Result<Message, BedrockError> {
    let m = Obj::new(v, path)?;
    only(&m, &["role", "content"], &[])?;
    let role = match m.req_str("role")? {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        other => return Err(body::not_enum(&m.at("role"), other)),
    };
    let content = match m.req("content")? {
        Value::String(s) => vec![ContentBlock::Text(s.clone())],
        Value::Array(items) => body::each(items, &m.at("content"), block)?,
        other => return Err(body::expected(&m.at("content"), "String", other)),
    };
    Ok(Message { role, content })
}

fn block(v: &Value, path: String) -> Result<ContentBlock, BedrockError> {
    let b = Obj::new(v, path)?;
    let kind = b.req_str("type")?;
    let keys: &[&str] = match kind {
        "text" => &["type", "text"],
        "image" => &["type", "source"],
        "tool_use" => &["type", "id", "name", "input"],
        "tool_result" => &["type", "tool_use_id", "content", "is_error"],
        "thinking" => &["type", "thinking", "signature"],
        "redacted_thinking" => &["type", "data"],
        "document" => return Err(crate::surface::not_supported("Document blocks", &b.at("type"))),
        _ => &[],
    };
    only(&b, keys, BLOCK_UNHONOURED)?;
    Ok(match kind {
        "text" => ContentBlock::Text(b.req_str("text")?.to_owned()),
        // Thinking sent back is checked against its signature with the conversation.
        "thinking" => ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(ReasoningTextBlock {
            text: b.req_str("thinking")?.to_owned(),
            signature: b.str("signature")?.map(str::to_owned),
        })),
        "redacted_thinking" => {
            ContentBlock::ReasoningContent(ReasoningContentBlock::RedactedContent(b.req_str("data")?.to_owned()))
        }
        "image" => ContentBlock::Image(image(&b)?),
        "tool_use" => ContentBlock::ToolUse(ToolUseBlock {
            tool_use_id: b.req_str("id")?.to_owned(),
            name: b.req_str("name")?.to_owned(),
            input: b.req("input")?.clone(),
        }),
        "tool_result" => {
            let content = match b.get("content") {
                None => Vec::new(),
                Some(Value::String(s)) => vec![ToolResultContentBlock::Text(s.clone())],
                Some(Value::Array(items)) => body::each(items, &b.at("content"), result_block)?,
                Some(other) => return Err(body::expected(&b.at("content"), "String", other)),
            };
            let status = b.bool("is_error")?.map(|e| if e { "error" } else { "success" }.to_owned());
            ContentBlock::ToolResult(ToolResultBlock {
                tool_use_id: b.req_str("tool_use_id")?.to_owned(),
                content,
                status,
            })
        }
        other => return Err(body::not_enum(&b.at("type"), other)),
    })
}

fn result_block(v: &Value, path: String) -> Result<ToolResultContentBlock, BedrockError> {
    let b = Obj::new(v, path)?;
    let kind = b.req_str("type")?;
    if kind == "text" || kind == "image" {
        only(&b, &["type", if kind == "text" { "text" } else { "source" }], BLOCK_UNHONOURED)?;
    }
    match kind {
        "text" => Ok(ToolResultContentBlock::Text(b.req_str("text")?.to_owned())),
        "image" => image(&b).map(ToolResultContentBlock::Image),
        other => Err(body::not_enum(&b.at("type"), other)),
    }
}

fn tool(v: &Value, path: String) -> Result<Tool, BedrockError> {
    let t = Obj::new(v, path)?;
    only(&t, &["name", "description", "input_schema"], BLOCK_UNHONOURED)?;
    let schema = t.req("input_schema")?;
    Obj::new(schema, t.at("input_schema"))?;
    Ok(Tool::ToolSpec(ToolSpec {
        name: t.req_str("name")?.to_owned(),
        description: t.str("description")?.map(str::to_owned),
        input_schema: ToolInputSchema::Json(schema.clone()),
    }))
}

/// Only inline base64 images: Bedrock's Anthropic schema has no URL source.
fn image(b: &Obj) -> Result<ImageBlock, BedrockError> {
    let source = typed(b.req("source")?, b.at("source"), "base64")?;
    let media = source.enum_str("media_type", &IMAGE_TYPES)?.ok_or_else(|| source.missing("media_type"))?;
    let data = source.req_str("data")?.to_owned();
    Ok(ImageBlock { format: media.trim_start_matches("image/").to_owned(), source: ImageSource::Bytes(data) })
}

/// Claude's text-completion prompt (`\n\nHuman: … \n\nAssistant:`) as Converse turns.
/// Text before the first turn is the system prompt (Claude 2.1); the trailing empty
/// `Assistant:` only cues the answer. A prompt that does not open with a Human turn is one
/// user message.
fn parse_completion(root: &Obj) -> Result<ConverseRequest, BedrockError> {
    let prompt = root.req_str("prompt")?;
    let (inference, extra) = sampling(root, "max_tokens_to_sample")?;
    let text = format!("\n\n{}", prompt.trim_start());
    let (mut system, mut messages) = (Vec::new(), Vec::new());
    let (mut role, mut at) = (None, 0);
    // Where the next marker of each kind starts. Only the one just passed is searched for
    // again: searching for both from every turn rescanned the whole rest of the prompt for
    // a marker it lacked, quadratic in the turns (minutes for a 1 MB prompt of Human turns).
    let mut markers = [(HUMAN, Role::User), (ASSISTANT, Role::Assistant)].map(|(m, r)| (text.find(m), m, r));
    loop {
        let next = markers.iter().filter_map(|&(i, m, r)| Some((i?, m, r))).min_by_key(|&(i, ..)| i);
        let segment = text.get(at..next.map_or(text.len(), |(i, ..)| i)).unwrap_or_default().trim();
        match role {
            _ if segment.is_empty() => {}
            None => system.push(SystemContentBlock::Text(segment.to_owned())),
            Some(r) => body::push_turn(&mut messages, r, segment),
        }
        let Some((i, marker, r)) = next else { break };
        role = Some(r);
        at = i + marker.len();
        for (pos, m, _) in &mut markers {
            if pos.is_some_and(|p| p < at) {
                *pos = text.get(at..).and_then(|rest| rest.find(*m)).map(|j| at + j);
            }
        }
    }
    // Converse conversations start with the user. A prompt whose first non-empty turn is
    // the assistant's (`\n\nHuman:\n\nAssistant: …`, which Bedrock accepts) goes to the
    // model whole, like a prompt without turns, rather than being refused (fuzz_invoke).
    if messages.first().is_none_or(|m| m.role != Role::User) {
        system.clear();
        messages = vec![Message { role: Role::User, content: vec![ContentBlock::Text(prompt.trim().to_owned())] }];
    }
    Ok(ConverseRequest {
        messages,
        system,
        inference_config: Some(inference),
        additional_model_request_fields: extra,
        ..ConverseRequest::default()
    })
}

/// The name Anthropic answers with: `anthropic.claude-3-5-sonnet-20240620-v1:0` (or a
/// profile / ARN around it) becomes `claude-3-5-sonnet-20240620`. Names whose version
/// suffix is all that tells them apart (`claude-v2:1`) are kept whole.
fn model_name(model_id: &str) -> String {
    let id = model_id.rsplit('/').next().unwrap_or(model_id);
    let id = id.find("anthropic.").map_or(id, |i| &id[i + "anthropic.".len()..]);
    let stripped = id.rsplit_once("-v").filter(|(base, version)| {
        let mut parts = version.split(':');
        let major = parts.next().unwrap_or_default();
        !major.is_empty()
            && major.bytes().all(|b| b.is_ascii_digit())
            && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
            && base.bytes().any(|b| b.is_ascii_digit())
    });
    stripped.map_or(id, |(base, _)| base).to_owned()
}

fn message_id() -> String {
    format!("msg_bdrk_{}", body::random_chars(24, ALNUM))
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
fn messages_stop(finish: Option<&Finish>) -> (&'static str, Option<String>) {
    match finish {
        Some(f) if f.stop_reason == StopReason::StopSequence => ("stop_sequence", f.stop_sequence.clone()),
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

pub fn messages_response(model_id: &str, out: &Collector) -> Value {
    let content: Vec<Value> = out
        .content()
        .iter()
        .filter_map(|b| match b {
            ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(r)) => {
                Some(json!({"type": "thinking", "thinking": r.text, "signature": r.signature}))
            }
            ContentBlock::Text(text) => Some(json!({"type": "text", "text": text})),
            ContentBlock::ToolUse(t) => {
                Some(json!({"type": "tool_use", "id": t.tool_use_id, "name": t.name, "input": t.input}))
            }
            _ => None,
        })
        .collect();
    let (reason, stop_sequence) = messages_stop(out.finish());
    let usage = out.usage();
    json!({
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "model": model_name(model_id),
        "content": content,
        "stop_reason": reason,
        "stop_sequence": stop_sequence,
        "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens},
    })
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
            model: model_name(model_id),
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
                    "usage": {"output_tokens": finish.usage.output_tokens},
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
    use crate::converse::TokenUsage;

    fn finish(reason: StopReason) -> ModelEvent {
        ModelEvent::Finish(Finish::new(reason, TokenUsage::new(5, 3)))
    }

    #[test]
    fn parses_messages_with_tools_and_images() {
        let body = json!({
            "anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "top_k": 40, "temperature": 0.5,
            "system": [{"type": "text", "text": "be brief"}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "hi"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}]},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"x": 1}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "ok", "is_error": true}]}],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}], "tool_choice": {"type": "tool", "name": "f"},
        });
        let (r, dialect) = parse(&body).unwrap();
        assert_eq!(dialect, Dialect::AnthropicMessages);
        assert_eq!(r.system, vec![SystemContentBlock::Text("be brief".into())]);
        let cfg = r.inference_config.unwrap();
        assert_eq!((cfg.max_tokens, cfg.temperature), (Some(100), Some(0.5)));
        assert_eq!(r.additional_model_request_fields, Some(json!({"top_k": 40})));
        let ContentBlock::Image(img) = &r.messages[0].content[1] else { panic!("{:?}", r.messages[0]) };
        assert_eq!(img.format, "png");
        assert!(matches!(&r.messages[1].content[0], ContentBlock::ToolUse(t) if t.input["x"] == 1));
        let ContentBlock::ToolResult(res) = &r.messages[2].content[0] else { panic!() };
        assert_eq!(res.status.as_deref(), Some("error"));
        let tools = r.tool_config.unwrap();
        assert!(matches!(tools.tool_choice, Some(ToolChoice::Tool(SpecificToolChoice { ref name })) if name == "f"));
    }

    #[test]
    fn validation_errors_name_the_field() {
        let e = parse(&json!({"anthropic_version": VERSION, "messages": []})).unwrap_err();
        assert_eq!(
            e.message,
            "Malformed input request: #: required key [max_tokens] not found, please reformat your input and try again."
        );
        let body = json!({"anthropic_version": VERSION, "max_tokens": 5, "messages": [{"role": "user", "content": 7}]});
        let e = parse(&body).unwrap_err();
        assert!(e.message.contains("#/messages/0/content: expected type: String, found: Integer"), "{}", e.message);
        let e = parse(&json!({"anthropic_version": "v1", "max_tokens": 5, "messages": []})).unwrap_err();
        assert!(e.message.contains("#/anthropic_version: v1 is not a valid enum value"), "{}", e.message);
    }

    /// Found by fuzz_invoke: the empty first Human turn was dropped, leaving an
    /// assistant-first conversation that was refused, though Bedrock accepts the prompt.
    #[test]
    fn completion_with_empty_first_human_turn_is_one_user_prompt() {
        let prompt = "\n\nHuman:\n\nAssistant: A\n\nHuman: B";
        let (r, _) = parse(&json!({"prompt": prompt, "max_tokens_to_sample": 1})).unwrap();
        assert_eq!(r.messages.len(), 1);
        assert_eq!(r.messages[0].content, vec![ContentBlock::Text(prompt.trim().into())]);
        assert!(crate::validate::converse(&r).is_ok());
    }

    /// Found while writing fuzz_invoke: every turn searched the rest of the prompt for both
    /// markers, so 100 000 Human turns (1.2 MB) took 200 s in a debug build.
    #[test]
    fn many_turns_parse_in_one_pass() {
        let prompt = format!("{}\n\nAssistant:", "\n\nHuman: x".repeat(200_000));
        let (r, _) = parse(&json!({"prompt": prompt, "max_tokens_to_sample": 1})).unwrap();
        assert_eq!(r.messages.len(), 1);
        let ContentBlock::Text(t) = &r.messages[0].content[0] else { panic!() };
        assert_eq!(t.len(), "x\n\n".len() * 200_000 - 2);
    }

    #[test]
    fn sdk_versions_are_accepted_and_unhonoured_members_named() {
        let msgs = json!([{"role": "user", "content": [{"type": "text", "text": "hi"}]}]);
        for v in ["bedrock-2023-05-31", "2023-06-01", "2026-10-21"] {
            assert!(parse(&json!({"anthropic_version": v, "max_tokens": 5, "messages": msgs})).is_ok(), "{v}");
        }
        for v in ["2023-05-31", "2026-13-01", "2026-1-01", "bedrock-2024-01-01"] {
            assert!(parse(&json!({"anthropic_version": v, "max_tokens": 5, "messages": msgs})).is_err(), "{v}");
        }
        let thinking = json!({"anthropic_version": VERSION, "max_tokens": 5, "messages": msgs,
            "thinking": {"type": "enabled", "budget_tokens": 1024}});
        let e = parse(&thinking).unwrap_err();
        assert!(e.message.ends_with("not supported by this endpoint: #/thinking"), "{}", e.message);
        let cached = json!({"anthropic_version": VERSION, "max_tokens": 5, "messages": [{"role": "user",
            "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}]});
        let e = parse(&cached).unwrap_err();
        assert!(e.message.ends_with("endpoint: #/messages/0/content/0/cache_control"), "{}", e.message);
        let extra = json!({"anthropic_version": VERSION, "max_tokens": 5, "messages": msgs, "foo": 1});
        let e = parse(&extra).unwrap_err();
        assert!(e.message.contains("#: extraneous key [foo] is not permitted"), "{}", e.message);
    }

    #[test]
    fn completion_prompt_becomes_turns() {
        let body = json!({"prompt": "Be nice.\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Bye\n\nAssistant:",
            "max_tokens_to_sample": 10});
        let (r, dialect) = parse(&body).unwrap();
        assert_eq!(dialect, Dialect::AnthropicCompletion);
        assert_eq!(r.system, vec![SystemContentBlock::Text("Be nice.".into())]);
        let texts: Vec<_> = r.messages.iter().map(|m| (m.role, m.content[0].clone())).collect();
        assert_eq!(
            texts,
            [
                (Role::User, ContentBlock::Text("Hi".into())),
                (Role::Assistant, ContentBlock::Text("Hello".into())),
                (Role::User, ContentBlock::Text("Bye".into())),
            ]
        );
        let (r, _) = parse(&json!({"prompt": "just text", "max_tokens_to_sample": 10})).unwrap();
        assert_eq!(r.messages.len(), 1);
        assert!(r.system.is_empty());
        let e = parse(&json!({"prompt": "x"})).unwrap_err();
        assert!(e.message.contains("required key [max_tokens_to_sample]"), "{}", e.message);
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
