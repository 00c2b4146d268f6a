//! The InvokeAgent request body (bedrock-agent-runtime), checked: every member works or
//! is refused by name.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::check::{invalid, refuse_if_set, unsupported, AgentError};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InvokeAgentRequest {
    pub input_text: Option<String>,
    pub enable_trace: Option<bool>,
    pub end_session: Option<bool>,
    pub session_state: Option<SessionStateInput>,
    pub streaming_configurations: Option<StreamingConfigurations>,
    pub memory_id: Option<Value>,
    pub bedrock_model_configurations: Option<Value>,
    pub prompt_creation_configurations: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionStateInput {
    pub session_attributes: Option<BTreeMap<String, String>>,
    pub prompt_session_attributes: Option<BTreeMap<String, String>>,
    pub return_control_invocation_results: Option<Vec<InvocationResult>>,
    pub invocation_id: Option<String>,
    pub conversation_history: Option<ConversationHistory>,
    pub files: Option<Value>,
    pub knowledge_base_configurations: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationHistory {
    pub messages: Vec<HistoryMessage>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryMessage {
    pub role: String,
    pub content: Vec<HistoryText>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryText {
    pub text: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StreamingConfigurations {
    pub stream_final_response: Option<bool>,
    pub apply_guardrail_interval: Option<i64>,
}

/// One `InvocationResultMember` (a union: exactly one member).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InvocationResult {
    pub function_result: Option<ResultBody>,
    pub api_result: Option<ResultBody>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResultBody {
    pub action_group: String,
    pub agent_id: Option<String>,
    pub function: Option<String>,
    pub api_path: Option<String>,
    pub http_method: Option<String>,
    pub http_status_code: Option<i64>,
    pub response_body: Option<BTreeMap<String, ContentBody>>,
    pub response_state: Option<String>,
    pub confirmation_state: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentBody {
    pub body: Option<String>,
    pub images: Option<Value>,
}

/// A checked result, as the turn matches it to a pending tool call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutcome {
    pub action_group: String,
    /// The function, or `{METHOD} {apiPath}` of an operation.
    pub target: String,
    pub text: String,
    pub failed: bool,
}

/// Chunks of the final response: the whole text at once unless the caller asked for
/// `streamFinalResponse`, then pieces of `applyGuardrailInterval` characters (50 by
/// default, as Bedrock's).
pub fn chunk_size(cfg: Option<&StreamingConfigurations>) -> Result<Option<usize>, AgentError> {
    let Some(cfg) = cfg else { return Ok(None) };
    let interval = match cfg.apply_guardrail_interval {
        None => 50,
        Some(n) if n >= 1 => usize::try_from(n).unwrap_or(50),
        Some(_) => return Err(invalid("streamingConfigurations.applyGuardrailInterval", "Member must be at least 1")),
    };
    Ok(cfg.stream_final_response.unwrap_or(false).then_some(interval))
}

impl InvokeAgentRequest {
    /// Refuses what is not implemented and checks the rest.
    pub fn check(&self) -> Result<(), AgentError> {
        refuse_if_set("memoryId", &self.memory_id, "agent memory is not kept")?;
        refuse_if_set(
            "bedrockModelConfigurations",
            &self.bedrock_model_configurations,
            "the alias decides where the model runs",
        )?;
        refuse_if_set(
            "promptCreationConfigurations",
            &self.prompt_creation_configurations,
            "the built-in orchestration prompt is used",
        )?;
        if let Some(s) = &self.session_state {
            refuse_if_set("sessionState.files", &s.files, "files and code interpretation are not implemented")?;
            refuse_if_set(
                "sessionState.knowledgeBaseConfigurations",
                &s.knowledge_base_configurations,
                "there are no knowledge bases here",
            )?;
            if let Some(results) = &s.return_control_invocation_results {
                if !(1..=5).contains(&results.len()) {
                    return Err(invalid(
                        "sessionState.returnControlInvocationResults",
                        "Member must have length between 1 and 5",
                    ));
                }
            }
            for m in s.conversation_history.iter().flat_map(|h| &h.messages) {
                if m.role != "user" && m.role != "assistant" {
                    return Err(invalid(
                        "sessionState.conversationHistory.messages.role",
                        "Member must satisfy enum value set: [user, assistant]",
                    ));
                }
            }
        }
        if self.input_text.as_ref().is_some_and(|t| t.len() > 25_000_000) {
            return Err(invalid("inputText", "Member must have length less than or equal to 25000000"));
        }
        chunk_size(self.streaming_configurations.as_ref()).map(|_| ())
    }

    /// The caller's results of the pending invocation, checked.
    pub fn outcomes(&self) -> Result<Vec<ToolOutcome>, AgentError> {
        let results = self.session_state.as_ref().and_then(|s| s.return_control_invocation_results.as_ref());
        let mut out = Vec::new();
        for r in results.into_iter().flatten() {
            let (body, target) = match (&r.function_result, &r.api_result) {
                (Some(f), None) => (f, f.function.clone().unwrap_or_default()),
                (None, Some(a)) => (
                    a,
                    format!(
                        "{} {}",
                        a.http_method.as_deref().unwrap_or_default().to_uppercase(),
                        a.api_path.as_deref().unwrap_or_default()
                    ),
                ),
                _ => {
                    return Err(invalid(
                        "sessionState.returnControlInvocationResults",
                        "Each result must set exactly one of functionResult or apiResult",
                    ))
                }
            };
            if body.confirmation_state.is_some() {
                return Err(unsupported("confirmationState", "user confirmation of functions is not implemented"));
            }
            let failed = match body.response_state.as_deref() {
                None => false,
                Some("FAILURE" | "REPROMPT") => true,
                Some(_) => {
                    return Err(invalid("responseState", "Member must satisfy enum value set: [FAILURE, REPROMPT]"))
                }
            };
            let mut text = String::new();
            for content in body.response_body.iter().flat_map(|m| m.values()) {
                if content.images.is_some() {
                    return Err(unsupported("responseBody.images", "images in function results are not implemented"));
                }
                if let Some(b) = &content.body {
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(b);
                }
            }
            if let Some(code) = body.http_status_code {
                text = format!("HTTP {code}\n{text}");
            }
            out.push(ToolOutcome { action_group: body.action_group.clone(), target, text, failed });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> InvokeAgentRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn unsupported_members_are_refused_by_name() {
        for (body, name) in [
            (json!({"memoryId": "m1"}), "memoryId"),
            (json!({"sessionState": {"files": []}}), "sessionState.files"),
            (json!({"sessionState": {"knowledgeBaseConfigurations": []}}), "knowledgeBaseConfigurations"),
            (json!({"bedrockModelConfigurations": {}}), "bedrockModelConfigurations"),
        ] {
            let e = parse(body).check().unwrap_err();
            assert!(e.message.contains(name), "{name}: {}", e.message);
        }
        assert!(serde_json::from_value::<InvokeAgentRequest>(json!({"bogus": 1})).is_err());
    }

    #[test]
    fn results_are_read() {
        let r = parse(json!({"sessionState": {"invocationId": "i", "returnControlInvocationResults": [
            {"functionResult": {"actionGroup": "weather", "function": "get_forecast",
                "responseBody": {"TEXT": {"body": "sunny, 25C"}}}},
            {"apiResult": {"actionGroup": "booking", "apiPath": "/b", "httpMethod": "post", "httpStatusCode": 201,
                "responseState": "FAILURE", "responseBody": {"application/json": {"body": "{}"}}}}]}}));
        r.check().unwrap();
        let out = r.outcomes().unwrap();
        assert_eq!(
            out[0],
            ToolOutcome {
                action_group: "weather".into(),
                target: "get_forecast".into(),
                text: "sunny, 25C".into(),
                failed: false
            }
        );
        assert_eq!((out[1].target.as_str(), out[1].failed), ("POST /b", true));
        assert!(out[1].text.starts_with("HTTP 201"));
        let both = parse(json!({"sessionState": {"returnControlInvocationResults": [{}]}}));
        assert!(both.outcomes().is_err());
    }

    #[test]
    fn chunking_follows_streaming_configurations() {
        assert_eq!(chunk_size(None).unwrap(), None);
        let cfg = StreamingConfigurations { stream_final_response: Some(true), apply_guardrail_interval: None };
        assert_eq!(chunk_size(Some(&cfg)).unwrap(), Some(50));
        let bad = StreamingConfigurations { stream_final_response: Some(true), apply_guardrail_interval: Some(0) };
        assert!(chunk_size(Some(&bad)).is_err());
    }
}
