//! Action groups as model tools, and the model's tool calls as `returnControl`
//! invocation inputs.
//!
//! Each function of a function schema, and each operation of an OpenAPI document, is
//! one Converse tool named `{actionGroup}__{function}` (or `{actionGroup}__{operationId}`),
//! cut to the 64 characters a tool name may have. Its input schema is a JSON Schema
//! object of the parameters (and, for an operation, of the JSON request body's
//! properties). A call of that tool maps back to the function or operation by name.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

/// An action group as the toolbox reads it.
pub struct GroupInput<'a> {
    pub name: &'a str,
    pub body: &'a Value,
}

/// What a tool stands for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Function { group: String, function: String, params: Vec<(String, String)> },
    Api { group: String, path: String, method: String, params: Vec<(String, String)>, body: Vec<(String, String)> },
}

impl Action {
    pub fn group(&self) -> &str {
        match self {
            Action::Function { group, .. } | Action::Api { group, .. } => group,
        }
    }
}

/// The enabled action groups of an agent version as tools.
#[derive(Debug, Default)]
pub struct Toolbox {
    /// Converse `toolSpec`s, in action-group then function order.
    pub specs: Vec<Value>,
    pub actions: BTreeMap<String, Action>,
}

/// An OpenAPI operation.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiOperation {
    pub path: String,
    pub method: String,
    pub operation_id: Option<String>,
    pub description: Option<String>,
    /// (name, required, schema) of path, query and header parameters.
    pub params: Vec<(String, bool, Value)>,
    /// The `application/json` request body's schema, if any.
    pub body: Option<Value>,
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The operations of an OpenAPI 3 document (JSON), in path then method order.
pub fn api_operations(doc: &Value) -> Vec<ApiOperation> {
    let mut out = Vec::new();
    for (path, item) in doc.get("paths").and_then(Value::as_object).into_iter().flatten() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let params = op
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    let name = p.get("name")?.as_str()?.to_owned();
                    let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
                    let mut schema = p.get("schema").cloned().unwrap_or_else(|| json!({"type": "string"}));
                    if let (Some(d), Some(s)) = (p.get("description"), schema.as_object_mut()) {
                        s.entry("description").or_insert_with(|| d.clone());
                    }
                    Some((name, required, schema))
                })
                .collect();
            let body = op.pointer("/requestBody/content/application~1json/schema").cloned();
            let text = |k: &str| op.get(k).and_then(Value::as_str).map(str::to_owned);
            out.push(ApiOperation {
                path: path.clone(),
                method: method.to_uppercase(),
                operation_id: text("operationId"),
                description: text("description").or_else(|| text("summary")),
                params,
                body,
            });
        }
    }
    out
}

/// `{group}__{name}` with anything outside `[a-zA-Z0-9_-]` as `_`, at most 64 characters.
fn tool_name(group: &str, name: &str) -> String {
    let raw = format!("{group}__{name}");
    raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).take(64).collect()
}

fn type_of(schema: &Value) -> String {
    schema.get("type").and_then(Value::as_str).unwrap_or("string").to_owned()
}

