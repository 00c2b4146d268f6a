//! Action groups: what CreateAgentActionGroup and UpdateAgentActionGroup may hold, and
//! the `AgentActionGroup` shape. Functions are described by a function schema or by an
//! OpenAPI document (`apiSchema.payload`, JSON); the only executor is
//! `customControl: RETURN_CONTROL` (the caller runs the function: there is no Lambda).

use serde::Deserialize;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::check::{invalid, put, refuse_if_set, unsupported, AgentError, Checks};
use crate::ids::iso;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionGroupRequest {
    pub action_group_name: String,
    pub client_token: Option<String>,
    pub description: Option<String>,
    pub parent_action_group_signature: Option<String>,
    pub parent_action_group_signature_params: Option<Value>,
    pub action_group_executor: Option<Map<String, Value>>,
    pub api_schema: Option<Map<String, Value>>,
    pub action_group_state: Option<String>,
    pub function_schema: Option<Map<String, Value>>,
}

const PARAM_TYPES: [&str; 5] = ["string", "number", "integer", "boolean", "array"];

impl ActionGroupRequest {
    /// Checks everything and returns (name, clientToken, body to store).
    pub fn into_body(self, update: bool) -> Result<(String, Option<String>, Value), AgentError> {
        if update && self.client_token.is_some() {
            return Err(invalid("clientToken", "UpdateAgentActionGroup has no clientToken member"));
        }
        refuse_if_set(
            "parentActionGroupSignature",
            &self.parent_action_group_signature,
            "built-in action groups (user input, code interpreter, computer use) are not implemented",
        )?;
        refuse_if_set(
            "parentActionGroupSignatureParams",
            &self.parent_action_group_signature_params,
            "see parentActionGroupSignature",
        )?;
        let mut c = Checks::default();
        c.name("actionGroupName", &self.action_group_name);
        c.client_token(self.client_token.as_deref());
        c.description(self.description.as_deref());
        c.enum_value("actionGroupState", self.action_group_state.as_deref(), &["ENABLED", "DISABLED"]);
        c.finish()?;
        check_executor(self.action_group_executor.as_ref())?;
        let functions = match (&self.function_schema, &self.api_schema) {
            (Some(f), None) => {
                check_function_schema(f)?;
                json!({"functionSchema": f})
            }
            (None, Some(a)) => {
                check_api_schema(a)?;
                json!({"apiSchema": a})
            }
            (Some(_), Some(_)) => {
                return Err(AgentError::validation("Specify either apiSchema or functionSchema, not both."))
            }
            (None, None) => {
                return Err(AgentError::validation(
                    "An action group needs its functions: specify apiSchema or functionSchema.",
                ))
            }
        };
        let mut body = functions.as_object().cloned().unwrap_or_default();
        put(&mut body, "description", self.description);
        body.insert("actionGroupExecutor".into(), json!({"customControl": "RETURN_CONTROL"}));
        body.insert("actionGroupState".into(), json!(self.action_group_state.unwrap_or_else(|| "ENABLED".into())));
        Ok((self.action_group_name, self.client_token, Value::Object(body)))
    }
}

/// The executor union: exactly one member; `customControl` must be RETURN_CONTROL and a
/// Lambda is refused by name (nothing here can call one).
fn check_executor(executor: Option<&Map<String, Value>>) -> Result<(), AgentError> {
    let Some(e) = executor else {
        return Err(invalid(
            "actionGroupExecutor",
            "Member must not be null: set customControl to RETURN_CONTROL (the caller runs the functions)",
        ));
    };
    if e.len() != 1 {
        return Err(invalid("actionGroupExecutor", "Exactly one of lambda or customControl must be set"));
    }
    match (e.get("lambda"), e.get("customControl").and_then(Value::as_str)) {
        (Some(_), _) => Err(AgentError::validation(
            "actionGroupExecutor.lambda is not supported by spillway: there is no AWS Lambda here. Use actionGroupExecutor.customControl = RETURN_CONTROL and run the function in your application (InvokeAgent returns it in a returnControl event).",
        )),
        (None, Some("RETURN_CONTROL")) => Ok(()),
        (None, _) => Err(invalid("actionGroupExecutor.customControl", "Member must satisfy enum value set: [RETURN_CONTROL]")),
    }
}

