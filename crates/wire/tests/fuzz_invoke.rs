//! Fuzz target: the InvokeModel / InvokeModelWithResponseStream body parsers of every
//! provider family (`invoke::parse`): Anthropic Messages and Text Completions, Titan text
//! and embeddings, Cohere Embed, Meta Llama, Amazon Nova, Mistral (text and chat),
//! DeepSeek, OpenAI gpt-oss (chat completions) and Cohere Command R.
//!
//! Properties: no input panics; a refusal is a ValidationException with a message; a body
//! built from the family's schema is accepted as the right kind of request (chat with at
//! least one message, or embeddings with at least one text); bodies of one family sent to
//! another's model are refused or read, never crash.

mod support;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use proptest::test_runner::TestCaseError;
use serde_json::Value;
use spillway_wire::converse::ContentBlock;
use spillway_wire::invoke::{self, BodyFormat, Dialect, InvokeRequest};
use spillway_wire::validate;
use support::{apply_damage, check_refusal, damage, fuzz, mutate, mutations, shapes};

/// The families: the format their model declares and a generator of their valid bodies.
fn family(i: usize) -> (BodyFormat, BoxedStrategy<Value>) {
    match i % 11 {
        0 => (BodyFormat::Anthropic, shapes::anthropic_messages().boxed()),
        1 => (BodyFormat::Anthropic, shapes::anthropic_completion().boxed()),
        2 => (BodyFormat::TitanText, shapes::titan_text().boxed()),
        3 => (BodyFormat::TitanEmbed, shapes::titan_embed().boxed()),
        4 => (BodyFormat::CohereEmbed, shapes::cohere_embed().boxed()),
        5 => (BodyFormat::Nova, shapes::nova().boxed()),
        6 => (BodyFormat::Mistral, shapes::mistral().boxed()),
        7 => (BodyFormat::Deepseek, shapes::deepseek().boxed()),
        8 => (BodyFormat::OpenaiChat, shapes::openai_chat().boxed()),
        9 => (BodyFormat::CohereCommand, shapes::cohere_command().boxed()),
        _ => (BodyFormat::Llama, shapes::llama().boxed()),
    }
}

/// A family and one of its valid bodies.
fn any_family() -> impl Strategy<Value = (BodyFormat, Value)> {
    (0..11usize).prop_flat_map(|i| {
        let (format, bodies) = family(i);
        (Just(format), bodies)
    })
}

const FORMATS: [BodyFormat; 10] = [
    BodyFormat::Anthropic,
    BodyFormat::TitanText,
    BodyFormat::TitanEmbed,
    BodyFormat::CohereEmbed,
    BodyFormat::Llama,
    BodyFormat::Nova,
    BodyFormat::Mistral,
    BodyFormat::Deepseek,
    BodyFormat::OpenaiChat,
    BodyFormat::CohereCommand,
];

/// Parses `body` for a model of `format`; checks the properties of the outcome.
fn invoke(format: BodyFormat, body: &[u8]) -> Result<Option<InvokeRequest>, TestCaseError> {
    let request = match invoke::parse(format, body) {
        Ok(request) => request,
        Err(e) => return check_refusal(&e).map(|()| None),
    };
    match &request {
        InvokeRequest::Chat { request, dialect } => {
            prop_assert!(!format.is_embedding(), "{format:?} read as chat");
            prop_assert!(!request.messages.is_empty(), "no messages");
            // Turns parsed out of a flat prompt are trimmed and never empty.
            if matches!(dialect, Dialect::AnthropicCompletion) && request.messages.len() > 1 {
                let texts = request.messages.iter().flat_map(|m| &m.content);
                prop_assert!(texts.into_iter().all(|b| matches!(b, ContentBlock::Text(t) if !t.is_empty())));
            }
            // The handler checks the translated conversation as it checks a Converse one.
            if let Err(e) = validate::converse(request) {
                return check_refusal(&e).map(|()| None);
            }
        }
        InvokeRequest::Embed(e) => {
            prop_assert!(format.is_embedding(), "{format:?} read as embeddings");
            prop_assert!(!e.texts.is_empty(), "no texts");
        }
    }
    Ok(Some(request))
}

fn to_bytes(v: &Value) -> Result<Vec<u8>, TestCaseError> {
    serde_json::to_vec(v).map_err(|e| TestCaseError::fail(e.to_string()))
}

#[test]
fn fuzz_invoke_bytes() {
    let format = prop::sample::select(FORMATS.to_vec());
    fuzz("invoke_bytes", (format, vec(any::<u8>(), 0..512)), |(format, bytes)| invoke(format, &bytes).map(drop));
}

#[test]
fn fuzz_invoke_valid_shapes_are_accepted() {
    fuzz("invoke_valid", any_family(), |(format, body)| {
        prop_assert!(invoke(format, &to_bytes(&body)?)?.is_some(), "{format:?} refused a valid body: {body}");
        Ok(())
    });
}

#[test]
fn fuzz_invoke_mutated_shapes() {
    fuzz("invoke_mutated", (any_family(), mutations(), damage()), |((format, body), m, d)| {
        invoke(format, &apply_damage(to_bytes(&mutate(body, &m))?, &d)).map(drop)
    });
}

/// A body written for one family, sent to a model of another.
#[test]
fn fuzz_invoke_wrong_family() {
    let format = prop::sample::select(FORMATS.to_vec());
    fuzz("invoke_wrong_family", (format, any_family()), |(format, (_, body))| {
        invoke(format, &to_bytes(&body)?).map(drop)
    });
}

/// Integers past i64 in an integer member: refused with the bound, not "expected type:
/// Integer, found: Integer" (found by `fuzz_invoke_mutated_shapes`).
#[test]
fn huge_integers_are_refused_as_out_of_range() {
    for (format, body) in [
        (
            BodyFormat::Anthropic,
            r#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":18446744073709551615,
                "messages":[{"role":"user","content":"x"}]}"#,
        ),
        (BodyFormat::Llama, r#"{"prompt":"x","max_gen_len":9223372036854775808}"#),
        (BodyFormat::TitanEmbed, r#"{"inputText":"x","dimensions":18446744073709551615}"#),
    ] {
        let e = invoke::parse(format, body.as_bytes()).unwrap_err();
        assert!(!e.message.contains("found: Integer"), "{format:?}: {}", e.message);
        assert!(e.message.contains("is not less or equal to 9223372036854775807"), "{format:?}: {}", e.message);
    }
}
