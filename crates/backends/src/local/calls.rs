//! How a model writes a tool call: the format its chat template teaches it, or, for a
//! template without tools (SmolLM2, Gemma), the engine's generic one.
//!
//! | style | a call as the model writes it | families |
//! |---|---|---|
//! | [`CallStyle::Generic`] | `{"name": …, "arguments": …}` | templates without tools (the tools are described after the system text) |
//! | [`CallStyle::Hermes`] | `<tool_call>\n{"name": …, "arguments": …}\n</tool_call>` | Qwen2.5, Qwen3, Hermes 2/3, SmolLM3 |
//! | [`CallStyle::Llama3`] | `{"name": …, "parameters": …}` | Llama 3.1, 3.2, 3.3 (JSON tool calling) |
//! | [`CallStyle::Mistral`] | `[TOOL_CALLS] [{"name": …, "arguments": …}]` | Mistral 7B v0.3, Nemo |
//!
//! The style is read off the template's source once, when the model loads; the call is
//! still decoded under the tool's schema grammar, wrapped in the style's markers, and
//! read back by [`CallStyle::parse`].

use serde_json::Value;

/// A tool-call format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallStyle {
    Generic,
    Hermes,
    Llama3,
    Mistral,
}

impl CallStyle {
    /// The style a chat template's source teaches. A template that names no tools, or
    /// calls them in a format not listed above (Mistral's newer `[TOOL_CALLS]name[ARGS]`,
    /// for one), gets the generic format.
    pub fn of_template(source: &str) -> Self {
        if !source.contains("tools") {
            return Self::Generic;
        }
        if source.contains("<tool_call>") {
            Self::Hermes
        } else if source.contains("[TOOL_CALLS]") && !source.contains("[ARGS]") {
            Self::Mistral
        } else if source.contains("<|start_header_id|>") && source.contains("ipython") {
            Self::Llama3
        } else {
            Self::Generic
        }
    }

    /// Whether the template itself shows the tools and the tool turns.
    pub fn is_native(self) -> bool {
        self != Self::Generic
    }

    /// What the model writes before the call's JSON object.
    pub fn open(self) -> &'static str {
        match self {
            Self::Generic | Self::Llama3 => "",
            Self::Hermes => "<tool_call>\n",
            Self::Mistral => "[TOOL_CALLS] [",
        }
    }

    /// What it writes after it.
    pub fn close(self) -> &'static str {
        match self {
            Self::Generic | Self::Llama3 => "",
            Self::Hermes => "\n</tool_call>",
            Self::Mistral => "]",
        }
    }

    /// The key of the arguments in the call object.
    pub fn arguments_key(self) -> &'static str {
        if self == Self::Llama3 {
            "parameters"
        } else {
            "arguments"
        }
    }

    /// The first character of a call: text that starts with it is held back until it
    /// is known whether it is a call.
    pub fn first_char(self) -> char {
        self.open().chars().next().unwrap_or('{')
    }

    /// Markers that may be single special tokens of the vocabulary (`[TOOL_CALLS]` is
    /// a control token in Mistral's): the engine writes them out instead of ending the
    /// answer on them.
    pub fn markers(self) -> &'static [&'static str] {
        match self {
            Self::Generic => &[],
            Self::Hermes => &["<tool_call>", "</tool_call>"],
            Self::Llama3 => &["<|python_tag|>"],
            Self::Mistral => &["[TOOL_CALLS]"],
        }
    }

    /// The JSON schema of one call object naming `name` with `arguments` (a schema).
    pub fn call_schema(self, name: &str, arguments: &str) -> String {
        format!(
            "{{\"type\":\"object\",\"properties\":{{\"name\":{{\"const\":{}}},{}:{arguments}}},\"required\":[\"name\",{}],\"additionalProperties\":false}}",
            Value::String(name.to_owned()),
            Value::String(self.arguments_key().to_owned()),
            Value::String(self.arguments_key().to_owned()),
        )
    }

    /// Whether `text` (what the answer holds so far, leading blanks cut) is, or may
    /// still become, a call: `Some(true)` it is one, `Some(false)` it is not, `None`
    /// not known yet.
    pub fn starts_call(self, text: &str) -> Option<bool> {
        if text.is_empty() {
            return None;
        }
        let open = match self {
            Self::Generic | Self::Llama3 => "{",
            Self::Hermes => "<tool_call>",
            Self::Mistral => "[TOOL_CALLS]",
        };
        if text.starts_with(open) || (self == Self::Llama3 && text.starts_with("<|python_tag|>")) {
            Some(true)
        } else if open.starts_with(text) || (self == Self::Llama3 && "<|python_tag|>".starts_with(text)) {
            None
        } else {
            Some(false)
        }
    }

    /// The call in a whole answer: its tool's name and arguments, or `None` when the
    /// answer is not a complete call.
    pub fn parse(self, answer: &str) -> Option<(String, Value)> {
        let text = answer.trim();
        let body = match self {
            Self::Generic => text,
            Self::Llama3 => text.strip_prefix("<|python_tag|>").unwrap_or(text),
            Self::Hermes => text.strip_prefix("<tool_call>")?.trim_end().strip_suffix("</tool_call>")?,
            Self::Mistral => text.strip_prefix("[TOOL_CALLS]")?,
        };
        let mut call: Value = serde_json::from_str(body.trim()).ok()?;
        if let Value::Array(calls) = &mut call {
            // Mistral writes a list; the grammar lets it write one call.
            if calls.len() != 1 {
                return None;
            }
            call = calls.pop()?;
        }
        let name = call.get("name")?.as_str()?.to_owned();
        let arguments = call.get(self.arguments_key()).or_else(|| call.get("arguments"))?.clone();
        Some((name, arguments))
    }
}

