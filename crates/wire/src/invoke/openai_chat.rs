//! OpenAI gpt-oss: the Chat Completions body and its `chat.completion` answer and
//! `chat.completion.chunk` stream. As on Bedrock, InvokeModel puts the model's reasoning,
//! in `<reasoning>` tags, before the text of the answer.

use serde_json::{json, Map, Value};

use super::body::{self, Obj};
use super::chat::{self, Flavor};
use super::members::only;
use super::{invocation_metrics, Timing};
use crate::converse::{
    ContentBlock, ConverseRequest, InferenceConfig, SpecificToolChoice, StopReason, TokenUsage, ToolChoice, ToolConfig,
};
use crate::error::BedrockError;
use crate::options::{
    JsonSchemaDefinition, OutputConfig, OutputFormat, OutputFormatStructure, OutputFormatType, ReasoningContentBlock,
};
use crate::stream::{Collector, Finish, ModelEvent};

const ROOT_KEYS: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "stream",
    "stream_options",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "n",
    // An opaque end-user tag for abuse monitoring: no effect on the answer.
    "user",
    // Sampling options with no Converse field travel as additional request fields, which
    // backends take as they take Converse's `additionalModelRequestFields`.
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "reasoning_effort",
];
const PASSED_ON: &[&str] = &["seed", "frequency_penalty", "presence_penalty", "reasoning_effort"];
const ROOT_UNHONOURED: &[(&str, &str)] = &[
    ("logprobs", "Log probabilities"),
    ("top_logprobs", "Log probabilities"),
    ("logit_bias", "Logit bias"),
    ("metadata", "Stored completions"),
    ("store", "Stored completions"),
    ("service_tier", "Service tiers in the body"),
    ("modalities", "Output modalities"),
    ("audio", "Audio output"),
    ("prediction", "Predicted outputs"),
    ("web_search_options", "Web search"),
    ("functions", "The deprecated functions member (use tools)"),
    ("function_call", "The deprecated function_call member (use tool_choice)"),
];

/// What the body asks beyond the conversation: whether it streams, and the final
/// chunk's usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    pub include_usage: bool,
}

/// The body's `model` must name the model called (its ID or the ID in the path); it may
/// be left out. `stream` must match the operation.
pub fn parse(
    value: &Value,
    streaming: Option<bool>,
) -> Result<(ConverseRequest, Options, Option<String>), BedrockError> {
    let root = Obj::root(value)?;
    only(&root, ROOT_KEYS, ROOT_UNHONOURED)?;
    let model = root.str("model")?.map(str::to_owned);
    if let (Some(s), Some(want)) = (root.bool("stream")?, streaming) {
        if s != want {
            let op = if want { "InvokeModelWithResponseStream" } else { "InvokeModel" };
            return Err(body::malformed(&root.at("stream"), format!("must be {want} for {op}")));
        }
    }
    let mut options = Options::default();
    if let Some(o) = root.obj("stream_options")? {
        only(&o, &["include_usage"], &[])?;
        options.include_usage = o.bool("include_usage")?.unwrap_or(false);
    }
    if let Some(n) = root.int("n")? {
        if n != 1 {
            return Err(crate::surface::not_supported("More than one choice", &root.at("n")));
        }
    }
    if root.bool("parallel_tool_calls")? == Some(false) {
        return Err(crate::surface::not_supported("Disabling parallel tool calls", &root.at("parallel_tool_calls")));
    }
    root.str("user")?;
    let items = root.arr("messages")?.ok_or_else(|| root.missing("messages"))?;
    let (system, messages) = chat::messages(items, &root.at("messages"), Flavor::OpenAi)?;
    let max_tokens = match root.int_min("max_completion_tokens", 1)? {
        Some(n) => Some(n),
        None => root.int_min("max_tokens", 1)?,
    };
    let stop = match root.get("stop") {
        None => None,
        Some(Value::String(s)) => Some(vec![s.clone()]),
        Some(_) => root.strings("stop")?,
    };
    let inference = InferenceConfig {
        max_tokens,
        temperature: root.unit("temperature")?,
        top_p: root.unit("top_p")?,
        stop_sequences: stop.filter(|s| !s.is_empty()),
    };
    let mut tools = chat::tools(root.arr("tools")?.unwrap_or_default(), &root.at("tools"), &["strict"])?;
    let tool_choice = match root.get("tool_choice") {
        None | Some(Value::String(_)) => match root.enum_str("tool_choice", &["none", "auto", "required"])? {
            None | Some("auto") => None,
            Some("required") => Some(ToolChoice::Any(json!({}))),
            Some(_) => {
                tools.clear();
                None
            }
        },
        Some(v) => {
            let c = Obj::new(v, root.at("tool_choice"))?;
            only(&c, &["type", "function"], &[])?;
            if c.req_str("type")? != "function" {
                return Err(body::not_enum(&c.at("type"), c.req_str("type")?));
            }
            let f = c.obj("function")?.ok_or_else(|| c.missing("function"))?;
            only(&f, &["name"], &[])?;
            Some(ToolChoice::Tool(SpecificToolChoice { name: f.req_str("name")?.to_owned() }))
        }
    };
    let output_config = root.obj("response_format")?.map(|f| response_format(&f)).transpose()?.flatten();
    let mut extra = Map::new();
    for key in PASSED_ON {
        if let Some(v) = root.get(key) {
            extra.insert((*key).to_owned(), v.clone());
        }
    }
    let request = ConverseRequest {
        messages,
        system,
        inference_config: (inference != InferenceConfig::default()).then_some(inference),
        tool_config: (!tools.is_empty()).then_some(ToolConfig { tools, tool_choice }),
        additional_model_request_fields: (!extra.is_empty()).then_some(Value::Object(extra)),
        output_config,
        ..ConverseRequest::default()
    };
    Ok((request, options, model))
}

