//! Fuzz target: prompt templates (`prompt::render`: `{{variable}}` discovery and filling)
//! and the prompt constraint checks (`prompt::check`).
//!
//! Properties: no template panics; the variables found are exactly the `{{name}}`
//! placeholders an independent scanner finds; rendering equals an independent reference
//! renderer, leaves no placeholder behind when the values hold none, and never expands a
//! value again; a missing variable is refused by name; any prompt body is either clean or
//! refused with a fieldList naming each violation.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{json, Value};
use spillway_wire::converse::{ContentBlock, ConverseRequest, PromptVariableValue};
use spillway_wire::prompt::check::{is_name, Violations, NAME_PATTERN};
use spillway_wire::prompt::render::{apply, variables};
use spillway_wire::prompt::{PromptBody, PromptVariant};
use support::{check_refusal, fuzz, mutate, mutations, text};

/// The valid placeholder starting at byte `i` of `s`, if any: `{{`, a name, `}}`.
fn placeholder_at(s: &str, i: usize) -> Option<&str> {
    let rest = s.get(i..)?.strip_prefix("{{")?;
    let len = rest.bytes().take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-')).count();
    let name = &rest[..len];
    (rest[len..].starts_with("}}") && is_name(name)).then_some(name)
}

fn scan(s: &str) -> Vec<&str> {
    (0..s.len()).filter_map(|i| placeholder_at(s, i)).collect()
}

