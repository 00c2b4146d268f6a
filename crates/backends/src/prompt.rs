//! A conversation rendered as one prompt text, and the simple tokenizer the simulator
//! (and token estimates for remote backends) count with.
//!
//! The tokenizer is deliberately plain and deterministic: a token is a run of up to eight
//! ASCII letters or digits with the spaces before it, or any other single character. The
//! simulator generates words that are one token each, so the usage it reports is exactly
//! what this tokenizer counts in its output.

use spillway_wire::converse::{ContentBlock, ConverseRequest, SystemContentBlock, Tool, ToolResultContentBlock};
use spillway_wire::options::CacheTtl;

/// Fixed cost of each message's turn markers, as chat templates add them.
const TOKENS_PER_MESSAGE: u32 = 3;

/// Tokens of `text` under the simulator's tokenizer.
pub fn count_tokens(text: &str) -> u32 {
    let mut count = 0u32;
    let mut run = 0usize; // length of the current alphanumeric run
    let mut after_space = false; // a space run has opened a token the next word joins
                                 // Over bytes, not chars: every token rule is about ASCII, and a non-ASCII character
                                 // is one token, counted at its leading byte (continuation bytes, 0x80..=0xBF, are
                                 // skipped). Decoding chars cost about four times as much; this runs on every
                                 // generated delta (the usage of a call its client abandons).
    for &c in text.as_bytes() {
        if (0x80..0xC0).contains(&c) {
            continue;
        }
        if c.is_ascii_alphanumeric() {
            if after_space {
                after_space = false;
            } else if run == 0 || run == 8 {
                count += 1;
                run = 0;
            }
            run += 1;
        } else if c == b' ' {
            if !after_space {
                count += 1;
                after_space = true;
            }
            run = 0;
        } else {
            count += 1;
            after_space = false;
            run = 0;
        }
    }
    count
}

/// Every text the model reads, in order: system, messages, tool specs and results.
pub fn render_prompt(req: &ConverseRequest) -> String {
    let mut out = String::new();
    for block in &req.system {
        let text = match block {
            SystemContentBlock::Text(t) => Some(t.as_str()),
            SystemContentBlock::GuardContent(g) => g.pointer("/text/text").and_then(|v| v.as_str()),
            _ => None,
        };
        if let Some(t) = text {
            out.push_str(t);
            out.push('\n');
        }
    }
    if let Some(cfg) = &req.tool_config {
        for tool in &cfg.tools {
            if let Tool::ToolSpec(spec) = tool {
                out.push_str(&spec.name);
                out.push(' ');
                out.push_str(spec.description.as_deref().unwrap_or(""));
                out.push('\n');
            }
        }
    }
    for m in &req.messages {
        for block in &m.content {
            match block {
                ContentBlock::Text(t) => out.push_str(t),
                ContentBlock::ToolUse(t) => {
                    out.push_str(&t.name);
                    out.push_str(&t.input.to_string());
                }
                ContentBlock::ToolResult(r) => {
                    for c in &r.content {
                        match c {
                            ToolResultContentBlock::Text(t) => out.push_str(t),
                            ToolResultContentBlock::Json(v) => out.push_str(&v.to_string()),
                            _ => {}
                        }
                    }
                }
                ContentBlock::Document(d) => out.push_str(&d.name),
                _ => {}
            }
            out.push('\n');
        }
    }
    out
}

/// The prompt prefix each cache point closes, in Bedrock's prefix order (tools, system,
/// messages), with the point's TTL (5 minutes unless it names one).
pub fn cache_prefixes(req: &ConverseRequest) -> Vec<(String, CacheTtl)> {
    let ttl = |c: &spillway_wire::options::CachePointBlock| c.ttl.unwrap_or(CacheTtl::FiveMinutes);
    let mut out = Vec::new();
    let mut text = String::new();
    for tool in req.tool_config.iter().flat_map(|c| c.tools.iter()) {
        match tool {
            Tool::ToolSpec(spec) => {
                text.push_str(&spec.name);
                text.push(' ');
                text.push_str(spec.description.as_deref().unwrap_or(""));
                if let spillway_wire::converse::ToolInputSchema::Json(v) = &spec.input_schema {
                    text.push_str(&v.to_string());
                }
                text.push('\n');
            }
            Tool::CachePoint(c) => out.push((text.clone(), ttl(c))),
            Tool::Unknown(_) => {}
        }
    }
    for block in &req.system {
        match block {
            SystemContentBlock::Text(t) => {
                text.push_str(t);
                text.push('\n');
            }
            SystemContentBlock::CachePoint(c) => out.push((text.clone(), ttl(c))),
            _ => {}
        }
    }
    for m in &req.messages {
        text.push_str(if m.role == spillway_wire::converse::Role::User { "user:" } else { "assistant:" });
        for block in &m.content {
            match block {
                ContentBlock::CachePoint(c) => out.push((text.clone(), ttl(c))),
                ContentBlock::Text(t) => text.push_str(t),
                ContentBlock::ToolUse(t) => {
                    text.push_str(&t.name);
                    text.push_str(&t.input.to_string());
                }
                ContentBlock::ToolResult(r) => text.push_str(&serde_json::to_string(&r.content).unwrap_or_default()),
                other => text.push_str(&serde_json::to_string(other).unwrap_or_default()),
            }
            text.push('\n');
        }
    }
    out
}

/// Input tokens of a whole request: the rendered prompt plus turn markers.
pub fn count_request_tokens(req: &ConverseRequest) -> u32 {
    let messages = u32::try_from(req.messages.len()).unwrap_or(u32::MAX);
    count_tokens(&render_prompt(req)).saturating_add(messages.saturating_mul(TOKENS_PER_MESSAGE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_words_punctuation_and_long_words() {
        assert_eq!(count_tokens(""), 0);
        assert_eq!(count_tokens("hello"), 1);
        assert_eq!(count_tokens("hello world"), 2); // "hello", " world"
        assert_eq!(count_tokens("Hi, you."), 4); // "Hi", ",", " you", "."
        assert_eq!(count_tokens("abcdefghij"), 2);
        assert_eq!(count_tokens("日本語"), 3);
        assert_eq!(count_tokens("é 🎉x"), 4); // "é", " ", "🎉", "x"
    }

    /// The byte loop counts as the char-by-char rules do, whatever the script.
    #[test]
    fn bytes_and_chars_agree() {
        fn by_chars(text: &str) -> u32 {
            let (mut count, mut run, mut after_space) = (0, 0, false);
            for c in text.chars() {
                if c.is_ascii_alphanumeric() {
                    if after_space {
                        after_space = false;
                    } else if run == 0 || run == 8 {
                        count += 1;
                        run = 0;
                    }
                    run += 1;
                } else if c == ' ' {
                    if !after_space {
                        count += 1;
                        after_space = true;
                    }
                    run = 0;
                } else {
                    count += 1;
                    after_space = false;
                    run = 0;
                }
            }
            count
        }
        for text in ["S3、EBS、EFS の違いを教えてください。", "héllo wörld  🎉🎉 abcdefghijklmnopq\n\tx", "  a  ü b"]
        {
            assert_eq!(count_tokens(text), by_chars(text), "{text}");
        }
    }
}
