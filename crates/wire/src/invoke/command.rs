//! Cohere Command R / R+ (`message`, `chat_history`, `preamble`, `documents`, `tools`,
//! `tool_results`) and its answer (`text`, `tool_calls`, `finish_reason`, `meta`) and
//! stream (`stream-start`, `text-generation`, `tool-calls-generation`, `stream-end`).

use serde_json::{json, Map, Value};

use super::body::{self, Obj};
use super::members::only;
use super::{invocation_metrics, Timing};
use crate::converse::{
    ContentBlock, ConverseRequest, InferenceConfig, Message, Role, StopReason, SystemContentBlock, Tool, ToolConfig,
    ToolInputSchema, ToolResultBlock, ToolResultContentBlock, ToolSpec, ToolUseBlock,
};
use crate::error::BedrockError;
use crate::stream::{Collector, Finish, ModelEvent};

const ROOT_KEYS: &[&str] = &[
    "message",
    "chat_history",
    "documents",
    "search_queries_only",
    "preamble",
    "max_tokens",
    "temperature",
    "p",
    "k",
    "prompt_truncation",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "return_prompt",
    "tools",
    "tool_results",
    "stop_sequences",
    "raw_prompting",
];
const MAX_STOP: usize = 5;
const HEX: &[u8] = b"0123456789abcdef";

pub fn parse(value: &Value) -> Result<ConverseRequest, BedrockError> {
    let root = Obj::root(value)?;
    only(&root, ROOT_KEYS, &[])?;
    // Switches that ask for something other than an answer are refused when on.
    for (key, what) in [
        ("search_queries_only", "Search-query generation"),
        ("return_prompt", "Returning the rendered prompt"),
        ("raw_prompting", "Raw prompting"),
    ] {
        if root.bool(key)? == Some(true) {
            return Err(crate::surface::not_supported(what, &root.at(key)));
        }
    }
    if root.enum_str("prompt_truncation", &["OFF", "AUTO_PRESERVE_ORDER"])? == Some("AUTO_PRESERVE_ORDER") {
        return Err(crate::surface::not_supported("Prompt truncation", &root.at("prompt_truncation")));
    }
    let message = root.req_str("message")?;
    let mut system = Vec::new();
    if let Some(p) = root.str("preamble")?.filter(|p| !p.is_empty()) {
        system.push(SystemContentBlock::Text(p.to_owned()));
    }
    let mut messages: Vec<Message> = Vec::new();
    for (i, v) in root.arr("chat_history")?.unwrap_or_default().iter().enumerate() {
        let h = Obj::new(v, format!("{}/{i}", root.at("chat_history")))?;
        only(&h, &["role", "message"], &[])?;
        let text = h.req_str("message")?;
        let role = h.req_str("role")?;
        match role {
            "USER" | "CHATBOT" | "SYSTEM" => {}
            other => return Err(body::not_enum(&h.at("role"), other)),
        }
        // An empty turn says nothing; Converse has no place for one.
        if text.is_empty() {
            continue;
        }
        match role {
            "USER" => body::push_turn(&mut messages, Role::User, text),
            // Cohere's history may open with the chatbot, Converse's may not: what it said
            // before the user spoke is context, so it joins the system prompt.
            "CHATBOT" if messages.is_empty() => {
                system.push(SystemContentBlock::Text(format!("Earlier in this conversation you said: {text}")))
            }
            "CHATBOT" => body::push_turn(&mut messages, Role::Assistant, text),
            _ => system.push(SystemContentBlock::Text(text.to_owned())),
        }
    }
    if let Some(docs) = root.arr("documents")? {
        system.push(SystemContentBlock::Text(documents(docs, &root.at("documents"))?));
    }
    if !message.is_empty() {
        body::push_turn(&mut messages, Role::User, message);
    }
    if let Some(results) = root.arr("tool_results")? {
        tool_results(results, &root.at("tool_results"), &mut messages)?;
    }
    if messages.is_empty() {
        return Err(body::malformed(&root.at("message"), "expected minLength: 1, actual: 0"));
    }
    let stop = root.strings("stop_sequences")?;
    if let Some(s) = stop.as_ref().filter(|s| s.len() > MAX_STOP) {
        let at = root.at("stop_sequences");
        return Err(body::malformed(&at, format!("expected maximum item count: {MAX_STOP}, found: {}", s.len())));
    }
    let p = root.num("p")?;
    if let Some(p) = p {
        body::range(&root.at("p"), p, 0.01, Some(0.99))?;
    }
    let inference = InferenceConfig {
        max_tokens: root.int_min("max_tokens", 1)?,
        temperature: root.unit("temperature")?,
        top_p: p,
        stop_sequences: stop.filter(|s| !s.is_empty()),
    };
    // Sampling options with no Converse field travel as additional request fields.
    let mut extra = Map::new();
    if let Some(k) = root.num("k")? {
        body::range(&root.at("k"), k, 0.0, Some(500.0))?;
        extra.insert("top_k".into(), json!(k as i64));
    }
    for key in ["frequency_penalty", "presence_penalty"] {
        if let Some(x) = root.num(key)? {
            body::range(&root.at(key), x, 0.0, Some(1.0))?;
            extra.insert(key.into(), json!(x));
        }
    }
    if let Some(seed) = root.int("seed")? {
        extra.insert("seed".into(), json!(seed));
    }
    let tools = body::each(root.arr("tools")?.unwrap_or_default(), &root.at("tools"), tool)?;
    Ok(ConverseRequest {
        messages,
        system,
        inference_config: (inference != InferenceConfig::default()).then_some(inference),
        tool_config: (!tools.is_empty()).then_some(ToolConfig { tools, tool_choice: None }),
        additional_model_request_fields: (!extra.is_empty()).then_some(Value::Object(extra)),
        ..ConverseRequest::default()
    })
}

