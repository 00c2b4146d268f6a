//! From backend output to Bedrock output. Backends emit [`ModelEvent`]s; the
//! [`ConverseStreamEncoder`] turns them into ConverseStream events (with Bedrock's block
//! indexing rules) and the [`Collector`] turns them into one Converse response.

use serde::Serialize;
use serde_json::{json, Value};

use crate::converse::{
    ContentBlock, ConverseOutput, ConverseResponse, Message, Metrics, Role, ServedReport, StopReason, TokenUsage,
    ToolUseBlock,
};
use crate::options::{ReasoningContentBlock, ReasoningTextBlock};

/// What a backend produces, in order. Text and tool-use blocks may interleave; a new
/// block starts whenever the kind changes or a new tool use starts.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelEvent {
    /// Prompt tokens, when the backend knows them before generating.
    InputTokens(u32),
    /// A fragment of the model's reasoning; a reasoning block is signed when it ends
    /// ([`crate::reasoning::sign`]).
    Reasoning(String),
    Text(String),
    ToolUseStart {
        id: String,
        name: String,
    },
    /// A fragment of the current tool use's JSON input.
    ToolUseInput(String),
    Finish(Finish),
}

/// How generation ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    pub stop_reason: StopReason,
    pub usage: TokenUsage,
    /// The stop sequence that ended generation, for bodies that report it.
    pub stop_sequence: Option<String>,
}

impl Finish {
    pub fn new(stop_reason: StopReason, usage: TokenUsage) -> Self {
        Self { stop_reason, usage, stop_sequence: None }
    }
}

impl ModelEvent {
    /// Whether this event carries generated content (the point where a stream commits).
    pub fn is_content(&self) -> bool {
        matches!(
            self,
            Self::Reasoning(_) | Self::Text(_) | Self::ToolUseStart { .. } | Self::ToolUseInput(_) | Self::Finish(_)
        )
    }
}

/// One ConverseStream event: its `:event-type` and JSON payload. The payload borrows the
/// event's text, and [`StreamEvent::frame`] serialises it straight into the frame: a
/// `serde_json::Value` per event cost a map, its keys and a copy of the text (issue 13).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent<'e> {
    pub event_type: &'static str,
    pub payload: Payload<'e>,
}

