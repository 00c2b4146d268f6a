//! Tool use and structured output on the local model.
//!
//! Small models follow no tool protocol reliably, so the engine makes them: the answer
//! is decoded under a grammar built from JSON schemas (llama.cpp's JSON-schema-to-grammar
//! and grammar sampler), so what it writes always parses and validates.
//!
//! * `outputConfig.textFormat` (`json_schema`): the answer is JSON of that schema, which
//!   is also shown to the model after the system text.
//! * `toolConfig` with `any` or `tool`: the answer is a call with the arguments under the
//!   tool's input schema.
//! * `toolConfig` with `auto` (the default): a call as above, or text that does not
//!   start like one.
//!
//! The call is written in the model's own tool format where its chat template has one
//! ([`CallStyle`]: the template shows the tools and the earlier calls and results
//! itself); otherwise in the generic format `{"name": …, "arguments": …}`, with the
//! tools described after the system text and earlier calls written as those objects
//! ([`call_json`]), so a conversation round-trips. [`CallReader`] turns an answer that
//! is a call into Converse's toolUse events.

use serde_json::Value;
use spillway_wire::converse::{ConverseRequest, StopReason, Tool, ToolChoice, ToolInputSchema};
use spillway_wire::options::OutputFormatStructure;
use spillway_wire::stream::{Finish, ModelEvent};

use super::calls::CallStyle;
use crate::BackendError;

/// A call in the generic format, as earlier calls are shown to a model without a tool
/// format of its own.
pub fn call_json(name: &str, arguments: &Value) -> String {
    format!("{{\"name\":{},\"arguments\":{arguments}}}", Value::String(name.to_owned()))
}

/// A tool of the request, as the model is told about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolDef {
    pub name: String,
    pub description: String,
    /// Its input schema.
    pub schema: Value,
}

/// What the answer must look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    /// `outputConfig.textFormat`'s JSON schema (then there are no tools).
    pub json_schema: Option<String>,
    /// Every tool of the request, as shown to the model.
    pub tools: Vec<ToolDef>,
    /// The tools a call may name (`toolChoice.tool` narrows them to one).
    pub callable: Vec<String>,
    /// `toolChoice.tool`'s name.
    pub chosen: Option<String>,
    /// Whether plain text is an answer too (`auto` tool choice).
    pub text_allowed: bool,
}

impl Constraint {
    fn json(schema: String) -> Self {
        Self { json_schema: Some(schema), tools: Vec::new(), callable: Vec::new(), chosen: None, text_allowed: false }
    }

    /// Whether the answer may be a tool call.
    pub fn has_tools(&self) -> bool {
        !self.callable.is_empty()
    }

    /// The JSON schema the answer (or the call object, in `style`) must follow.
    pub fn schema(&self, style: CallStyle) -> String {
        if let Some(schema) = &self.json_schema {
            return schema.clone();
        }
        let branches: Vec<String> = self
            .tools
            .iter()
            .filter(|t| self.callable.contains(&t.name))
            .map(|t| style.call_schema(&t.name, &t.schema.to_string()))
            .collect();
        match branches.as_slice() {
            [one] => one.clone(),
            many => format!("{{\"anyOf\":[{}]}}", many.join(",")),
        }
    }

    /// What the model is told after the system text when its template does not show
    /// the tools itself: the JSON schema, or the tools and the generic call format.
    pub fn instructions(&self) -> String {
        if let Some(schema) = &self.json_schema {
            return format!("Answer with only a JSON value that follows this JSON schema:\n{schema}");
        }
        let mut out = String::from("You can call these tools:\n");
        for t in &self.tools {
            out.push_str(&format!("- {}: {} Arguments (JSON schema): {}\n", t.name, t.description, t.schema));
        }
        out.push_str(
            "To call a tool, answer with only a JSON object {\"name\": <tool name>, \"arguments\": <its arguments>}.",
        );
        match (&self.chosen, self.text_allowed) {
            (Some(name), _) => out.push_str(&format!(" Call {name} now.")),
            (None, false) => out.push_str(" Call one of them now."),
            (None, true) => out.push_str(" If no tool is needed, answer in plain text."),
        }
        out
    }
}

