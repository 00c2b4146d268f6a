//! The runner and the checks the auth fuzz target shares with spillway-wire's (a copy:
//! test helpers cannot cross crates without a crate of their own).
#![allow(dead_code)]
#![allow(clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use spillway_auth::AuthError;

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

const SHAPES: [&str; 5] = [
    "MissingAuthenticationTokenException",
    "UnrecognizedClientException",
    "AccessDeniedException",
    "InvalidSignatureException",
    "IncompleteSignatureException",
];

/// Every authentication refusal: HTTP 403, one of the shapes AWS answers, a message.
pub fn refusal(e: &AuthError) -> Result<(), TestCaseError> {
    let (shape, message) = e.shape();
    prop_assert_eq!(e.status(), 403);
    prop_assert!(SHAPES.contains(&shape), "{shape}");
    prop_assert!(!message.trim().is_empty(), "{e:?} has no message");
    Ok(())
}

/// Header-safe text biased to the Authorization grammar's delimiters and near-misses.
pub fn header_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => "[ -~]{0,12}",
        2 => prop::sample::select(vec![
            "Credential=", "SignedHeaders=", "Signature=", "AKIDEXAMPLE", "aws4_request", "20240101",
            "20240101T001000Z", "eu-west-3", "bedrock", "host;x-amz-date", "/", ",", ";", "=", " ", "\t",
        ])
        .prop_map(str::to_owned),
        1 => "[\u{80}-\u{ff}]{1,3}",
    ];
    proptest::collection::vec(piece, 0..6).prop_map(|p| p.concat())
}
