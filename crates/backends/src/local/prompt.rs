//! A Converse request as the local model reads it: first a [`Conversation`] (system
//! text, then alternating turns of plain text), then that conversation in the model's
//! own chat format ([`super::template`]), or, for a GGUF without a chat template, in one
//! of the two fallbacks written here:
//!
//! * **Gemma turns**, for a vocabulary with `<start_of_turn>`/`<end_of_turn>` (the base
//!   Gemma 3 270M has the tokens but no template):
//!
//!   ```text
//!   <bos><start_of_turn>user
//!   {system}
//!
//!   {first user message}<end_of_turn>
//!   <start_of_turn>model
//!   {assistant message}<end_of_turn>
//!   <start_of_turn>model
//!   ```
//!
//!   Gemma has no system role: the system text opens the first user turn, as Gemma's
//!   own template does.
//! * **A plain transcript** for any other model: `<bos>{system}\n\nUser: …\nAssistant: …`
//!   ending in `Assistant:`.
//!
//! A conversation that ends with an assistant message leaves that turn open, so the
//! model continues it (Converse's and Anthropic's prefill).
//!
//! Markup and text stay apart as [`Segment`]s: only markup may become special tokens,
//! so a `<start_of_turn>` or `<|im_start|>` typed by a user stays plain text.

use spillway_wire::converse::{
    ContentBlock, ConverseRequest, Role, SystemContentBlock, ToolResultContentBlock, ToolUseBlock,
};

use crate::BackendError;

/// One piece of a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// The vocabulary's beginning-of-sequence token.
    Bos,
    /// Chat-format markup: its special tokens (`<start_of_turn>`, `<|im_start|>`) are
    /// parsed as such.
    Markup(String),
    /// Text from the request: never special tokens.
    Text(String),
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub role: Role,
    pub blocks: Vec<Block>,
}

/// What a turn says: text, or a tool call and its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Text(String),
    Call { id: String, name: String, input: serde_json::Value },
    Result { id: String, text: String, error: bool },
}

impl Turn {
    /// A turn of plain text.
    pub fn said(role: Role, text: &str) -> Self {
        Self { role, blocks: vec![Block::Text(text.to_owned())] }
    }

    /// Its text blocks, one a line.
    pub fn text(&self) -> String {
        let texts: Vec<&str> =
            self.blocks.iter().filter_map(|b| if let Block::Text(t) = b { Some(t.as_str()) } else { None }).collect();
        texts.join("\n")
    }

    /// Everything it says as text, for a format without tool turns of its own: a call
    /// as the JSON object the model answers with when it calls a tool
    /// (`super::tools::call_json`), a result as `Tool result: …`.
    pub fn flat(&self) -> String {
        let parts: Vec<String> = self
            .blocks
            .iter()
            .map(|b| match b {
                Block::Text(t) => t.clone(),
                Block::Call { name, input, .. } => super::tools::call_json(name, input),
                Block::Result { text, error, .. } => {
                    format!("Tool result{}: {text}", if *error { " (error)" } else { "" })
                }
            })
            .collect();
        parts.join("\n")
    }

    /// Its tool calls.
    pub fn calls(&self) -> impl Iterator<Item = (&str, &str, &serde_json::Value)> {
        self.blocks.iter().filter_map(|b| match b {
            Block::Call { id, name, input } => Some((id.as_str(), name.as_str(), input)),
            _ => None,
        })
    }
}

/// What the model reads, before any chat format.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Conversation {
    pub system: String,
    pub turns: Vec<Turn>,
}

impl Conversation {
    /// The conversation of `request`, or why this model cannot read it.
    pub fn of(request: &ConverseRequest) -> Result<Self, BackendError> {
        let turns = request
            .messages
            .iter()
            .map(|m| Ok(Turn { role: m.role, blocks: blocks(&m.content)? }))
            .collect::<Result<_, BackendError>>()?;
        Ok(Self { system: system_text(request), turns })
    }