/// The payloads of ConverseStream events.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Payload<'e> {
    MessageStart {
        role: Role,
    },
    Start {
        #[serde(rename = "contentBlockIndex")]
        index: u32,
        start: BlockStart<'e>,
    },
    Delta {
        #[serde(rename = "contentBlockIndex")]
        index: u32,
        delta: Delta<'e>,
    },
    Stop {
        #[serde(rename = "contentBlockIndex")]
        index: u32,
    },
    MessageStop {
        #[serde(rename = "stopReason")]
        stop_reason: StopReason,
        /// `additionalModelResponseFieldPaths`' answer, set by the caller that gathers
        /// the native answer (the encoder does not know it).
        #[serde(rename = "additionalModelResponseFields", skip_serializing_if = "Option::is_none")]
        additional_model_response_fields: Option<Value>,
    },
    Metadata {
        usage: TokenUsage,
        metrics: Metrics,
        /// How the stream was served (`serviceTier`, `performanceConfig`), when asked.
        #[serde(flatten)]
        served: ServedReport,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum BlockStart<'e> {
    ToolUse {
        #[serde(rename = "toolUseId")]
        tool_use_id: &'e str,
        name: &'e str,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Delta<'e> {
    Text(&'e str),
    ReasoningContent(ReasoningDelta<'e>),
    ToolUse { input: &'e str },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ReasoningDelta<'e> {
    Text(&'e str),
    Signature(String),
}

impl<'e> StreamEvent<'e> {
    fn new(event_type: &'static str, payload: Payload<'e>) -> Self {
        Self { event_type, payload }
    }

    /// The payload as JSON (tests and logs; frames are written without it).
    pub fn payload_json(&self) -> Value {
        serde_json::to_value(&self.payload).unwrap_or(Value::Null)
    }

    pub fn frame(&self) -> bytes::Bytes {
        let hint = match &self.payload {
            Payload::Delta { delta: Delta::Text(t) | Delta::ToolUse { input: t }, .. } => t.len() + 48,
            _ => 96,
        };
        crate::eventstream::json_event_frame(self.event_type, &self.payload, hint)
    }

    /// The frame appended to `buf` (the bytes of [`StreamEvent::frame`]).
    pub fn write_frame(&self, buf: &mut Vec<u8>) {
        crate::eventstream::write_json_event_frame(buf, self.event_type, &self.payload);
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Block {
    None,
    Reasoning(u32),
    Text(u32),
    Tool(u32),
}

/// Turns [`ModelEvent`]s into ConverseStream events.
///
/// Text blocks get no `contentBlockStart` (an empty `start` breaks boto3); tool-use blocks
/// do. Every delta and stop carries its `contentBlockIndex`.
#[derive(Debug)]
pub struct ConverseStreamEncoder {
    started: bool,
    block: Block,
    next_index: u32,
    /// The open reasoning block's text, signed when the block ends.
    reasoning: String,
    /// What the metadata event reports of how the stream was served.
    served: ServedReport,
}

impl Default for ConverseStreamEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ConverseStreamEncoder {
    pub fn new() -> Self {
        Self {
            started: false,
            block: Block::None,
            next_index: 0,
            reasoning: String::new(),
            served: ServedReport::default(),
        }
    }

    /// The metadata event reports `served` (its `serviceTier` and `performanceConfig`).
    pub fn reporting(mut self, served: ServedReport) -> Self {
        self.served = served;
        self
    }

    fn close<'e>(&mut self, out: &mut impl FnMut(StreamEvent<'e>)) {
        match self.block {
            Block::Reasoning(i) => {
                let signature = crate::reasoning::sign(&std::mem::take(&mut self.reasoning));
                let delta = Delta::ReasoningContent(ReasoningDelta::Signature(signature));
                out(StreamEvent::new("contentBlockDelta", Payload::Delta { index: i, delta }));
                out(StreamEvent::new("contentBlockStop", Payload::Stop { index: i }));
            }
            Block::Text(i) | Block::Tool(i) => {
                out(StreamEvent::new("contentBlockStop", Payload::Stop { index: i }));
            }
            Block::None => {}
        }
        self.block = Block::None;
    }

    fn open(&mut self) -> u32 {
        let i = self.next_index;
        self.next_index += 1;
        i
    }

    /// Events to send for `event`; `latency_ms` goes into the final metadata.
    pub fn push<'e>(&mut self, event: &'e ModelEvent, latency_ms: u64) -> Vec<StreamEvent<'e>> {
        let mut out = Vec::with_capacity(2);
        self.each(event, latency_ms, |e| out.push(e));
        out
    }

    /// The frames for `event`, appended to `frames`.
    pub fn frames(&mut self, event: &ModelEvent, latency_ms: u64, frames: &mut Vec<bytes::Bytes>) {
        self.each(event, latency_ms, |e| frames.push(e.frame()));
    }

    /// The frames for `event`, appended to `buf` as bytes.
    pub fn write_frames(&mut self, event: &ModelEvent, latency_ms: u64, buf: &mut Vec<u8>) {
        self.each(event, latency_ms, |e| e.write_frame(buf));
    }

    /// Hands each event for `event` to `out`, in order.
    pub fn each<'e>(&mut self, event: &'e ModelEvent, latency_ms: u64, mut out: impl FnMut(StreamEvent<'e>)) {
        if !self.started {
            self.started = true;
            out(StreamEvent::new("messageStart", Payload::MessageStart { role: Role::Assistant }));
        }
        match event {
            ModelEvent::InputTokens(_) => {}
            // Like text, reasoning starts implicitly with its first delta.
            ModelEvent::Reasoning(text) => {
                let index = match self.block {
                    Block::Reasoning(i) => i,
                    _ => {
                        self.close(&mut out);
                        let i = self.open();
                        self.block = Block::Reasoning(i);
                        i
                    }
                };
                self.reasoning.push_str(text);
                let delta = Delta::ReasoningContent(ReasoningDelta::Text(text));
                out(StreamEvent::new("contentBlockDelta", Payload::Delta { index, delta }));
            }
            ModelEvent::Text(text) => {
                let index = match self.block {
                    Block::Text(i) => i,
                    _ => {
                        self.close(&mut out);
                        let i = self.open();
                        self.block = Block::Text(i);
                        i
                    }
                };
                out(StreamEvent::new("contentBlockDelta", Payload::Delta { index, delta: Delta::Text(text) }));
            }
            ModelEvent::ToolUseStart { id, name } => {
                self.close(&mut out);
                let index = self.open();
                self.block = Block::Tool(index);
                let start = BlockStart::ToolUse { tool_use_id: id, name };
                out(StreamEvent::new("contentBlockStart", Payload::Start { index, start }));
            }
            ModelEvent::ToolUseInput(fragment) => {
                if let Block::Tool(index) = self.block {
                    let delta = Delta::ToolUse { input: fragment };
                    out(StreamEvent::new("contentBlockDelta", Payload::Delta { index, delta }));
                }
            }
            ModelEvent::Finish(finish) => {
                self.close(&mut out);
                let stop =
                    Payload::MessageStop { stop_reason: finish.stop_reason, additional_model_response_fields: None };
                out(StreamEvent::new("messageStop", stop));
                let (metrics, served) = (Metrics { latency_ms }, self.served.clone());
                out(StreamEvent::new("metadata", Payload::Metadata { usage: finish.usage, metrics, served }));
            }
        }
    }
}

/// Assembles [`ModelEvent`]s into the content of one assistant message.
#[derive(Debug, Default)]
pub struct Collector {
    content: Vec<ContentBlock>,
    tool_input: Option<String>,
    input_tokens: Option<u32>,
    finish: Option<Finish>,
}

impl Collector {
    pub fn push(&mut self, event: ModelEvent) {
        match event {
            ModelEvent::InputTokens(n) => self.input_tokens = Some(n),
            ModelEvent::Reasoning(text) => {
                self.flush_tool();
                match self.content.last_mut() {
                    Some(ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(r)))
                        if r.signature.is_none() =>
                    {
                        r.text.push_str(&text)
                    }
                    _ => self.content.push(ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(
                        ReasoningTextBlock { text, signature: None },
                    ))),
                }
            }
            ModelEvent::Text(text) => {
                self.seal();
                match self.content.last_mut() {
                    Some(ContentBlock::Text(t)) => t.push_str(&text),
                    _ => self.content.push(ContentBlock::Text(text)),
                }
            }
            ModelEvent::ToolUseStart { id, name } => {
                self.seal();
                self.content.push(ContentBlock::ToolUse(ToolUseBlock { tool_use_id: id, name, input: Value::Null }));
                self.tool_input = Some(String::new());
            }
            ModelEvent::ToolUseInput(fragment) => {
                if let Some(buf) = self.tool_input.as_mut() {
                    buf.push_str(&fragment);
                }
            }
            ModelEvent::Finish(finish) => {
                self.seal();
                self.finish = Some(finish);
            }
        }
    }

    /// Ends the open block: a reasoning block gets its signature, a tool use its input.
    fn seal(&mut self) {
        if let Some(ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(r))) = self.content.last_mut() {
            if r.signature.is_none() {
                r.signature = Some(crate::reasoning::sign(&r.text));
            }
        }
        self.flush_tool();
    }

    fn flush_tool(&mut self) {
        if let Some(buf) = self.tool_input.take() {
            if let Some(ContentBlock::ToolUse(tool)) = self.content.last_mut() {
                tool.input = if buf.trim().is_empty() {
                    json!({})
                } else {
                    serde_json::from_str(&buf).unwrap_or(Value::String(buf))
                };
            }
        }
    }

    pub fn is_finished(&self) -> bool {
        self.finish.is_some()
    }

    /// The generated text of all text blocks, concatenated.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    pub fn content(&self) -> &[ContentBlock] {
        &self.content
    }

    pub fn finish(&self) -> Option<&Finish> {
        self.finish.as_ref()
    }

    pub fn usage(&self) -> TokenUsage {
        match &self.finish {
            Some(f) => f.usage,
            None => TokenUsage::new(self.input_tokens.unwrap_or(0), 0),
        }
    }

    /// The Converse response. A stream that ended without `Finish` is reported by the
    /// caller as an error, so `end_turn` here is only the fallback for an empty output.
    pub fn into_response(mut self, latency_ms: u64) -> ConverseResponse {
        self.seal();
        let Finish { stop_reason, usage, .. } =
            self.finish.unwrap_or_else(|| Finish::new(StopReason::EndTurn, TokenUsage::default()));
        ConverseResponse {
            output: ConverseOutput::Message(Message { role: Role::Assistant, content: self.content }),
            stop_reason,
            usage,
            metrics: Metrics { latency_ms },
            additional_model_response_fields: None,
            served: ServedReport::default(),
        }
    }
}

/// Serialize helper for payloads that are plain structs.
pub fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finish() -> ModelEvent {
        ModelEvent::Finish(Finish::new(StopReason::ToolUse, TokenUsage::new(5, 7)))
    }

    #[test]
    fn text_then_tool_use_follows_bedrock_indexing() {
        let mut enc = ConverseStreamEncoder::new();
        let mut all = Vec::new();
        for ev in [
            ModelEvent::InputTokens(5),
            ModelEvent::Text("Hel".into()),
            ModelEvent::Text("lo".into()),
            ModelEvent::ToolUseStart { id: "t1".into(), name: "lookup".into() },
            ModelEvent::ToolUseInput("{\"q\":".into()),
            ModelEvent::ToolUseInput("1}".into()),
            finish(),
        ] {
            all.extend(enc.push(&ev, 12).iter().map(|e| (e.event_type, e.payload_json())));
        }
        let kinds: Vec<_> = all.iter().map(|e| e.0).collect();
        assert_eq!(
            kinds,
            [
                "messageStart",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockStop",
                "contentBlockStart",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockStop",
                "messageStop",
                "metadata"
            ]
        );
        assert_eq!(all[0].1, json!({"role": "assistant"}));
        assert_eq!(all[1].1, json!({"contentBlockIndex": 0, "delta": {"text": "Hel"}}));
        assert_eq!(all[5].1, json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"q\":"}}}));
        assert_eq!(all[7].1, json!({"contentBlockIndex": 1}));
        assert_eq!(all[4].1["contentBlockIndex"], 1);
        assert_eq!(all[4].1["start"]["toolUse"]["name"], "lookup");
        assert_eq!(all[8].1["stopReason"], "tool_use");
        assert_eq!(all[9].1["usage"]["totalTokens"], 12);
        assert_eq!(all[9].1["metrics"]["latencyMs"], 12);
    }

    #[test]
    fn reasoning_blocks_are_signed_when_they_close() {
        let mut enc = ConverseStreamEncoder::new();
        let (think, text) = (ModelEvent::Reasoning("think".into()), ModelEvent::Text("ok".into()));
        let mut all: Vec<Value> = enc.push(&think, 1).iter().map(StreamEvent::payload_json).collect();
        all.extend(enc.push(&text, 1).iter().map(StreamEvent::payload_json));
        assert_eq!(all[1], json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "think"}}}));
        let signature = crate::reasoning::sign("think");
        assert_eq!(all[2], json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": signature}}}));
        assert_eq!(all[3], json!({"contentBlockIndex": 0}));
        assert_eq!(all[4], json!({"contentBlockIndex": 1, "delta": {"text": "ok"}}));
    }

    /// A stream writes the frames of several events into one buffer: the same bytes as
    /// the frames one by one.
    #[test]
    fn written_frames_are_the_frames_back_to_back() {
        let events = [
            ModelEvent::Text("Hel\"lo".into()),
            ModelEvent::ToolUseStart { id: "t1".into(), name: "lookup".into() },
            ModelEvent::ToolUseInput("{\"q\":1}".into()),
            finish(),
        ];
        let (mut one, mut joined) = (ConverseStreamEncoder::new(), ConverseStreamEncoder::new());
        let (mut frames, mut buf) = (Vec::new(), Vec::new());
        for ev in &events {
            one.frames(ev, 9, &mut frames);
            joined.write_frames(ev, 9, &mut buf);
        }
        assert_eq!(buf, frames.concat());
    }

    #[test]
    fn collector_assembles_text_and_tool_input() {
        let mut c = Collector::default();
        c.push(ModelEvent::Text("a".into()));
        c.push(ModelEvent::Text("b".into()));
        c.push(ModelEvent::ToolUseStart { id: "t".into(), name: "n".into() });
        c.push(ModelEvent::ToolUseInput("{\"x\":".into()));
        c.push(ModelEvent::ToolUseInput("2}".into()));
        c.push(finish());
        let r = c.into_response(3);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["output"]["message"]["content"][0]["text"], "ab");
        assert_eq!(v["output"]["message"]["content"][1]["toolUse"]["input"]["x"], 2);
        assert_eq!(v["stopReason"], "tool_use");
        assert_eq!(v["usage"]["inputTokens"], 5);
    }
}
