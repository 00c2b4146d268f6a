//! The constraints of the bedrock-agent model on a prompt, checked all at once: every
//! violation goes into one ValidationException, listed in its `fieldList` as
//! `{name, message}` (the member only bedrock-agent's ValidationException has), so a
//! client fixing its request sees everything wrong in one round trip.

use serde_json::{json, Value};

use super::{PromptBody, PromptInferenceConfiguration, PromptVariant, TemplateConfiguration};
use crate::converse::{ContentBlock, SystemContentBlock};
use crate::error::BedrockError;

/// `([0-9a-zA-Z][_-]?){1,100}`: the pattern of prompt, variant and variable names.
pub const NAME_PATTERN: &str = "([0-9a-zA-Z][_-]?){1,100}";
const MAX_VARIANTS: usize = 1;
const MAX_INPUT_VARIABLES: usize = 20;
const MAX_STOP_SEQUENCES: usize = 4;
const MAX_METADATA: usize = 50;

/// Whether `s` matches [`NAME_PATTERN`]: up to 100 alphanumerics, each optionally
/// followed by one `_` or `-`.
pub fn is_name(s: &str) -> bool {
    let (mut groups, mut after_sep) = (0, true);
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            groups += 1;
            after_sep = false;
        } else if matches!(c, '_' | '-') && !after_sep {
            after_sep = true;
        } else {
            return false;
        }
    }
    (1..=100).contains(&groups)
}

/// Constraint violations collected while checking one request.
#[derive(Debug, Default)]
pub struct Violations(Vec<(String, String)>);

