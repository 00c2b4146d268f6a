//! Replays the checked-in fuzz corpus (`tests/corpus/`) through the parsers, with the
//! properties of the fuzz targets plus the outcome each file's name promises:
//!
//! - `corpus/converse/*.json`: Converse bodies; `corpus/invoke/{format}/*.json`: native
//!   bodies of that `BodyFormat` (`anthropic`, `titan-text`, …). A name starting `ok_`
//!   must be accepted, `bad_` refused with a ValidationException; other names only have to
//!   keep the properties.
//! - `corpus/arn.txt`: one modelId per line, `+ ` must parse as an ARN, `- ` must not.
//! - `corpus/templates.jsonl`: `{"template": …, "variables": […]}` per line, the variables
//!   the template declares by use.
//!
//! The corpus holds samples of every shape and each input a fuzz target once failed on.

// Helpers outside #[test] fns unwrap too; a failing unwrap is a failing test.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use spillway_wire::arn::Arn;
use spillway_wire::converse::ConverseRequest;
use spillway_wire::invoke::{self, BodyFormat};
use spillway_wire::prompt::render::variables;
use spillway_wire::prompt::PromptVariant;
use spillway_wire::{parse, validate, BedrockError, ErrorCode};

fn corpus(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(sub)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    out.sort();
    out
}

/// Checks the outcome against the file name's promise; returns the file's name.
fn expect(path: &Path, outcome: Result<(), BedrockError>) -> String {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    match outcome {
        Ok(()) => assert!(!name.starts_with("bad_"), "{name}: accepted"),
        Err(e) => {
            assert_eq!(e.code, ErrorCode::Validation, "{name}: {e}");
            assert!(!e.message.trim().is_empty(), "{name}: empty message");
            assert!(!name.starts_with("ok_"), "{name}: refused: {e}");
        }
    }
    name
}

#[test]
fn fuzz_corpus_converse() {
    let paths = files(&corpus("converse"));
    assert!(paths.len() >= 10, "corpus/converse is nearly empty");
    for path in paths {
        let body = fs::read(&path).unwrap();
        let outcome = parse::json::<ConverseRequest>(&body).and_then(|r| {
            validate::converse(&r)?;
            Ok(r)
        });
        if let Ok(r) = &outcome {
            // Accepted requests write back to themselves (those without unknown members).
            if let Ok(bytes) = serde_json::to_vec(r) {
                assert_eq!(&parse::json::<ConverseRequest>(&bytes).unwrap(), r, "{path:?}");
            }
        }
        expect(&path, outcome.map(drop));
    }
}

#[test]
fn fuzz_corpus_invoke() {
    let mut seen = BTreeSet::new();
    for dir in files(&corpus("invoke")) {
        let family = dir.file_name().unwrap().to_string_lossy().into_owned();
        let format: BodyFormat = serde_json::from_value(Value::String(family.clone())).unwrap();
        for path in files(&dir) {
            let body = fs::read(&path).unwrap();
            let outcome = invoke::parse(format, &body).and_then(|r| match &r {
                invoke::InvokeRequest::Chat { request, .. } => validate::converse(request),
                invoke::InvokeRequest::Embed(_) => Ok(()),
            });
            expect(&path, outcome);
            seen.insert(family.clone());
        }
    }
    assert_eq!(seen.len(), 5, "a family without corpus: {seen:?}");
}

#[test]
fn fuzz_corpus_arns() {
    let text = fs::read_to_string(corpus("arn.txt")).unwrap();
    let mut n = 0;
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (sign, id) = line.split_at(2);
        let parsed = Arn::parse(id);
        match sign {
            "+ " => {
                let a = parsed.unwrap_or_else(|| panic!("not parsed: {id}"));
                let back = format!(
                    "arn:{}:{}:{}:{}:{}/{}",
                    a.partition, a.service, a.region, a.account, a.resource_type, a.resource
                );
                assert_eq!(back, id);
            }
            "- " => assert!(parsed.is_none(), "parsed: {id} as {parsed:?}"),
            _ => panic!("arn.txt: a line must start with '+ ' or '- ': {line}"),
        }
        n += 1;
    }
    assert!(n >= 10, "arn.txt is nearly empty");
}

#[test]
fn fuzz_corpus_templates() {
    let text = fs::read_to_string(corpus("templates.jsonl")).unwrap();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        let variant: PromptVariant = serde_json::from_value(serde_json::json!({
            "name": "v", "templateType": "TEXT",
            "templateConfiguration": {"text": {"text": case["template"]}}
        }))
        .unwrap();
        let expected: BTreeSet<&str> = case["variables"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert_eq!(variables(&variant), expected, "{line}");
    }
}
