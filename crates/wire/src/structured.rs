//! Structured output (`outputConfig.textFormat`): the JSON schema an answer must follow,
//! checked as Bedrock checks it before any model runs. The schema travels as a JSON
//! *string*; it must parse, describe an object at its root, and close every object
//! (`additionalProperties: false`), since constrained decoding can only guarantee a
//! closed shape. References must stay inside the schema (`#/…`).

use serde_json::Value;

use crate::converse::ConverseRequest;
use crate::error::BedrockError;
use crate::options::{OutputFormat, OutputFormatStructure};

const AT: &str = "outputConfig.textFormat.structure.jsonSchema.schema";

/// The schema a request asks its answer to follow, parsed and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonSchemaFormat {
    pub schema: Value,
    pub name: Option<String>,
    pub description: Option<String>,
}

/// The request's structured-output format, if it sets one.
pub fn format_of(req: &ConverseRequest) -> Result<Option<JsonSchemaFormat>, BedrockError> {
    match req.output_config.as_ref().and_then(|o| o.text_format.as_ref()) {
        None => Ok(None),
        Some(f) => check(f).map(Some),
    }
}

pub fn check(format: &OutputFormat) -> Result<JsonSchemaFormat, BedrockError> {
    let def = match &format.structure {
        OutputFormatStructure::JsonSchema(d) => d,
        OutputFormatStructure::Unknown(m) => {
            return Err(crate::surface::not_supported(
                &format!("The member {m}"),
                &format!("outputConfig.textFormat.structure.{m}"),
            ))
        }
    };
    let schema: Value =
        serde_json::from_str(&def.schema).map_err(|e| invalid(&format!("the schema is not valid JSON ({e})"), ""))?;
    if !schema.is_object() {
        return Err(invalid("the schema must be a JSON object", ""));
    }
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err(invalid("the root schema must have \"type\": \"object\"", "/type"));
    }
    walk(&schema, "")?;
    Ok(JsonSchemaFormat { schema, name: def.name.clone(), description: def.description.clone() })
}

fn invalid(problem: &str, pointer: &str) -> BedrockError {
    let at = if pointer.is_empty() { String::new() } else { format!(" at #{pointer}") };
    BedrockError::validation(format!("The JSON schema in {AT} is invalid{at}: {problem}."))
}

/// Every subschema: objects closed, references internal.
fn walk(v: &Value, pointer: &str) -> Result<(), BedrockError> {
    match v {
        Value::Object(map) => {
            let is_object_type = match map.get("type") {
                Some(Value::String(t)) => t == "object",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
                _ => map.contains_key("properties"),
            };
            if is_object_type && map.get("additionalProperties") != Some(&Value::Bool(false)) {
                return Err(invalid("every object must set \"additionalProperties\": false", pointer));
            }
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                if !r.starts_with('#') {
                    return Err(invalid(
                        &format!("the reference {r} is outside the schema"),
                        &format!("{pointer}/$ref"),
                    ));
                }
            }
            for (k, sub) in map {
                // `properties` and `$defs` hold schemas by name; `enum`/`const` hold values.
                if k == "enum" || k == "const" || k == "default" || k == "examples" {
                    continue;
                }
                walk(sub, &format!("{pointer}/{}", escape(k)))?;
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, sub) in items.iter().enumerate() {
                walk(sub, &format!("{pointer}/{i}"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// JSON Pointer escaping of one key.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::json;

    fn request(schema: &str) -> ConverseRequest {
        let body = serde_json::json!({
            "messages": [{"role": "user", "content": [{"text": "x"}]}],
            "outputConfig": {"textFormat": {"type": "json_schema",
                "structure": {"jsonSchema": {"schema": schema, "name": "person"}}}}
        });
        json(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn a_closed_object_schema_passes() {
        let s = r#"{"type":"object","properties":{"name":{"type":"string"},"tags":{"type":"array","items":{"type":"object","properties":{"t":{"type":"string"}},"additionalProperties":false}}},"required":["name"],"additionalProperties":false}"#;
        let f = format_of(&request(s)).unwrap().unwrap();
        assert_eq!(f.name.as_deref(), Some("person"));
        assert_eq!(f.schema["properties"]["name"]["type"], "string");
    }

    #[test]
    fn invalid_schemas_are_refused_with_where() {
        for (schema, says) in [
            ("{not json", "not valid JSON"),
            ("[1]", "must be a JSON object"),
            (r#"{"type":"string"}"#, "at #/type"),
            (r#"{"type":"object","properties":{}}"#, "additionalProperties"),
            (
                r#"{"type":"object","additionalProperties":false,"properties":{"a":{"type":"object","properties":{}}}}"#,
                "at #/properties/a",
            ),
            (r#"{"type":"object","additionalProperties":false,"properties":{"a":{"$ref":"http://x/y"}}}"#, "outside"),
        ] {
            let e = format_of(&request(schema)).unwrap_err();
            assert!(e.message.contains(says), "{schema}: {}", e.message);
            assert!(e.message.contains(AT), "{}", e.message);
        }
    }
}
