//! Converse's `additionalModelResponseFieldPaths`: JSON Pointers (RFC 6901) into the
//! model's native answer, the body InvokeModel would return for the same output, whose
//! values come back in `additionalModelResponseFields`. A malformed pointer is refused;
//! a well-formed one that names nothing in the answer is ignored, as Bedrock does.

use serde_json::{Map, Value};

use crate::converse::ConverseRequest;
use crate::error::BedrockError;
use crate::invoke::{self, BodyFormat, Dialect};
use crate::parse::value_violation;
use crate::stream::Collector;

const MAX_PATHS: usize = 10;
const MAX_LEN: usize = 256;

/// The paths' constraints (botocore's list and string bounds) and the pointer grammar:
/// each one starts with `/`, and `~` appears only as `~0` or `~1`.
pub fn check(paths: &[String]) -> Result<(), BedrockError> {
    if paths.len() > MAX_PATHS {
        return Err(value_violation(
            "additionalModelResponseFieldPaths",
            paths.len(),
            &format!("Member must have length less than or equal to {MAX_PATHS}"),
        ));
    }
    for (i, p) in paths.iter().enumerate() {
        let at = format!("additionalModelResponseFieldPaths.{}.member", i + 1);
        if p.is_empty() {
            return Err(value_violation(&at, "", "Member must have length greater than or equal to 1"));
        }
        if p.chars().count() > MAX_LEN {
            return Err(value_violation(&at, p, &format!("Member must have length less than or equal to {MAX_LEN}")));
        }
        let bad_escape = p.match_indices('~').any(|(j, _)| !matches!(p.as_bytes().get(j + 1), Some(b'0' | b'1')));
        if !p.starts_with('/') || bad_escape {
            return Err(BedrockError::validation(format!(
                "The JSON Pointer {p:?} is not valid: a pointer starts with '/' and escapes '~' as '~0' and '/' as '~1' (RFC 6901): additionalModelResponseFieldPaths[{i}]"
            )));
        }
    }
    Ok(())
}

/// The dialect of the answer InvokeModel gives for a model of `format`; `None` for
/// embedding models, which have no chat answer. Mistral's chat models (Large 2 and
/// Pixtral) answer in the chat shape, the older ones in the text-completion shape.
pub fn native_dialect(format: BodyFormat, model_id: &str) -> Option<Dialect> {
    Some(match format {
        BodyFormat::Anthropic => Dialect::AnthropicMessages,
        BodyFormat::TitanText => Dialect::TitanText,
        BodyFormat::Llama => Dialect::Llama,
        BodyFormat::Nova => Dialect::Nova,
        BodyFormat::Mistral if model_id.contains("large-2407") || model_id.contains("pixtral") => Dialect::MistralChat,
        BodyFormat::Mistral => Dialect::MistralText,
        BodyFormat::Deepseek => Dialect::Deepseek,
        BodyFormat::OpenaiChat => Dialect::OpenaiChat(invoke::openai_chat::Options::default()),
        BodyFormat::CohereCommand => Dialect::CohereCommand,
        BodyFormat::TitanEmbed | BodyFormat::CohereEmbed => return None,
    })
}

/// `additionalModelResponseFields` for a finished answer, or `None` when the request
/// asked for none or none of its paths names a field of the native answer.
pub fn fields(req: &ConverseRequest, format: BodyFormat, model_id: &str, out: &Collector) -> Option<Value> {
    let paths = req.additional_model_response_field_paths.as_deref().filter(|p| !p.is_empty())?;
    let native = invoke::chat_response(native_dialect(format, model_id)?, model_id, out);
    select(&native, paths)
}

/// The values the pointers name, nested under their path's tokens.
pub fn select(native: &Value, paths: &[String]) -> Option<Value> {
    let mut root = Map::new();
    for p in paths {
        let Some(found) = native.pointer(p) else { continue };
        let tokens: Vec<String> = p.split('/').skip(1).map(|t| t.replace("~1", "/").replace("~0", "~")).collect();
        insert(&mut root, &tokens, found.clone());
    }
    (!root.is_empty()).then_some(Value::Object(root))
}

fn insert(map: &mut Map<String, Value>, tokens: &[String], value: Value) {
    match tokens {
        [] => {}
        [last] => {
            map.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let slot = map.entry(first.clone()).or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(next) = slot {
                insert(next, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::converse::{StopReason, TokenUsage};
    use crate::stream::{Finish, ModelEvent};
    use serde_json::json;

    #[test]
    fn pointers_are_checked() {
        let ok = ["/stop_sequence".to_owned(), "/usage/input_tokens".to_owned(), "/a~1b~0".to_owned()];
        assert!(check(&ok).is_ok());
        for bad in ["stop_sequence", "/a~2", "/a~"] {
            let e = check(&[bad.to_owned()]).unwrap_err();
            assert!(e.message.contains("is not valid"), "{bad}: {}", e.message);
        }
        let e = check(&[String::new()]).unwrap_err();
        assert!(e.message.contains("additionalModelResponseFieldPaths.1.member"), "{}", e.message);
        let e = check(&vec!["/a".to_owned(); 11]).unwrap_err();
        assert!(e.message.contains("less than or equal to 10"), "{}", e.message);
        assert!(check(&["/".to_owned() + &"x".repeat(256)]).is_err());
    }

    #[test]
    fn selects_nested_values_and_ignores_missing_ones() {
        let native = json!({"stop_sequence": null, "usage": {"input_tokens": 5, "output_tokens": 2}, "a/b": 1});
        let paths = ["/stop_sequence", "/usage/output_tokens", "/nope", "/a~1b"].map(str::to_owned);
        assert_eq!(
            select(&native, &paths),
            Some(json!({"stop_sequence": null, "usage": {"output_tokens": 2}, "a/b": 1}))
        );
        assert_eq!(select(&native, &["/missing".to_owned()]), None);
    }

    #[test]
    fn fields_come_from_the_native_answer() {
        let mut out = Collector::default();
        out.push(ModelEvent::Text("Hi".into()));
        let mut finish = Finish::new(StopReason::StopSequence, TokenUsage::new(3, 1));
        finish.stop_sequence = Some("END".into());
        out.push(ModelEvent::Finish(finish));
        let req = ConverseRequest {
            additional_model_response_field_paths: Some(vec!["/stop_sequence".into(), "/model".into()]),
            ..ConverseRequest::default()
        };
        let model = "anthropic.claude-3-haiku-20240307-v1:0";
        assert_eq!(
            fields(&req, BodyFormat::Anthropic, model, &out),
            Some(json!({"stop_sequence": "END", "model": "claude-3-haiku-20240307"}))
        );
        assert_eq!(fields(&ConverseRequest::default(), BodyFormat::Anthropic, model, &out), None);
        let llama = ConverseRequest {
            additional_model_response_field_paths: Some(vec!["/stop_reason".into()]),
            ..ConverseRequest::default()
        };
        assert_eq!(
            fields(&llama, BodyFormat::Llama, "meta.llama3-8b-instruct-v1:0", &out),
            Some(json!({"stop_reason": "stop"}))
        );
        assert_eq!(native_dialect(BodyFormat::Mistral, "mistral.mistral-large-2407-v1:0"), Some(Dialect::MistralChat));
    }
}
