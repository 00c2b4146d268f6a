//! What the fuzz targets of spillway-wire share: the runner (a proptest `TestRunner` that
//! counts its cases and keeps its regressions in `tests/proptest-regressions/`), text and
//! JSON generators biased toward the inputs that break parsers, structural mutation of JSON
//! bodies, and the property every refusal must have.
//!
//! The case count is 128, or `PROPTEST_CASES` when set (scripts/fuzz.sh sets 100000).
#![allow(dead_code)] // each test binary uses a different subset
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod shapes;

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use serde_json::{Map, Value};
use spillway_wire::{BedrockError, ErrorCode};

/// Runs `test` on `strategy`'s cases and prints how many ran (scripts/fuzz.sh sums these).
/// A failing case is shrunk, saved to `tests/proptest-regressions/{name}.txt` (replayed
/// first on every later run) and reported with the minimal input.
pub fn fuzz<S: Strategy>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let path: &'static str = Box::leak(format!("tests/proptest-regressions/{name}.txt").into_boxed_str());
    let mut config =
        Config { failure_persistence: Some(Box::new(FileFailurePersistence::Direct(path))), ..Config::default() };
    // The normal test run keeps to a modest count (a few seconds a target in a debug build);
    // scripts/fuzz.sh sets PROPTEST_CASES.
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 128;
    }
    let ran = AtomicUsize::new(0);
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |value| {
        ran.fetch_add(1, Ordering::Relaxed);
        test(value)
    });
    if let Err(e) = result {
        panic!("fuzz {name}: {e}");
    }
    println!("fuzz {name}: {} cases passed", ran.load(Ordering::Relaxed));
}

/// The property of every refusal of a request body: a ValidationException (HTTP 400) with
/// a message saying something, never an internal error.
pub fn check_refusal(e: &BedrockError) -> Result<(), TestCaseError> {
    prop_assert_eq!(e.code, ErrorCode::Validation, "refused with {}", e);
    prop_assert!(!e.message.trim().is_empty(), "empty message");
    // The body the client gets must be valid JSON carrying the message.
    let body: Value = serde_json::from_slice(&e.body()).map_err(|err| TestCaseError::fail(err.to_string()))?;
    prop_assert_eq!(body["message"].as_str(), Some(e.message.as_str()));
    Ok(())
}

/// Pieces of text that parsers split on or trip over: template braces, chat-template
/// markers, multi-byte characters next to ASCII delimiters, escapes, huge numbers.
#[rustfmt::skip]
const AWKWARD: &[&str] = &[
    "{{", "}}", "{", "}", "{{{", "}}}", "\n\nHuman:", "\n\nAssistant:", "<|begin_of_text|>",
    "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "user", "assistant", "system",
    ":", "/", "%3A", "\\", "\"", "\u{0}", "\u{7f}", "é", "日本", "🦀", "\u{200b}", "\u{feff}",
    "\u{10ffff}", " at line ", "arn:", "-v1:0", "_", "-", " ", "\n", "\t",
];

/// Short text mixing [`AWKWARD`] pieces with arbitrary printable unicode.
pub fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => "\\PC{0,12}",
        2 => proptest::sample::select(AWKWARD).prop_map(str::to_owned),
        1 => "[a-z0-9_-]{1,10}",
    ];
    vec(piece, 0..6).prop_map(|parts| parts.concat())
}

/// Numbers at the edges of what the parsers accept (i64/u64/f64 limits, 0, ranges of
/// temperature and token counts).
pub fn edge_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        proptest::sample::select(vec![
            Value::from(0),
            Value::from(-1),
            Value::from(1),
            Value::from(i64::MAX),
            Value::from(i64::MIN),
            Value::from(u64::MAX),
            Value::from(1e308),
            Value::from(-1e308),
            Value::from(0.5),
            Value::from(1.000_000_1),
            Value::from(-0.0),
            Value::from(5e-324),
        ]),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
    ]
}

