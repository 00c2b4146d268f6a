//! Converse requests as OpenAI chat-completions bodies.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{json, Map, Value};
use spillway_wire::converse::{
    ContentBlock, ConverseRequest, DocumentBlock, DocumentSource, ImageBlock, ImageSource, Message, Role,
    SystemContentBlock, Tool, ToolChoice, ToolInputSchema, ToolResultBlock, ToolResultContentBlock,
};

use spillway_wire::json_text::write_quoted;

use crate::BackendError;

/// Members the backend itself controls: letting `additionalModelRequestFields` override
/// them would send the request to another model or change the response's framing.
const RESERVED: &[&str] = &["model", "messages", "stream", "stream_options", "response_format"];

/// A chat-completions body, serialised straight from the request's borrowed text.
/// Building it as a `serde_json::Value` first (a map node and a `String` per key and per
/// text, then a second walk to serialise and a third to drop) cost about 6,000
/// instructions a call (issue 13). The fields are in the order a `Value` object (a
/// `BTreeMap`: no `preserve_order`) writes them, so the bytes are the same as before.
#[derive(Serialize)]
pub(super) struct ChatBody<'a> {
    max_tokens: u32,
    messages: Vec<ChatMessage<'a>>,
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// One chat message (members in `Value` order, as [`ChatBody`]'s).
#[derive(Serialize)]
struct ChatMessage<'a> {
    content: Content<'a>,
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<Value>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Content<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<Value>),
    Null,
}

/// The chat-completions body for `request`, as the bytes to send.
pub(super) fn chat_body_bytes(
    model: &str,
    request: &ConverseRequest,
    max_tokens: u32,
    stream: bool,
    tools_enabled: bool,
) -> Result<Vec<u8>, BackendError> {
    let encode = |e: serde_json::Error| BackendError::Invalid(e.to_string());
    if passthrough(request).is_some() {
        return serde_json::to_vec(&chat_body(model, request, max_tokens, stream, tools_enabled)?).map_err(encode);
    }
    let body = typed_body(model, request, max_tokens, stream, tools_enabled)?;
    let mut out = Vec::with_capacity(256 + request_text_len(request));
    body.write_json(&mut out).map_err(encode)?;
    Ok(out)
}

/// About the length of the request's texts, so the body's buffer is allocated once.
fn request_text_len(request: &ConverseRequest) -> usize {
    let texts = request.messages.iter().flat_map(|m| &m.content);
    texts.map(|b| if let ContentBlock::Text(t) = b { t.len() + 48 } else { 128 }).sum()
}

impl ChatBody<'_> {
    /// The body's JSON, the bytes `serde_json::to_vec` writes for it (tested), with the
    /// keys written as the constants they are and the texts through the word-at-a-time
    /// escaper: serde_json escapes every key and text a byte at a time, about 2,000
    /// instructions a call for this small body (issue 13). Members that are JSON values
    /// (tools, parts, formats) still go through serde_json.
    pub(super) fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        out.extend_from_slice(b"{\"max_tokens\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.max_tokens).as_bytes());
        out.extend_from_slice(b",\"messages\":[");
        for (i, message) in self.messages.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            message.write_json(out)?;
        }
        out.extend_from_slice(b"],\"model\":");
        write_quoted(out, self.model);
        member(out, b",\"response_format\":", self.response_format.as_ref())?;
        member(out, b",\"stop\":", self.stop)?;
        member(out, b",\"stream\":", self.stream.as_ref())?;
        if self.stream_options.is_some() {
            out.extend_from_slice(b",\"stream_options\":{\"include_usage\":true}");
        }
        member(out, b",\"temperature\":", self.temperature.as_ref())?;
        member(out, b",\"tool_choice\":", self.tool_choice.as_ref())?;
        member(out, b",\"tools\":", self.tools.as_ref())?;
        member(out, b",\"top_p\":", self.top_p.as_ref())?;
        out.push(b'}');
        Ok(())
    }
}