impl Toolbox {
    /// Builds the tools of the ENABLED groups. Names that collide after cutting get a
    /// numeric suffix, so every tool maps back to exactly one action.
    pub fn build(groups: &[GroupInput<'_>]) -> Self {
        let mut tb = Toolbox::default();
        for g in groups {
            if g.body.get("actionGroupState").and_then(Value::as_str) == Some("DISABLED") {
                continue;
            }
            if let Some(functions) = g.body.pointer("/functionSchema/functions").and_then(Value::as_array) {
                for f in functions {
                    let Some(fname) = f.get("name").and_then(Value::as_str) else { continue };
                    let mut props = Map::new();
                    let mut required = Vec::new();
                    let mut params = Vec::new();
                    for (p, d) in f.get("parameters").and_then(Value::as_object).into_iter().flatten() {
                        let ty = d.get("type").and_then(Value::as_str).unwrap_or("string");
                        let mut schema = json!({"type": ty});
                        if let Some(desc) = d.get("description") {
                            schema["description"] = desc.clone();
                        }
                        props.insert(p.clone(), schema);
                        if d.get("required").and_then(Value::as_bool).unwrap_or(false) {
                            required.push(p.clone());
                        }
                        params.push((p.clone(), ty.to_owned()));
                    }
                    let action = Action::Function { group: g.name.to_owned(), function: fname.to_owned(), params };
                    let schema = json!({"type": "object", "properties": props, "required": required});
                    tb.add(tool_name(g.name, fname), f.get("description").and_then(Value::as_str), schema, action);
                }
            }
            let doc =
                g.body.pointer("/apiSchema/payload").and_then(Value::as_str).and_then(|p| serde_json::from_str(p).ok());
            for op in doc.as_ref().map(api_operations).unwrap_or_default() {
                let mut props = Map::new();
                let mut required = Vec::new();
                let mut params = Vec::new();
                for (name, req, schema) in &op.params {
                    params.push((name.clone(), type_of(schema)));
                    props.insert(name.clone(), schema.clone());
                    if *req {
                        required.push(name.clone());
                    }
                }
                let mut body = Vec::new();
                for (name, schema) in
                    op.body.as_ref().and_then(|b| b.get("properties")).and_then(Value::as_object).into_iter().flatten()
                {
                    body.push((name.clone(), type_of(schema)));
                    props.insert(name.clone(), schema.clone());
                }
                for r in
                    op.body.as_ref().and_then(|b| b.get("required")).and_then(Value::as_array).into_iter().flatten()
                {
                    if let Some(r) = r.as_str() {
                        required.push(r.to_owned());
                    }
                }
                let short = op.operation_id.clone().unwrap_or_else(|| format!("{}{}", op.method, op.path));
                let action = Action::Api {
                    group: g.name.to_owned(),
                    path: op.path.clone(),
                    method: op.method.clone(),
                    params,
                    body,
                };
                let schema = json!({"type": "object", "properties": props, "required": required});
                tb.add(tool_name(g.name, &short), op.description.as_deref(), schema, action);
            }
        }
        tb
    }

    fn add(&mut self, mut name: String, description: Option<&str>, schema: Value, action: Action) {
        let mut n = 1;
        while self.actions.contains_key(&name) {
            n += 1;
            let suffix = format!("_{n}");
            name = format!("{}{suffix}", name.chars().take(64 - suffix.len()).collect::<String>());
        }
        let mut spec = json!({"name": name, "inputSchema": {"json": schema}});
        if let Some(d) = description {
            spec["description"] = json!(d);
        }
        self.specs.push(json!({"toolSpec": spec}));
        self.actions.insert(name, action);
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }
}

/// A parameter value as the `returnControl` event carries it: always a string.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn params_of(input: &Value, declared: &[(String, String)]) -> Vec<Value> {
    declared
        .iter()
        .filter_map(|(name, ty)| input.get(name).map(|v| json!({"name": name, "type": ty, "value": value_text(v)})))
        .collect()
}

