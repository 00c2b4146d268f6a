//! Converse / ConverseStream request and response shapes (botocore `ConverseRequest`,
//! `ConverseResponse`). This is also spillway's internal conversation model: InvokeModel
//! bodies are translated into it, and every backend consumes it.
//!
//! The request structs deny unknown members: a member spillway does not model is refused
//! by name and path (a ValidationException), never silently ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::options::{
    CachePointBlock, GuardrailConfiguration, OutputConfig, PerformanceConfiguration, ReasoningContentBlock, ServiceTier,
};
use crate::union::smithy_union;

/// Every struct of the request refuses members it does not model, so nothing a client
/// sends is dropped unseen: [`crate::parse::json`] words the refusal with the member path.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConverseRequest {
    /// Not required by the model: a prompt ARN as modelId can supply the messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<SystemContentBlock>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_config: Option<InferenceConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guardrail_config: Option<GuardrailConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_model_request_fields: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_variables: Option<BTreeMap<String, PromptVariableValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_model_response_field_paths: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_metadata: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub performance_config: Option<PerformanceConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<ServiceTier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_config: Option<OutputConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    pub role: Role,
    pub content: Vec<ContentBlock>,
}

smithy_union! {
    /// One block of a message.
    pub enum ContentBlock {
        // An answer's text: escaped a word at a time (crate::json_text).
        #[serde(serialize_with = "crate::json_text::serialize")]
        Text(String) = "text",
        Image(ImageBlock) = "image",
        Document(DocumentBlock) = "document",
        ToolUse(ToolUseBlock) = "toolUse",
        ToolResult(ToolResultBlock) = "toolResult",
        CachePoint(CachePointBlock) = "cachePoint",
        ReasoningContent(ReasoningContentBlock) = "reasoningContent",
    }
}