/// `response_format`: `json_schema` becomes Converse's `outputConfig.textFormat`
/// (checked with every Converse request); `text` is the default.
fn response_format(f: &Obj) -> Result<Option<OutputConfig>, BedrockError> {
    match f.req_str("type")? {
        "text" => {
            only(f, &["type"], &[])?;
            Ok(None)
        }
        "json_object" => Err(crate::surface::not_supported("JSON mode without a schema", &f.at("type"))),
        "json_schema" => {
            only(f, &["type", "json_schema"], &[])?;
            let s = f.obj("json_schema")?.ok_or_else(|| f.missing("json_schema"))?;
            only(&s, &["name", "description", "schema", "strict"], &[])?;
            s.bool("strict")?;
            let schema = s.req("schema")?;
            Obj::new(schema, s.at("schema"))?;
            let structure = OutputFormatStructure::JsonSchema(JsonSchemaDefinition {
                schema: schema.to_string(),
                name: s.str("name")?.map(str::to_owned),
                description: s.str("description")?.map(str::to_owned),
            });
            let format = OutputFormat { kind: OutputFormatType::JsonSchema, structure };
            Ok(Some(OutputConfig { text_format: Some(format), effort: None }))
        }
        other => Err(body::not_enum(&f.at("type"), other)),
    }
}

fn finish_reason(finish: Option<&Finish>) -> &'static str {
    match finish.map(|f| f.stop_reason) {
        Some(StopReason::MaxTokens | StopReason::ModelContextWindowExceeded) => "length",
        Some(StopReason::ToolUse) => "tool_calls",
        Some(StopReason::GuardrailIntervened | StopReason::ContentFiltered) => "content_filter",
        _ => "stop",
    }
}

/// OpenAI's usage: `prompt_tokens` counts the whole prompt, cached part included.
fn usage(u: TokenUsage) -> Value {
    let prompt = u.input_tokens.saturating_add(u.cache_read_input_tokens).saturating_add(u.cache_write_input_tokens());
    let mut v = json!({"prompt_tokens": prompt, "completion_tokens": u.output_tokens,
        "total_tokens": prompt.saturating_add(u.output_tokens)});
    if u.cache_read_input_tokens > 0 {
        v["prompt_tokens_details"] = json!({"cached_tokens": u.cache_read_input_tokens});
    }
    v
}