/// Member names of every body shape, so that random objects hit the parsers' fields.
#[rustfmt::skip]
const KEYS: &[&str] = &[
    "messages", "role", "content", "text", "image", "format", "source", "bytes", "document", "name",
    "toolUse", "toolUseId", "input", "toolResult", "status", "json", "system", "inferenceConfig",
    "maxTokens", "temperature", "topP", "stopSequences", "toolConfig", "tools", "toolSpec",
    "inputSchema", "toolChoice", "auto", "any", "tool", "promptVariables", "requestMetadata",
    "additionalModelRequestFields", "cachePoint", "type", "anthropic_version", "max_tokens",
    "prompt", "max_tokens_to_sample", "top_k", "top_p", "stop_sequences", "tool_choice",
    "input_schema", "id", "tool_use_id", "is_error", "media_type", "data", "inputText",
    "textGenerationConfig", "maxTokenCount", "dimensions", "normalize", "embeddingTypes", "texts",
    "input_type", "truncate", "embedding_types", "max_gen_len", "variants", "templateType",
    "templateConfiguration", "inputVariables", "chat", "inferenceConfiguration", "defaultVariant",
];

pub fn key() -> impl Strategy<Value = String> {
    prop_oneof![3 => proptest::sample::select(KEYS).prop_map(str::to_owned), 1 => text()]
}

/// Any JSON value, nested up to `depth` levels.
pub fn json(depth: u32) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        edge_number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(depth, 48, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(Value::Array),
            vec((key(), inner), 0..5).prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
    .boxed()
}

/// One structural change to a JSON document, applied at a node chosen by index.
#[derive(Debug, Clone)]
pub enum Mutation {
    Replace(Value),
    Remove,
    Insert(String, Value),
    WrapInArray,
    Stringify,
}

pub fn mutations() -> impl Strategy<Value = Vec<(usize, Mutation)>> {
    let mutation = prop_oneof![
        json(2).prop_map(Mutation::Replace),
        edge_number().prop_map(Mutation::Replace),
        Just(Mutation::Remove),
        (key(), json(1)).prop_map(|(k, v)| Mutation::Insert(k, v)),
        Just(Mutation::WrapInArray),
        Just(Mutation::Stringify),
    ];
    vec((any::<usize>(), mutation), 0..4)
}

/// Applies each mutation at node `index % node count` (pre-order).
pub fn mutate(mut value: Value, mutations: &[(usize, Mutation)]) -> Value {
    for (index, m) in mutations {
        let mut n = index % count(&value);
        mutate_at(&mut value, &mut n, m);
    }
    value
}

fn count(v: &Value) -> usize {
    1 + match v {
        Value::Array(items) => items.iter().map(count).sum(),
        Value::Object(map) => map.values().map(count).sum(),
        _ => 0,
    }
}

fn mutate_at(v: &mut Value, n: &mut usize, m: &Mutation) -> bool {
    if *n == 0 {
        match m {
            Mutation::Replace(new) => *v = new.clone(),
            Mutation::Remove => *v = Value::Null,
            Mutation::Insert(k, new) => match v {
                Value::Object(map) => drop(map.insert(k.clone(), new.clone())),
                Value::Array(items) => items.push(new.clone()),
                other => *other = Value::Object(Map::from_iter([(k.clone(), new.clone())])),
            },
            Mutation::WrapInArray => *v = Value::Array(vec![v.take()]),
            Mutation::Stringify => *v = Value::String(v.to_string()),
        }
        return true;
    }
    *n -= 1;
    let removing = matches!(m, Mutation::Remove);
    match v {
        Value::Array(items) => {
            for i in 0..items.len() {
                if *n == 0 && removing {
                    items.remove(i);
                    return true;
                }
                if mutate_at(&mut items[i], n, m) {
                    return true;
                }
            }
        }
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                if *n == 0 && removing {
                    map.remove(&k);
                    return true;
                }
                if map.get_mut(&k).is_some_and(|child| mutate_at(child, n, m)) {
                    return true;
                }
            }
        }
        _ => {}
    }
    false
}

/// Byte-level damage to a serialized body: truncation and a few flipped bytes.
pub fn damage() -> impl Strategy<Value = (Option<usize>, Vec<(usize, u8)>)> {
    (proptest::option::weighted(0.3, any::<usize>()), vec((any::<usize>(), any::<u8>()), 0..3))
}

pub fn apply_damage(mut bytes: Vec<u8>, (cut, flips): &(Option<usize>, Vec<(usize, u8)>)) -> Vec<u8> {
    if let Some(cut) = cut {
        bytes.truncate(cut % (bytes.len() + 1));
    }
    for (at, byte) in flips {
        if !bytes.is_empty() {
            let i = at % bytes.len();
            bytes[i] = *byte;
        }
    }
    bytes
}
