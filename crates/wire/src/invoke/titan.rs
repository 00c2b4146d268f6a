//! Amazon Titan: text generation (`inputText` + `textGenerationConfig`) and embeddings
//! (`inputText`, Titan Embeddings G1 and v2).

use serde_json::{json, Map, Value};

use super::body::{self, Obj};
use super::{invocation_metrics, EmbedOutput, EmbedRequest, Timing};
use crate::converse::{ContentBlock, ConverseRequest, InferenceConfig, Message, Role, StopReason};
use crate::error::BedrockError;
use crate::stream::{Collector, ModelEvent};

/// Titan text takes one prompt string; any `User:`/`Bot:` framing in it is left to the model.
pub fn parse_text(body: &Value) -> Result<ConverseRequest, BedrockError> {
    let root = Obj::root(body)?;
    let input = root.req_str("inputText")?;
    let inference_config = match root.obj("textGenerationConfig")? {
        None => None,
        Some(c) => Some(InferenceConfig {
            max_tokens: c.int_min("maxTokenCount", 1)?,
            temperature: c.unit("temperature")?,
            top_p: c.unit("topP")?,
            stop_sequences: c.strings("stopSequences")?,
        }),
    };
    Ok(ConverseRequest {
        messages: vec![Message { role: Role::User, content: vec![ContentBlock::Text(input.to_owned())] }],
        inference_config,
        ..ConverseRequest::default()
    })
}

fn completion_reason(reason: Option<StopReason>) -> &'static str {
    match reason {
        Some(StopReason::MaxTokens | StopReason::ModelContextWindowExceeded) => "LENGTH",
        Some(StopReason::StopSequence) => "STOP_CRITERIA_MET",
        Some(StopReason::GuardrailIntervened | StopReason::ContentFiltered) => "CONTENT_FILTERED",
        Some(StopReason::EndTurn | StopReason::ToolUse) | None => "FINISH",
    }
}

pub fn text_response(out: &Collector) -> Value {
    let usage = out.usage();
    json!({
        "inputTextTokenCount": usage.input_tokens,
        "results": [{
            "tokenCount": usage.output_tokens,
            "outputText": out.text(),
            "completionReason": completion_reason(out.finish().map(|f| f.stop_reason)),
        }],
    })
}

/// Titan streaming chunks. Token counts per delta are not known, so the running total is
/// `null` until the final chunk, which carries the backend's real count.
#[derive(Debug, Default)]
pub struct TextStream {
    input_tokens: Option<u32>,
    sent: bool,
    finished: bool,
}

impl TextStream {
    pub fn push(&mut self, event: ModelEvent, timing: Timing) -> Vec<Value> {
        if self.finished {
            return Vec::new();
        }
        // Only the first chunk reports the prompt's size.
        let input_count = if self.sent { None } else { self.input_tokens };
        match event {
            ModelEvent::InputTokens(n) => self.input_tokens = Some(n),
            ModelEvent::Text(text) => {
                self.sent = true;
                return vec![json!({
                    "outputText": text,
                    "index": 0,
                    "totalOutputTextTokenCount": null,
                    "completionReason": null,
                    "inputTextTokenCount": input_count,
                })];
            }
            ModelEvent::Finish(finish) => {
                self.finished = true;
                let input_count = (!self.sent).then_some(finish.usage.input_tokens);
                return vec![json!({
                    "outputText": "",
                    "index": 0,
                    "totalOutputTextTokenCount": finish.usage.output_tokens,
                    "completionReason": completion_reason(Some(finish.stop_reason)),
                    "inputTextTokenCount": input_count,
                    "amazon-bedrock-invocationMetrics": invocation_metrics(finish.usage, timing),
                })];
            }
            // Titan text has no tool use, nor a place for reasoning.
            ModelEvent::ToolUseStart { .. } | ModelEvent::ToolUseInput(_) | ModelEvent::Reasoning(_) => {}
        }
        Vec::new()
    }
}

/// `dimensions` and `normalize` are Titan v2 members; G1 bodies simply omit them.
pub fn parse_embed(body: &Value) -> Result<EmbedRequest, BedrockError> {
    let root = Obj::root(body)?;
    let text = root.req_str("inputText")?;
    let dimensions = root.int("dimensions")?;
    if let Some(d) = dimensions.filter(|d| ![256, 512, 1024].contains(d)) {
        return Err(body::not_enum(&root.at("dimensions"), d));
    }
    Ok(EmbedRequest {
        texts: vec![text.to_owned()],
        dimensions: dimensions.and_then(|d| u32::try_from(d).ok()),
        // Titan v2 normalises unless told otherwise.
        normalize: root.bool("normalize")?.unwrap_or(true),
        input_type: None,
        embedding_types: root.enum_strings("embeddingTypes", &["float", "binary"])?,
    })
}

