//! Converse requests as OpenAI chat-completions bodies.

use serde_json::{json, Map, Value};
use spillway_wire::converse::{
    ContentBlock, ConverseRequest, DocumentBlock, DocumentSource, ImageBlock, ImageSource, Message, Role,
    SystemContentBlock, Tool, ToolChoice, ToolInputSchema, ToolResultBlock, ToolResultContentBlock,
};

use crate::BackendError;

/// Members the backend itself controls: letting `additionalModelRequestFields` override
/// them would send the request to another model or change the response's framing.
const RESERVED: &[&str] = &["model", "messages", "stream", "stream_options", "response_format"];

/// The chat-completions body for `request`.
pub(super) fn chat_body(
    model: &str,
    request: &ConverseRequest,
    max_tokens: u32,
    stream: bool,
    tools_enabled: bool,
) -> Result<Value, BackendError> {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("messages".into(), Value::Array(messages(request)?));
    body.insert("max_tokens".into(), json!(max_tokens));
    if let Some(cfg) = &request.inference_config {
        if let Some(t) = cfg.temperature {
            body.insert("temperature".into(), json!(t));
        }
        if let Some(p) = cfg.top_p {
            body.insert("top_p".into(), json!(p));
        }
        if let Some(stop) = cfg.stop_sequences.as_ref().filter(|s| !s.is_empty()) {
            body.insert("stop".into(), json!(stop));
        }
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
            body.insert("tools".into(), Value::Array(tools));
        }
        match &cfg.tool_choice {
            None => {}
            Some(ToolChoice::Auto(_)) => {
                body.insert("tool_choice".into(), json!("auto"));
            }
            Some(ToolChoice::Any(_)) => {
                body.insert("tool_choice".into(), json!("required"));
            }
            Some(ToolChoice::Tool(t)) => {
                body.insert("tool_choice".into(), json!({"type": "function", "function": {"name": t.name}}));
            }
            Some(other) => {
                let what = format!("tool choice '{}'", other.member_name());
                return Err(not_supported("toolConfig.toolChoice", &what));
            }
        }
    }
    if let Some(format) =
        spillway_wire::structured::format_of(request).map_err(|e| BackendError::Unsupported(e.message))?
    {
        body.insert("response_format".into(), response_format(format));
    }
    if stream {
        body.insert("stream".into(), json!(true));
        // Without this the server sends no usage at all while streaming.
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    // Server-specific parameters (top_k, repetition_penalty, …) pass through as given.
    if let Some(Value::Object(extra)) = &request.additional_model_request_fields {
        for (k, v) in extra {
            if !RESERVED.contains(&k.as_str()) {
                body.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(Value::Object(body))
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

fn messages(request: &ConverseRequest) -> Result<Vec<Value>, BackendError> {
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
        out.push(json!({"role": "system", "content": system.join("\n\n")}));
    }
    for (i, m) in request.messages.iter().enumerate() {
        match m.role {
            Role::User => user_message(i, m, &mut out)?,
            Role::Assistant => out.push(assistant_message(i, m)?),
        }
    }
    Ok(out)
}

/// A user turn becomes its tool results (OpenAI wants each as its own `tool` message right
/// after the assistant's calls) followed by one user message for the rest.
fn user_message(i: usize, m: &Message, out: &mut Vec<Value>) -> Result<(), BackendError> {
    let mut parts = Vec::new();
    for (j, block) in m.content.iter().enumerate() {
        let at = format!("messages[{i}].content[{j}]");
        match block {
            ContentBlock::Text(t) => parts.push(json!({"type": "text", "text": t})),
            ContentBlock::Image(img) => parts.push(image_part(&at, img)?),
            ContentBlock::Document(doc) => parts.push(json!({"type": "text", "text": document_text(&at, doc)?})),
            ContentBlock::ToolResult(r) => out.push(tool_message(&at, r)?),
            ContentBlock::CachePoint(_) | ContentBlock::ReasoningContent(_) => {}
            other => return Err(unsupported(&at, other.member_name())),
        }
    }
    if parts.is_empty() {
        return Ok(());
    }
    // Plain strings are what every OpenAI-compatible server accepts; parts only when an
    // image needs them.
    let content = if parts.iter().all(|p| p["type"] == "text") {
        let texts: Vec<&str> = parts.iter().filter_map(|p| p["text"].as_str()).collect();
        json!(texts.join("\n"))
    } else {
        Value::Array(parts)
    };
    out.push(json!({"role": "user", "content": content}));
    Ok(())
}

fn assistant_message(i: usize, m: &Message) -> Result<Value, BackendError> {
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
    let mut msg = json!({"role": "assistant"});
    if calls.is_empty() {
        msg["content"] = json!(text);
    } else {
        msg["content"] = if text.is_empty() { Value::Null } else { json!(text) };
        msg["tool_calls"] = Value::Array(calls);
    }
    Ok(msg)
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

fn tool_message(at: &str, r: &ToolResultBlock) -> Result<Value, BackendError> {
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
    Ok(json!({"role": "tool", "tool_call_id": r.tool_use_id, "content": texts.join("\n")}))
}
