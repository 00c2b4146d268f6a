//! A Converse conversation in Gemma's turn format. The built-in model is the *base*
//! Gemma 3 270M, whose GGUF carries no chat template, so the format is written here:
//!
//! ```text
//! <bos><start_of_turn>user
//! {system}
//!
//! {first user message}<end_of_turn>
//! <start_of_turn>model
//! {assistant message}<end_of_turn>
//! <start_of_turn>user
//! {next user message}<end_of_turn>
//! <start_of_turn>model
//! ```
//!
//! Gemma has no system role: the system text opens the first user turn, as Gemma's own
//! template does. A conversation that ends with an assistant message leaves that turn
//! open, so the model continues it (Converse's and Anthropic's prefill).
//!
//! Turn markers are [`Segment`]s, never text: they become their token ids directly, and a
//! `<start_of_turn>` typed by a user stays plain text.

use spillway_wire::converse::{
    ContentBlock, ConverseRequest, Role, SystemContentBlock, ToolResultContentBlock, ToolUseBlock,
};

use crate::BackendError;

/// One piece of a prompt: a special token or text to tokenize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Bos,
    StartOfTurn,
    EndOfTurn,
    Text(String),
}

/// The prompt of `request`, or why this model cannot read it.
pub fn gemma(request: &ConverseRequest) -> Result<Vec<Segment>, BackendError> {
    let system = system_text(request);
    let mut out = vec![Segment::Bos];
    let mut system_pending = (!system.is_empty()).then_some(system);
    let last = request.messages.len().saturating_sub(1);
    for (i, message) in request.messages.iter().enumerate() {
        let mut text = message_text(&message.content)?;
        let role = match message.role {
            Role::User => {
                if let Some(system) = system_pending.take() {
                    text = format!("{system}\n\n{text}");
                }
                "user"
            }
            Role::Assistant => {
                // A conversation that starts with the model still gets its system text.
                if let Some(system) = system_pending.take() {
                    push_turn(&mut out, "user", system, true);
                }
                "model"
            }
        };
        // The last assistant message is a prefill: its turn stays open.
        let close = !(i == last && message.role == Role::Assistant);
        push_turn(&mut out, role, text, close);
    }
    if let Some(system) = system_pending {
        push_turn(&mut out, "user", system, true);
    }
    if request.messages.last().is_none_or(|m| m.role == Role::User) {
        out.push(Segment::StartOfTurn);
        out.push(Segment::Text("model\n".to_owned()));
    }
    Ok(out)
}

fn push_turn(out: &mut Vec<Segment>, role: &str, text: String, close: bool) {
    out.push(Segment::StartOfTurn);
    out.push(Segment::Text(format!("{role}\n{text}")));
    if close {
        out.push(Segment::EndOfTurn);
        out.push(Segment::Text("\n".to_owned()));
    }
}

fn system_text(request: &ConverseRequest) -> String {
    let parts: Vec<&str> = request
        .system
        .iter()
        .filter_map(|b| if let SystemContentBlock::Text(t) = b { Some(t.as_str()) } else { None })
        .collect();
    parts.join("\n")
}

/// The text of one message's blocks. Tool calls and results are written out as text (the
/// model reads them; it never calls tools itself). Images and documents need a model
/// that reads them.
fn message_text(blocks: &[ContentBlock]) -> Result<String, BackendError> {
    let mut parts = Vec::with_capacity(blocks.len());
    for block in blocks {
        match block {
            ContentBlock::Text(t) => parts.push(t.clone()),
            ContentBlock::ToolUse(ToolUseBlock { name, input, .. }) => {
                parts.push(format!("[tool call {name}: {input}]"))
            }
            ContentBlock::ToolResult(r) => {
                for c in &r.content {
                    match c {
                        ToolResultContentBlock::Text(t) => parts.push(t.clone()),
                        ToolResultContentBlock::Json(v) => parts.push(v.to_string()),
                        _ => return Err(unsupported_block("tool result")),
                    }
                }
            }
            ContentBlock::Image(_) => return Err(unsupported_block("image")),
            ContentBlock::Document(_) => return Err(unsupported_block("document")),
            // Cache points and reasoning carry nothing the model reads.
            ContentBlock::CachePoint(_) | ContentBlock::ReasoningContent(_) => {}
            _ => return Err(unsupported_block("content")),
        }
    }
    Ok(parts.join("\n"))
}

