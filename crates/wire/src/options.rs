//! The Converse members that configure *how* a request runs rather than what it says:
//! prompt-cache points, reasoning blocks, guardrails, performance and service tiers,
//! structured output. Typed after botocore's shapes so an out-of-enum value is refused
//! with its path when the body is parsed; whether each one is honoured is decided in
//! [`crate::surface`].

use serde::{Deserialize, Serialize};

use crate::union::smithy_union;

/// `CachePointBlock`: a prompt-cache checkpoint after the blocks before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CachePointBlock {
    #[serde(rename = "type")]
    pub kind: CachePointType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<CacheTtl>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CachePointType {
    Default,
}

/// `CacheTTL`: how long a cache entry lives after its last use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CacheTtl {
    #[serde(rename = "5m")]
    FiveMinutes,
    #[serde(rename = "1h")]
    OneHour,
}

smithy_union! {
    /// `ReasoningContentBlock`: the model's reasoning, in clear with its signature or
    /// redacted (base64, as every blob inside JSON).
    pub enum ReasoningContentBlock {
        ReasoningText(ReasoningTextBlock) = "reasoningText",
        RedactedContent(String) = "redactedContent",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasoningTextBlock {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// `GuardrailConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GuardrailConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<GuardrailTrace>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardrailTrace {
    Enabled,
    Disabled,
    EnabledFull,
}

/// `PerformanceConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerformanceConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Latency {
    Standard,
    Optimized,
}

impl Latency {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Optimized => "optimized",
        }
    }
}

/// `ServiceTier`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceTier {
    #[serde(rename = "type")]
    pub kind: ServiceTierType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceTierType {
    Priority,
    Default,
    Flex,
    Reserved,
}

impl ServiceTierType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Priority => "priority",
            Self::Default => "default",
            Self::Flex => "flex",
            Self::Reserved => "reserved",
        }
    }

    /// The header value `X-Amzn-Bedrock-Service-Tier` carries.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "priority" => Some(Self::Priority),
            "default" => Some(Self::Default),
            "flex" => Some(Self::Flex),
            "reserved" => Some(Self::Reserved),
            _ => None,
        }
    }
}

/// `OutputConfig`: the shape of the answer (a JSON schema) and the reasoning effort.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutputConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_format: Option<OutputFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
}

/// `OutputFormat`: today only `json_schema`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputFormat {
    #[serde(rename = "type")]
    pub kind: OutputFormatType,
    pub structure: OutputFormatStructure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormatType {
    JsonSchema,
}

smithy_union! {
    pub enum OutputFormatStructure {
        JsonSchema(JsonSchemaDefinition) = "jsonSchema",
    }
}

/// `JsonSchemaDefinition`: the schema travels as a JSON *string*, as the model says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonSchemaDefinition {
    pub schema: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn enums_follow_the_model() {
        let c: CachePointBlock = serde_json::from_value(json!({"type": "default", "ttl": "1h"})).unwrap();
        assert_eq!(c.ttl, Some(CacheTtl::OneHour));
        assert!(serde_json::from_value::<CachePointBlock>(json!({"type": "default", "ttl": "2h"})).is_err());
        let t: ServiceTier = serde_json::from_value(json!({"type": "flex"})).unwrap();
        assert_eq!(t.kind.as_str(), "flex");
        assert_eq!(ServiceTierType::parse("reserved"), Some(ServiceTierType::Reserved));
        let o: OutputConfig = serde_json::from_value(json!({
            "textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": "{}", "name": "x"}}}
        }))
        .unwrap();
        assert!(o.text_format.is_some());
    }
}