/// The constraint `request` puts on the answer, if any, or why it cannot be met.
pub fn constraint(request: &ConverseRequest) -> Result<Option<Constraint>, BackendError> {
    let format = output_schema(request)?;
    let tools = tool_constraint(request)?;
    match (format, tools) {
        (Some(_), Some(_)) => Err(BackendError::Unsupported(
            "The local model cannot combine outputConfig.textFormat with toolConfig: send one or the other.".into(),
        )),
        (Some(schema), None) => Ok(Some(Constraint::json(schema))),
        (None, tools) => Ok(tools),
    }
}

fn invalid(message: String) -> BackendError {
    BackendError::Unsupported(message)
}

/// `outputConfig.textFormat`'s JSON schema, as the wire crate parsed and checked it
/// (`structure.jsonSchema.schema`, a JSON schema in a string).
fn output_schema(request: &ConverseRequest) -> Result<Option<String>, BackendError> {
    let Some(config) = &request.output_config else { return Ok(None) };
    if config.effort.is_some() {
        return Err(invalid("outputConfig.effort is not supported by the local model.".into()));
    }
    let Some(format) = &config.text_format else { return Ok(None) };
    let OutputFormatStructure::JsonSchema(definition) = &format.structure else {
        let member = format.structure.member_name();
        return Err(invalid(format!(
            "outputConfig.textFormat.structure.{member} is not supported by the local model."
        )));
    };
    let parsed: Value = serde_json::from_str(&definition.schema)
        .map_err(|e| invalid(format!("outputConfig.textFormat.structure.jsonSchema.schema is not valid JSON: {e}")))?;
    if !parsed.is_object() && !parsed.is_boolean() {
        return Err(invalid(
            "outputConfig.textFormat.structure.jsonSchema.schema must be a JSON schema object.".into(),
        ));
    }
    Ok(Some(definition.schema.clone()))
}

fn tool_constraint(request: &ConverseRequest) -> Result<Option<Constraint>, BackendError> {
    let Some(config) = &request.tool_config else { return Ok(None) };
    let mut tools = Vec::new();
    for tool in &config.tools {
        if let Tool::ToolSpec(spec) = tool {
            let schema = match &spec.input_schema {
                ToolInputSchema::Json(v) => v.clone(),
                _ => return Err(invalid(format!("Tool `{}` has no JSON input schema.", spec.name))),
            };
            let description = spec.description.clone().unwrap_or_default();
            tools.push(ToolDef { name: spec.name.clone(), description, schema });
        }
    }
    if tools.is_empty() {
        return Ok(None);
    }
    let (chosen, text_allowed) = match &config.tool_choice {
        None | Some(ToolChoice::Auto(_)) => (None, true),
        Some(ToolChoice::Any(_)) => (None, false),
        Some(ToolChoice::Tool(t)) => {
            if !tools.iter().any(|d| d.name == t.name) {
                return Err(invalid(format!(
                    "toolConfig.toolChoice.tool names `{}`, which is not one of the tools.",
                    t.name
                )));
            }
            (Some(t.name.clone()), false)
        }
        Some(_) => return Err(invalid("toolConfig.toolChoice must be auto, any or tool.".into())),
    };
    let callable =
        tools.iter().filter(|t| chosen.as_ref().is_none_or(|c| *c == t.name)).map(|t| t.name.clone()).collect();
    Ok(Some(Constraint { json_schema: None, tools, callable, chosen, text_allowed }))
}

/// Reads a constrained answer as it streams: text goes out as it comes, unless the
/// answer turns out to be a tool call (it starts as `style` writes calls), which is held
/// until the end and then sent as toolUse events.
#[derive(Debug)]
pub struct CallReader {
    style: CallStyle,
    tools: Vec<String>,
    id: String,
    state: State,
    held: String,
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    /// Not known yet (blanks, or the start of the style's marker).
    Undecided,
    Text,
    Call,
}

impl CallReader {
    /// A reader for a call in `style` to one of `tools`, reported with the toolUse id `id`.
    pub fn new(style: CallStyle, tools: Vec<String>, id: String) -> Self {
        Self { style, tools, id, state: State::Undecided, held: String::new() }
    }

    /// The events to send for `event`.
    pub fn push(&mut self, event: ModelEvent) -> Vec<ModelEvent> {
        match event {
            ModelEvent::Text(text) => self.text(text),
            ModelEvent::Finish(finish) => self.finish(finish),
            other => vec![other],
        }
    }

