//! Amazon Nova (`schemaVersion: messages-v1`). Nova's native body is Converse's shape with
//! its own `inferenceConfig` names (`max_new_tokens`, `top_p`, `top_k`), so `messages`,
//! `system` and `toolConfig` are read by the Converse types themselves: every content
//! block, cache point and tool Converse honours works here too, and is refused alike.

use serde_json::{json, Map, Value};

use super::body::{self, Obj};
use super::members::only;
use super::{invocation_metrics, Timing};
use crate::converse::{ConverseRequest, InferenceConfig, TokenUsage};
use crate::error::BedrockError;
use crate::stream::{Collector, ConverseStreamEncoder, ModelEvent};

const SCHEMA_VERSION: &str = "messages-v1";
const ROOT_KEYS: &[&str] = &["schemaVersion", "messages", "system", "inferenceConfig", "toolConfig"];
/// Nova 2's extended thinking (`reasoningConfig`) has no Converse counterpart spillway's
/// backends take; it is refused by name, not dropped.
const ROOT_UNHONOURED: &[(&str, &str)] = &[("reasoningConfig", "Nova extended thinking")];
const INFERENCE_KEYS: &[&str] = &["max_new_tokens", "temperature", "top_p", "top_k", "stopSequences"];

pub fn parse(value: &Value) -> Result<ConverseRequest, BedrockError> {
    let root = Obj::root(value)?;
    only(&root, ROOT_KEYS, ROOT_UNHONOURED)?;
    // Bedrock reads a body without `schemaVersion` as messages-v1; another version is not one it knows.
    if let Some(v) = root.str("schemaVersion")? {
        if v != SCHEMA_VERSION {
            return Err(body::not_enum(&root.at("schemaVersion"), v));
        }
    }
    let mut converse = Map::new();
    for (key, to) in [("messages", "messages"), ("system", "system"), ("toolConfig", "toolConfig")] {
        if let Some(v) = root.get(key) {
            converse.insert(to.to_owned(), v.clone());
        }
    }
    if root.arr("messages")?.ok_or_else(|| root.missing("messages"))?.is_empty() {
        return Err(body::malformed(&root.at("messages"), "expected minimum item count: 1, found: 0"));
    }
    let raw = serde_json::to_vec(&Value::Object(converse)).unwrap_or_default();
    let mut request: ConverseRequest = crate::parse::json(&raw)?;
    let (inference, top_k) = match root.obj("inferenceConfig")? {
        None => (None, None),
        Some(c) => {
            only(&c, INFERENCE_KEYS, &[("reasoningConfig", "Nova extended thinking")])?;
            let cfg = InferenceConfig {
                max_tokens: c.int_min("max_new_tokens", 1)?,
                temperature: c.unit("temperature")?,
                top_p: c.unit("top_p")?,
                stop_sequences: c.strings("stopSequences")?,
            };
            (Some(cfg), c.int_min("top_k", 0)?)
        }
    };
    request.inference_config = inference.filter(|c| *c != InferenceConfig::default());
    request.additional_model_request_fields = top_k.map(|k| json!({ "top_k": k }));
    Ok(request)
}

/// Nova's usage: Converse's counts, with its own names for the cache members.
fn usage(u: TokenUsage) -> Value {
    let mut v = json!({"inputTokens": u.input_tokens, "outputTokens": u.output_tokens, "totalTokens": u.total_tokens});
    if u.uses_cache() {
        v["cacheReadInputTokenCount"] = json!(u.cache_read_input_tokens);
        v["cacheWriteInputTokenCount"] = json!(u.cache_write_input_tokens());
    }
    v
}

pub fn response(out: &Collector) -> Value {
    let content: Vec<Value> = out.content().iter().map(crate::stream::to_value).collect();
    let stop = out.finish().map_or(json!("end_turn"), |f| json!(f.stop_reason));
    json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": usage(out.usage()),
    })
}

/// Nova's streaming chunks are ConverseStream's events, each as `{eventType: payload}`;
/// the last (`metadata`) carries the invocation metrics.
#[derive(Debug, Default)]
pub struct Stream {
    inner: ConverseStreamEncoder,
    finished: bool,
}