impl ChatMessage<'_> {
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        out.extend_from_slice(b"{\"content\":");
        match &self.content {
            Content::Text(text) => write_quoted(out, text),
            Content::Parts(parts) => serde_json::to_writer(&mut *out, parts)?,
            Content::Null => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"role\":");
        write_quoted(out, self.role);
        if let Some(id) = self.tool_call_id {
            out.extend_from_slice(b",\"tool_call_id\":");
            write_quoted(out, id);
        }
        member(out, b",\"tool_calls\":", self.tool_calls.as_ref())?;
        out.push(b'}');
        Ok(())
    }
}

/// `key` and the value's JSON (serde_json's), when there is a value.
fn member<T: Serialize + ?Sized>(out: &mut Vec<u8>, key: &[u8], value: Option<&T>) -> serde_json::Result<()> {
    if let Some(value) = value {
        out.extend_from_slice(key);
        serde_json::to_writer(&mut *out, value)?;
    }
    Ok(())
}

/// The chat-completions body for `request`, as a JSON value.
pub(super) fn chat_body(
    model: &str,
    request: &ConverseRequest,
    max_tokens: u32,
    stream: bool,
    tools_enabled: bool,
) -> Result<Value, BackendError> {
    let body = typed_body(model, request, max_tokens, stream, tools_enabled)?;
    let mut body = match serde_json::to_value(&body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => Map::new(),
        Err(e) => return Err(BackendError::Invalid(e.to_string())),
    };
    // Server-specific parameters (top_k, repetition_penalty, …) pass through as given.
    if let Some(extra) = passthrough(request) {
        for (k, v) in extra {
            if !RESERVED.contains(&k.as_str()) {
                body.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(Value::Object(body))
}

/// `additionalModelRequestFields` when it has members to pass through.
fn passthrough(request: &ConverseRequest) -> Option<&Map<String, Value>> {
    match &request.additional_model_request_fields {
        Some(Value::Object(extra)) if extra.keys().any(|k| !RESERVED.contains(&k.as_str())) => Some(extra),
        _ => None,
    }
}

pub(super) fn typed_body<'a>(
    model: &'a str,
    request: &'a ConverseRequest,
    max_tokens: u32,
    stream: bool,
    tools_enabled: bool,
) -> Result<ChatBody<'a>, BackendError> {
    let mut body = ChatBody {
        max_tokens,
        messages: messages(request)?,
        model,
        response_format: None,
        stop: None,
        stream: None,
        stream_options: None,
        temperature: None,
        tool_choice: None,
        tools: None,
        top_p: None,
    };
    if let Some(cfg) = &request.inference_config {
        body.temperature = cfg.temperature;
        body.top_p = cfg.top_p;
        body.stop = cfg.stop_sequences.as_deref().filter(|s| !s.is_empty());
    }
    if let Some(cfg) = &request.tool_config {
        if !tools_enabled {
            return Err(BackendError::Unsupported("This model doesn't support tool use.".into()));
        }
        let mut tools = Vec::with_capacity(cfg.tools.len());
        for (i, tool) in cfg.tools.iter().enumerate() {
            match tool {
                Tool::ToolSpec(spec) => {
                    let parameters = match &spec.input_schema {
                        ToolInputSchema::Json(v) => v.clone(),
                        other => {
                            let at = format!("toolConfig.tools[{i}].toolSpec.inputSchema");
                            return Err(not_supported(&at, &format!("schema type '{}'", other.member_name())));
                        }
                    };
                    let mut function = json!({"name": spec.name, "parameters": parameters});
                    if let Some(d) = &spec.description {
                        function["description"] = json!(d);
                    }
                    tools.push(json!({"type": "function", "function": function}));
                }
                Tool::CachePoint(_) => {}
                other => {
                    let at = format!("toolConfig.tools[{i}]");
                    return Err(not_supported(&at, &format!("tool type '{}'", other.member_name())));
                }
            }
        }
        if !tools.is_empty() {
            body.tools = Some(tools);
        }
        body.tool_choice = match &cfg.tool_choice {
            None => None,
            Some(ToolChoice::Auto(_)) => Some(json!("auto")),
            Some(ToolChoice::Any(_)) => Some(json!("required")),
            Some(ToolChoice::Tool(t)) => Some(json!({"type": "function", "function": {"name": t.name}})),
            Some(other) => {
                let what = format!("tool choice '{}'", other.member_name());
                return Err(not_supported("toolConfig.toolChoice", &what));
            }
        };
    }
    if let Some(format) =
        spillway_wire::structured::format_of(request).map_err(|e| BackendError::Unsupported(e.message))?
    {
        body.response_format = Some(response_format(format));
    }
    if stream {
        body.stream = Some(true);
        // Without this the server sends no usage at all while streaming.
        body.stream_options = Some(StreamOptions { include_usage: true });
    }
    Ok(body)
}

/// OpenAI's `response_format` for a JSON schema; `strict` asks the server to constrain
/// decoding to it (vLLM, llama.cpp and OpenAI all honour it).
fn response_format(format: spillway_wire::structured::JsonSchemaFormat) -> Value {
    let mut schema = json!({
        "name": format.name.unwrap_or_else(|| "response".to_owned()),
        "schema": format.schema,
        "strict": true,
    });
    if let Some(d) = format.description {
        schema["description"] = json!(d);
    }
    json!({"type": "json_schema", "json_schema": schema})
}

fn unsupported(at: &str, kind: &str) -> BackendError {
    not_supported(at, &format!("content type '{kind}'"))
}

fn not_supported(at: &str, what: &str) -> BackendError {
    BackendError::Unsupported(format!("{at}: {what} is not supported by this model"))
}

fn messages(request: &ConverseRequest) -> Result<Vec<ChatMessage<'_>>, BackendError> {
    let mut out = Vec::with_capacity(request.messages.len() + 1);
    let mut system = Vec::new();
    for (i, block) in request.system.iter().enumerate() {
        match block {
            SystemContentBlock::Text(t) => system.push(t.as_str()),
            // Guard content is for guardrails, which this backend does not run; the text
            // still belongs to the prompt.
            SystemContentBlock::GuardContent(v) => {
                if let Some(t) = v.pointer("/text/text").and_then(Value::as_str) {
                    system.push(t);
                }
            }
            SystemContentBlock::CachePoint(_) => {}
            other => return Err(unsupported(&format!("system[{i}]"), other.member_name())),
        }
    }
    if !system.is_empty() {
        out.push(message("system", Content::Text(joined(&system, "\n\n"))));
    }
    for (i, m) in request.messages.iter().enumerate() {
        match m.role {
            Role::User => user_message(i, m, &mut out)?,
            Role::Assistant => out.push(assistant_message(i, m)?),
        }
    }
    Ok(out)
}

