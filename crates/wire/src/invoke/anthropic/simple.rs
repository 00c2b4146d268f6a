//! The Messages body most calls send (text turns, optional system text and sampling
//! members, nothing else) read straight into a `ConverseRequest` by a typed parse.
//!
//! Why: the full parser ([`super::parse`]) reads the body into a `Value` first, an
//! allocation for every key, string and object, and then walks it; together about 20,000
//! instructions of an InvokeModel call (issue 13). This path takes a body only when it can
//! take all of it: another member, a block of another type, a value out of range, a
//! duplicate key or anything it cannot borrow sends the body to the full parser, which
//! also words every refusal. So it accepts only what the full parser accepts, and builds
//! the same request (compared in the tests below).

use std::fmt;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::converse::{ContentBlock, ConverseRequest, InferenceConfig, Message, Role, SystemContentBlock};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body<'a> {
    #[serde(borrow)]
    anthropic_version: &'a str,
    max_tokens: i64,
    #[serde(borrow)]
    messages: Vec<Turn<'a>>,
    #[serde(default)]
    system: Option<Texts>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    top_k: Option<i64>,
    #[serde(default)]
    stop_sequences: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Turn<'a> {
    #[serde(borrow)]
    role: &'a str,
    content: Texts,
}

/// A string, or an array of `{"type": "text", "text": …}` blocks; `Other` when a block is
/// of another type (the full parser decides what it is).
enum Texts {
    One(String),
    Blocks(Vec<String>),
    Other,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextBlock<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    text: String,
}