pub fn embed_response(out: &EmbedOutput) -> Value {
    json!({
        "embedding": out.embeddings.first().cloned().unwrap_or_default(),
        "inputTextTokenCount": out.input_tokens,
    })
}

/// [`embed_response`] plus `embeddingsByType` when the body asked for `embeddingTypes`.
/// Binary is one 0/1 per dimension: the sign bit of the float value.
pub fn embed_response_typed(request: &EmbedRequest, out: &EmbedOutput) -> Value {
    let mut value = embed_response(out);
    if let (Some(types), Value::Object(map)) = (&request.embedding_types, &mut value) {
        let embedding = out.embeddings.first().map(Vec::as_slice).unwrap_or_default();
        let mut by_type = Map::new();
        for kind in types {
            let vector = match kind.as_str() {
                "binary" => json!(embedding.iter().map(|&x| u8::from(x > 0.0)).collect::<Vec<_>>()),
                _ => json!(embedding),
            };
            by_type.insert(kind.clone(), vector);
        }
        map.insert("embeddingsByType".into(), Value::Object(by_type));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::converse::TokenUsage;
    use crate::stream::Finish;

    #[test]
    fn parses_text_body() {
        let config = json!({"maxTokenCount": 50, "topP": 0.9, "stopSequences": ["User:"]});
        let body = json!({"inputText": "hi", "textGenerationConfig": config});
        let r = parse_text(&body).unwrap();
        assert_eq!(r.messages[0].content, vec![ContentBlock::Text("hi".into())]);
        let cfg = r.inference_config.unwrap();
        assert_eq!((cfg.max_tokens, cfg.top_p, cfg.stop_sequences), (Some(50), Some(0.9), Some(vec!["User:".into()])));
        let e = parse_text(&json!({"textGenerationConfig": {}})).unwrap_err();
        assert!(e.message.contains("#: required key [inputText] not found"), "{}", e.message);
        let e = parse_text(&json!({"inputText": "x", "textGenerationConfig": {"temperature": 2}})).unwrap_err();
        assert!(e.message.contains("#/textGenerationConfig/temperature: 2 is not less or equal to 1"), "{}", e.message);
    }

    #[test]
    fn text_response_shape() {
        let mut c = Collector::default();
        c.push(ModelEvent::Text("Hello".into()));
        c.push(ModelEvent::Finish(Finish::new(StopReason::MaxTokens, TokenUsage::new(4, 2))));
        let v = text_response(&c);
        assert_eq!(
            v,
            json!({"inputTextTokenCount": 4,
            "results": [{"tokenCount": 2, "outputText": "Hello", "completionReason": "LENGTH"}]})
        );
    }

    #[test]
    fn text_stream_sequence() {
        let mut s = TextStream::default();
        let t = Timing::default();
        assert!(s.push(ModelEvent::InputTokens(4), t).is_empty());
        let first = s.push(ModelEvent::Text("He".into()), t);
        assert_eq!((first[0]["outputText"].as_str(), first[0]["inputTextTokenCount"].as_u64()), (Some("He"), Some(4)));
        assert!(first[0]["completionReason"].is_null());
        let second = s.push(ModelEvent::Text("llo".into()), t);
        assert!(second[0]["inputTextTokenCount"].is_null());
        let last = s.push(ModelEvent::Finish(Finish::new(StopReason::EndTurn, TokenUsage::new(4, 2))), t);
        assert_eq!(
            (last[0]["completionReason"].as_str(), last[0]["totalOutputTextTokenCount"].as_u64()),
            (Some("FINISH"), Some(2))
        );
        assert_eq!(last[0]["amazon-bedrock-invocationMetrics"]["outputTokenCount"], 2);
        assert!(s.push(ModelEvent::Text("late".into()), t).is_empty());
    }

    #[test]
    fn embeddings() {
        let r = parse_embed(&json!({"inputText": "x", "dimensions": 256, "embeddingTypes": ["binary"]})).unwrap();
        assert_eq!((r.texts, r.dimensions, r.normalize), (vec!["x".to_owned()], Some(256), true));
        let e = parse_embed(&json!({"inputText": "x", "dimensions": 300})).unwrap_err();
        assert!(e.message.contains("#/dimensions: 300 is not a valid enum value"), "{}", e.message);
        let out = EmbedOutput { embeddings: vec![vec![0.5, -0.5]], input_tokens: 1 };
        assert_eq!(embed_response(&out), json!({"embedding": [0.5, -0.5], "inputTextTokenCount": 1}));
        let typed =
            embed_response_typed(&parse_embed(&json!({"inputText": "x", "embeddingTypes": ["binary"]})).unwrap(), &out);
        assert_eq!(typed["embeddingsByType"], json!({"binary": [1, 0]}));
    }
}
