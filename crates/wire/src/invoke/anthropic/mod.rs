//! Anthropic on Bedrock: the Messages body (`anthropic_version`) and the legacy Text
//! Completions body (`prompt`, Claude Instant / 2.x), their answers and stream chunks.

mod answer;
mod features;
mod simple;

use serde_json::{json, Map, Value};

pub use answer::{completion_response, messages_answer, messages_response, CompletionStream, MessagesStream};
pub use simple::parse as parse_simple;

use super::body::{self, Obj};
use super::members::only;
use super::Dialect;
use crate::converse::{
    ContentBlock, ConverseRequest, ImageBlock, ImageSource, InferenceConfig, Message, Role, SpecificToolChoice,
    SystemContentBlock, Tool, ToolChoice, ToolConfig, ToolInputSchema, ToolResultBlock, ToolResultContentBlock,
    ToolSpec, ToolUseBlock,
};
use crate::error::BedrockError;
use crate::options::{
    JsonSchemaDefinition, OutputConfig, OutputFormat, OutputFormatStructure, OutputFormatType, ReasoningContentBlock,
    ReasoningTextBlock,
};

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
    "thinking",
    "anthropic_beta",
];
/// Members Anthropic models take on Bedrock that this endpoint does not provide yet.
/// (A top-level `cache_control`, automatic caching, is not Bedrock's: breakpoints go on
/// blocks.)
const ROOT_UNHONOURED: &[(&str, &str)] =
    &[("cache_control", "Automatic prompt caching (set cache_control on blocks)"), ("service_tier", "Service tiers")];
/// Members a content block, tool or system block may carry but this endpoint does not
/// honour.
const BLOCK_UNHONOURED: &[(&str, &str)] = &[("citations", "Citations")];
/// Blocks inside a tool result have no cache point of their own in Converse.
const NESTED_UNHONOURED: &[(&str, &str)] = &[
    ("cache_control", "Prompt caching inside a tool result (set it on the tool_result block)"),
    ("citations", "Citations"),
];
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
    let betas = features::betas(&root)?;
    let (inference, top_k) = sampling(&root, "max_tokens")?;
    let items = root.arr("messages")?.ok_or_else(|| root.missing("messages"))?;
    if items.is_empty() {
        return Err(body::malformed("#/messages", "expected minimum item count: 1, found: 0"));
    }
    let messages = body::each(items, "#/messages", message)?;
    let system = match root.get("system") {
        None => Vec::new(),
        Some(Value::String(s)) if s.is_empty() => Vec::new(),
        Some(Value::String(s)) => vec![SystemContentBlock::Text(s.clone())],
        Some(Value::Array(items)) => {
            let blocks = body::each(items, "#/system", |v, path| {
                let b = typed(v, path, "text")?;
                only(&b, &["type", "text", "cache_control"], BLOCK_UNHONOURED)?;
                let text = SystemContentBlock::Text(b.req_str("text")?.into());
                Ok(std::iter::once(text).chain(features::cache_point(&b)?.map(SystemContentBlock::CachePoint)))
            })?;
            blocks.into_iter().flatten().collect()
        }
        Some(other) => return Err(body::expected("#/system", "String", other)),
    };
    let tools = body::each(root.arr("tools")?.unwrap_or_default(), "#/tools", tool)?;
    let mut tools: Vec<Tool> = tools.into_iter().flatten().collect();
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
    let thinking = features::thinking(&root, &inference, top_k, tool_choice.as_ref(), &betas)?;
    let tool_config = (!tools.is_empty()).then_some(ToolConfig { tools, tool_choice });
    let output_config = root.obj("output_config")?.map(|o| output_config(&o)).transpose()?;
    // `top_k` has no Converse field, and `thinking` goes where Bedrock's Converse takes
    // it: both travel in the additional request fields.
    let mut extra = Map::new();
    if let Some(k) = top_k {
        extra.insert("top_k".into(), json!(k));
    }
    if let Some(t) = thinking {
        extra.insert("thinking".into(), t);
    }
    let request = ConverseRequest {
        messages,
        system,
        inference_config: Some(inference),
        tool_config,
        additional_model_request_fields: (!extra.is_empty()).then_some(Value::Object(extra)),
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
fn sampling(root: &Obj, max_key: &str) -> Result<(InferenceConfig, Option<i64>), BedrockError> {
    let max_tokens = root.int_min(max_key, 1)?.ok_or_else(|| root.missing(max_key))?;
    let config = InferenceConfig {
        max_tokens: Some(max_tokens),
        temperature: root.unit("temperature")?,
        top_p: root.unit("top_p")?,
        stop_sequences: root.strings("stop_sequences")?,
    };
    Ok((config, root.int_min("top_k", 0)?))
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
        Value::Array(items) => body::each(items, &m.at("content"), block)?.into_iter().flatten().collect(),
        other => return Err(body::expected(&m.at("content"), "String", other)),
    };
    Ok(Message { role, content })
}

