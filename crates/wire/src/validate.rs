//! Semantic checks of a Converse request that the JSON types cannot express: ranges of
//! the inference parameters and the shape of the conversation. Messages follow Bedrock's.

use crate::converse::{ConverseRequest, Role};
use crate::error::BedrockError;
use crate::parse::value_violation;

pub fn converse(req: &ConverseRequest) -> Result<(), BedrockError> {
    if let Some(cfg) = &req.inference_config {
        if let Some(n) = cfg.max_tokens {
            if n < 1 {
                return Err(value_violation(
                    "inferenceConfig.maxTokens",
                    n,
                    "Member must have value greater than or equal to 1",
                ));
            }
        }
        if let Some(t) = cfg.temperature {
            if !(0.0..=1.0).contains(&t) {
                let bound = if t < 0.0 { "greater than or equal to 0" } else { "less than or equal to 1" };
                return Err(value_violation(
                    "inferenceConfig.temperature",
                    t,
                    &format!("Member must have value {bound}"),
                ));
            }
        }
        if let Some(p) = cfg.top_p {
            if !(0.0..=1.0).contains(&p) {
                let bound = if p < 0.0 { "greater than or equal to 0" } else { "less than or equal to 1" };
                return Err(value_violation("inferenceConfig.topP", p, &format!("Member must have value {bound}")));
            }
        }
        if let Some(stops) = &cfg.stop_sequences {
            if stops.len() > 2500 {
                return Err(value_violation(
                    "inferenceConfig.stopSequences",
                    stops.len(),
                    "Member must have length less than or equal to 2500",
                ));
            }
        }
    }
    if let Some(meta) = &req.request_metadata {
        if meta.len() > 16 {
            return Err(value_violation(
                "requestMetadata",
                meta.len(),
                "Member must have length less than or equal to 16",
            ));
        }
    }
    crate::members::check(req)?;
    conversation(req)?;
    crate::surface::check(req)
}

/// Bedrock's conversation rules: starts with a user turn, alternates, no empty turns.
fn conversation(req: &ConverseRequest) -> Result<(), BedrockError> {
    let Some(first) = req.messages.first() else {
        return Err(BedrockError::validation(
            "The messages field is required. Provide at least one message and try again.",
        ));
    };
    if first.role != Role::User {
        return Err(BedrockError::validation(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
        ));
    }
    for (i, pair) in req.messages.windows(2).enumerate() {
        if pair[0].role == pair[1].role {
            return Err(BedrockError::validation(format!(
                "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again. (messages[{}] repeats the role of messages[{i}])",
                i + 1
            )));
        }
    }
    for (i, m) in req.messages.iter().enumerate() {
        if m.content.is_empty() {
            return Err(value_violation(
                &format!("messages[{i}].content"),
                "[]",
                "Member must have length greater than or equal to 1",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::json;

    fn req(body: &str) -> ConverseRequest {
        json(body.as_bytes()).unwrap()
    }

    #[test]
    fn temperature_out_of_range_is_named() {
        let r = req(r#"{"messages":[{"role":"user","content":[{"text":"x"}]}],"inferenceConfig":{"temperature":1.5}}"#);
        let e = converse(&r).unwrap_err();
        assert!(e.message.contains("'inferenceConfig.temperature'"), "{}", e.message);
        assert!(e.message.contains("less than or equal to 1"), "{}", e.message);
    }

    #[test]
    fn conversation_rules() {
        assert!(converse(&req(r#"{"messages":[]}"#)).is_err());
        let e = converse(&req(r#"{"messages":[{"role":"assistant","content":[{"text":"x"}]}]}"#)).unwrap_err();
        assert!(e.message.starts_with("A conversation must start with a user message"));
        let e = converse(&req(
            r#"{"messages":[{"role":"user","content":[{"text":"x"}]},{"role":"user","content":[{"text":"y"}]}]}"#,
        ))
        .unwrap_err();
        assert!(e.message.contains("alternate"));
        assert!(converse(&req(r#"{"messages":[{"role":"user","content":[{"text":"x"}]}]}"#)).is_ok());
    }
}
