//! The chat-completions `messages` / `tools` shape that two families share: OpenAI's
//! gpt-oss (the full Chat Completions body) and Mistral Large 2 / Pixtral (a subset).
//! Read into Converse turns: `system` / `developer` messages become the system prompt,
//! `tool` messages tool results in a user turn, assistant `tool_calls` tool uses.

use serde_json::{json, Value};

use super::body::{self, Obj};
use super::members::only;
use crate::converse::{
    ContentBlock, ImageBlock, ImageSource, Message, Role, SystemContentBlock, Tool, ToolInputSchema, ToolResultBlock,
    ToolResultContentBlock, ToolSpec, ToolUseBlock,
};
use crate::error::BedrockError;
use crate::stream::Collector;

/// Which dialect's members a message may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    OpenAi,
    Mistral,
}

impl Flavor {
    fn roles(self) -> &'static [&'static str] {
        match self {
            Self::OpenAi => &["system", "developer", "user", "assistant", "tool"],
            Self::Mistral => &["system", "user", "assistant", "tool"],
        }
    }
}

/// The system prompt and the conversation of a `messages` array.
pub fn messages(
    items: &[Value],
    path: &str,
    flavor: Flavor,
) -> Result<(Vec<SystemContentBlock>, Vec<Message>), BedrockError> {
    if items.is_empty() {
        return Err(body::malformed(path, "expected minimum item count: 1, found: 0"));
    }
    let (mut system, mut turns) = (Vec::new(), Vec::<Message>::new());
    for (i, item) in items.iter().enumerate() {
        let m = Obj::new(item, format!("{path}/{i}"))?;
        let role = m.req_str("role")?;
        if !flavor.roles().contains(&role) {
            return Err(body::not_enum(&m.at("role"), role));
        }
        // A participant `name` only labels the turn for the model; Converse has no place
        // for it, so it is refused rather than dropped.
        let unhonoured = [("name", "Participant names")];
        let (role, blocks) = match role {
            "system" | "developer" => {
                only(&m, &["role", "content"], &unhonoured)?;
                for block in content(&m, flavor)? {
                    if let ContentBlock::Text(t) = block {
                        system.push(SystemContentBlock::Text(t));
                    }
                }
                continue;
            }
            "user" => {
                only(&m, &["role", "content"], &unhonoured)?;
                (Role::User, content(&m, flavor)?)
            }
            "assistant" => {
                only(&m, &["role", "content", "tool_calls"], &unhonoured)?;
                let mut blocks = if m.has("content") { content(&m, flavor)? } else { Vec::new() };
                blocks.retain(|b| !matches!(b, ContentBlock::Text(t) if t.is_empty()));
                for (j, call) in m.arr("tool_calls")?.unwrap_or_default().iter().enumerate() {
                    blocks.push(tool_call(call, format!("{}/{j}", m.at("tool_calls")))?);
                }
                (Role::Assistant, blocks)
            }
            _ => {
                only(&m, &["role", "content", "tool_call_id"], &unhonoured)?;
                let text: Vec<ToolResultContentBlock> = content(&m, flavor)?
                    .into_iter()
                    .filter_map(|b| match b {
                        ContentBlock::Text(t) => Some(ToolResultContentBlock::Text(t)),
                        _ => None,
                    })
                    .collect();
                let id = m.req_str("tool_call_id")?.to_owned();
                let result = ToolResultBlock { tool_use_id: id, content: text, status: None };
                (Role::User, vec![ContentBlock::ToolResult(result)])
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => turns.push(Message { role, content: blocks }),
        }
    }
    // System messages alone leave the model nothing to answer.
    if turns.is_empty() {
        return Err(body::malformed(path, "expected at least one user message"));
    }
    Ok((system, turns))
}

/// `content`: a string, or (OpenAI, Pixtral) an array of `text` and `image_url` parts.
fn content(m: &Obj, flavor: Flavor) -> Result<Vec<ContentBlock>, BedrockError> {
    match m.req("content")? {
        Value::String(s) => Ok(vec![ContentBlock::Text(s.clone())]),
        Value::Array(parts) => body::each(parts, &m.at("content"), |v, path| {
            let p = Obj::new(v, path)?;
            match p.req_str("type")? {
                "text" => {
                    only(&p, &["type", "text"], &[])?;
                    Ok(ContentBlock::Text(p.req_str("text")?.to_owned()))
                }
                "image_url" if flavor == Flavor::Mistral => {
                    only(&p, &["type", "image_url"], &[])?;
                    image(&p)
                }
                other => Err(body::not_enum(&p.at("type"), other)),
            }
        }),
        other => Err(body::expected(&m.at("content"), "String", other)),
    }
}

/// An inline image (`data:image/png;base64,…`); this endpoint fetches no URLs.
fn image(p: &Obj) -> Result<ContentBlock, BedrockError> {
    let (url, at) = match p.req("image_url")? {
        Value::String(s) => (s.as_str(), p.at("image_url")),
        other => {
            let o = Obj::new(other, p.at("image_url"))?;
            only(&o, &["url"], &[])?;
            (o.req_str("url")?, o.at("url"))
        }
    };
    let parsed = url.strip_prefix("data:image/").and_then(|rest| rest.split_once(";base64,"));
    match parsed {
        Some((format @ ("png" | "jpeg" | "gif" | "webp"), data)) => Ok(ContentBlock::Image(ImageBlock {
            format: format.to_owned(),
            source: ImageSource::Bytes(data.to_owned()),
        })),
        _ => Err(crate::surface::not_supported("Images other than inline base64 data URLs", &at)),
    }
}

fn tool_call(v: &Value, path: String) -> Result<ContentBlock, BedrockError> {
    let c = Obj::new(v, path)?;
    only(&c, &["id", "type", "function"], &[])?;
    if let Some(t) = c.str("type")? {
        if t != "function" {
            return Err(body::not_enum(&c.at("type"), t));
        }
    }
    let f = c.obj("function")?.ok_or_else(|| c.missing("function"))?;
    only(&f, &["name", "arguments"], &[])?;
    let raw = f.req_str("arguments")?;
    let input = if raw.trim().is_empty() {
        json!({})
    } else {
        serde_json::from_str(raw).map_err(|e| body::malformed(&f.at("arguments"), format!("not a JSON object: {e}")))?
    };
    Ok(ContentBlock::ToolUse(ToolUseBlock {
        tool_use_id: c.req_str("id")?.to_owned(),
        name: f.req_str("name")?.to_owned(),
        input,
    }))
}

/// `tools`: `{"type": "function", "function": {name, description, parameters}}` each.
pub fn tools(items: &[Value], path: &str, extra: &[&str]) -> Result<Vec<Tool>, BedrockError> {
    body::each(items, path, |v, path| {
        let t = Obj::new(v, path)?;
        only(&t, &["type", "function"], &[])?;
        match t.req_str("type")? {
            "function" => {}
            other => return Err(body::not_enum(&t.at("type"), other)),
        }
        let f = t.obj("function")?.ok_or_else(|| t.missing("function"))?;
        let mut keys = vec!["name", "description", "parameters"];
        keys.extend_from_slice(extra);
        only(&f, &keys, &[])?;
        let schema = match f.get("parameters") {
            Some(p) => {
                Obj::new(p, f.at("parameters"))?;
                p.clone()
            }
            None => json!({"type": "object", "properties": {}}),
        };
        Ok(Tool::ToolSpec(ToolSpec {
            name: f.req_str("name")?.to_owned(),
            description: f.str("description")?.map(str::to_owned),
            input_schema: ToolInputSchema::Json(schema),
        }))
    })
}

/// The answer's tool uses as `tool_calls` (arguments as a JSON string).
pub fn tool_calls(out: &Collector) -> Vec<Value> {
    out.content()
        .iter()
        .filter_map(|b| match b {
            ContentBlock::ToolUse(t) => Some(json!({
                "id": t.tool_use_id,
                "type": "function",
                "function": {"name": t.name, "arguments": t.input.to_string()},
            })),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_tools_and_results() {
        let msgs = json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            {"role": "user", "content": [{"type": "text", "text": "thanks"}]},
        ]);
        let (system, turns) = messages(msgs.as_array().unwrap(), "#/messages", Flavor::OpenAi).unwrap();
        assert_eq!(system, vec![SystemContentBlock::Text("Be brief.".into())]);
        assert_eq!(turns.len(), 3);
        assert!(matches!(&turns[1].content[..], [ContentBlock::ToolUse(t)] if t.input["city"] == "Paris"));
        // The tool result and the next user text share one user turn.
        assert!(
            matches!(&turns[2].content[..], [ContentBlock::ToolResult(r), ContentBlock::Text(_)] if r.tool_use_id == "c1")
        );
    }

    #[test]
    fn refusals_name_the_member() {
        let m = |v: Value, f| messages(v.as_array().unwrap(), "#/messages", f).unwrap_err().message;
        let e = m(json!([{"role": "developer", "content": "x"}]), Flavor::Mistral);
        assert!(e.contains("#/messages/0/role: developer is not a valid enum value"), "{e}");
        let e = m(json!([{"role": "user", "content": "x", "name": "bob"}]), Flavor::OpenAi);
        assert!(e.ends_with("not supported by this endpoint: #/messages/0/name"), "{e}");
        let e =
            m(json!([{"role": "user", "content": [{"type": "image_url", "image_url": "http://x"}]}]), Flavor::Mistral);
        assert!(e.ends_with("#/messages/0/content/0/image_url"), "{e}");
        let e = m(json!([]), Flavor::OpenAi);
        assert!(e.contains("minimum item count"), "{e}");
        let e = tools(&[json!({"type": "function", "function": {"name": "f", "strict": true}})], "#/tools", &[])
            .unwrap_err()
            .message;
        assert!(e.contains("#/tools/0/function: extraneous key [strict]"), "{e}");
    }

    #[test]
    fn data_url_images_are_read() {
        let msgs = json!([{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]}]);
        let (_, turns) = messages(msgs.as_array().unwrap(), "#/messages", Flavor::Mistral).unwrap();
        assert!(matches!(&turns[0].content[0], ContentBlock::Image(i) if i.format == "png"));
    }
}
