//! Union members and enum values of a Converse request that its types accept but that
//! spillway cannot act on: a union member it does not model (kept by name as `Unknown`
//! so that this check can name it) and a format outside the model's enum. Each one is
//! refused with a ValidationException naming its path, rather than dropped on the way to
//! a backend.

use crate::converse::{
    ContentBlock, ConverseRequest, DocumentBlock, DocumentSource, ImageBlock, ImageSource, SystemContentBlock, Tool,
    ToolChoice, ToolInputSchema, ToolResultBlock, ToolResultContentBlock,
};
use crate::error::BedrockError;
use crate::parse::{value_violation, violation};

const IMAGE_FORMATS: &[&str] = &["png", "jpeg", "gif", "webp"];
const DOCUMENT_FORMATS: &[&str] = &["pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"];
const TOOL_RESULT_STATUSES: &[&str] = &["success", "error"];

pub fn check(req: &ConverseRequest) -> Result<(), BedrockError> {
    for (i, m) in req.messages.iter().enumerate() {
        // A block's path is formatted only for the kinds checked here (not text, the
        // common case: two allocations per block of every call; issue 13).
        for (j, block) in m.content.iter().enumerate().filter(|(_, b)| checked(b)) {
            content(block, &format!("messages[{i}].content[{j}]"))?;
        }
    }
    for (i, block) in req.system.iter().enumerate() {
        if let SystemContentBlock::Unknown(name) = block {
            return Err(unknown(&format!("system[{i}]"), name, "SystemContentBlock"));
        }
    }
    if let Some(cfg) = &req.tool_config {
        for (i, tool) in cfg.tools.iter().enumerate() {
            let path = format!("toolConfig.tools[{i}]");
            match tool {
                Tool::Unknown(name) => return Err(unknown(&path, name, "Tool")),
                Tool::ToolSpec(spec) => {
                    if let ToolInputSchema::Unknown(name) = &spec.input_schema {
                        return Err(unknown(&format!("{path}.toolSpec.inputSchema"), name, "ToolInputSchema"));
                    }
                }
                Tool::CachePoint(_) => {}
            }
        }
        if let Some(ToolChoice::Unknown(name)) = &cfg.tool_choice {
            return Err(unknown("toolConfig.toolChoice", name, "ToolChoice"));
        }
    }
    Ok(())
}

/// The blocks [`content`] looks into.
fn checked(block: &ContentBlock) -> bool {
    matches!(
        block,
        ContentBlock::Unknown(_) | ContentBlock::Image(_) | ContentBlock::Document(_) | ContentBlock::ToolResult(_)
    )
}

fn content(block: &ContentBlock, path: &str) -> Result<(), BedrockError> {
    match block {
        ContentBlock::Unknown(name) => Err(unknown(path, name, "ContentBlock")),
        ContentBlock::Image(image) => self::image(image, &format!("{path}.image")),
        ContentBlock::Document(doc) => document(doc, &format!("{path}.document")),
        ContentBlock::ToolResult(result) => tool_result(result, &format!("{path}.toolResult")),
        _ => Ok(()),
    }
}

fn tool_result(result: &ToolResultBlock, path: &str) -> Result<(), BedrockError> {
    if let Some(status) = result.status.as_deref() {
        one_of(&format!("{path}.status"), status, TOOL_RESULT_STATUSES)?;
    }
    for (k, block) in result.content.iter().enumerate() {
        let at = format!("{path}.content[{k}]");
        match block {
            ToolResultContentBlock::Unknown(name) => return Err(unknown(&at, name, "ToolResultContentBlock")),
            ToolResultContentBlock::Image(image) => self::image(image, &format!("{at}.image"))?,
            ToolResultContentBlock::Document(doc) => document(doc, &format!("{at}.document"))?,
            ToolResultContentBlock::Json(_) | ToolResultContentBlock::Text(_) => {}
        }
    }
    Ok(())
}

fn image(image: &ImageBlock, path: &str) -> Result<(), BedrockError> {
    one_of(&format!("{path}.format"), &image.format, IMAGE_FORMATS)?;
    match &image.source {
        ImageSource::Unknown(name) => Err(unknown(&format!("{path}.source"), name, "ImageSource")),
        _ => Ok(()),
    }
}

fn document(doc: &DocumentBlock, path: &str) -> Result<(), BedrockError> {
    if let Some(format) = doc.format.as_deref() {
        one_of(&format!("{path}.format"), format, DOCUMENT_FORMATS)?;
    }
    match &doc.source {
        DocumentSource::Unknown(name) => Err(unknown(&format!("{path}.source"), name, "DocumentSource")),
        _ => Ok(()),
    }
}

fn one_of(path: &str, value: &str, allowed: &[&str]) -> Result<(), BedrockError> {
    if allowed.contains(&value) {
        return Ok(());
    }
    let set = allowed.join(", ");
    Err(value_violation(path, value, &format!("Member must satisfy enum value set: [{set}]")))
}

fn unknown(path: &str, member: &str, union: &str) -> BedrockError {
    violation(path, &format!("{member} is not a member of {union} that this endpoint supports"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::json;

    fn refused(body: &str) -> String {
        check(&json::<ConverseRequest>(body.as_bytes()).unwrap()).unwrap_err().message
    }

    #[test]
    fn unknown_members_are_named_with_their_path() {
        let e = refused(r#"{"messages":[{"role":"user","content":[{"text":"a"},{"hologram":{}}]}]}"#);
        assert!(
            e.contains("'messages[0].content[1]'") && e.contains("hologram is not a member of ContentBlock"),
            "{e}"
        );
        let e = refused(r#"{"messages":[],"system":[{"mood":"x"}]}"#);
        assert!(e.contains("'system[0]'"), "{e}");
        let e =
            refused(r#"{"messages":[],"toolConfig":{"tools":[{"toolSpec":{"name":"t","inputSchema":{"yaml":"x"}}}]}}"#);
        assert!(e.contains("'toolConfig.tools[0].toolSpec.inputSchema'"), "{e}");
    }

    #[test]
    fn formats_outside_the_enums_are_refused() {
        let e = refused(
            r#"{"messages":[{"role":"user","content":[{"image":{"format":"tiff","source":{"bytes":"AA=="}}}]}]}"#,
        );
        assert!(e.contains("Value 'tiff' at 'messages[0].content[0].image.format'"), "{e}");
        let e = refused(
            r#"{"messages":[{"role":"user","content":[{"toolResult":{"toolUseId":"t","content":[],"status":"meh"}}]}]}"#,
        );
        assert!(e.contains("'messages[0].content[0].toolResult.status'"), "{e}");
        let ok = r#"{"messages":[{"role":"user","content":[{"document":{"format":"pdf","name":"d","source":{"bytes":"AA=="}}}]}]}"#;
        assert!(check(&json::<ConverseRequest>(ok.as_bytes()).unwrap()).is_ok());
    }
}