/// Left to right: a placeholder is replaced by its value, anything else is copied.
fn reference_render(s: &str, values: &BTreeMap<String, String>) -> String {
    let (mut out, mut i) = (String::new(), 0);
    while let Some(c) = s[i..].chars().next() {
        match placeholder_at(s, i) {
            Some(name) => {
                out.push_str(values.get(name).map_or("", String::as_str));
                i += name.len() + 4;
            }
            None => {
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

/// Braces that are not placeholders, or only partly.
const NEAR_MISSES: &[&str] = &["{{", "}}", "{", "}", "{{ x }}", "{{a b}}", "{{-a}}", "{{a--b}}", "{{}}", "{{{{x}}}}"];

/// Template text: placeholders (valid and not), stray and nested braces, unicode.
fn template() -> impl Strategy<Value = String> {
    let name = "[a-zA-Z0-9]([_-]?[a-zA-Z0-9]){0,4}[_-]?";
    let piece = prop_oneof![
        3 => name.prop_map(|n| format!("{{{{{n}}}}}")),
        2 => prop::sample::select(NEAR_MISSES).prop_map(str::to_owned),
        2 => text(),
    ];
    vec(piece, 0..12).prop_map(|p| p.concat())
}

fn text_variant(template: &str) -> Result<PromptVariant, TestCaseError> {
    let v = json!({"name": "v", "templateType": "TEXT", "templateConfiguration": {"text": {"text": template}}});
    serde_json::from_value(v).map_err(|e| TestCaseError::fail(e.to_string()))
}

fn request_with(values: &BTreeMap<String, String>) -> ConverseRequest {
    let vars = values.iter().map(|(k, v)| (k.clone(), PromptVariableValue::Text(v.clone()))).collect();
    ConverseRequest { prompt_variables: Some(vars), ..ConverseRequest::default() }
}

/// The text of the one user message a TEXT template renders to.
fn rendered(variant: &PromptVariant, values: &BTreeMap<String, String>) -> Result<String, TestCaseError> {
    let out = apply(variant, request_with(values)).map_err(|e| TestCaseError::fail(format!("refused: {e}")))?;
    match out.messages.as_slice() {
        [m] => match m.content.as_slice() {
            [ContentBlock::Text(t)] => Ok(t.clone()),
            other => Err(TestCaseError::fail(format!("content {other:?}"))),
        },
        other => Err(TestCaseError::fail(format!("messages {other:?}"))),
    }
}

#[test]
fn fuzz_prompt_variables_match_a_scanner() {
    fuzz("prompt_variables", template(), |t| {
        let variant = text_variant(&t)?;
        let found: BTreeSet<&str> = variables(&variant);
        let expected: BTreeSet<&str> = scan(&t).into_iter().collect();
        prop_assert_eq!(found, expected);
        Ok(())
    });
}

#[test]
fn fuzz_prompt_render_matches_the_reference() {
    fuzz("prompt_render", (template(), vec(text(), 0..8)), |(t, pool)| {
        let variant = text_variant(&t)?;
        // Values drawn from awkward text, braces and placeholders included.
        let values: BTreeMap<String, String> = variables(&variant)
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n.to_owned(), pool.get(i % pool.len().max(1)).cloned().unwrap_or_default()))
            .collect();
        prop_assert_eq!(rendered(&variant, &values)?, reference_render(&t, &values));
        Ok(())
    });
}

#[test]
fn fuzz_prompt_render_leaves_no_placeholder() {
    fuzz("prompt_no_placeholder", template(), |t| {
        let variant = text_variant(&t)?;
        let values: BTreeMap<String, String> =
            variables(&variant).into_iter().map(|n| (n.to_owned(), "\u{1}".to_owned())).collect();
        let out = rendered(&variant, &values)?;
        prop_assert!(scan(&out).is_empty(), "{out:?} still has {:?}", scan(&out));
        prop_assert_eq!(out.matches('\u{1}').count(), scan(&t).len() + t.matches('\u{1}').count());
        Ok(())
    });
}

#[test]
fn fuzz_prompt_missing_variable_is_named() {
    fuzz("prompt_missing", (template(), any::<usize>()), |(t, pick)| {
        let variant = text_variant(&t)?;
        let names: Vec<&str> = variables(&variant).into_iter().collect();
        let Some(&missing) = names.get(pick % names.len().max(1)) else { return Ok(()) };
        let values = names.iter().filter(|n| **n != missing).map(|n| (n.to_string(), "x".to_owned())).collect();
        let e = apply(&variant, request_with(&values)).err();
        let e = e.ok_or_else(|| TestCaseError::fail("accepted with a variable missing"))?;
        check_refusal(&e)?;
        prop_assert!(e.message.contains(missing), "{}", e.message);
        Ok(())
    });
}

fn prompt_body() -> impl Strategy<Value = Value> {
    let vars = vec("[a-z]{1,8}".prop_map(|n| json!({"name": n})), 0..3);
    let chat = (template(), template(), vars.clone()).prop_map(|(s, m, v)| {
        let messages = json!([{"role": "user", "content": [{"text": m}]}]);
        json!({"chat": {"system": [{"text": s}], "messages": messages, "inputVariables": v}})
    });
    let text = (template(), vars).prop_map(|(t, v)| json!({"text": {"text": t, "inputVariables": v}}));
    let config = prop_oneof![chat.prop_map(|c| ("CHAT", c)), text.prop_map(|c| ("TEXT", c))];
    (config, "[a-z0-9-]{1,12}", prop::option::of(0.0..=1.0f64)).prop_map(|((kind, config), name, temperature)| {
        json!({"defaultVariant": name, "variants": [{
            "name": name, "templateType": kind, "templateConfiguration": config,
            "inferenceConfiguration": {"text": {"temperature": temperature, "maxTokens": 100}},
        }]})
    })
}

#[test]
fn fuzz_prompt_checks() {
    let client_token = prop::option::of(prop_oneof!["[a-zA-Z0-9-]{0,300}", text()]);
    let description = prop::option::of(text());
    fuzz("prompt_checks", (prompt_body(), mutations(), text(), description, client_token), |(b, m, name, d, token)| {
        let Ok(body) = serde_json::from_value::<PromptBody>(mutate(b, &m)) else { return Ok(()) };
        let mut v = Violations::default();
        v.prompt(&name, d.as_deref(), &body);
        v.client_token(token.as_deref());
        if let Err(e) = v.into_result() {
            check_refusal(&e)?;
            let fields = e.extra.get("fieldList").and_then(Value::as_array).cloned().unwrap_or_default();
            prop_assert!(!fields.is_empty(), "no fieldList: {}", e.message);
            for f in fields {
                prop_assert!(f["name"].as_str().is_some_and(|n| !n.is_empty()), "{f}");
                prop_assert!(f["message"].as_str().is_some_and(|n| !n.is_empty()), "{f}");
            }
        }
        Ok(())
    });
}

#[test]
fn fuzz_prompt_names_follow_the_pattern() {
    fuzz("prompt_names", (NAME_PATTERN, text()), |(good, any)| {
        prop_assert!(is_name(&good), "{good:?}");
        if is_name(&any) {
            prop_assert!(any.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-')));
            let sep = |b: u8| matches!(b, b'_' | b'-');
            prop_assert!(!any.starts_with(['_', '-']) && !any.as_bytes().windows(2).any(|w| sep(w[0]) && sep(w[1])));
        }
        Ok(())
    });
}
