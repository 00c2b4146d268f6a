//! Fuzz target: the Converse / ConverseStream body parser, `parse::json::<ConverseRequest>`
//! followed by `validate::converse`, as the runtime handler runs them.
//!
//! Properties: no input panics; a refusal is a ValidationException with a message; an
//! accepted request written back as JSON parses to the same request; a body built from the
//! botocore shapes is accepted. `scripts/fuzz.sh` runs this with many more cases.

mod support;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use spillway_wire::converse::ConverseRequest;
use spillway_wire::{parse, validate};
use support::{apply_damage, check_refusal, damage, fuzz, mutate, mutations, shapes};

/// Parses and validates `body`; checks the properties of whatever comes out. `Some` when
/// the request was accepted.
fn converse(body: &[u8]) -> Result<Option<ConverseRequest>, TestCaseError> {
    let request = match parse::json::<ConverseRequest>(body) {
        Ok(request) => request,
        Err(e) => return check_refusal(&e).map(|()| None),
    };
    round_trip(&request)?;
    match validate::converse(&request) {
        Ok(()) => Ok(Some(request)),
        Err(e) => check_refusal(&e).map(|()| None),
    }
}

/// A parsed request serialises (for the invocation log, the backends) and parses back to
/// itself. Union members spillway does not model are kept by name only and cannot be
/// written back; the backends refuse those by name.
fn round_trip(request: &ConverseRequest) -> Result<(), TestCaseError> {
    match serde_json::to_vec(request) {
        Ok(bytes) => {
            let again = parse::json::<ConverseRequest>(&bytes)
                .map_err(|e| TestCaseError::fail(format!("written back, refused: {e}")))?;
            prop_assert_eq!(&again, request);
        }
        Err(e) => prop_assert!(e.to_string().contains("Unknown"), "cannot serialise: {e}"),
    }
    Ok(())
}

#[test]
fn fuzz_converse_bytes() {
    fuzz("converse_bytes", vec(any::<u8>(), 0..512), |bytes| converse(&bytes).map(drop));
}

#[test]
fn fuzz_converse_valid_shapes_are_accepted() {
    fuzz("converse_valid", shapes::converse(), |body| {
        let bytes = serde_json::to_vec(&body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(converse(&bytes)?.is_some(), "refused a valid body: {body}");
        Ok(())
    });
}

#[test]
fn fuzz_converse_mutated_shapes() {
    fuzz("converse_mutated", (shapes::converse(), mutations(), damage()), |(body, m, d)| {
        let bytes = serde_json::to_vec(&mutate(body, &m)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        converse(&apply_damage(bytes, &d)).map(drop)
    });
}

/// Deep nesting anywhere in the body (a free-form member, a content block, the root) must
/// be refused or accepted without exhausting the stack.
#[test]
fn fuzz_converse_deep_nesting() {
    let opener = prop::sample::select(vec!["[", "{\"a\":", "{\"text\":", "[{\"json\":"]);
    let place = prop::sample::select(vec![
        "{}",
        r#"{"additionalModelRequestFields":{}}"#,
        r#"{"messages":[{"role":"user","content":[{"toolUse":{"toolUseId":"t","name":"n","input":{}}}]}]}"#,
    ]);
    fuzz("converse_deep", (opener, 1..20_000usize, place), |(opener, depth, place)| {
        let nested = format!("{}{}", opener.repeat(depth), "1");
        let body = match place.rfind("{}") {
            Some(i) if place != "{}" => format!("{}{}{}", &place[..i], nested, &place[i + 2..]),
            _ => nested,
        };
        converse(body.as_bytes()).map(drop)
    });
}

#[test]
fn deep_nesting_is_a_validation_error() {
    let body = format!(r#"{{"additionalModelRequestFields":{}1{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
    let e = parse::json::<ConverseRequest>(body.as_bytes()).unwrap_err();
    assert_eq!(e.code, spillway_wire::ErrorCode::Validation);
    assert!(e.message.contains("recursion limit"), "{}", e.message);
}
