//! The events of InvokeAgent's response stream (`ResponseStream`), as the JSON payloads
//! of event-stream frames: `chunk` (the answer), `trace` (with `enableTrace`) and
//! `returnControl` (functions for the caller to run). The server frames them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::ids::iso;

/// An event: its `:event-type` and its JSON payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: &'static str,
    pub payload: Value,
}

/// The final answer in `chunk` events: one, or pieces of `size` characters.
pub fn chunks(text: &str, size: Option<usize>) -> Vec<Event> {
    let pieces: Vec<String> = match size {
        None => vec![text.to_owned()],
        Some(n) => {
            let chars: Vec<char> = text.chars().collect();
            chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
        }
    };
    pieces.into_iter().map(|p| Event { kind: "chunk", payload: json!({"bytes": STANDARD.encode(p)}) }).collect()
}

pub fn return_control(invocation_id: &str, inputs: Vec<Value>) -> Event {
    Event { kind: "returnControl", payload: json!({"invocationId": invocation_id, "invocationInputs": inputs}) }
}

/// Who the traces of a call are about.
#[derive(Debug, Clone)]
pub struct TraceContext<'a> {
    pub agent_id: &'a str,
    pub alias_id: &'a str,
    pub version: &'a str,
    pub session_id: &'a str,
}

impl TraceContext<'_> {
    /// A `trace` event holding one `orchestrationTrace` member.
    pub fn orchestration(&self, member: &str, value: Value, now: OffsetDateTime) -> Event {
        Event {
            kind: "trace",
            payload: json!({
                "agentId": self.agent_id,
                "agentAliasId": self.alias_id,
                "agentVersion": self.version,
                "sessionId": self.session_id,
                "eventTime": iso(now),
                "trace": {"orchestrationTrace": {member: value}},
            }),
        }
    }
}

/// `modelInvocationInput`: the prompt the model was given (the Converse request as
/// JSON text), on which model, with which inference configuration.
pub fn model_input(trace_id: &str, request: &Value, foundation_model: &str) -> Value {
    let cfg = &request["inferenceConfig"];
    json!({
        "traceId": trace_id,
        "text": request.to_string(),
        "type": "ORCHESTRATION",
        "foundationModel": foundation_model,
        "inferenceConfiguration": {"maximumLength": cfg["maxTokens"], "temperature": cfg["temperature"],
            "stopSequences": []},
        "promptCreationMode": "DEFAULT",
        "parserMode": "DEFAULT",
    })
}

/// `modelInvocationOutput`: the model's raw answer and its usage and timing.
pub fn model_output(
    trace_id: &str,
    response: &Value,
    request_id: &str,
    started: OffsetDateTime,
    ended: OffsetDateTime,
) -> Value {
    let ms = (ended - started).whole_milliseconds().max(0);
    json!({
        "traceId": trace_id,
        "rawResponse": {"content": response.to_string()},
        "metadata": {
            "clientRequestId": request_id,
            "startTime": iso(started),
            "endTime": iso(ended),
            "totalTimeMs": ms,
            "usage": {"inputTokens": response["usage"]["inputTokens"], "outputTokens": response["usage"]["outputTokens"]},
        },
    })
}

pub fn rationale(trace_id: &str, text: &str) -> Value {
    json!({"traceId": trace_id, "text": text})
}

pub fn invocation_input(trace_id: &str, action_group_input: Value) -> Value {
    json!({"traceId": trace_id, "invocationType": "ACTION_GROUP", "actionGroupInvocationInput": action_group_input})
}

pub fn action_observation(trace_id: &str, text: &str) -> Value {
    json!({"traceId": trace_id, "type": "ACTION_GROUP", "actionGroupInvocationOutput": {"text": text}})
}

pub fn final_observation(trace_id: &str, text: &str) -> Value {
    json!({"traceId": trace_id, "type": "FINISH", "finalResponse": {"text": text}})
}

/// A trace ID (2 to 16 characters): the turn's prefix and the step.
pub fn trace_id(prefix: &str, step: u32) -> String {
    let p: String = prefix.chars().filter(char::is_ascii_alphanumeric).take(10).collect();
    format!("{p}-{step}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn chunks_carry_base64_text() {
        let one = chunks("héllo", None);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].payload["bytes"], STANDARD.encode("héllo"));
        let pieces = chunks("Hello, I am an agent", Some(3));
        assert_eq!(pieces.len(), 7);
        assert_eq!(pieces[6].payload["bytes"], STANDARD.encode("nt"));
    }

    #[test]
    fn traces_wrap_orchestration_members() {
        let ctx = TraceContext { agent_id: "A", alias_id: "B", version: "1", session_id: "s" };
        let at = datetime!(2024-05-03 10:00 UTC);
        let request = json!({"inferenceConfig": {"maxTokens": 2048, "temperature": 0.0}, "messages": []});
        let e = ctx.orchestration("modelInvocationInput", model_input("t-1", &request, "pt-arn"), at);
        assert_eq!(e.kind, "trace");
        let input = &e.payload["trace"]["orchestrationTrace"]["modelInvocationInput"];
        assert_eq!(
            (input["type"].as_str(), input["foundationModel"].as_str()),
            (Some("ORCHESTRATION"), Some("pt-arn"))
        );
        assert_eq!(input["inferenceConfiguration"]["maximumLength"], 2048);
        let response = json!({"usage": {"inputTokens": 5, "outputTokens": 7}});
        let out = model_output("t-1", &response, "r", at, at + time::Duration::milliseconds(12));
        assert_eq!(
            (out["metadata"]["totalTimeMs"].as_i64(), out["metadata"]["usage"]["outputTokens"].as_i64()),
            (Some(12), Some(7))
        );
        assert_eq!(trace_id("ab-cd-ef", 2), "abcdef-2");
        assert!(trace_id("0123456789abcdef", 12).len() <= 16);
    }
}
