//! What an invocation-log record takes from the request body.

use std::collections::BTreeMap;

use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use spillway_invocation_log::JsonBody;

/// The request body (`None` if it is not JSON) and the two members the record reads.
/// The members are picked out in one pass that skips everything else, and the body is
/// kept as text: parsing it into a `Value` cost an allocation per string and map node of
/// every logged request, and serialising it again as many (bench/README.md, issue 13).
#[derive(Default)]
pub(super) struct Input {
    pub(super) body: Option<JsonBody>,
    pub(super) request_metadata: Option<Value>,
    pub(super) performance_config: Option<Value>,
}

impl Input {
    pub(super) fn read(raw: &[u8]) -> Self {
        // Not UTF-8: not JSON either (serde_json would refuse it as a whole).
        let Ok(text) = std::str::from_utf8(raw) else {
            return Self::default();
        };
        // From the text: its UTF-8 was checked once, not again for every string read.
        let mut de = serde_json::Deserializer::from_str(text);
        let members = de.deserialize_map(MembersVisitor).and_then(|m| de.end().map(|()| m));
        match (members, JsonBody::from_parsed(raw)) {
            (Ok(mut input), Some(body)) => {
                input.body = Some(body);
                input
            }
            // Not a JSON object (another JSON value, or no JSON at all): parsed as a whole.
            _ => match serde_json::from_slice::<Value>(raw) {
                Ok(value) => Self {
                    request_metadata: value.get("requestMetadata").cloned(),
                    performance_config: value.get("performanceConfig").cloned(),
                    body: Some(JsonBody::from(&value)),
                },
                Err(_) => Self::default(),
            },
        }
    }

    /// `requestMetadata`'s string members (the record's map), if it is an object.
    pub(super) fn string_members(metadata: &Value) -> Option<BTreeMap<String, String>> {
        let meta = metadata.as_object()?;
        Some(meta.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned()))).collect())
    }
}

/// The body's top-level members, by name; `Other` ones are skipped unparsed.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum Member {
    RequestMetadata,
    PerformanceConfig,
    #[serde(other)]
    Other,
}

struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Input;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Input, A::Error> {
        let mut input = Input::default();
        // A repeated member counts once, the last one, as in a `Value`.
        while let Some(member) = map.next_key::<Member>()? {
            match member {
                Member::RequestMetadata => input.request_metadata = Some(map.next_value()?),
                Member::PerformanceConfig => input.performance_config = Some(map.next_value()?),
                Member::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(input)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    type Logged = (Value, Option<Value>, Option<Value>);

    /// What the record held when the body was parsed into a `Value`.
    fn as_before(raw: &[u8]) -> Option<Logged> {
        let value: Value = serde_json::from_slice(raw).ok()?;
        Some((value.clone(), value.get("requestMetadata").cloned(), value.get("performanceConfig").cloned()))
    }

    fn now(raw: &[u8]) -> Option<Logged> {
        let input = Input::read(raw);
        let body = input.body?;
        assert!(!body.as_str().contains(['\n', '\r']), "{body:?}");
        Some((body.to_value().ok()?, input.request_metadata, input.performance_config))
    }

    #[test]
    fn same_content_as_a_parsed_value() {
        let bodies: [&[u8]; 9] = [
            br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":256}}"#,
            b"{\n  \"messages\": [],\n  \"requestMetadata\": {\"team\": \"ml\", \"n\": 1},\n  \"performanceConfig\": {\"latency\": \"optimized\"}\n}\n",
            br#"{"request\u004Detadata":{"a":"b"},"requestMetadata":{"c":"d"}}"#,
            br#"{"text":"quote \" and \\ and \u00e9 and {\"requestMetadata\":1}"}"#,
            br#"[{"requestMetadata":{"a":"b"}}]"#,
            br#""a string""#,
            b"not json",
            br#"{"messages":[] "#,
            b"",
        ];
        for raw in bodies {
            assert_eq!(now(raw), as_before(raw), "{}", String::from_utf8_lossy(raw));
        }
        let pretty = Input::read(b"{ \"a\" : [ 1 , 2 ] }").body.unwrap();
        assert_eq!(pretty.as_str(), r#"{"a":[1,2]}"#);
        // Member order and spelling as received (a `Value` sorted and re-escaped them).
        let kept = Input::read(br#"{"z":1,"a":"\u00e9"}"#).body.unwrap();
        assert_eq!(kept.as_str(), r#"{"z":1,"a":"\u00e9"}"#);
        assert_eq!(kept.to_value().unwrap(), json!({"a": "\u{e9}", "z": 1}));
    }
}