    fn text(&mut self, text: String) -> Vec<ModelEvent> {
        match self.state {
            State::Text => vec![ModelEvent::Text(text)],
            State::Call => {
                self.held.push_str(&text);
                Vec::new()
            }
            State::Undecided => {
                self.held.push_str(&text);
                match self.style.starts_call(self.held.trim_start()) {
                    None => Vec::new(),
                    Some(true) => {
                        self.state = State::Call;
                        Vec::new()
                    }
                    Some(false) => {
                        self.state = State::Text;
                        vec![ModelEvent::Text(std::mem::take(&mut self.held))]
                    }
                }
            }
        }
    }

    fn finish(&mut self, mut finish: Finish) -> Vec<ModelEvent> {
        let held = std::mem::take(&mut self.held);
        let call = (self.state == State::Call).then(|| self.style.parse(&held)).flatten();
        let mut out = Vec::new();
        match call.filter(|(name, _)| self.tools.contains(name)) {
            Some((name, arguments)) => {
                out.push(ModelEvent::ToolUseStart { id: self.id.clone(), name });
                out.push(ModelEvent::ToolUseInput(arguments.to_string()));
                finish.stop_reason = StopReason::ToolUse;
            }
            // Cut short (maxTokens, a stop sequence) or not a call: what was written.
            None if !held.is_empty() => out.push(ModelEvent::Text(held)),
            None => {}
        }
        out.push(ModelEvent::Finish(finish));
        out
    }
}

#[cfg(test)]
mod tests {
    use spillway_wire::converse::TokenUsage;
    use spillway_wire::parse::json;

    use super::*;

    fn request(body: &str) -> ConverseRequest {
        json(body.as_bytes()).unwrap()
    }

    const WEATHER: &str = r#""toolConfig":{"tools":[
        {"toolSpec":{"name":"get_weather","description":"Weather of a city.","inputSchema":{"json":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}},
        {"toolSpec":{"name":"get_time","inputSchema":{"json":{"type":"object"}}}}]"#;