impl Violations {
    pub fn add(&mut self, field: impl Into<String>, constraint: impl Into<String>) {
        self.0.push((field.into(), constraint.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when nothing was found, else the ValidationException listing it all.
    pub fn into_result(self) -> Result<(), BedrockError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let n = self.0.len();
        let details: Vec<String> =
            self.0.iter().map(|(f, c)| format!("Value at '{f}' failed to satisfy constraint: {c}")).collect();
        let plural = if n == 1 { "" } else { "s" };
        let message = format!("{n} validation error{plural} detected: {}", details.join("; "));
        let fields: Vec<Value> =
            self.0.into_iter().map(|(name, message)| json!({"name": name, "message": message})).collect();
        Err(BedrockError::validation(message).with_extra("fieldList", fields))
    }

    /// Prompt, variant and variable names.
    pub fn name(&mut self, field: &str, value: &str) {
        if !is_name(value) {
            self.add(field, format!("Member must satisfy regular expression pattern: {NAME_PATTERN}"));
        }
    }

    /// Descriptions: 1 to 200 characters.
    pub fn description(&mut self, field: &str, value: Option<&str>) {
        if value.is_some_and(|d| d.is_empty() || d.chars().count() > 200) {
            self.add(field, "Member must have length between 1 and 200");
        }
    }

    /// Idempotency tokens: 33–256 characters of `[a-zA-Z0-9](-*[a-zA-Z0-9]){0,256}`.
    pub fn client_token(&mut self, value: Option<&str>) {
        let Some(t) = value else { return };
        let pattern =
            !t.starts_with('-') && !t.ends_with('-') && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !(33..=256).contains(&t.len()) || !pattern {
            self.add(
                "clientToken",
                "Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,256} and have length between 33 and 256",
            );
        }
    }

    /// The DRAFT a CreatePrompt or UpdatePrompt would store.
    pub fn prompt(&mut self, name: &str, description: Option<&str>, body: &PromptBody) {
        self.name("name", name);
        self.description("description", description);
        if let Some(d) = &body.default_variant {
            self.name("defaultVariant", d);
            if !body.variants.is_empty() && !body.variants.iter().any(|v| &v.name == d) {
                self.add("defaultVariant", "Member must be the name of one of the variants");
            }
        }
        if body.variants.len() > MAX_VARIANTS {
            self.add("variants", format!("Member must have length less than or equal to {MAX_VARIANTS}"));
        }
        for (i, v) in body.variants.iter().enumerate() {
            self.variant(&format!("variants.{}", i + 1), v);
        }
    }

    fn variant(&mut self, at: &str, v: &PromptVariant) {
        self.name(&format!("{at}.member.name"), &v.name);
        let config = format!("{at}.member.templateConfiguration");
        let expected = match v.template_type.as_str() {
            "TEXT" => Some("text"),
            "CHAT" => Some("chat"),
            _ => {
                self.add(format!("{at}.member.templateType"), "Member must satisfy enum value set: [TEXT, CHAT]");
                None
            }
        };
        let member = v.template_configuration.member_name();
        if expected.is_some_and(|e| e != member) {
            self.add(
                &config,
                format!("Member must be {} for templateType {}", expected.unwrap_or(""), v.template_type),
            );
        }
        match &v.template_configuration {
            TemplateConfiguration::Text(t) => {
                if t.text.is_empty() {
                    self.add(format!("{config}.text.text"), "Member must have length greater than or equal to 1");
                }
                self.variables(&format!("{config}.text.inputVariables"), t.input_variables.as_deref());
            }
            TemplateConfiguration::Chat(c) => {
                for (i, m) in c.messages.iter().enumerate() {
                    for (j, block) in m.content.iter().enumerate() {
                        if !matches!(block, ContentBlock::Text(_) | ContentBlock::CachePoint(_)) {
                            let at = format!("{config}.chat.messages.{}.member.content.{}", i + 1, j + 1);
                            self.add(at, "Member must be one of: text, cachePoint");
                        }
                    }
                }
                for (i, block) in c.system.iter().enumerate() {
                    if !matches!(block, SystemContentBlock::Text(_) | SystemContentBlock::CachePoint(_)) {
                        self.add(format!("{config}.chat.system.{}", i + 1), "Member must be one of: text, cachePoint");
                    }
                }
                self.variables(&format!("{config}.chat.inputVariables"), c.input_variables.as_deref());
            }
            TemplateConfiguration::Unknown(m) => {
                self.add(&config, format!("Unknown member {m}: expected text or chat"))
            }
        }
        if v.model_id.as_ref().is_some_and(|m| m.is_empty() || m.len() > 2048) {
            self.add(format!("{at}.member.modelId"), "Member must have length between 1 and 2048");
        }
        if let Some(cfg) = &v.inference_configuration {
            self.inference(&format!("{at}.member.inferenceConfiguration"), cfg);
        }
        if v.metadata.as_ref().is_some_and(|m| m.len() > MAX_METADATA) {
            self.add(
                format!("{at}.member.metadata"),
                format!("Member must have length less than or equal to {MAX_METADATA}"),
            );
        }
    }

    fn variables(&mut self, at: &str, vars: Option<&[super::InputVariable]>) {
        let vars = vars.unwrap_or_default();
        if vars.len() > MAX_INPUT_VARIABLES {
            self.add(at, format!("Member must have length less than or equal to {MAX_INPUT_VARIABLES}"));
        }
        for (i, var) in vars.iter().enumerate() {
            match &var.name {
                Some(name) => self.name(&format!("{at}.{}.member.name", i + 1), name),
                None => self.add(format!("{at}.{}.member.name", i + 1), "Member must not be null"),
            }
        }
    }

    fn inference(&mut self, at: &str, cfg: &PromptInferenceConfiguration) {
        let t = match cfg {
            PromptInferenceConfiguration::Text(t) => t,
            PromptInferenceConfiguration::Unknown(m) => {
                return self.add(at, format!("Unknown member {m}: expected text"))
            }
        };
        for (name, value) in [("temperature", t.temperature), ("topP", t.top_p)] {
            if value.is_some_and(|x| !(0.0..=1.0).contains(&x)) {
                self.add(format!("{at}.text.{name}"), "Member must have value between 0 and 1");
            }
        }
        if t.max_tokens.is_some_and(|n| n < 0) {
            self.add(format!("{at}.text.maxTokens"), "Member must have value greater than or equal to 0");
        }
        if t.stop_sequences.as_ref().is_some_and(|s| s.len() > MAX_STOP_SEQUENCES) {
            self.add(
                format!("{at}.text.stopSequences"),
                format!("Member must have length less than or equal to {MAX_STOP_SEQUENCES}"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> PromptBody {
        serde_json::from_value(v).unwrap()
    }

    fn text_variant(extra: Value) -> Value {
        let mut v = json!({
            "name": "v1", "templateType": "TEXT",
            "templateConfiguration": {"text": {"text": "Tell me about {{topic}}", "inputVariables": [{"name": "topic"}]}}
        });
        if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
            v.extend(extra);
        }
        v
    }

    #[test]
    fn names() {
        for ok in ["a", "my-prompt", "my_prompt_", "A1-b2_c3", &"a".repeat(100)] {
            assert!(is_name(ok), "{ok}");
        }
        for bad in ["", "-a", "a--b", "a_-b", "a b", "a.b", &"a".repeat(101)] {
            assert!(!is_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_valid_prompt_passes() {
        let mut v = Violations::default();
        v.prompt("p1", Some("d"), &body(json!({"defaultVariant": "v1", "variants": [text_variant(json!({}))]})));
        assert!(v.is_empty(), "{v:?}");
        v.client_token(Some(&"a".repeat(33)));
        assert!(v.into_result().is_ok());
    }

    #[test]
    fn every_violation_is_listed_in_field_list() {
        let variant = text_variant(json!({
            "templateType": "CHAT",
            "inferenceConfiguration": {"text": {"temperature": 2.0, "stopSequences": ["a", "b", "c", "d", "e"]}}
        }));
        let b = body(json!({"defaultVariant": "other", "variants": [variant.clone(), variant]}));
        let mut v = Violations::default();
        v.prompt("bad name", Some(""), &b);
        v.client_token(Some("short"));
        let e = v.into_result().unwrap_err();
        let names: Vec<&str> =
            e.extra["fieldList"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
        for expected in [
            "name",
            "description",
            "defaultVariant",
            "variants",
            "variants.1.member.templateConfiguration",
            "variants.1.member.inferenceConfiguration.text.temperature",
            "variants.1.member.inferenceConfiguration.text.stopSequences",
            "clientToken",
        ] {
            assert!(names.contains(&expected), "{expected} missing from {names:?}");
        }
        assert!(e.message.starts_with(&format!("{} validation errors detected: ", names.len())), "{}", e.message);
    }

    #[test]
    fn too_many_input_variables_and_unknown_template_members() {
        let vars: Vec<Value> = (0..21).map(|i| json!({"name": format!("v{i}")})).collect();
        let b = body(json!({"variants": [{
            "name": "v", "templateType": "TEXT",
            "templateConfiguration": {"text": {"text": "x", "inputVariables": vars}}
        }]}));
        let mut v = Violations::default();
        v.prompt("p", None, &b);
        let e = v.into_result().unwrap_err();
        assert_eq!(e.extra["fieldList"][0]["name"], "variants.1.member.templateConfiguration.text.inputVariables");

        let b =
            body(json!({"variants": [{"name": "v", "templateType": "TEXT", "templateConfiguration": {"future": {}}}]}));
        let mut v = Violations::default();
        v.prompt("p", None, &b);
        assert!(v.into_result().unwrap_err().message.contains("Unknown member future"));
    }
}