fn completion_id() -> String {
    format!("chatcmpl-{}", body::random_chars(29, b"0123456789abcdefghijklmnopqrstuvwxyz"))
}

fn created() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub fn response(model_id: &str, out: &Collector) -> Value {
    let mut content = String::new();
    for block in out.content() {
        match block {
            ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(r)) => {
                content.push_str("<reasoning>");
                content.push_str(&r.text);
                content.push_str("</reasoning>");
            }
            ContentBlock::Text(t) => content.push_str(t),
            _ => {}
        }
    }
    let mut message = json!({"role": "assistant", "content": content});
    let calls = chat::tool_calls(out);
    if !calls.is_empty() {
        message["tool_calls"] = json!(calls);
    }
    json!({
        "id": completion_id(),
        "object": "chat.completion",
        "created": created(),
        "model": model_id,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(out.finish())}],
        "usage": usage(out.usage()),
    })
}

/// `chat.completion.chunk`s: the role first, then content deltas (reasoning inside
/// `<reasoning>` tags), tool calls by index, and a last chunk with the finish reason.
#[derive(Debug)]
pub struct Stream {
    id: String,
    model: String,
    created: u64,
    options: Options,
    started: bool,
    thinking: bool,
    tools: i64,
    finished: bool,
}

impl Stream {
    pub fn new(model_id: &str, options: Options) -> Self {
        Self {
            id: completion_id(),
            model: model_id.to_owned(),
            created: created(),
            options,
            started: false,
            thinking: false,
            tools: -1,
            finished: false,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    }

    fn content(&mut self, text: String, out: &mut Vec<Value>) {
        let delta = if self.started {
            json!({ "content": text })
        } else {
            self.started = true;
            json!({"role": "assistant", "content": text})
        };
        out.push(self.chunk(delta, None));
    }

    fn close_reasoning(&mut self, out: &mut Vec<Value>) {
        if std::mem::take(&mut self.thinking) {
            self.content("</reasoning>".to_owned(), out);
        }
    }

    pub fn push(&mut self, event: ModelEvent, timing: Timing) -> Vec<Value> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        match event {
            ModelEvent::InputTokens(_) => {}
            ModelEvent::Reasoning(t) => {
                let t = if self.thinking { t } else { format!("<reasoning>{t}") };
                self.thinking = true;
                self.content(t, &mut out);
            }
            ModelEvent::Text(t) => {
                self.close_reasoning(&mut out);
                self.content(t, &mut out);
            }
            ModelEvent::ToolUseStart { id, name } => {
                self.close_reasoning(&mut out);
                self.tools += 1;
                let call = json!({"index": self.tools, "id": id, "type": "function",
                    "function": {"name": name, "arguments": ""}});
                let mut delta = json!({ "tool_calls": [call] });
                if !self.started {
                    self.started = true;
                    delta["role"] = json!("assistant");
                }
                out.push(self.chunk(delta, None));
            }
            ModelEvent::ToolUseInput(fragment) => {
                let call = json!({"index": self.tools, "function": {"arguments": fragment}});
                out.push(self.chunk(json!({ "tool_calls": [call] }), None));
            }
            ModelEvent::Finish(f) => {
                self.close_reasoning(&mut out);
                self.finished = true;
                let mut last = self.chunk(json!({}), Some(finish_reason(Some(&f))));
                if self.options.include_usage {
                    last["usage"] = usage(f.usage);
                }
                last["amazon-bedrock-invocationMetrics"] = invocation_metrics(f.usage, timing);
                out.push(last);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs() -> Value {
        json!([{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    }

    #[test]
    fn parses_the_chat_completions_body() {
        let body = json!({
            "model": "openai.gpt-oss-20b-1:0", "messages": msgs(), "max_completion_tokens": 30, "stop": "END",
            "temperature": 0.5, "seed": 7, "reasoning_effort": "low", "stream": false, "n": 1, "user": "u1",
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": true}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "response_format": {"type": "json_schema", "json_schema": {"name": "x",
                "schema": {"type": "object", "additionalProperties": false}}},
        });
        let (r, _, model) = parse(&body, Some(false)).unwrap();
        assert_eq!(model.as_deref(), Some("openai.gpt-oss-20b-1:0"));
        let cfg = r.inference_config.clone().unwrap();
        assert_eq!((cfg.max_tokens, cfg.stop_sequences), (Some(30), Some(vec!["END".to_owned()])));
        assert_eq!(r.additional_model_request_fields, Some(json!({"seed": 7, "reasoning_effort": "low"})));
        assert!(matches!(r.tool_config.as_ref().unwrap().tool_choice, Some(ToolChoice::Tool(_))));
        assert!(r.output_config.as_ref().unwrap().text_format.is_some());
        crate::validate::converse(&r).unwrap();
    }

    #[test]
    fn refusals_name_the_member() {
        let e = |body: Value| parse(&body, Some(false)).unwrap_err().message;
        let m = msgs();
        assert!(e(json!({"messages": m, "logprobs": true})).ends_with("endpoint: #/logprobs"));
        assert!(e(json!({"messages": m, "n": 2})).ends_with("endpoint: #/n"));
        assert!(e(json!({"messages": m, "stream": true})).contains("#/stream: must be false for InvokeModel"));
        assert!(e(json!({"messages": m, "foo": 1})).contains("extraneous key [foo]"));
        assert!(
            e(json!({"messages": m, "response_format": {"type": "json_object"}})).ends_with("#/response_format/type")
        );
        assert!(e(json!({"messages": m, "tool_choice": "maybe"}))
            .contains("#/tool_choice: maybe is not a valid enum value"));
        assert!(e(json!({"max_tokens": 3})).contains("required key [messages]"));
    }

    #[test]
    fn answer_puts_reasoning_first() {
        let mut c = Collector::default();
        c.push(ModelEvent::Reasoning("think".into()));
        c.push(ModelEvent::Text("Hi".into()));
        c.push(ModelEvent::Finish(Finish::new(StopReason::EndTurn, TokenUsage::cached(10, 2, 4, 0, 0))));
        let v = response("openai.gpt-oss-20b-1:0", &c);
        assert_eq!(v["object"], "chat.completion");
        assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
        assert_eq!(
            v["choices"][0]["message"],
            json!({"role": "assistant", "content": "<reasoning>think</reasoning>Hi"})
        );
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert_eq!(
            v["usage"],
            json!({"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12,
                "prompt_tokens_details": {"cached_tokens": 4}})
        );
    }

    #[test]
    fn stream_chunks() {
        let mut s = Stream::new("m", Options { include_usage: true });
        let chunks: Vec<Value> = [
            ModelEvent::InputTokens(3),
            ModelEvent::Reasoning("a".into()),
            ModelEvent::Text("Hi".into()),
            ModelEvent::ToolUseStart { id: "c1".into(), name: "f".into() },
            ModelEvent::ToolUseInput("{}".into()),
            ModelEvent::Finish(Finish::new(StopReason::ToolUse, TokenUsage::new(3, 5))),
        ]
        .into_iter()
        .flat_map(|e| s.push(e, Timing::default()))
        .collect();
        let deltas: Vec<&Value> = chunks.iter().map(|c| &c["choices"][0]["delta"]).collect();
        assert_eq!(deltas[0], &json!({"role": "assistant", "content": "<reasoning>a"}));
        assert_eq!(deltas[1], &json!({"content": "</reasoning>"}));
        assert_eq!(deltas[2], &json!({"content": "Hi"}));
        assert_eq!(deltas[3]["tool_calls"][0]["id"], "c1");
        assert_eq!(deltas[4]["tool_calls"][0]["function"]["arguments"], "{}");
        let last = chunks.last().unwrap();
        assert_eq!(last["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(last["usage"]["completion_tokens"], 5);
        assert_eq!(last["object"], "chat.completion.chunk");
        assert!(last["amazon-bedrock-invocationMetrics"].is_object());
    }
}