/// A tool-call id of nine letters and digits, derived from a Converse `toolUseId`:
/// Mistral's templates refuse any other shape. The same id always gives the same
/// result, so a conversation's prompt, and its prefix in the cache, stay the same.
pub fn nine_char_id(id: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    // FNV-1a: stable across processes, unlike the standard library's hasher.
    let mut hash = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (0..9)
        .map(|_| {
            let c = ALPHABET[(hash % ALPHABET.len() as u64) as usize];
            hash /= ALPHABET.len() as u64;
            char::from(c)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn styles_are_read_off_the_template() {
        assert_eq!(CallStyle::of_template("{{ '<|im_start|>' + message['content'] }}"), CallStyle::Generic);
        assert_eq!(CallStyle::of_template("{% if tools %}<tool_call>{% endif %}"), CallStyle::Hermes);
        assert_eq!(CallStyle::of_template("{% if tools %}[TOOL_CALLS] [{% endif %}"), CallStyle::Mistral);
        assert_eq!(CallStyle::of_template("{% if tools %}[TOOL_CALLS]{{ n }}[ARGS]{% endif %}"), CallStyle::Generic);
        assert_eq!(
            CallStyle::of_template("{% if tools %}<|start_header_id|>ipython<|end_header_id|>{% endif %}"),
            CallStyle::Llama3
        );
        // Markers without tools: nothing to render them with.
        assert_eq!(CallStyle::of_template("<tool_call>"), CallStyle::Generic);
    }

    #[test]
    fn calls_are_parsed_in_each_style() {
        let weather = Some(("get_weather".to_owned(), json!({"city": "Paris"})));
        let hermes = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
        assert_eq!(CallStyle::Hermes.parse(hermes), weather);
        assert_eq!(CallStyle::Hermes.parse("<tool_call>\n{\"name\": \"get_weather\""), None);
        let llama = "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}";
        assert_eq!(CallStyle::Llama3.parse(llama), weather);
        assert_eq!(CallStyle::Llama3.parse(&format!("<|python_tag|>{llama}")), weather);
        let mistral = "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]";
        assert_eq!(CallStyle::Mistral.parse(mistral), weather);
        assert_eq!(CallStyle::Mistral.parse("[TOOL_CALLS] []"), None);
        assert_eq!(CallStyle::Generic.parse("{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}"), weather);
        assert_eq!(CallStyle::Generic.parse("Paris is sunny."), None);
    }

    #[test]
    fn a_call_is_recognised_from_its_first_characters() {
        assert_eq!(CallStyle::Hermes.starts_call("<tool"), None);
        assert_eq!(CallStyle::Hermes.starts_call("<tool_call>\n{"), Some(true));
        assert_eq!(CallStyle::Hermes.starts_call("<b>"), Some(false));
        assert_eq!(CallStyle::Mistral.starts_call("[TOOL_CALLS]"), Some(true));
        assert_eq!(CallStyle::Mistral.starts_call("[1]"), Some(false));
        assert_eq!(CallStyle::Llama3.starts_call("<|python"), None);
        assert_eq!(CallStyle::Generic.starts_call("{"), Some(true));
        assert_eq!(CallStyle::Generic.starts_call("Hi"), Some(false));
        assert_eq!(CallStyle::Generic.starts_call(""), None);
    }

    #[test]
    fn call_schemas_use_the_styles_key() {
        let schema: Value = serde_json::from_str(&CallStyle::Llama3.call_schema("f", "{\"type\":\"object\"}")).unwrap();
        assert_eq!(schema["properties"]["name"]["const"], "f");
        assert_eq!(schema["required"], json!(["name", "parameters"]));
    }

    #[test]
    fn mistral_ids_are_nine_letters_or_digits_and_stable() {
        let id = nine_char_id("tooluse_0123456789abcdef");
        assert_eq!(id.len(), 9);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()), "{id}");
        assert_eq!(id, nine_char_id("tooluse_0123456789abcdef"));
        assert_ne!(id, nine_char_id("tooluse_0123456789abcdee"));
    }
}