/// Grounding documents (string-valued objects) as a system block the model answers from.
fn documents(docs: &[Value], path: &str) -> Result<String, BedrockError> {
    let mut text = String::from("Answer using these documents:");
    for (i, d) in docs.iter().enumerate() {
        let Value::Object(fields) = d else { return Err(body::expected(&format!("{path}/{i}"), "JSONObject", d)) };
        text.push_str(&format!("\n\nDocument {i}:"));
        for (k, v) in fields {
            let v = v.as_str().ok_or_else(|| body::expected(&format!("{path}/{i}/{k}"), "String", v))?;
            text.push_str(&format!("\n{k}: {v}"));
        }
    }
    Ok(text)
}

/// Cohere's `parameter_definitions` as a JSON schema.
fn tool(v: &Value, path: String) -> Result<Tool, BedrockError> {
    let t = Obj::new(v, path)?;
    only(&t, &["name", "description", "parameter_definitions"], &[])?;
    let (mut properties, mut required) = (Map::new(), Vec::new());
    if let Some(defs) = t.obj("parameter_definitions")? {
        for name in defs.keys() {
            let d = defs.obj(name)?.ok_or_else(|| defs.missing(name))?;
            only(&d, &["description", "type", "required"], &[])?;
            let kind = match d.req_str("type")? {
                "str" | "string" => "string",
                "int" | "integer" => "integer",
                "float" | "number" => "number",
                "bool" | "boolean" => "boolean",
                k if k.starts_with("list") || k.starts_with("List") => "array",
                k if k.starts_with("dict") || k.starts_with("Dict") || k == "object" => "object",
                other => return Err(body::not_enum(&d.at("type"), other)),
            };
            let mut prop = json!({ "type": kind });
            if let Some(desc) = d.str("description")? {
                prop["description"] = json!(desc);
            }
            properties.insert(name.to_owned(), prop);
            if d.bool("required")? == Some(true) {
                required.push(name.to_owned());
            }
        }
    }
    Ok(Tool::ToolSpec(ToolSpec {
        name: t.req_str("name")?.to_owned(),
        description: t.str("description")?.map(str::to_owned),
        input_schema: ToolInputSchema::Json(json!({"type": "object", "properties": properties, "required": required})),
    }))
}

/// `tool_results`: the calls become the assistant's tool uses and their outputs the
/// user's tool results, so the conversation reads as Converse's tool round trip.
fn tool_results(items: &[Value], path: &str, messages: &mut Vec<Message>) -> Result<(), BedrockError> {
    let (mut uses, mut results) = (Vec::new(), Vec::new());
    for (i, v) in items.iter().enumerate() {
        let r = Obj::new(v, format!("{path}/{i}"))?;
        only(&r, &["call", "outputs"], &[])?;
        let call = r.obj("call")?.ok_or_else(|| r.missing("call"))?;
        only(&call, &["name", "parameters"], &[])?;
        let id = format!("cohere_call_{i}");
        let input = call.get("parameters").cloned().unwrap_or_else(|| json!({}));
        uses.push(ContentBlock::ToolUse(ToolUseBlock {
            tool_use_id: id.clone(),
            name: call.req_str("name")?.to_owned(),
            input,
        }));
        let outputs = r.arr("outputs")?.ok_or_else(|| r.missing("outputs"))?;
        let content = outputs.iter().map(|o| ToolResultContentBlock::Json(o.clone())).collect();
        results.push(ContentBlock::ToolResult(ToolResultBlock { tool_use_id: id, content, status: None }));
    }
    for (role, blocks) in [(Role::Assistant, uses), (Role::User, results)] {
        match messages.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => messages.push(Message { role, content: blocks }),
        }
    }
    Ok(())
}

