//! A prompt variant applied to a Converse request whose modelId is the prompt's ARN:
//! `{{variable}}` placeholders are filled from `promptVariables`, a TEXT template becomes
//! one user message, a CHAT template its messages, system blocks and tools, and the
//! variant's inference configuration becomes the request's.
//!
//! The variables of a variant are those its `inputVariables` declare plus those its
//! template uses: a placeholder nobody declared still has to be filled, and a declared
//! variable the template happens not to use may still be passed.

use std::collections::{BTreeMap, BTreeSet};

use super::{PromptInferenceConfiguration, PromptVariant, TemplateConfiguration};
use crate::converse::{
    ContentBlock, ConverseRequest, InferenceConfig, Message, PromptVariableValue, Role, SystemContentBlock,
};
use crate::error::BedrockError;

/// Request members Bedrock refuses next to a prompt ARN: the prompt supplies them.
pub fn forbidden_fields(request: &ConverseRequest) -> Vec<&'static str> {
    let mut found = Vec::new();
    if !request.system.is_empty() {
        found.push("system");
    }
    if request.inference_config.is_some() {
        found.push("inferenceConfig");
    }
    if request.tool_config.is_some() {
        found.push("toolConfig");
    }
    if request.additional_model_request_fields.is_some() {
        found.push("additionalModelRequestFields");
    }
    found
}

/// A piece of template text: literal, or the name inside a `{{name}}` placeholder.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Literal(&'a str),
    Variable(&'a str),
}

/// The longest variable name: 100 groups of an alphanumeric and a separator.
const MAX_NAME: usize = 200;

/// Splits `text` at its placeholders. Only `{{name}}` with a valid variable name is one;
/// any other braces are literal text.
///
/// After each `{{` only the name characters that follow are read (at most one more than
/// the longest name): a name is exactly those, up to `}}`. Searching for `}}` from every
/// `{{` instead made a template of many `{{` and no `}}` quadratic (90 s for 200 KB).
fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let (mut literal_from, mut search_from) = (0, 0);
    while let Some(found) = text[search_from..].find("{{") {
        let open = search_from + found;
        let inner = open + 2;
        let name_len = text.as_bytes()[inner..]
            .iter()
            .take(MAX_NAME + 1)
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
            .count();
        let closed = text[inner + name_len..].starts_with("}}");
        match name_len {
            len if closed && super::check::is_name(&text[inner..inner + len]) => {
                if open > literal_from {
                    out.push(Piece::Literal(&text[literal_from..open]));
                }
                out.push(Piece::Variable(&text[inner..inner + len]));
                literal_from = inner + len + 2;
                search_from = literal_from;
            }
            // Not a placeholder: step over one brace and look again (`{{{x}}}`).
            _ => search_from = open + 1,
        }
    }
    if literal_from < text.len() {
        out.push(Piece::Literal(&text[literal_from..]));
    }
    out
}

fn placeholders<'a>(text: &'a str, into: &mut BTreeSet<&'a str>) {
    into.extend(pieces(text).into_iter().filter_map(|p| match p {
        Piece::Variable(name) => Some(name),
        Piece::Literal(_) => None,
    }));
}

/// Fills every placeholder (all of them have a value by the time this runs).
fn fill(text: &str, values: &BTreeMap<&str, &str>) -> String {
    pieces(text)
        .into_iter()
        .map(|p| match p {
            Piece::Literal(s) => s,
            Piece::Variable(name) => values.get(name).copied().unwrap_or_default(),
        })
        .collect()
}

/// Every variable of the variant, declared or used.
pub fn variables(variant: &PromptVariant) -> BTreeSet<&str> {
    let mut names = BTreeSet::new();
    let declared = match &variant.template_configuration {
        TemplateConfiguration::Text(t) => {
            placeholders(&t.text, &mut names);
            t.input_variables.as_deref()
        }
        TemplateConfiguration::Chat(c) => {
            for block in c.messages.iter().flat_map(|m| &m.content) {
                if let ContentBlock::Text(text) = block {
                    placeholders(text, &mut names);
                }
            }
            for block in &c.system {
                if let SystemContentBlock::Text(text) = block {
                    placeholders(text, &mut names);
                }
            }
            c.input_variables.as_deref()
        }
        TemplateConfiguration::Unknown(_) => None,
    };
    names.extend(declared.unwrap_or_default().iter().filter_map(|v| v.name.as_deref()));
    names
}

