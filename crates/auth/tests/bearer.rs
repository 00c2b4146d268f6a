//! Bedrock API keys: `Authorization: Bearer <key>`.
// Helpers outside #[test] fns unwrap too; a failing unwrap is a failing test.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use http::{HeaderMap, HeaderValue, Method};
use spillway_auth::{authenticate, AuthError, Principal};

fn with_bearer(value: &str) -> Result<Principal, AuthError> {
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static(HOST));
    headers.insert("authorization", HeaderValue::from_str(value).unwrap());
    authenticate(&keyring(), &Method::POST, CONVERSE, &headers, BODY, t0())
}

#[test]
fn good_api_key_maps_to_its_account() {
    let principal = with_bearer(&format!("Bearer {API_KEY}")).unwrap();
    assert_eq!(principal, Principal { account: ACCOUNT.into(), access_key_id: None, region: None, service: None });
    // The scheme is case-insensitive (RFC 9110); surrounding spaces are tolerated.
    assert!(with_bearer(&format!("bearer  {API_KEY} ")).is_ok());
}

#[test]
fn bad_api_key_is_refused() {
    for value in [format!("Bearer {API_KEY}x"), "Bearer ".to_owned(), format!("Bearer {}", &API_KEY[1..])] {
        let err = with_bearer(&value).unwrap_err();
        assert_eq!(err, AuthError::UnknownApiKey, "{value}");
        assert_eq!(err.shape().0, "AccessDeniedException");
        assert_eq!(err.status(), 403);
    }
    // A secret access key is not an API key.
    assert_eq!(with_bearer(&format!("Bearer {SECRET}")), Err(AuthError::UnknownApiKey));
}

#[test]
fn keyring_lookups_and_debug_hide_secrets() {
    let keyring = keyring();
    assert_eq!(keyring.api_key_account(API_KEY), Some(ACCOUNT));
    assert_eq!(keyring.access_key_account(TEMP_AKID), Some(TEMP_ACCOUNT));
    assert_eq!(keyring.access_key_account("nope"), None);
    let debug = format!("{keyring:?}");
    assert!(!debug.contains(SECRET) && !debug.contains(API_KEY), "{debug}");
}