fn finish_reason(finish: Option<&Finish>) -> &'static str {
    match finish.map(|f| f.stop_reason) {
        Some(StopReason::MaxTokens | StopReason::ModelContextWindowExceeded) => "MAX_TOKENS",
        Some(StopReason::GuardrailIntervened | StopReason::ContentFiltered) => "ERROR_TOXIC",
        _ => "COMPLETE",
    }
}

fn uuid() -> String {
    let r = |n| body::random_chars(n, HEX);
    format!("{}-{}-{}-{}-{}", r(8), r(4), r(4), r(4), r(12))
}

fn tool_calls(out: &Collector) -> Vec<Value> {
    out.content()
        .iter()
        .filter_map(|b| match b {
            ContentBlock::ToolUse(t) => Some(json!({"name": t.name, "parameters": t.input})),
            _ => None,
        })
        .collect()
}

fn answer(out: &Collector, generation_id: &str) -> Value {
    let usage = out.usage();
    let mut v = json!({
        "response_id": uuid(),
        "text": out.text(),
        "generation_id": generation_id,
        "finish_reason": finish_reason(out.finish()),
        "meta": {
            "api_version": {"version": "1"},
            "billed_units": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens},
        },
    });
    let calls = tool_calls(out);
    if !calls.is_empty() {
        v["tool_calls"] = json!(calls);
    }
    v
}

pub fn response(out: &Collector) -> Value {
    answer(out, &uuid())
}

/// Command R's stream events; tool calls are sent whole once the answer is done, and
/// `stream-end` repeats the whole answer.
#[derive(Debug)]
pub struct Stream {
    generation_id: String,
    started: bool,
    out: Collector,
}

impl Default for Stream {
    fn default() -> Self {
        Self { generation_id: uuid(), started: false, out: Collector::default() }
    }
}

