//! What this endpoint honours of the Converse shape. Every member botocore models either
//! works or is refused here, by path, before anything runs: a client that asks for a
//! guardrail, a cache point or a service tier spillway does not provide learns it from a
//! ValidationException instead of getting an answer that silently lacks it. (A service
//! tier or latency the model does not offer is refused once the model is known.)
//!
//! Members the request types do not model at all (`toolSpec.strict`, `toolUse.type`, …)
//! are refused while parsing (`deny_unknown_fields`, worded by [`crate::parse::json`]);
//! this module covers the modelled ones and union members kept as `Unknown`.

use std::collections::BTreeMap;

use crate::converse::{
    ContentBlock, ConverseRequest, DocumentBlock, DocumentSource, ImageBlock, ImageSource, SystemContentBlock, Tool,
    ToolChoice, ToolConfig, ToolInputSchema, ToolResultContentBlock,
};
use crate::error::BedrockError;
use crate::options::CacheTtl;
use crate::parse::value_violation;

/// The refusal of one member: `<what> is not supported by this endpoint: <path>`.
pub fn not_supported(what: &str, path: &str) -> BedrockError {
    BedrockError::validation(format!("{what} is not supported by this endpoint: {path}"))
}

/// Refuses the first member of `req` this endpoint does not honour.
pub fn check(req: &ConverseRequest) -> Result<(), BedrockError> {
    if req.guardrail_config.is_some() {
        return Err(not_supported("Guardrails", "guardrailConfig"));
    }
    // `serviceTier` and `performanceConfig` work where the model offers them: the
    // handler checks them against the catalog once the model is known (route::tier).
    if let Some(out) = &req.output_config {
        if let Some(format) = &out.text_format {
            crate::structured::check(format)?;
        }
        if out.effort.is_some() {
            return Err(not_supported("Reasoning effort", "outputConfig.effort"));
        }
    }
    if let Some(paths) = &req.additional_model_response_field_paths {
        crate::response_fields::check(paths)?;
    }
    // A prompt ARN's request reaches here rendered, its variables consumed.
    if req.prompt_variables.is_some() {
        return Err(not_supported("Prompt variables without a prompt ARN as modelId", "promptVariables"));
    }
    if let Some(meta) = &req.request_metadata {
        request_metadata(meta)?;
    }
    for (i, block) in req.system.iter().enumerate() {
        match block {
            SystemContentBlock::Text(_) => {}
            // Without a guardrail, guard content is read as plain text; an image has no
            // text to read.
            SystemContentBlock::GuardContent(g) => {
                if g.get("image").is_some_and(|v| !v.is_null()) {
                    return Err(not_supported("Guard content images", &format!("system[{i}].guardContent.image")));
                }
            }
            SystemContentBlock::CachePoint(_) => {}
            SystemContentBlock::Unknown(m) => return Err(member(&format!("system[{i}]"), m)),
        }
    }
    for (i, m) in req.messages.iter().enumerate() {
        // The path is formatted only for the blocks `content_block` looks into.
        let plain = |b: &&ContentBlock| {
            matches!(
                b,
                ContentBlock::Text(_)
                    | ContentBlock::ToolUse(_)
                    | ContentBlock::CachePoint(_)
                    | ContentBlock::ReasoningContent(_)
            )
        };
        for (j, block) in m.content.iter().enumerate().filter(|(_, b)| !plain(b)) {
            content_block(&format!("messages[{i}].content[{j}]"), block)?;
        }
    }
    if let Some(cfg) = &req.tool_config {
        tool_config(cfg)?;
    }
    crate::reasoning::check_history(req)?;
    cache_points(req).map(drop)
}

/// Most cache points a request may set.
pub const MAX_CACHE_POINTS: usize = 4;

/// Every cache point of a request in prefix order (tools, system, messages), with its
/// path and TTL (5 minutes when it names none).
pub fn cache_points(req: &ConverseRequest) -> Result<Vec<(String, CacheTtl)>, BedrockError> {
    let mut found = Vec::new();
    let ttl = |c: &crate::options::CachePointBlock| c.ttl.unwrap_or(CacheTtl::FiveMinutes);
    for (i, t) in req.tool_config.iter().flat_map(|c| c.tools.iter()).enumerate() {
        if let Tool::CachePoint(c) = t {
            found.push((format!("toolConfig.tools[{i}].cachePoint"), ttl(c)));
        }
    }
    for (i, b) in req.system.iter().enumerate() {
        if let SystemContentBlock::CachePoint(c) = b {
            found.push((format!("system[{i}].cachePoint"), ttl(c)));
        }
    }
    for (i, m) in req.messages.iter().enumerate() {
        for (j, b) in m.content.iter().enumerate() {
            if let ContentBlock::CachePoint(c) = b {
                found.push((format!("messages[{i}].content[{j}].cachePoint"), ttl(c)));
            }
        }
    }
    if let Some((path, _)) = found.get(MAX_CACHE_POINTS) {
        return Err(BedrockError::validation(format!(
            "A request can set at most {MAX_CACHE_POINTS} cache points; this one sets {}: {path}",
            found.len()
        )));
    }
    // A longer-lived entry cannot extend a shorter-lived one: 1h points come first.
    let mut seen_short = false;
    for (path, ttl) in &found {
        match ttl {
            CacheTtl::FiveMinutes => seen_short = true,
            CacheTtl::OneHour if seen_short => {
                return Err(BedrockError::validation(format!(
                    "A cache point with a 1h TTL must come before every cache point with a 5m TTL: {path}"
                )))
            }
            CacheTtl::OneHour => {}
        }
    }
    Ok(found)
}