    fn with_tools(choice: &str) -> ConverseRequest {
        request(&format!(r#"{{"messages":[],{WEATHER}{choice}}}}}"#))
    }

    fn unsupported(e: BackendError) -> String {
        match e {
            BackendError::Unsupported(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn auto_allows_text_or_a_call_to_any_tool() {
        let c = constraint(&with_tools("")).unwrap().unwrap();
        assert!(c.text_allowed && c.has_tools());
        assert_eq!(c.callable, ["get_weather", "get_time"]);
        let schema: Value = serde_json::from_str(&c.schema(CallStyle::Generic)).unwrap();
        assert_eq!(schema["anyOf"][0]["properties"]["name"]["const"], "get_weather");
        assert_eq!(schema["anyOf"][0]["properties"]["arguments"]["required"][0], "city");
        let llama: Value = serde_json::from_str(&c.schema(CallStyle::Llama3)).unwrap();
        assert_eq!(llama["anyOf"][1]["properties"]["parameters"], serde_json::json!({"type": "object"}));
        let instructions = c.instructions();
        assert!(instructions.contains("get_weather: Weather of a city."), "{instructions}");
    }

    #[test]
    fn a_chosen_tool_is_the_only_call() {
        let c = constraint(&with_tools(r#","toolChoice":{"tool":{"name":"get_time"}}"#)).unwrap().unwrap();
        assert!(!c.text_allowed);
        assert_eq!(c.callable, ["get_time"]);
        // Both tools are still shown to the model.
        assert_eq!(c.tools.len(), 2);
        let schema: Value = serde_json::from_str(&c.schema(CallStyle::Hermes)).unwrap();
        assert_eq!(schema["properties"]["name"]["const"], "get_time");
        assert!(c.instructions().ends_with("Call get_time now."));
        assert!(!constraint(&with_tools(r#","toolChoice":{"any":{}}"#)).unwrap().unwrap().text_allowed);
        let e = constraint(&with_tools(r#","toolChoice":{"tool":{"name":"nope"}}"#)).unwrap_err();
        assert!(unsupported(e).contains("`nope`"));
    }

    #[test]
    fn output_schemas_are_checked() {
        let body = |format: &str| request(&format!(r#"{{"messages":[],"outputConfig":{{"textFormat":{format}}}}}"#));
        let ok =
            body(r#"{"type":"json_schema","structure":{"jsonSchema":{"schema":"{\"type\":\"object\"}","name":"x"}}}"#);
        let c = constraint(&ok).unwrap().unwrap();
        assert_eq!((c.schema(CallStyle::Hermes).as_str(), c.text_allowed), ("{\"type\":\"object\"}", false));
        assert!(!c.has_tools());
        let bad = body(r#"{"type":"json_schema","structure":{"jsonSchema":{"schema":"{nope"}}}"#);
        assert!(unsupported(constraint(&bad).unwrap_err()).contains("not valid JSON"));
        // Another `type` never gets here: the wire crate refuses it while parsing.
        assert!(json::<ConverseRequest>(br#"{"messages":[],"outputConfig":{"textFormat":{"type":"text"}}}"#).is_err());
        let other = request(r#"{"messages":[],"outputConfig":{"effort":"high"}}"#);
        assert!(unsupported(constraint(&other).unwrap_err()).contains("outputConfig.effort"));
        assert_eq!(constraint(&request(r#"{"messages":[]}"#)).unwrap(), None);
    }

    fn finish() -> Finish {
        Finish::new(StopReason::EndTurn, TokenUsage::new(5, 7))
    }

    fn read(reader: &mut CallReader, pieces: &[&str]) -> Vec<ModelEvent> {
        let mut out = Vec::new();
        for p in pieces {
            out.extend(reader.push(ModelEvent::Text((*p).to_owned())));
        }
        out.extend(reader.push(ModelEvent::Finish(finish())));
        out
    }

    #[test]
    fn a_call_becomes_tool_use_events() {
        let mut r = CallReader::new(CallStyle::Generic, vec!["get_weather".into()], "tooluse_1".into());
        let events = read(&mut r, &[" ", "{\"name\":\"get_weather\",", "\"arguments\":{\"city\":\"Paris\"}}"]);
        let mut end = finish();
        end.stop_reason = StopReason::ToolUse;
        assert_eq!(
            events,
            [
                ModelEvent::ToolUseStart { id: "tooluse_1".into(), name: "get_weather".into() },
                ModelEvent::ToolUseInput("{\"city\":\"Paris\"}".into()),
                ModelEvent::Finish(end),
            ]
        );
    }

    #[test]
    fn text_streams_and_broken_calls_come_back_as_text() {
        let mut r = CallReader::new(CallStyle::Generic, vec!["f".into()], "t".into());
        let events = read(&mut r, &["\n", "Hello", " {x}"]);
        assert_eq!(
            events,
            [ModelEvent::Text("\nHello".into()), ModelEvent::Text(" {x}".into()), ModelEvent::Finish(finish())]
        );
        let mut r = CallReader::new(CallStyle::Generic, vec!["f".into()], "t".into());
        let events = read(&mut r, &["{\"name\":\"f\",\"argu"]);
        assert_eq!(events, [ModelEvent::Text("{\"name\":\"f\",\"argu".into()), ModelEvent::Finish(finish())]);
    }

    #[test]
    fn calls_in_the_templates_own_format_become_tool_use_events() {
        let mut r = CallReader::new(CallStyle::Hermes, vec!["get_weather".into()], "tooluse_2".into());
        let events = read(
            &mut r,
            &["<tool", "_call>\n{\"name\": \"get_weather\", ", "\"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>"],
        );
        assert_eq!(events[0], ModelEvent::ToolUseStart { id: "tooluse_2".into(), name: "get_weather".into() });
        assert_eq!(events[1], ModelEvent::ToolUseInput("{\"city\":\"Oslo\"}".into()));
        // Text that only starts like the marker streams once it differs.
        let mut r = CallReader::new(CallStyle::Hermes, vec!["f".into()], "t".into());
        assert_eq!(r.push(ModelEvent::Text("<to".into())), []);
        assert_eq!(r.push(ModelEvent::Text("p>".into())), [ModelEvent::Text("<top>".into())]);
        // A call to a tool that is not offered is text.
        let mut r = CallReader::new(CallStyle::Mistral, vec!["f".into()], "t".into());
        let call = "[TOOL_CALLS] [{\"name\": \"g\", \"arguments\": {}}]";
        assert_eq!(read(&mut r, &[call])[0], ModelEvent::Text(call.into()));
    }
}