/// The `InvocationInputMember` of one tool call (for the `returnControl` event), and the
/// trace's `actionGroupInvocationInput` for it.
pub fn invocation_input(action: &Action, input: &Value, agent_id: &str, invocation_id: &str) -> (Value, Value) {
    match action {
        Action::Function { group, function, params } => {
            let parameters = params_of(input, params);
            let member = json!({"functionInvocationInput": {"actionGroup": group, "function": function,
                "parameters": parameters, "actionInvocationType": "RESULT", "agentId": agent_id}});
            let trace = json!({"actionGroupName": group, "function": function, "parameters": parameters,
                "executionType": "RETURN_CONTROL", "invocationId": invocation_id});
            (member, trace)
        }
        Action::Api { group, path, method, params, body } => {
            let parameters = params_of(input, params);
            let mut member = json!({"actionGroup": group, "apiPath": path, "httpMethod": method,
                "parameters": parameters, "actionInvocationType": "RESULT", "agentId": agent_id});
            let mut trace = json!({"actionGroupName": group, "apiPath": path, "verb": method.to_lowercase(),
                "parameters": parameters, "executionType": "RETURN_CONTROL", "invocationId": invocation_id});
            let props = params_of(input, body);
            if !body.is_empty() {
                let content = json!({"application/json": {"properties": props}});
                member["requestBody"] = json!({"content": content});
                trace["requestBody"] = json!({"content": content});
            }
            (json!({"apiInvocationInput": member}), trace)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups() -> (Value, Value, Value) {
        let functions = json!({"actionGroupState": "ENABLED", "functionSchema": {"functions": [
            {"name": "get_forecast", "description": "Forecast", "parameters": {
                "city": {"type": "string", "required": true}, "days": {"type": "integer"}}}]}});
        let doc = json!({"openapi": "3.0.0", "paths": {"/bookings/{id}": {
            "get": {"operationId": "getBooking", "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]},
            "post": {"requestBody": {"content": {"application/json": {"schema": {"type": "object",
                "properties": {"seats": {"type": "integer"}}, "required": ["seats"]}}}}}}}});
        let api = json!({"apiSchema": {"payload": doc.to_string()}});
        let disabled = json!({"actionGroupState": "DISABLED", "functionSchema": {"functions": [{"name": "hidden"}]}});
        (functions, api, disabled)
    }

    #[test]
    fn enabled_groups_become_tools() {
        let (f, a, d) = groups();
        let tb = Toolbox::build(&[
            GroupInput { name: "weather", body: &f },
            GroupInput { name: "booking", body: &a },
            GroupInput { name: "off", body: &d },
        ]);
        let names: Vec<&str> = tb.actions.keys().map(String::as_str).collect();
        assert_eq!(names, ["booking__POST_bookings__id_", "booking__getBooking", "weather__get_forecast"]);
        let spec = &tb.specs[0]["toolSpec"];
        assert_eq!(spec["name"], "weather__get_forecast");
        assert_eq!(spec["inputSchema"]["json"]["required"], json!(["city"]));
        assert_eq!(spec["inputSchema"]["json"]["properties"]["days"]["type"], "integer");
    }

    #[test]
    fn tool_calls_map_to_invocation_inputs() {
        let (f, a, _) = groups();
        let tb = Toolbox::build(&[GroupInput { name: "weather", body: &f }, GroupInput { name: "booking", body: &a }]);
        let call = &tb.actions["weather__get_forecast"];
        let (member, trace) = invocation_input(call, &json!({"city": "Tokyo", "days": 3}), "AGENT00001", "inv-1");
        let input = &member["functionInvocationInput"];
        assert_eq!(
            (input["actionGroup"].as_str(), input["function"].as_str()),
            (Some("weather"), Some("get_forecast"))
        );
        assert_eq!(
            input["parameters"],
            json!([{"name": "city", "type": "string", "value": "Tokyo"},
            {"name": "days", "type": "integer", "value": "3"}])
        );
        assert_eq!(trace["executionType"], "RETURN_CONTROL");
        let post = &tb.actions["booking__POST_bookings__id_"];
        let (member, _) = invocation_input(post, &json!({"seats": 2}), "AGENT00001", "inv-2");
        let api = &member["apiInvocationInput"];
        assert_eq!((api["httpMethod"].as_str(), api["apiPath"].as_str()), (Some("POST"), Some("/bookings/{id}")));
        assert_eq!(api["requestBody"]["content"]["application/json"]["properties"][0]["value"], "2");
    }

    #[test]
    fn long_and_colliding_names_stay_distinct_and_short() {
        let long = "f".repeat(100);
        let body = json!({"functionSchema": {"functions": [{"name": long}, {"name": format!("{long}x")}]}});
        let tb = Toolbox::build(&[GroupInput { name: "g", body: &body }]);
        assert_eq!(tb.actions.len(), 2);
        assert!(tb.actions.keys().all(|k| k.len() <= 64), "{:?}", tb.actions.keys());
    }
}