fn message<'a>(role: &'static str, content: Content<'a>) -> ChatMessage<'a> {
    ChatMessage { content, role, tool_call_id: None, tool_calls: None }
}

/// `texts` joined by `sep`; one text is borrowed as it is.
fn joined<'a>(texts: &[&'a str], sep: &str) -> Cow<'a, str> {
    match texts {
        [one] => Cow::Borrowed(one),
        many => Cow::Owned(many.join(sep)),
    }
}

/// A user turn's part: text (borrowed from the request, or a document's rendering), or
/// an image.
enum Part<'a> {
    Text(Cow<'a, str>),
    Image(Value),
}

/// A user turn becomes its tool results (OpenAI wants each as its own `tool` message right
/// after the assistant's calls) followed by one user message for the rest.
fn user_message<'a>(i: usize, m: &'a Message, out: &mut Vec<ChatMessage<'a>>) -> Result<(), BackendError> {
    let mut parts = Vec::new();
    // The position is formatted only for blocks that need it (errors, documents, images).
    let at = |j: usize| format!("messages[{i}].content[{j}]");
    for (j, block) in m.content.iter().enumerate() {
        match block {
            ContentBlock::Text(t) => parts.push(Part::Text(Cow::Borrowed(t))),
            ContentBlock::Image(img) => parts.push(Part::Image(image_part(&at(j), img)?)),
            ContentBlock::Document(doc) => parts.push(Part::Text(Cow::Owned(document_text(&at(j), doc)?))),
            ContentBlock::ToolResult(r) => out.push(tool_message(&at(j), r)?),
            ContentBlock::CachePoint(_) | ContentBlock::ReasoningContent(_) => {}
            other => return Err(unsupported(&at(j), other.member_name())),
        }
    }
    if parts.is_empty() {
        return Ok(());
    }
    // Plain strings are what every OpenAI-compatible server accepts; parts only when an
    // image needs them.
    let content = if parts.iter().all(|p| matches!(p, Part::Text(_))) {
        match parts.as_mut_slice() {
            // One text (nearly every call): sent as it is, borrowed.
            [Part::Text(one)] => Content::Text(std::mem::take(one)),
            many => {
                let texts: Vec<&str> =
                    many.iter().map(|p| if let Part::Text(t) = p { t.as_ref() } else { "" }).collect();
                Content::Text(Cow::Owned(texts.join("\n")))
            }
        }
    } else {
        let parts = parts.into_iter().map(|p| match p {
            Part::Text(t) => json!({"type": "text", "text": t}),
            Part::Image(v) => v,
        });
        Content::Parts(parts.collect())
    };
    out.push(message("user", content));
    Ok(())
}