/// A union member this endpoint has no use for, named by its full path.
fn member(at: &str, name: &str) -> BedrockError {
    not_supported(&format!("The member {name}"), &format!("{at}.{name}"))
}

fn content_block(at: &str, block: &ContentBlock) -> Result<(), BedrockError> {
    match block {
        ContentBlock::Text(_) | ContentBlock::ToolUse(_) => Ok(()),
        ContentBlock::Image(img) => image(&format!("{at}.image"), img),
        ContentBlock::Document(doc) => document(&format!("{at}.document"), doc),
        ContentBlock::ToolResult(r) => {
            for (k, c) in r.content.iter().enumerate() {
                let at = format!("{at}.toolResult.content[{k}]");
                match c {
                    ToolResultContentBlock::Json(_) | ToolResultContentBlock::Text(_) => {}
                    ToolResultContentBlock::Image(img) => image(&format!("{at}.image"), img)?,
                    ToolResultContentBlock::Document(doc) => document(&format!("{at}.document"), doc)?,
                    ToolResultContentBlock::Unknown(m) => return Err(member(&at, m)),
                }
            }
            Ok(())
        }
        ContentBlock::CachePoint(_) => Ok(()),
        // Checked with the whole conversation (its role and signature): crate::reasoning.
        ContentBlock::ReasoningContent(_) => Ok(()),
        ContentBlock::Unknown(m) => Err(member(at, m)),
    }
}

/// Sources are read inline only: this endpoint has no Amazon S3 to fetch from.
fn image(at: &str, img: &ImageBlock) -> Result<(), BedrockError> {
    match &img.source {
        ImageSource::Bytes(_) => Ok(()),
        ImageSource::S3Location(_) => Err(not_supported("Amazon S3 sources", &format!("{at}.source.s3Location"))),
        ImageSource::Unknown(m) => Err(member(&format!("{at}.source"), m)),
    }
}

fn document(at: &str, doc: &DocumentBlock) -> Result<(), BedrockError> {
    match &doc.source {
        DocumentSource::Bytes(_) | DocumentSource::Text(_) => Ok(()),
        DocumentSource::S3Location(_) => Err(not_supported("Amazon S3 sources", &format!("{at}.source.s3Location"))),
        DocumentSource::Content(_) => Err(member(&format!("{at}.source"), "content")),
        DocumentSource::Unknown(m) => Err(member(&format!("{at}.source"), m)),
    }
}