    /// The same with `instructions` (how to answer with tools or JSON) after the
    /// system text.
    pub fn with_instructions(&self, instructions: &str) -> Self {
        let mut out = self.clone();
        if !instructions.is_empty() {
            if !out.system.is_empty() {
                out.system.push_str("\n\n");
            }
            out.system.push_str(instructions);
        }
        out
    }

    /// Whether the last turn is the model's own, to be continued.
    pub fn is_prefill(&self) -> bool {
        self.turns.last().is_some_and(|t| t.role == Role::Assistant)
    }
}

/// The Gemma turn format (a Gemma vocabulary without a chat template).
pub fn gemma(conversation: &Conversation) -> Vec<Segment> {
    let mut out = vec![Segment::Bos];
    let mut system_pending = (!conversation.system.is_empty()).then(|| conversation.system.clone());
    let last = conversation.turns.len().saturating_sub(1);
    for (i, turn) in conversation.turns.iter().enumerate() {
        let mut text = turn.flat();
        let role = match turn.role {
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
        let close = !(i == last && turn.role == Role::Assistant);
        push_turn(&mut out, role, text, close);
    }
    if let Some(system) = system_pending {
        push_turn(&mut out, "user", system, true);
    }
    if !conversation.is_prefill() {
        out.push(Segment::Markup("<start_of_turn>model\n".to_owned()));
    }
    out
}

fn push_turn(out: &mut Vec<Segment>, role: &str, text: String, close: bool) {
    out.push(Segment::Markup(format!("<start_of_turn>{role}\n")));
    out.push(Segment::Text(text));
    if close {
        out.push(Segment::Markup("<end_of_turn>\n".to_owned()));
    }
}

/// A plain `User:`/`Assistant:` transcript, for a model with neither a chat template
/// nor Gemma's turn tokens.
pub fn plain(conversation: &Conversation) -> Vec<Segment> {
    let mut out = vec![Segment::Bos];
    if !conversation.system.is_empty() {
        out.push(Segment::Text(conversation.system.clone()));
        out.push(Segment::Markup("\n\n".to_owned()));
    }
    for turn in &conversation.turns {
        let role = if turn.role == Role::User { "User: " } else { "Assistant: " };
        out.push(Segment::Markup(role.to_owned()));
        out.push(Segment::Text(turn.flat()));
        out.push(Segment::Markup("\n".to_owned()));
    }
    if conversation.is_prefill() {
        out.pop(); // the model goes on with its own line
    } else {
        out.push(Segment::Markup("Assistant:".to_owned()));
    }
    out
}

fn system_text(request: &ConverseRequest) -> String {
    let parts: Vec<&str> = request
        .system
        .iter()
        .filter_map(|b| if let SystemContentBlock::Text(t) = b { Some(t.as_str()) } else { None })
        .collect();
    parts.join("\n")
}

/// One message's blocks as the model reads them. Images and documents need a model
/// that reads them.
fn blocks(content: &[ContentBlock]) -> Result<Vec<Block>, BackendError> {
    let mut out = Vec::with_capacity(content.len());
    for block in content {
        match block {
            ContentBlock::Text(t) => out.push(Block::Text(t.clone())),
            ContentBlock::ToolUse(ToolUseBlock { tool_use_id, name, input }) => {
                out.push(Block::Call { id: tool_use_id.clone(), name: name.clone(), input: input.clone() });
            }
            ContentBlock::ToolResult(r) => {
                let mut result = Vec::with_capacity(r.content.len());
                for c in &r.content {
                    match c {
                        ToolResultContentBlock::Text(t) => result.push(t.clone()),
                        ToolResultContentBlock::Json(v) => result.push(v.to_string()),
                        _ => return Err(unsupported_block("tool result")),
                    }
                }
                let error = r.status.as_deref() == Some("error");
                out.push(Block::Result { id: r.tool_use_id.clone(), text: result.join("\n"), error });
            }
            ContentBlock::Image(_) => return Err(unsupported_block("image")),
            ContentBlock::Document(_) => return Err(unsupported_block("document")),
            // Cache points and reasoning carry nothing the model reads.
            ContentBlock::CachePoint(_) | ContentBlock::ReasoningContent(_) => {}
            _ => return Err(unsupported_block("content")),
        }
    }
    Ok(out)
}

fn unsupported_block(kind: &str) -> BackendError {
    BackendError::Unsupported(format!(
        "This model doesn't support the {kind} content block that you provided. Try again with a supported content block."
    ))
}

/// The prompt as text, with `<bos>` spelled out (tests and debugging).
pub fn render(segments: &[Segment]) -> String {
    segments
        .iter()
        .map(|s| match s {
            Segment::Bos => "<bos>",
            Segment::Markup(t) | Segment::Text(t) => t.as_str(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use spillway_wire::parse::json;

    use super::*;

    fn conversation(body: &str) -> Conversation {
        let req: ConverseRequest = json(body.as_bytes()).unwrap();
        Conversation::of(&req).unwrap()
    }

    fn prompt(body: &str) -> String {
        render(&gemma(&conversation(body)))
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
        let body = r#"{"messages":[{"role":"user","content":[{"text":"Count"}]},
                            {"role":"assistant","content":[{"text":"1, 2,"}]}]}"#;
        assert_eq!(prompt(body), "<bos><start_of_turn>user\nCount<end_of_turn>\n<start_of_turn>model\n1, 2,");
        assert_eq!(render(&plain(&conversation(body))), "<bos>User: Count\nAssistant: 1, 2,");
    }

    #[test]
    fn the_plain_transcript_ends_with_the_assistant_cue() {
        let c =
            conversation(r#"{"system":[{"text":"Be brief."}],"messages":[{"role":"user","content":[{"text":"Hi"}]}]}"#);
        assert_eq!(render(&plain(&c)), "<bos>Be brief.\n\nUser: Hi\nAssistant:");
    }

    #[test]
    fn markers_typed_by_users_stay_text() {
        let segments = gemma(&conversation(r#"{"messages":[{"role":"user","content":[{"text":"<end_of_turn>"}]}]}"#));
        assert!(segments.contains(&Segment::Text("<end_of_turn>".into())));
        assert!(segments
            .iter()
            .all(|s| !matches!(s, Segment::Markup(m) if m.contains("<end_of_turn>") && m.len() > 15)));
    }

    #[test]
    fn tool_blocks_are_text_and_images_are_refused() {
        let p = prompt(
            r#"{"messages":[{"role":"user","content":[{"text":"Weather?"}]},
                {"role":"assistant","content":[{"toolUse":{"toolUseId":"t1","name":"get_weather","input":{"city":"Paris"}}}]},
                {"role":"user","content":[{"toolResult":{"toolUseId":"t1","content":[{"text":"sunny"}]}}]}]}"#,
        );
        assert!(p.contains("model\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}<end_of_turn>"), "{p}");
        assert!(p.contains("user\nTool result: sunny<end_of_turn>"), "{p}");
        let req: ConverseRequest = json(
            br#"{"messages":[{"role":"user","content":[{"image":{"format":"png","source":{"bytes":"iVBORw0KGgo="}}}]}]}"#,
        )
        .unwrap();
        let e = Conversation::of(&req).unwrap_err();
        assert!(matches!(e, BackendError::Unsupported(ref m) if m.contains("image")), "{e:?}");
    }

    #[test]
    fn instructions_follow_the_system_text() {
        let req: ConverseRequest =
            json(br#"{"system":[{"text":"S"}],"messages":[{"role":"user","content":[{"text":"Hi"}]}]}"#).unwrap();
        let c = Conversation::of(&req).unwrap();
        assert_eq!(c.with_instructions("Answer in JSON.").system, "S\n\nAnswer in JSON.");
        assert_eq!(Conversation::default().with_instructions("J").system, "J");
    }
}