fn assistant_message<'a>(i: usize, m: &'a Message) -> Result<ChatMessage<'a>, BackendError> {
    let mut text = String::new();
    let mut calls = Vec::new();
    for (j, block) in m.content.iter().enumerate() {
        match block {
            ContentBlock::Text(t) => text.push_str(t),
            ContentBlock::ToolUse(t) => calls.push(json!({
                "id": t.tool_use_id,
                "type": "function",
                "function": {"name": t.name, "arguments": t.input.to_string()},
            })),
            // Earlier reasoning is not replayed: OpenAI-style servers take none back.
            ContentBlock::CachePoint(_) | ContentBlock::ReasoningContent(_) => {}
            other => return Err(unsupported(&format!("messages[{i}].content[{j}]"), other.member_name())),
        }
    }
    if calls.is_empty() {
        return Ok(message("assistant", Content::Text(Cow::Owned(text))));
    }
    let content = if text.is_empty() { Content::Null } else { Content::Text(Cow::Owned(text)) };
    Ok(ChatMessage { content, role: "assistant", tool_call_id: None, tool_calls: Some(calls) })
}

fn image_part(at: &str, img: &ImageBlock) -> Result<Value, BackendError> {
    match &img.source {
        ImageSource::Bytes(b64) => {
            let url = format!("data:image/{};base64,{b64}", img.format);
            Ok(json!({"type": "image_url", "image_url": {"url": url}}))
        }
        other => Err(not_supported(at, &format!("image source '{}'", other.member_name()))),
    }
}

/// Only documents given as text can be passed on: the server has no document parser.
fn document_text(at: &str, doc: &DocumentBlock) -> Result<String, BackendError> {
    match &doc.source {
        DocumentSource::Text(t) => Ok(format!("{}:\n{t}", doc.name)),
        other => Err(not_supported(at, &format!("document source '{}'", other.member_name()))),
    }
}

fn tool_message<'a>(at: &str, r: &'a ToolResultBlock) -> Result<ChatMessage<'a>, BackendError> {
    let mut texts = Vec::with_capacity(r.content.len());
    for (k, c) in r.content.iter().enumerate() {
        let at = format!("{at}.toolResult.content[{k}]");
        match c {
            ToolResultContentBlock::Text(t) => texts.push(t.clone()),
            ToolResultContentBlock::Json(v) => texts.push(v.to_string()),
            ToolResultContentBlock::Document(doc) => texts.push(document_text(&at, doc)?),
            other => return Err(unsupported(&at, other.member_name())),
        }
    }
    let content = Content::Text(Cow::Owned(texts.join("\n")));
    Ok(ChatMessage { content, role: "tool", tool_call_id: Some(&r.tool_use_id), tool_calls: None })
}