fn check_function_schema(schema: &Map<String, Value>) -> Result<(), AgentError> {
    let Some(Value::Array(functions)) = schema.get("functions") else {
        return Err(invalid("functionSchema", "Member must be {functions: [...]}"));
    };
    if schema.len() != 1 {
        return Err(invalid("functionSchema", "functions is the only member of the union"));
    }
    let mut c = Checks::default();
    if functions.is_empty() {
        c.add("functionSchema.functions", "Member must have at least one function");
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, f) in functions.iter().enumerate() {
        let at = format!("functionSchema.functions.{}", i + 1);
        let Some(f) = f.as_object() else {
            c.add(&at, "Member must be a structure");
            continue;
        };
        for key in f.keys() {
            if !["name", "description", "parameters", "requireConfirmation"].contains(&key.as_str()) {
                c.add(&format!("{at}.{key}"), "Unknown member");
            }
        }
        let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
        c.name(&format!("{at}.name"), name);
        if !names.insert(name.to_owned()) {
            c.add(&format!("{at}.name"), "Function names must be unique in an action group");
        }
        if f.get("description").and_then(Value::as_str).is_some_and(|d| d.is_empty() || d.chars().count() > 1200) {
            c.add(&format!("{at}.description"), "Member must have length between 1 and 1200");
        }
        match f.get("requireConfirmation").and_then(Value::as_str) {
            None | Some("DISABLED") => {}
            Some("ENABLED") => {
                return Err(unsupported(
                    "requireConfirmation ENABLED",
                    "user confirmation of functions is not implemented",
                ))
            }
            Some(_) => {
                c.add(&format!("{at}.requireConfirmation"), "Member must satisfy enum value set: [ENABLED, DISABLED]")
            }
        }
        for (pname, detail) in f.get("parameters").and_then(Value::as_object).into_iter().flatten() {
            let pat = format!("{at}.parameters.{pname}");
            c.name(&pat, pname);
            let ty = detail.get("type").and_then(Value::as_str);
            if !ty.is_some_and(|t| PARAM_TYPES.contains(&t)) {
                c.add(
                    &format!("{pat}.type"),
                    "Member must satisfy enum value set: [string, number, integer, boolean, array]",
                );
            }
            if detail
                .get("description")
                .and_then(Value::as_str)
                .is_some_and(|d| d.is_empty() || d.chars().count() > 500)
            {
                c.add(&format!("{pat}.description"), "Member must have length between 1 and 500");
            }
        }
    }
    c.finish()
}

fn check_api_schema(schema: &Map<String, Value>) -> Result<(), AgentError> {
    if schema.contains_key("s3") {
        return Err(unsupported("apiSchema.s3", "there is no S3 here; send the OpenAPI document in apiSchema.payload"));
    }
    let Some(Value::String(payload)) = schema.get("payload") else {
        return Err(invalid("apiSchema", "Exactly one of s3 or payload must be set"));
    };
    let doc: Value = serde_json::from_str(payload).map_err(|e| {
        AgentError::validation(format!(
            "apiSchema.payload must be an OpenAPI 3 document in JSON (YAML is not supported by spillway): {e}"
        ))
    })?;
    let operations = crate::tools::api_operations(&doc);
    if operations.is_empty() {
        return Err(invalid("apiSchema.payload", "The OpenAPI document defines no operations under paths"));
    }
    Ok(())
}

/// What the view needs of a stored group.
pub struct GroupFacts<'a> {
    pub agent_id: &'a str,
    pub agent_version: &'a str,
    pub id: &'a str,
    pub name: &'a str,
    pub body: &'a Value,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub client_token: Option<&'a str>,
}