/// The request that runs: `request` (sent with the prompt's ARN as modelId) with the
/// variant's template rendered in front of its messages and the variant's settings.
pub fn apply(variant: &PromptVariant, mut request: ConverseRequest) -> Result<ConverseRequest, BedrockError> {
    let forbidden = forbidden_fields(&request);
    if !forbidden.is_empty() {
        return Err(BedrockError::validation(format!(
            "The following fields can't be used when modelId is a prompt ARN, because the prompt supplies them: {}. Remove them and try again.",
            forbidden.join(", ")
        )));
    }
    let wanted = variables(variant);
    let mut values: BTreeMap<&str, &str> = BTreeMap::new();
    let mut unknown = Vec::new();
    for (name, value) in request.prompt_variables.iter().flatten() {
        match value {
            PromptVariableValue::Text(text) if wanted.contains(name.as_str()) => {
                values.insert(name, text);
            }
            PromptVariableValue::Text(_) => unknown.push(name.as_str()),
            PromptVariableValue::Unknown(member) => {
                return Err(BedrockError::validation(format!(
                    "promptVariables.{name} has the member {member}; only text is supported."
                )))
            }
        }
    }
    let missing: Vec<&str> = wanted.iter().copied().filter(|n| !values.contains_key(n)).collect();
    if !missing.is_empty() {
        return Err(BedrockError::validation(format!(
            "The prompt's variables are missing from promptVariables: {}. Provide a value for each and try again.",
            missing.join(", ")
        )));
    }
    if !unknown.is_empty() {
        return Err(BedrockError::validation(format!(
            "promptVariables contains variables the prompt doesn't define: {}. Remove them and try again.",
            unknown.join(", ")
        )));
    }

    let mut messages = match &variant.template_configuration {
        TemplateConfiguration::Text(t) => {
            let mut content = vec![ContentBlock::Text(fill(&t.text, &values))];
            content.extend(t.cache_point.clone().map(ContentBlock::CachePoint));
            vec![Message { role: Role::User, content }]
        }
        TemplateConfiguration::Chat(c) => {
            request.system = c.system.iter().map(|b| fill_system(b, &values)).collect();
            request.tool_config = c.tool_configuration.clone();
            c.messages
                .iter()
                .map(|m| Message { role: m.role, content: m.content.iter().map(|b| fill_block(b, &values)).collect() })
                .collect()
        }
        TemplateConfiguration::Unknown(m) => {
            return Err(BedrockError::validation(format!("The prompt's template configuration {m} isn't supported.")))
        }
    };
    // The caller's own messages follow the template's. Adjacent turns of one role are
    // merged: a TEXT template is a user turn, and a conversation must alternate.
    for m in std::mem::take(&mut request.messages) {
        match messages.last_mut() {
            Some(last) if last.role == m.role => last.content.extend(m.content),
            _ => messages.push(m),
        }
    }
    request.messages = messages;
    request.inference_config = variant.inference_configuration.as_ref().and_then(|c| match c {
        PromptInferenceConfiguration::Text(t) => Some(InferenceConfig {
            // The agent model allows maxTokens 0, which Converse does not: 0 means "unset".
            max_tokens: t.max_tokens.filter(|n| *n > 0),
            temperature: t.temperature,
            top_p: t.top_p,
            stop_sequences: t.stop_sequences.clone(),
        }),
        PromptInferenceConfiguration::Unknown(_) => None,
    });
    request.additional_model_request_fields = variant.additional_model_request_fields.clone();
    request.prompt_variables = None;
    Ok(request)
}

fn fill_block(block: &ContentBlock, values: &BTreeMap<&str, &str>) -> ContentBlock {
    match block {
        ContentBlock::Text(text) => ContentBlock::Text(fill(text, values)),
        other => other.clone(),
    }
}

