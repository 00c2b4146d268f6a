//! bedrock-agent Prompt management (bedrock-wire.md §6): the request shapes of
//! CreatePrompt / UpdatePrompt / CreatePromptVersion, the prompt ARN grammar, the checks
//! the model's constraints imply ([`check`]), and `{{variable}}` rendering of a variant
//! into a Converse request ([`render`]).
//!
//! Shapes follow `shared/spec/botocore/bedrock-agent/service-2.json`. Members spillway
//! only stores and gives back (metadata, genAiResource, cache points) stay JSON values.

pub mod check;
pub mod render;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::arn::Arn;
use crate::converse::{Message, SystemContentBlock, ToolConfig};
use crate::union::smithy_union;

/// The part of a prompt that versions snapshot: what the store keeps as the body JSON
/// of the DRAFT and of each numbered version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_encryption_key_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_variant: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<PromptVariant>,
}

impl PromptBody {
    /// The variant a runtime call runs: the default one, else the first (there is at
    /// most one today).
    pub fn variant(&self) -> Option<&PromptVariant> {
        let named = self.default_variant.as_deref().and_then(|d| self.variants.iter().find(|v| v.name == d));
        named.or_else(|| self.variants.first())
    }
}

/// CreatePrompt's body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
pub struct CreatePromptRequest {
    pub name: String,
    pub description: Option<String>,
    pub customer_encryption_key_arn: Option<String>,
    pub default_variant: Option<String>,
    #[serde(default)]
    pub variants: Vec<PromptVariant>,
    pub client_token: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// UpdatePrompt's body: it replaces the whole DRAFT.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
pub struct UpdatePromptRequest {
    pub name: String,
    pub description: Option<String>,
    pub customer_encryption_key_arn: Option<String>,
    pub default_variant: Option<String>,
    #[serde(default)]
    pub variants: Vec<PromptVariant>,
}

/// CreatePromptVersion's body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
pub struct CreatePromptVersionRequest {
    pub description: Option<String>,
    pub client_token: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptVariant {
    pub name: String,
    /// `TEXT` or `CHAT`; a string so that a wrong value gets a fieldList entry rather
    /// than a type error.
    pub template_type: String,
    pub template_configuration: TemplateConfiguration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_configuration: Option<PromptInferenceConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_model_request_fields: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gen_ai_resource: Option<Value>,
}

smithy_union! {
    pub enum TemplateConfiguration {
        Text(TextTemplate) = "text",
        Chat(ChatTemplate) = "chat",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TextTemplate {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_point: Option<crate::options::CachePointBlock>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_variables: Option<Vec<InputVariable>>,
}

/// Messages and system blocks reuse the runtime's types: the agent model's content
/// blocks (text, cachePoint) are a subset, and [`check`] keeps them to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatTemplate {
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<SystemContentBlock>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_variables: Option<Vec<InputVariable>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_configuration: Option<ToolConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputVariable {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

smithy_union! {
    pub enum PromptInferenceConfiguration {
        Text(TextInferenceConfiguration) = "text",
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TextInferenceConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
}

/// `arn:aws:bedrock:{region}:{account}:prompt/{id}`, optionally `:{version}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptArn<'a> {
    pub region: &'a str,
    pub account: &'a str,
    pub id: &'a str,
    /// `None`: the DRAFT.
    pub version: Option<u32>,
}

impl<'a> PromptArn<'a> {
    /// `None` unless `s` is a prompt ARN (id of 10 alphanumerics, version of 1–5 digits).
    pub fn parse(s: &'a str) -> Option<Self> {
        let arn = Arn::parse(s)?;
        if arn.service != "bedrock" || arn.resource_type != "prompt" {
            return None;
        }
        let (id, version) = match arn.resource.split_once(':') {
            Some((id, v)) if (1..=5).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit()) => {
                (id, Some(v.parse().ok()?))
            }
            Some(_) => return None,
            None => (arn.resource, None),
        };
        is_prompt_id(id).then_some(Self { region: arn.region, account: arn.account, id, version })
    }
}

/// `[0-9a-zA-Z]{10}`.
pub fn is_prompt_id(s: &str) -> bool {
    s.len() == 10 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The ARN of a prompt (`version: None`) or of one of its numbered versions.
pub fn prompt_arn(region: &str, account: &str, id: &str, version: Option<u32>) -> String {
    match version {
        Some(n) => format!("arn:aws:bedrock:{region}:{account}:prompt/{id}:{n}"),
        None => format!("arn:aws:bedrock:{region}:{account}:prompt/{id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prompt_arns_with_and_without_version() {
        let a = PromptArn::parse("arn:aws:bedrock:us-east-1:123456789012:prompt/ABCDE12345").unwrap();
        assert_eq!((a.region, a.account, a.id, a.version), ("us-east-1", "123456789012", "ABCDE12345", None));
        let v = PromptArn::parse("arn:aws:bedrock:us-east-1:123456789012:prompt/ABCDE12345:12").unwrap();
        assert_eq!(v.version, Some(12));
        let built = prompt_arn("us-east-1", "123456789012", "ABCDE12345", Some(12));
        assert_eq!(PromptArn::parse(&built), Some(v));
        for bad in [
            "arn:aws:bedrock:us-east-1:123456789012:prompt/SHORT",
            "arn:aws:bedrock:us-east-1:123456789012:prompt/ABCDE12345:123456",
            "arn:aws:bedrock:us-east-1:123456789012:prompt/ABCDE12345:x",
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abcdefghijkl",
            "anthropic.claude-3-haiku-20240307-v1:0",
        ] {
            assert!(PromptArn::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn body_round_trips_and_picks_the_default_variant() {
        let raw = json!({
            "defaultVariant": "v1",
            "variants": [{
                "name": "v1", "templateType": "TEXT", "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
                "templateConfiguration": {"text": {"text": "About {{topic}}", "inputVariables": [{"name": "topic"}]}},
                "inferenceConfiguration": {"text": {"maxTokens": 100, "temperature": 0.5}},
                "metadata": [{"key": "k", "value": "v"}]
            }]
        });
        let body: PromptBody = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(serde_json::to_value(&body).unwrap(), raw);
        assert_eq!(body.variant().map(|v| v.name.as_str()), Some("v1"));
        assert!(PromptBody::default().variant().is_none());
    }
}