smithy_union! {
    pub enum SystemContentBlock {
        Text(String) = "text",
        GuardContent(Value) = "guardContent",
        CachePoint(CachePointBlock) = "cachePoint",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageBlock {
    pub format: String,
    pub source: ImageSource,
}

smithy_union! {
    pub enum ImageSource {
        /// Base64, as every blob inside JSON.
        Bytes(String) = "bytes",
        S3Location(Value) = "s3Location",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentBlock {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    pub name: String,
    pub source: DocumentSource,
}

smithy_union! {
    pub enum DocumentSource {
        Bytes(String) = "bytes",
        S3Location(Value) = "s3Location",
        Text(String) = "text",
        Content(Value) = "content",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolUseBlock {
    pub tool_use_id: String,
    pub name: String,
    pub input: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolResultBlock {
    pub tool_use_id: String,
    pub content: Vec<ToolResultContentBlock>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

smithy_union! {
    pub enum ToolResultContentBlock {
        Json(Value) = "json",
        Text(String) = "text",
        Image(ImageBlock) = "image",
        Document(DocumentBlock) = "document",
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InferenceConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolConfig {
    pub tools: Vec<Tool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
}

smithy_union! {
    pub enum Tool {
        ToolSpec(ToolSpec) = "toolSpec",
        CachePoint(CachePointBlock) = "cachePoint",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolSpec {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub input_schema: ToolInputSchema,
}

smithy_union! {
    pub enum ToolInputSchema {
        Json(Value) = "json",
    }
}

smithy_union! {
    pub enum ToolChoice {
        Auto(Value) = "auto",
        Any(Value) = "any",
        Tool(SpecificToolChoice) = "tool",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecificToolChoice {
    pub name: String,
}

smithy_union! {
    pub enum PromptVariableValue {
        Text(String) = "text",
    }
}

// === Response ===

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseResponse {
    pub output: ConverseOutput,
    pub stop_reason: StopReason,
    pub usage: TokenUsage,
    pub metrics: Metrics,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_model_response_fields: Option<Value>,
    /// `serviceTier` and `performanceConfig`: how the call was served.
    #[serde(flatten)]
    pub served: ServedReport,
}

/// What an answer reports of how it was served (ConverseResponse and ConverseStream's
/// metadata event): the service tier that ran it (which a `reserved` request that
/// spilled over reports as `default`) and its latency mode. Each is reported when the
/// request named it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServedReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<ServiceTier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub performance_config: Option<PerformanceConfiguration>,
}

impl ServedReport {
    pub fn is_empty(&self) -> bool {
        self.service_tier.is_none() && self.performance_config.is_none()
    }
}

/// A union with a single member today.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ConverseOutput {
    #[serde(rename = "message")]
    Message(Message),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndTurn,
    ToolUse,
    MaxTokens,
    StopSequence,
    GuardrailIntervened,
    ContentFiltered,
    ModelContextWindowExceeded,
}

/// Token counts of one call. `input_tokens` excludes the prompt-cache reads and writes,
/// which are counted (and priced) apart; `total_tokens` includes them, as Bedrock's does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub total_tokens: u32,
    pub cache_read_input_tokens: u32,
    /// Written to the cache with the 5-minute TTL.
    pub cache_write_5m: u32,
    /// Written to the cache with the 1-hour TTL.
    pub cache_write_1h: u32,
}

impl TokenUsage {
    pub fn new(input_tokens: u32, output_tokens: u32) -> Self {
        Self {
            input_tokens,
            output_tokens,
            total_tokens: input_tokens.saturating_add(output_tokens),
            ..Self::default()
        }
    }

    /// `prompt_tokens` of which `read` came from the cache and `write_5m` / `write_1h`
    /// went into it.
    pub fn cached(prompt_tokens: u32, output_tokens: u32, read: u32, write_5m: u32, write_1h: u32) -> Self {
        let cache = read.saturating_add(write_5m).saturating_add(write_1h);
        Self {
            input_tokens: prompt_tokens.saturating_sub(cache),
            output_tokens,
            total_tokens: prompt_tokens.max(cache).saturating_add(output_tokens),
            cache_read_input_tokens: read,
            cache_write_5m: write_5m,
            cache_write_1h: write_1h,
        }
    }

    pub fn cache_write_input_tokens(&self) -> u32 {
        self.cache_write_5m.saturating_add(self.cache_write_1h)
    }

    pub fn uses_cache(&self) -> bool {
        self.cache_read_input_tokens > 0 || self.cache_write_input_tokens() > 0
    }
}

/// `TokenUsage` on the wire: the cache members only when the cache took part, and
/// `cacheDetails` (writes by TTL, 1h before 5m) only when something was written.
impl Serialize for TokenUsage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("inputTokens", &self.input_tokens)?;
        m.serialize_entry("outputTokens", &self.output_tokens)?;
        m.serialize_entry("totalTokens", &self.total_tokens)?;
        if self.uses_cache() {
            m.serialize_entry("cacheReadInputTokens", &self.cache_read_input_tokens)?;
            m.serialize_entry("cacheWriteInputTokens", &self.cache_write_input_tokens())?;
        }
        if self.cache_write_input_tokens() > 0 {
            let details: Vec<serde_json::Value> = [("1h", self.cache_write_1h), ("5m", self.cache_write_5m)]
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(ttl, n)| serde_json::json!({"ttl": ttl, "inputTokens": n}))
                .collect();
            m.serialize_entry("cacheDetails", &details)?;
        }
        m.end()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    pub latency_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_names_cache_members_only_when_the_cache_took_part() {
        let plain = serde_json::to_value(TokenUsage::new(3, 4)).unwrap();
        assert_eq!(plain, serde_json::json!({"inputTokens": 3, "outputTokens": 4, "totalTokens": 7}));
        let cached = serde_json::to_value(TokenUsage::cached(1500, 4, 1000, 100, 300)).unwrap();
        assert_eq!(
            cached,
            serde_json::json!({"inputTokens": 100, "outputTokens": 4, "totalTokens": 1504,
                "cacheReadInputTokens": 1000, "cacheWriteInputTokens": 400,
                "cacheDetails": [{"ttl": "1h", "inputTokens": 300}, {"ttl": "5m", "inputTokens": 100}]})
        );
    }
}