fn fill_system(block: &SystemContentBlock, values: &BTreeMap<&str, &str>) -> SystemContentBlock {
    match block {
        SystemContentBlock::Text(text) => SystemContentBlock::Text(fill(text, values)),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn variant(v: Value) -> PromptVariant {
        serde_json::from_value(v).unwrap()
    }

    fn request(v: Value) -> ConverseRequest {
        serde_json::from_value(v).unwrap()
    }

    fn text_variant() -> PromptVariant {
        variant(json!({
            "name": "v", "templateType": "TEXT", "modelId": "m",
            "templateConfiguration": {"text": {"text": "Write about {{topic}} in {{style}} style. {{not a var}}", "inputVariables": [{"name": "topic"}]}},
            "inferenceConfiguration": {"text": {"maxTokens": 50, "temperature": 0.2}}
        }))
    }

    /// Found while writing fuzz_prompt: many `{{` without `}}` took quadratic time.
    /// Linear now, so this runs in milliseconds where it took minutes in a debug build.
    #[test]
    fn many_open_braces_are_literal_text() {
        let text = "{{".repeat(200_000);
        assert_eq!(pieces(&text), [Piece::Literal(&text)]);
        let text = format!("{}{{{{x}}}}", "{{a".repeat(100_000));
        assert_eq!(pieces(&text).last(), Some(&Piece::Variable("x")));
        let long = "a".repeat(MAX_NAME + 1);
        assert_eq!(pieces(&format!("{{{{{long}}}}}")), [Piece::Literal(&format!("{{{{{long}}}}}"))]);
    }

    #[test]
    fn placeholders_and_literal_braces() {
        assert_eq!(
            pieces("a {{x}} b{{{y}}}{{ z }}"),
            [
                Piece::Literal("a "),
                Piece::Variable("x"),
                Piece::Literal(" b{"),
                Piece::Variable("y"),
                Piece::Literal("}{{ z }}")
            ]
        );
        let values = BTreeMap::from([("x", "1"), ("y", "{{x}}")]);
        // Values are not expanded again.
        assert_eq!(fill("{{x}}-{{y}}-{{x}}", &values), "1-{{x}}-1");
        assert_eq!(fill("no vars", &values), "no vars");
    }

    #[test]
    fn text_template_becomes_one_user_message_with_the_variant_settings() {
        let v = text_variant();
        assert_eq!(variables(&v).into_iter().collect::<Vec<_>>(), ["style", "topic"]);
        let req = request(json!({
            "promptVariables": {"topic": {"text": "rivers"}, "style": {"text": "haiku"}},
            "messages": [{"role": "user", "content": [{"text": "More."}]}]
        }));
        let out = apply(&v, req).unwrap();
        assert_eq!(out.messages.len(), 1, "the appended user turn joins the template's");
        assert_eq!(
            out.messages[0].content,
            [
                ContentBlock::Text("Write about rivers in haiku style. {{not a var}}".into()),
                ContentBlock::Text("More.".into())
            ]
        );
        let cfg = out.inference_config.unwrap();
        assert_eq!((cfg.max_tokens, cfg.temperature), (Some(50), Some(0.2)));
        assert!(out.prompt_variables.is_none());
    }

    #[test]
    fn chat_template_renders_messages_system_and_tools() {
        let v = variant(json!({
            "name": "v", "templateType": "CHAT",
            "templateConfiguration": {"chat": {
                "system": [{"text": "You are a {{role}}."}],
                "messages": [
                    {"role": "user", "content": [{"text": "Hi, I am {{name}}."}]},
                    {"role": "assistant", "content": [{"text": "Hello {{name}}!"}]}
                ],
                "toolConfiguration": {"tools": [{"toolSpec": {"name": "t", "inputSchema": {"json": {}}}}]}
            }}
        }));
        let req = request(json!({
            "promptVariables": {"role": {"text": "pirate"}, "name": {"text": "Ann"}},
            "messages": [{"role": "user", "content": [{"text": "Bye"}]}]
        }));
        let out = apply(&v, req).unwrap();
        assert_eq!(out.system, [SystemContentBlock::Text("You are a pirate.".into())]);
        assert_eq!(out.messages.len(), 3);
        assert_eq!(out.messages[1].content, [ContentBlock::Text("Hello Ann!".into())]);
        assert_eq!(out.messages[2].role, Role::User);
        assert!(out.tool_config.is_some());
        assert!(out.inference_config.is_none());
    }

    #[test]
    fn missing_unknown_and_forbidden_are_named() {
        let v = text_variant();
        let e = apply(&v, request(json!({"promptVariables": {"topic": {"text": "x"}}}))).unwrap_err();
        assert!(e.message.contains("missing from promptVariables: style."), "{}", e.message);
        let e = apply(&v, request(json!({}))).unwrap_err();
        assert!(e.message.contains("style, topic"), "{}", e.message);

        let all = json!({"topic": {"text": "x"}, "style": {"text": "y"}, "extra": {"text": "z"}});
        let e = apply(&v, request(json!({"promptVariables": all}))).unwrap_err();
        assert!(e.message.contains("doesn't define: extra."), "{}", e.message);

        let e = apply(
            &v,
            request(
                json!({"system": [{"text": "s"}], "toolConfig": {"tools": []}, "inferenceConfig": {"maxTokens": 5}}),
            ),
        )
        .unwrap_err();
        assert!(e.message.contains(": system, inferenceConfig, toolConfig."), "{}", e.message);
        let e = apply(&v, request(json!({"additionalModelRequestFields": {"k": 1}}))).unwrap_err();
        assert!(e.message.contains("additionalModelRequestFields"), "{}", e.message);
    }
}