impl Stream {
    pub fn push(&mut self, event: ModelEvent, timing: Timing) -> Vec<Value> {
        let mut chunks = Vec::new();
        if self.out.is_finished() || matches!(event, ModelEvent::InputTokens(_) | ModelEvent::Reasoning(_)) {
            return chunks;
        }
        if !self.started {
            self.started = true;
            chunks
                .push(json!({"is_finished": false, "event_type": "stream-start", "generation_id": self.generation_id}));
        }
        if let ModelEvent::Text(t) = &event {
            chunks.push(json!({"is_finished": false, "event_type": "text-generation", "text": t}));
        }
        let finish = match &event {
            ModelEvent::Finish(f) => Some(f.usage),
            _ => None,
        };
        self.out.push(event);
        if let Some(usage) = finish {
            let calls = tool_calls(&self.out);
            if !calls.is_empty() {
                chunks.push(json!({"is_finished": false, "event_type": "tool-calls-generation",
                    "text": self.out.text(), "tool_calls": calls}));
            }
            chunks.push(json!({
                "is_finished": true,
                "event_type": "stream-end",
                "finish_reason": finish_reason(self.out.finish()),
                "response": answer(&self.out, &self.generation_id),
                "amazon-bedrock-invocationMetrics": invocation_metrics(usage, timing),
            }));
        }
        chunks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::converse::TokenUsage;

    #[test]
    fn parses_history_documents_tools_and_results() {
        let body = json!({
            "message": "And Paris?",
            "preamble": "Be brief.",
            "chat_history": [{"role": "USER", "message": "Weather in Rome?"}, {"role": "CHATBOT", "message": "Sunny."}],
            "documents": [{"title": "Paris", "snippet": "Rainy today."}],
            "tools": [{"name": "weather", "description": "w", "parameter_definitions": {
                "city": {"description": "c", "type": "str", "required": true}}}],
            "tool_results": [{"call": {"name": "weather", "parameters": {"city": "Paris"}}, "outputs": [{"sky": "rain"}]}],
            "max_tokens": 40, "p": 0.5, "k": 10, "seed": 3, "stop_sequences": ["."], "prompt_truncation": "OFF",
        });
        let r = parse(&body).unwrap();
        assert_eq!(r.system.len(), 2);
        let SystemContentBlock::Text(docs) = &r.system[1] else { panic!() };
        assert!(docs.contains("title: Paris") && docs.contains("snippet: Rainy today."), "{docs}");
        let roles: Vec<Role> = r.messages.iter().map(|m| m.role).collect();
        assert_eq!(roles, [Role::User, Role::Assistant, Role::User, Role::Assistant, Role::User]);
        assert!(matches!(&r.messages[3].content[0], ContentBlock::ToolUse(t) if t.input["city"] == "Paris"));
        assert!(matches!(&r.messages[4].content[0], ContentBlock::ToolResult(t) if t.tool_use_id == "cohere_call_0"));
        let Tool::ToolSpec(spec) = &r.tool_config.as_ref().unwrap().tools[0] else { panic!() };
        let ToolInputSchema::Json(schema) = &spec.input_schema else { panic!() };
        assert_eq!(schema["properties"]["city"]["type"], "string");
        assert_eq!(schema["required"], json!(["city"]));
        assert_eq!(r.additional_model_request_fields, Some(json!({"top_k": 10, "seed": 3})));
        assert!(crate::validate::converse(&r).is_ok());
    }

    #[test]
    fn refusals_name_the_member() {
        let e = |b: Value| parse(&b).unwrap_err().message;
        assert!(e(json!({"message": "x", "search_queries_only": true})).ends_with("#/search_queries_only"));
        assert!(e(json!({"message": "x", "raw_prompting": true})).ends_with("#/raw_prompting"));
        assert!(e(json!({"message": "x", "prompt_truncation": "AUTO_PRESERVE_ORDER"})).ends_with("#/prompt_truncation"));
        assert!(e(json!({"message": "x", "connectors": []})).contains("extraneous key [connectors]"));
        assert!(e(json!({"message": "x", "chat_history": [{"role": "BOT", "message": "y"}]}))
            .contains("BOT is not a valid enum"));
        assert!(e(json!({"message": "x", "p": 1.0})).contains("#/p"));
        assert!(e(json!({"message": "x", "stop_sequences": vec!["a"; 6]})).contains("maximum item count: 5"));
        assert!(e(json!({"chat_history": []})).contains("required key [message]"));
        assert!(parse(&json!({"message": "x", "return_prompt": false})).is_ok());
        // Found by fuzz_invoke: a history opening with the chatbot, or with empty turns.
        let r = parse(&json!({"message": "x", "chat_history": [{"role": "CHATBOT", "message": "hello"},
            {"role": "USER", "message": ""}]}))
        .unwrap();
        assert_eq!(r.messages.len(), 1);
        assert!(crate::validate::converse(&r).is_ok());
    }

    #[test]
    fn answer_and_stream() {
        let events = [
            ModelEvent::Text("Hi".into()),
            ModelEvent::ToolUseStart { id: "t".into(), name: "weather".into() },
            ModelEvent::ToolUseInput("{\"city\":\"Paris\"}".into()),
            ModelEvent::Finish(Finish::new(StopReason::ToolUse, TokenUsage::new(6, 2))),
        ];
        let mut c = Collector::default();
        let mut s = Stream::default();
        let mut chunks = Vec::new();
        for e in events {
            c.push(e.clone());
            chunks.extend(s.push(e, Timing::default()));
        }
        let v = response(&c);
        assert_eq!((v["text"].as_str(), v["finish_reason"].as_str()), (Some("Hi"), Some("COMPLETE")));
        assert_eq!(v["tool_calls"], json!([{"name": "weather", "parameters": {"city": "Paris"}}]));
        assert_eq!(v["meta"]["billed_units"], json!({"input_tokens": 6, "output_tokens": 2}));
        let kinds: Vec<&str> = chunks.iter().map(|c| c["event_type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["stream-start", "text-generation", "tool-calls-generation", "stream-end"]);
        assert_eq!(chunks[3]["response"]["text"], "Hi");
        assert_eq!(chunks[3]["response"]["generation_id"], chunks[0]["generation_id"]);
        assert_eq!(chunks[3]["amazon-bedrock-invocationMetrics"]["inputTokenCount"], 6);
    }
}