impl<'de> Deserialize<'de> for Texts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextsVisitor;
        impl<'de> Visitor<'de> for TextsVisitor {
            type Value = Texts;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of text blocks")
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Texts, E> {
                Ok(Texts::One(s.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Texts, E> {
                Ok(Texts::One(s))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Texts, A::Error> {
                let mut texts = Vec::with_capacity(seq.size_hint().unwrap_or(1));
                let mut all_text = true;
                while let Some(block) = seq.next_element::<TextBlock<'de>>()? {
                    all_text &= block.kind == "text";
                    texts.push(block.text);
                }
                Ok(if all_text { Texts::Blocks(texts) } else { Texts::Other })
            }
        }
        d.deserialize_any(TextsVisitor)
    }
}

/// The request, when the body is one this path takes whole.
pub fn parse(raw: &[u8]) -> Option<ConverseRequest> {
    let body: Body = crate::parse::from_text(raw).ok()?;
    let in_unit = |x: Option<f64>| x.is_none_or(|x| (0.0..=1.0).contains(&x));
    let checked = super::known_version(body.anthropic_version)
        && body.max_tokens >= 1
        && in_unit(body.temperature)
        && in_unit(body.top_p)
        && body.top_k.is_none_or(|k| k >= 0)
        && !body.messages.is_empty();
    if !checked {
        return None;
    }
    let mut messages = Vec::with_capacity(body.messages.len());
    for turn in body.messages {
        let role = match turn.role {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            _ => return None,
        };
        let content = match turn.content {
            Texts::One(text) => vec![ContentBlock::Text(text)],
            Texts::Blocks(texts) => texts.into_iter().map(ContentBlock::Text).collect(),
            Texts::Other => return None,
        };
        messages.push(Message { role, content });
    }
    let system = match body.system {
        // An empty system string is no system prompt (as the full parser reads it).
        None => Vec::new(),
        Some(Texts::One(text)) if text.is_empty() => Vec::new(),
        Some(Texts::One(text)) => vec![SystemContentBlock::Text(text)],
        Some(Texts::Blocks(texts)) => texts.into_iter().map(SystemContentBlock::Text).collect(),
        Some(Texts::Other) => return None,
    };
    let additional_model_request_fields = body.top_k.map(|k| {
        let mut extra = Map::new();
        extra.insert("top_k".into(), Value::from(k));
        Value::Object(extra)
    });
    let inference = InferenceConfig {
        max_tokens: Some(body.max_tokens),
        temperature: body.temperature,
        top_p: body.top_p,
        stop_sequences: body.stop_sequences,
    };
    Some(ConverseRequest {
        messages,
        system,
        inference_config: Some(inference),
        additional_model_request_fields,
        ..ConverseRequest::default()
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::invoke::Dialect;

    /// What the full parser makes of `body`, when it accepts it.
    fn full(body: &Value) -> Option<ConverseRequest> {
        let (request, dialect) = super::super::parse(body).ok()?;
        assert_eq!(dialect, Dialect::AnthropicMessages);
        Some(request)
    }

    #[test]
    fn the_common_body_is_taken_whole() {
        let body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 256,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "What is S3?"}]}]});
        let fast = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(Some(fast), full(&body));
    }

    /// Every combination drawn of members in and out of this path's reach: whatever it
    /// takes, the full parser takes too and builds the same request.
    #[test]
    fn what_it_takes_the_full_parser_takes_the_same() {
        let versions = [json!("bedrock-2023-05-31"), json!("2023-06-01"), json!("2023-05-01"), json!("v1"), json!(1)];
        let max_tokens = [json!(256), json!(1), json!(0), json!(-3), json!(256.0), json!("256"), Value::Null];
        let text = |t: &str| json!({"type": "text", "text": t});
        let systems = [
            None,
            Some(json!("")),
            Some(json!("Be brief")),
            Some(json!([])),
            Some(json!([text("")])),
            Some(json!([text("a"), text("b")])),
            Some(json!([{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}])),
            Some(json!([{"type": "image", "text": "a"}])),
            Some(Value::Null),
            Some(json!(3)),
        ];
        let user = |c: Value| json!({"role": "user", "content": c});
        let messages = [
            json!([user(json!("hi"))]),
            json!([user(json!(""))]),
            json!([user(json!([text("a"), text("b")]))]),
            json!([user(json!("a")), {"role": "assistant", "content": "b"}, user(json!([text("c")]))]),
            json!([]),
            json!([user(json!([{"type": "image", "source": {}}]))]),
            json!([user(json!([text("a"), {"type": "text", "text": "b", "cache_control": {"type": "ephemeral"}}]))]),
            json!([{"role": "system", "content": "x"}]),
            json!([{"role": "user", "content": null}]),
            json!([{"role": "user", "content": "a", "name": "x"}]),
            json!("hi"),
        ];
        let units = [
            None,
            Some(json!(0.5)),
            Some(json!(1)),
            Some(json!(0)),
            Some(json!(1.5)),
            Some(json!(-0.1)),
            Some(Value::Null),
        ];
        let top_ks = [None, Some(json!(5)), Some(json!(0)), Some(json!(-1)), Some(json!(2.5)), Some(Value::Null)];
        let stops = [None, Some(json!(["x", "y"])), Some(json!([])), Some(json!([1])), Some(Value::Null)];
        let extras = [
            None,
            Some(("metadata", json!({"user_id": "u"}))),
            Some(("prompt", json!("\n\nHuman: hi\n\nAssistant:"))),
            Some(("thinking", json!({"type": "disabled"}))),
            Some(("stream", json!(false))),
        ];
        // A fixed pseudo-random walk through the combinations (the whole product is
        // millions of bodies). Each list starts with the values this path takes, drawn
        // two times in three, so that whole bodies it takes come up often.
        let mut seed: u64 = 0x5eed;
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        let mut pick_of = |n: usize, taken: usize| if next(3) > 0 { next(taken) } else { next(n) };
        let (mut taken, mut both) = (0, 0);
        for _ in 0..20_000 {
            let mut body = Map::new();
            body.insert("anthropic_version".into(), versions[pick_of(versions.len(), 2)].clone());
            body.insert("max_tokens".into(), max_tokens[pick_of(max_tokens.len(), 2)].clone());
            body.insert("messages".into(), messages[pick_of(messages.len(), 4)].clone());
            let optional = [
                ("system", systems[pick_of(systems.len(), 6)].clone()),
                ("temperature", units[pick_of(units.len(), 4)].clone()),
                ("top_p", units[pick_of(units.len(), 4)].clone()),
                ("top_k", top_ks[pick_of(top_ks.len(), 3)].clone()),
                ("stop_sequences", stops[pick_of(stops.len(), 3)].clone()),
            ];
            for (key, value) in optional {
                if let Some(v) = value {
                    body.insert(key.into(), v);
                }
            }
            if let Some((key, value)) = extras[pick_of(extras.len(), 1)].clone() {
                body.insert(key.into(), value);
            }
            let body = Value::Object(body);
            let fast = parse(body.to_string().as_bytes());
            let slow = full(&body);
            if let Some(fast) = fast {
                taken += 1;
                assert_eq!(Some(&fast), slow.as_ref(), "{body}");
            }
            both += usize::from(slow.is_some());
        }
        // The walk reaches both outcomes often enough to mean something.
        assert!(taken > 500 && both > taken, "taken {taken}, accepted by the full parser {both}");
    }

    #[test]
    fn a_repeated_member_goes_to_the_full_parser() {
        let raw = br#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"max_tokens":6,"messages":[{"role":"user","content":"hi"}]}"#;
        assert!(parse(raw).is_none());
    }
}