/// A content block, followed by a cache point when it carries `cache_control`.
fn block(v: &Value, path: String) -> Result<impl Iterator<Item = ContentBlock>, BedrockError> {
    let b = Obj::new(v, path)?;
    let kind = b.req_str("type")?;
    let keys: &[&str] = match kind {
        "text" => &["type", "text", "cache_control"],
        "image" => &["type", "source", "cache_control"],
        "tool_use" => &["type", "id", "name", "input", "cache_control"],
        "tool_result" => &["type", "tool_use_id", "content", "is_error", "cache_control"],
        // Anthropic sets no cache breakpoint on thinking: it is cached with its turn.
        "thinking" => &["type", "thinking", "signature"],
        "redacted_thinking" => &["type", "data"],
        "document" => return Err(crate::surface::not_supported("Document blocks", &b.at("type"))),
        _ => &[],
    };
    only(&b, keys, BLOCK_UNHONOURED)?;
    let cache = features::cache_point(&b)?.map(ContentBlock::CachePoint);
    Ok(std::iter::once(content_block(&b, kind)?).chain(cache))
}

fn content_block(b: &Obj, kind: &str) -> Result<ContentBlock, BedrockError> {
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
        "image" => ContentBlock::Image(image(b)?),
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
        only(&b, &["type", if kind == "text" { "text" } else { "source" }], NESTED_UNHONOURED)?;
    }
    match kind {
        "text" => Ok(ToolResultContentBlock::Text(b.req_str("text")?.to_owned())),
        "image" => image(&b).map(ToolResultContentBlock::Image),
        other => Err(body::not_enum(&b.at("type"), other)),
    }
}

/// A tool, followed by a cache point when it carries `cache_control`.
fn tool(v: &Value, path: String) -> Result<impl Iterator<Item = Tool>, BedrockError> {
    let t = Obj::new(v, path)?;
    only(&t, &["name", "description", "input_schema", "cache_control"], BLOCK_UNHONOURED)?;
    let schema = t.req("input_schema")?;
    Obj::new(schema, t.at("input_schema"))?;
    let spec = Tool::ToolSpec(ToolSpec {
        name: t.req_str("name")?.to_owned(),
        description: t.str("description")?.map(str::to_owned),
        input_schema: ToolInputSchema::Json(schema.clone()),
    });
    Ok(std::iter::once(spec).chain(features::cache_point(&t)?.map(Tool::CachePoint)))
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
    let (inference, top_k) = sampling(root, "max_tokens_to_sample")?;
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
        additional_model_request_fields: top_k.map(|k| json!({ "top_k": k })),
        ..ConverseRequest::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let thinking = json!({"anthropic_version": VERSION, "max_tokens": 2048, "messages": msgs,
            "thinking": {"type": "enabled", "budget_tokens": 1024}});
        let (r, _) = parse(&thinking).unwrap();
        assert_eq!(
            r.additional_model_request_fields,
            Some(json!({"thinking": {"type": "enabled", "budget_tokens": 1024}}))
        );
        let auto = json!({"anthropic_version": VERSION, "max_tokens": 5, "messages": msgs, "cache_control": {"type": "ephemeral"}});
        let e = parse(&auto).unwrap_err();
        assert!(e.message.ends_with("not supported by this endpoint: #/cache_control"), "{}", e.message);
        let cited = json!({"anthropic_version": VERSION, "max_tokens": 5, "messages": [{"role": "user",
            "content": [{"type": "text", "text": "hi", "citations": []}]}]});
        let e = parse(&cited).unwrap_err();
        assert!(e.message.ends_with("endpoint: #/messages/0/content/0/citations"), "{}", e.message);
        let extra = json!({"anthropic_version": VERSION, "max_tokens": 5, "messages": msgs, "foo": 1});
        let e = parse(&extra).unwrap_err();
        assert!(e.message.contains("#: extraneous key [foo] is not permitted"), "{}", e.message);
    }

    /// `cache_control` on a system block, a message block and a tool becomes a Converse
    /// cache point right after it, so the simulator and backends cache the same prefix.
    #[test]
    fn cache_control_becomes_cache_points() {
        let cc = json!({"type": "ephemeral", "ttl": "1h"});
        let body = json!({"anthropic_version": VERSION, "max_tokens": 5,
            "system": [{"type": "text", "text": "long", "cache_control": cc}],
            "tools": [{"name": "f", "input_schema": {"type": "object"}, "cache_control": cc}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}]});
        let (r, _) = parse(&body).unwrap();
        assert!(
            matches!(&r.system[1], SystemContentBlock::CachePoint(c) if c.ttl == Some(crate::options::CacheTtl::OneHour))
        );
        assert!(matches!(r.tool_config.as_ref().unwrap().tools[1], Tool::CachePoint(_)));
        assert!(matches!(r.messages[0].content[1], ContentBlock::CachePoint(_)));
        assert_eq!(crate::surface::cache_points(&r).unwrap().len(), 3);
        let nested = json!({"anthropic_version": VERSION, "max_tokens": 5, "messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "x", "cache_control": cc}]}]}]});
        let e = parse(&nested).unwrap_err();
        assert!(e.message.ends_with("#/messages/0/content/0/content/0/cache_control"), "{}", e.message);
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
}