impl GroupFacts<'_> {
    pub fn view(&self) -> Value {
        let mut m = self.body.as_object().cloned().unwrap_or_default();
        m.insert("agentId".into(), json!(self.agent_id));
        m.insert("agentVersion".into(), json!(self.agent_version));
        m.insert("actionGroupId".into(), json!(self.id));
        m.insert("actionGroupName".into(), json!(self.name));
        m.insert("createdAt".into(), json!(iso(self.created_at)));
        m.insert("updatedAt".into(), json!(iso(self.updated_at)));
        put(&mut m, "clientToken", self.client_token);
        Value::Object(m)
    }

    pub fn summary(&self) -> Value {
        let mut m = Map::new();
        m.insert("actionGroupId".into(), json!(self.id));
        m.insert("actionGroupName".into(), json!(self.name));
        m.insert("actionGroupState".into(), self.body.get("actionGroupState").cloned().unwrap_or(json!("ENABLED")));
        put(&mut m, "description", self.body.get("description"));
        m.insert("updatedAt".into(), json!(iso(self.updated_at)));
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(extra: Value) -> Result<(String, Option<String>, Value), AgentError> {
        let mut base = json!({"actionGroupName": "weather",
            "actionGroupExecutor": {"customControl": "RETURN_CONTROL"},
            "functionSchema": {"functions": [{"name": "get_forecast", "description": "Forecast for a city",
                "parameters": {"city": {"type": "string", "required": true}}}]}});
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                if v.is_null() {
                    b.remove(k);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        serde_json::from_value::<ActionGroupRequest>(base).unwrap().into_body(false)
    }

    #[test]
    fn function_schema_with_return_control_is_kept() {
        let (name, _, body) = request(json!({})).unwrap();
        assert_eq!(name, "weather");
        assert_eq!(body["actionGroupState"], "ENABLED");
        assert_eq!(body["functionSchema"]["functions"][0]["name"], "get_forecast");
    }

    #[test]
    fn lambda_is_refused_by_name() {
        let lambda = json!({"actionGroupExecutor": {"lambda": "arn:aws:lambda:us-east-1:123456789012:function:f"}});
        let e = request(lambda).unwrap_err();
        assert!(
            e.message.contains("actionGroupExecutor.lambda") && e.message.contains("RETURN_CONTROL"),
            "{}",
            e.message
        );
        assert!(request(json!({"actionGroupExecutor": null})).is_err());
    }

    #[test]
    fn schemas_are_checked() {
        let bad_type = json!({"functionSchema": {"functions": [{"name": "f", "parameters": {"x": {"type": "date"}}}]}});
        assert!(request(bad_type).unwrap_err().message.contains("parameters.x.type"));
        assert!(request(json!({"functionSchema": null})).is_err());
        let both = json!({"apiSchema": {"payload": "{}"}});
        assert!(request(both).is_err());
        let yaml = json!({"functionSchema": null, "apiSchema": {"payload": "openapi: 3.0.0"}});
        assert!(request(yaml).unwrap_err().message.contains("YAML"));
        let s3 = json!({"functionSchema": null, "apiSchema": {"s3": {"s3BucketName": "b"}}});
        assert!(request(s3).unwrap_err().message.contains("apiSchema.s3"));
        let api = json!({"functionSchema": null, "apiSchema": {"payload": serde_json::to_string(&json!({
            "openapi": "3.0.0", "paths": {"/forecast/{city}": {"get": {"operationId": "getForecast",
                "parameters": [{"name": "city", "in": "path", "required": true, "schema": {"type": "string"}}]}}}})).unwrap()}});
        assert!(request(api).is_ok());
        let confirm = json!({"functionSchema": {"functions": [{"name": "f", "requireConfirmation": "ENABLED"}]}});
        assert!(request(confirm).unwrap_err().message.contains("requireConfirmation"));
        assert!(request(json!({"parentActionGroupSignature": "AMAZON.UserInput"})).is_err());
    }
}
