//! Converse / ConverseStream request and response shapes (botocore `ConverseRequest`,
//! `ConverseResponse`). This is also spillway's internal conversation model: InvokeModel
//! bodies are translated into it, and every backend consumes it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::union::smithy_union;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
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
    pub guardrail_config: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_model_request_fields: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_variables: Option<BTreeMap<String, PromptVariableValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_model_response_field_paths: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_metadata: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub performance_config: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_config: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<ContentBlock>,
}

smithy_union! {
    /// One block of a message.
    pub enum ContentBlock {
        Text(String) = "text",
        Image(ImageBlock) = "image",
        Document(DocumentBlock) = "document",
        ToolUse(ToolUseBlock) = "toolUse",
        ToolResult(ToolResultBlock) = "toolResult",
        CachePoint(Value) = "cachePoint",
        ReasoningContent(Value) = "reasoningContent",
    }
}

smithy_union! {
    pub enum SystemContentBlock {
        Text(String) = "text",
        GuardContent(Value) = "guardContent",
        CachePoint(Value) = "cachePoint",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[serde(rename_all = "camelCase")]
pub struct ToolUseBlock {
    pub tool_use_id: String,
    pub name: String,
    pub input: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
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
#[serde(rename_all = "camelCase")]
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
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    pub tools: Vec<Tool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
}

smithy_union! {
    pub enum Tool {
        ToolSpec(ToolSpec) = "toolSpec",
        CachePoint(Value) = "cachePoint",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
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

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub total_tokens: u32,
    /// Of the input tokens, those read from a prompt cache (the local engine's prefix
    /// cache); absent when none were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u32>,
}

impl TokenUsage {
    pub fn new(input_tokens: u32, output_tokens: u32) -> Self {
        Self {
            input_tokens,
            output_tokens,
            total_tokens: input_tokens.saturating_add(output_tokens),
            cache_read_input_tokens: None,
        }
    }

    /// This usage with `tokens` of its input read from a cache (none: no field).
    pub fn with_cache_read(mut self, tokens: u32) -> Self {
        self.cache_read_input_tokens = (tokens > 0).then_some(tokens);
        self
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    pub latency_ms: u64,
}