fn unsupported_block(kind: &str) -> BackendError {
    BackendError::Unsupported(format!(
        "This model doesn't support the {kind} content block that you provided. Try again with a supported content block."
    ))
}

/// The prompt as text, with the markers spelled out (tests and debugging).
pub fn render(segments: &[Segment]) -> String {
    segments
        .iter()
        .map(|s| match s {
            Segment::Bos => "<bos>",
            Segment::StartOfTurn => "<start_of_turn>",
            Segment::EndOfTurn => "<end_of_turn>",
            Segment::Text(t) => t.as_str(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use spillway_wire::parse::json;

    use super::*;

    fn prompt(body: &str) -> String {
        let req: ConverseRequest = json(body.as_bytes()).unwrap();
        render(&gemma(&req).unwrap())
    }

    #[test]
    fn one_user_turn_opens_the_model_turn() {
        let p = prompt(r#"{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}"#);
        assert_eq!(p, "<bos><start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n");
    }

    #[test]
    fn system_text_is_folded_into_the_first_user_turn() {
        let p = prompt(
            r#"{"system":[{"text":"Be brief."},{"text":"Answer in French."}],
                "messages":[{"role":"user","content":[{"text":"Hi"}]},
                            {"role":"assistant","content":[{"text":"Salut"}]},
                            {"role":"user","content":[{"text":"Bye"},{"text":"now"}]}]}"#,
        );
        assert_eq!(
            p,
            "<bos><start_of_turn>user\nBe brief.\nAnswer in French.\n\nHi<end_of_turn>\n\
             <start_of_turn>model\nSalut<end_of_turn>\n\
             <start_of_turn>user\nBye\nnow<end_of_turn>\n<start_of_turn>model\n"
        );
    }

    #[test]
    fn a_final_assistant_message_is_continued() {
        let p = prompt(
            r#"{"messages":[{"role":"user","content":[{"text":"Count"}]},
                            {"role":"assistant","content":[{"text":"1, 2,"}]}]}"#,
        );
        assert_eq!(p, "<bos><start_of_turn>user\nCount<end_of_turn>\n<start_of_turn>model\n1, 2,");
    }

    #[test]
    fn markers_typed_by_users_stay_text() {
        let req: ConverseRequest =
            json(br#"{"messages":[{"role":"user","content":[{"text":"<end_of_turn>"}]}]}"#).unwrap();
        let segments = gemma(&req).unwrap();
        assert_eq!(segments.iter().filter(|s| **s == Segment::EndOfTurn).count(), 1);
        assert!(segments.contains(&Segment::Text("user\n<end_of_turn>".into())));
    }

    #[test]
    fn tool_blocks_are_text_and_images_are_refused() {
        let p = prompt(
            r#"{"messages":[{"role":"user","content":[{"text":"Weather?"}]},
                {"role":"assistant","content":[{"toolUse":{"toolUseId":"t1","name":"get_weather","input":{"city":"Paris"}}}]},
                {"role":"user","content":[{"toolResult":{"toolUseId":"t1","content":[{"text":"sunny"}]}}]}]}"#,
        );
        assert!(p.contains("model\n[tool call get_weather: {\"city\":\"Paris\"}]<end_of_turn>"), "{p}");
        assert!(p.contains("user\nsunny<end_of_turn>"), "{p}");
        let req: ConverseRequest = json(
            br#"{"messages":[{"role":"user","content":[{"image":{"format":"png","source":{"bytes":"iVBORw0KGgo="}}}]}]}"#,
        )
        .unwrap();
        let e = gemma(&req).unwrap_err();
        assert!(matches!(e, BackendError::Unsupported(ref m) if m.contains("image")), "{e:?}");
    }
}
