//! Fuzz target: the modelId / ARN grammar (`arn::Arn::parse`, `prompt::PromptArn::parse`
//! and the builders `arn::foundation_model`, `arn::inference_profile`, `prompt::prompt_arn`).
//!
//! Properties: no string panics a parser; whatever parses writes back to the very same
//! string (the parts are a faithful split, nothing dropped or invented); every ARN the
//! builders make parses back to the parts it was built from; an ARN built from the grammar
//! and then damaged still parses or is refused, never crashes.

mod support;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use spillway_wire::arn::{self, Arn};
use spillway_wire::prompt::{is_prompt_id, prompt_arn, PromptArn};
use support::{fuzz, text};

/// The properties of any string as a modelId.
fn model_id(s: &str) -> Result<(), TestCaseError> {
    if let Some(a) = Arn::parse(s) {
        let back =
            format!("arn:{}:{}:{}:{}:{}/{}", a.partition, a.service, a.region, a.account, a.resource_type, a.resource);
        prop_assert_eq!(&back, s);
        for part in [a.partition, a.service, a.resource_type, a.resource] {
            prop_assert!(!part.is_empty(), "an empty part in {:?}", a);
        }
        for part in [a.partition, a.service, a.region, a.account] {
            prop_assert!(!part.contains(':'), "{part:?} holds a ':'");
        }
        prop_assert!(!a.resource_type.contains('/'));
    }
    if let Some(p) = PromptArn::parse(s) {
        prop_assert!(is_prompt_id(p.id), "{:?}", p);
        prop_assert!(p.version.is_none_or(|v| v <= 99_999), "{:?}", p);
        // Parsing the ARN written from the parts gives the parts (leading zeros of the
        // version are the only thing the writer normalises).
        let again = prompt_arn(p.region, p.account, p.id, p.version);
        prop_assert_eq!(PromptArn::parse(&again), Some(p));
    }
    Ok(())
}

fn partition() -> impl Strategy<Value = String> {
    prop_oneof![prop::sample::select(vec!["aws", "aws-cn", "aws-us-gov"]).prop_map(str::to_owned), "[a-z-]{1,8}"]
}

fn region() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["us-east-1", "eu-west-3", "ap-northeast-1", ""]).prop_map(str::to_owned),
        "[a-z0-9-]{0,16}"
    ]
}

fn account() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[0-9]{12}", "[0-9]{0,14}"]
}

fn resource_type() -> impl Strategy<Value = String> {
    let known = vec![
        "foundation-model",
        "inference-profile",
        "application-inference-profile",
        "provisioned-model",
        "imported-model",
        "prompt",
        "custom-model",
    ];
    prop_oneof![3 => prop::sample::select(known).prop_map(str::to_owned), 1 => "[a-z:-]{1,20}"]
}

/// A resource as the catalog names them: dotted ids, version suffixes with `:`, nested `/`.
fn resource() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{2,10}\\.[a-z0-9.-]{1,30}(-v[0-9]:[0-9]{1,2}(:[0-9]{1,3}k)?)?",
        "[a-z0-9]{12}",
        "[0-9a-zA-Z]{10}(:[0-9]{1,5})?",
        "[^\\x00]{1,30}".prop_filter("non-empty", |s| !s.is_empty()),
    ]
}

/// An ARN built from the grammar, with its parts.
fn grammar_arn() -> impl Strategy<Value = (String, [String; 6])> {
    let service = prop_oneof![Just("bedrock".to_owned()), "[a-z-]{1,12}"];
    (partition(), service, region(), account(), resource_type(), resource()).prop_map(|(p, s, r, a, t, res)| {
        // A ':' in the type makes the first ':' after the account end it: keep types plain.
        let t = t.replace(':', "-");
        (format!("arn:{p}:{s}:{r}:{a}:{t}/{res}"), [p, s, r, a, t, res])
    })
}

/// One edit at a character position: delete, or insert / replace with a delimiter or text.
fn char_edits() -> impl Strategy<Value = Vec<(usize, u8, String)>> {
    let insert =
        prop_oneof![prop::sample::select(vec![":", "/", "arn:", "é", "🦀", ""]).prop_map(str::to_owned), text()];
    vec((any::<usize>(), 0..3u8, insert), 0..4)
}

fn edit(s: &str, edits: &[(usize, u8, String)]) -> String {
    let mut chars: Vec<String> = s.chars().map(String::from).collect();
    for (at, op, piece) in edits {
        let i = at % (chars.len() + 1);
        match (op, i < chars.len()) {
            (0, true) => drop(chars.remove(i)),
            (1, true) => chars[i] = piece.clone(),
            _ => chars.insert(i, piece.clone()),
        }
    }
    chars.concat()
}

#[test]
fn fuzz_arn_any_string() {
    let s = prop_oneof![text(), "\\PC{0,80}", "arn:\\PC{0,60}", "arn(:[a-z0-9/-]{0,6}){0,8}"];
    fuzz("arn_any_string", s, |s| model_id(&s));
}

#[test]
fn fuzz_arn_grammar_round_trip() {
    fuzz("arn_grammar", grammar_arn(), |(s, parts)| {
        let a = Arn::parse(&s).ok_or_else(|| TestCaseError::fail(format!("refused {s:?}")))?;
        let got = [a.partition, a.service, a.region, a.account, a.resource_type, a.resource];
        prop_assert_eq!(got, parts.each_ref().map(String::as_str));
        model_id(&s)
    });
}

#[test]
fn fuzz_arn_damaged() {
    fuzz("arn_damaged", (grammar_arn(), char_edits()), |((s, _), edits)| model_id(&edit(&s, &edits)));
}

#[test]
fn fuzz_arn_builders_round_trip() {
    let region = "[a-z0-9-]{0,16}";
    let model = "[a-z]{2,10}\\.[a-z0-9.-]{1,30}(:[0-9]{1,2})?";
    let version = prop::option::of(0..=99_999u32);
    fuzz("arn_builders", (region, "[0-9]{12}", model, "[0-9a-zA-Z]{10}", version), |(r, acct, m, id, v)| {
        let fm = arn::foundation_model(&r, &m);
        prop_assert_eq!(
            Arn::parse(&fm).map(|a| (a.region, a.account, a.resource_type, a.resource)),
            Some((r.as_str(), "", "foundation-model", m.as_str()))
        );
        let ip = arn::inference_profile(&r, &acct, &m);
        prop_assert_eq!(Arn::parse(&ip).map(|a| (a.account, a.resource)), Some((acct.as_str(), m.as_str())));
        let p = prompt_arn(&r, &acct, &id, v);
        let parsed = PromptArn::parse(&p).ok_or_else(|| TestCaseError::fail(format!("refused {p:?}")))?;
        prop_assert_eq!(
            (parsed.region, parsed.account, parsed.id, parsed.version),
            (r.as_str(), acct.as_str(), id.as_str(), v)
        );
        model_id(&p)
    });
}