impl Stream {
    pub fn push(&mut self, event: ModelEvent, timing: Timing) -> Vec<Value> {
        if self.finished || matches!(event, ModelEvent::InputTokens(_)) {
            return Vec::new();
        }
        let finish = match &event {
            ModelEvent::Finish(f) => Some(f.usage),
            _ => None,
        };
        let mut out = Vec::new();
        for e in self.inner.push(&event, timing.latency_ms) {
            if e.event_type == "metadata" {
                continue;
            }
            let mut chunk = Map::new();
            chunk.insert(e.event_type.to_owned(), e.payload_json());
            out.push(Value::Object(chunk));
        }
        if let Some(u) = finish {
            self.finished = true;
            out.push(json!({
                "metadata": {"usage": usage(u), "metrics": {}, "trace": {}},
                "amazon-bedrock-invocationMetrics": invocation_metrics(u, timing),
            }));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::converse::{ContentBlock, StopReason, SystemContentBlock, Tool};
    use crate::stream::Finish;

    fn body() -> Value {
        json!({
            "schemaVersion": "messages-v1",
            "system": [{"text": "Be brief."}, {"cachePoint": {"type": "default"}}],
            "messages": [{"role": "user", "content": [{"text": "hi"},
                {"image": {"format": "png", "source": {"bytes": "AA=="}}}]}],
            "inferenceConfig": {"max_new_tokens": 64, "temperature": 0.3, "top_p": 0.9, "top_k": 20, "stopSequences": ["END"]},
            "toolConfig": {"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object"}}}}],
                "toolChoice": {"auto": {}}},
        })
    }

    #[test]
    fn parses_the_messages_v1_body() {
        let r = parse(&body()).unwrap();
        assert_eq!(r.system[0], SystemContentBlock::Text("Be brief.".into()));
        assert!(matches!(r.system[1], SystemContentBlock::CachePoint(_)));
        assert!(matches!(r.messages[0].content[1], ContentBlock::Image(_)));
        let cfg = r.inference_config.clone().unwrap();
        assert_eq!((cfg.max_tokens, cfg.top_p), (Some(64), Some(0.9)));
        assert_eq!(cfg.stop_sequences, Some(vec!["END".to_owned()]));
        assert_eq!(r.additional_model_request_fields, Some(json!({"top_k": 20})));
        assert!(matches!(r.tool_config.as_ref().unwrap().tools[0], Tool::ToolSpec(_)));
        assert!(crate::validate::converse(&r).is_ok());
    }

    #[test]
    fn refusals_name_the_member() {
        let mut b = body();
        b["schemaVersion"] = json!("messages-v2");
        let e = parse(&b).unwrap_err();
        assert!(e.message.contains("#/schemaVersion: messages-v2 is not a valid enum value"), "{}", e.message);
        let mut b = body();
        b["inferenceConfig"]["maxTokens"] = json!(5);
        let e = parse(&b).unwrap_err();
        assert!(e.message.contains("#/inferenceConfig: extraneous key [maxTokens]"), "{}", e.message);
        let mut b = body();
        b["reasoningConfig"] = json!({"type": "enabled"});
        let e = parse(&b).unwrap_err();
        assert!(e.message.ends_with("not supported by this endpoint: #/reasoningConfig"), "{}", e.message);
        let mut b = body();
        b["messages"][0]["content"][0] = json!({"video": {"format": "mp4", "source": {"bytes": "AA=="}}});
        let e = crate::validate::converse(&parse(&b).unwrap()).unwrap_err();
        assert!(e.message.contains("'messages[0].content[0]'") && e.message.contains("video"), "{}", e.message);
        let e = parse(&json!({"schemaVersion": "messages-v1"})).unwrap_err();
        assert!(e.message.contains("required key [messages]"), "{}", e.message);
        let mut b = body();
        b["inferenceConfig"]["temperature"] = json!(3);
        assert!(parse(&b).unwrap_err().message.contains("#/inferenceConfig/temperature"));
    }

    #[test]
    fn answer_and_stream_shapes() {
        let mut c = Collector::default();
        c.push(ModelEvent::Text("Hi".into()));
        c.push(ModelEvent::Finish(Finish::new(StopReason::EndTurn, TokenUsage::cached(20, 2, 15, 0, 0))));
        let v = response(&c);
        assert_eq!(v["output"]["message"]["content"], json!([{"text": "Hi"}]));
        assert_eq!(v["stopReason"], "end_turn");
        assert_eq!(
            v["usage"],
            json!({"inputTokens": 5, "outputTokens": 2, "totalTokens": 22,
                "cacheReadInputTokenCount": 15, "cacheWriteInputTokenCount": 0})
        );
        let mut s = Stream::default();
        let t = Timing { latency_ms: 4, first_byte_ms: 1 };
        let events = [
            ModelEvent::InputTokens(3),
            ModelEvent::Text("He".into()),
            ModelEvent::Text("y".into()),
            ModelEvent::Finish(Finish::new(StopReason::MaxTokens, TokenUsage::new(3, 2))),
        ];
        let chunks: Vec<Value> = events.into_iter().flat_map(|e| s.push(e, t)).collect();
        let keys: Vec<&str> = chunks
            .iter()
            .map(|c| c.as_object().unwrap().keys().find(|k| !k.starts_with("amazon-")).unwrap().as_str())
            .collect();
        assert_eq!(
            keys,
            ["messageStart", "contentBlockDelta", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata"]
        );
        assert_eq!(chunks[1]["contentBlockDelta"], json!({"contentBlockIndex": 0, "delta": {"text": "He"}}));
        assert_eq!(chunks[4]["messageStop"]["stopReason"], "max_tokens");
        let last = chunks.last().unwrap();
        assert_eq!(last["metadata"]["usage"]["outputTokens"], 2);
        assert_eq!(last["amazon-bedrock-invocationMetrics"]["inputTokenCount"], 3);
    }
}