fn tool_config(cfg: &ToolConfig) -> Result<(), BedrockError> {
    for (i, tool) in cfg.tools.iter().enumerate() {
        let at = format!("toolConfig.tools[{i}]");
        match tool {
            Tool::ToolSpec(spec) => {
                if let ToolInputSchema::Unknown(m) = &spec.input_schema {
                    return Err(member(&format!("{at}.toolSpec.inputSchema"), m));
                }
            }
            Tool::CachePoint(_) => {}
            Tool::Unknown(m) => return Err(member(&at, m)),
        }
    }
    match &cfg.tool_choice {
        Some(ToolChoice::Unknown(m)) => Err(member("toolConfig.toolChoice", m)),
        // `auto` and `any` are empty structures: a member inside one is not modelled.
        Some(ToolChoice::Auto(v) | ToolChoice::Any(v)) => match v.as_object().and_then(|o| o.keys().next()) {
            Some(key) => {
                let choice = if matches!(cfg.tool_choice, Some(ToolChoice::Auto(_))) { "auto" } else { "any" };
                Err(member(&format!("toolConfig.toolChoice.{choice}"), key))
            }
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// `RequestMetadata`: keys 1–256 and values 0–256 characters of `[a-zA-Z0-9\s:_@$#=/+,-.]`
/// (Converse's member, and InvokeModel's `X-Amzn-Bedrock-Request-Metadata` header).
pub fn request_metadata(meta: &BTreeMap<String, String>) -> Result<(), BedrockError> {
    // `\s` is the model's (Java's) whitespace class: ASCII only, vertical tab included.
    // Unicode spaces (U+00A0, U+2003, …) fail the pattern at Bedrock, so they fail here.
    let allowed = |c: char| c.is_ascii_alphanumeric() || "\t\n\x0B\x0C\r :_@$#=/+,-.".contains(c);
    if meta.is_empty() {
        return Err(value_violation("requestMetadata", "{}", "Member must have length greater than or equal to 1"));
    }
    for (k, v) in meta {
        let at = format!("requestMetadata.{k}");
        if k.is_empty() || k.chars().count() > 256 || !k.chars().all(allowed) {
            return Err(value_violation(
                &format!("{at}.key"),
                k,
                "Member must satisfy regular expression pattern: [a-zA-Z0-9\\s:_@$#=/+,-.]{1,256}",
            ));
        }
        if v.chars().count() > 256 || !v.chars().all(allowed) {
            return Err(value_violation(
                &format!("{at}.value"),
                v,
                "Member must satisfy regular expression pattern: [a-zA-Z0-9\\s:_@$#=/+,-.]{0,256}",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::json;

    fn refusal(body: serde_json::Value) -> String {
        let req: ConverseRequest = match json(body.to_string().as_bytes()) {
            Ok(r) => r,
            Err(e) => return e.message,
        };
        check(&req).map_or_else(|e| e.message, |()| String::new())
    }

    fn with(extra: serde_json::Value) -> serde_json::Value {
        let mut body = serde_json::json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        body
    }

    #[test]
    fn each_unhonoured_member_is_named() {
        use serde_json::json;
        let cases = [
            (json!({"guardrailConfig": {"guardrailIdentifier": "g", "guardrailVersion": "1"}}), "guardrailConfig"),
            (json!({"promptVariables": {"x": {"text": "y"}}}), "promptVariables"),
            (json!({"outputConfig": {"effort": "high"}}), "outputConfig.effort"),
            (
                json!({"messages": [{"role": "user", "content": [{"video": {"format": "mp4", "source": {"bytes": "AA=="}}}]}]}),
                "messages[0].content[0].video",
            ),
            (
                json!({"toolConfig": {"tools": [{"systemTool": {"name": "nova_grounding"}}]}}),
                "toolConfig.tools[0].systemTool",
            ),
        ];
        for (extra, path) in cases {
            let msg = refusal(with(extra));
            assert!(msg.ends_with(&format!("is not supported by this endpoint: {path}")), "{path}: {msg}");
        }
    }

    #[test]
    fn honoured_members_pass() {
        use serde_json::json;
        for extra in [
            json!({"performanceConfig": {"latency": "standard"}}),
            json!({"serviceTier": {"type": "default"}}),
            json!({"serviceTier": {"type": "flex"}, "performanceConfig": {"latency": "optimized"}}),
            json!({"requestMetadata": {"team": "search-1", "trace id": "a/b:c"}}),
            json!({"additionalModelResponseFieldPaths": ["/stop_sequence"]}),
            json!({"toolConfig": {"tools": [{"toolSpec": {"name": "t", "inputSchema": {"json": {}}}}], "toolChoice": {"auto": {}}}}),
        ] {
            assert_eq!(refusal(with(extra.clone())), "", "{extra}");
        }
    }

    #[test]
    fn cache_points_are_ordered_and_counted() {
        use serde_json::json;
        let cp = |ttl: &str| json!({"cachePoint": {"type": "default", "ttl": ttl}});
        let ok = with(json!({"system": [{"text": "s"}, cp("1h"), {"text": "t"}, cp("5m")]}));
        assert_eq!(refusal(ok), "");
        let late = with(json!({"system": [{"text": "s"}, cp("5m"), {"text": "t"}, cp("1h")]}));
        assert!(refusal(late).ends_with("must come before every cache point with a 5m TTL: system[3].cachePoint"));
        let five = with(json!({"system": [{"text": "a"}, cp("5m"), cp("5m"), cp("5m"), cp("5m"), cp("5m")]}));
        assert!(refusal(five).ends_with("this one sets 5: system[5].cachePoint"));
    }

    #[test]
    fn request_metadata_follows_the_pattern() {
        let msg = refusal(with(serde_json::json!({"requestMetadata": {"team": "a;b"}})));
        assert!(msg.contains("'requestMetadata.team.value'"), "{msg}");
        let msg = refusal(with(serde_json::json!({"requestMetadata": {"k!": "v"}})));
        assert!(msg.contains("'requestMetadata.k!.key'"), "{msg}");
        // Whitespace is ASCII's only (a no-break space is not `\s`).
        let msg = refusal(with(serde_json::json!({"requestMetadata": {"team": "a\u{a0}b"}})));
        assert!(msg.contains("'requestMetadata.team.value'"), "{msg}");
        assert_eq!(refusal(with(serde_json::json!({"requestMetadata": {"a\tb": "c d\re"}}))), "");
    }
}
