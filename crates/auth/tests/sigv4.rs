//! SigV4 verification against real signatures made with aws-sigv4's signing side.
// Helpers outside #[test] fns unwrap too; a failing unwrap is a failing test.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{PayloadChecksumKind, SigningSettings};
use common::*;
use http::{HeaderMap, HeaderValue, Method};
use spillway_auth::{authenticate, AuthError, Principal};

fn check(path: &str, headers: &HeaderMap, body: &[u8], now: SystemTime) -> Result<Principal, AuthError> {
    authenticate(&keyring(), &Method::POST, path, headers, body, now)
}

#[test]
fn right_secret_passes_and_yields_scope() {
    let headers = Sign::default().headers();
    let principal = check(CONVERSE, &headers, BODY, t0()).unwrap();
    assert_eq!(
        principal,
        Principal {
            account: ACCOUNT.into(),
            access_key_id: Some(AKID.into()),
            region: Some("eu-west-3".into()),
            service: Some("bedrock".into()),
        }
    );
}

#[test]
fn wrong_secret_is_bad_signature() {
    let headers = Sign { secret: "not-the-secret", ..Sign::default() }.headers();
    let err = check(CONVERSE, &headers, BODY, t0()).unwrap_err();
    assert_eq!(err, AuthError::BadSignature);
    let (shape, message) = err.shape();
    assert_eq!(shape, "InvalidSignatureException");
    assert!(message.starts_with("The request signature we calculated does not match the signature you provided."));
    assert_eq!(err.status(), 403);
}

#[test]
fn unknown_key_is_unrecognized_client() {
    let headers = Sign { akid: "AKIDUNKNOWN", ..Sign::default() }.headers();
    let err = check(CONVERSE, &headers, BODY, t0()).unwrap_err();
    assert_eq!(err, AuthError::UnknownKey);
    assert_eq!(
        err.shape(),
        ("UnrecognizedClientException", "The security token included in the request is invalid.".to_owned())
    );
}

#[test]
fn clock_skew_beyond_five_minutes_is_expired() {
    let headers = Sign::default().headers();
    for minutes in [-5i64, -4, 4, 5] {
        let now = offset(t0(), minutes * 60);
        assert!(check(CONVERSE, &headers, BODY, now).is_ok(), "{minutes} min must pass");
    }
    // Server clock 6 min later than the signature: the signature is too old.
    let err = check(CONVERSE, &headers, BODY, offset(t0(), 360)).unwrap_err();
    assert!(matches!(err, AuthError::Expired { .. }));
    assert_eq!(
        err.shape(),
        (
            "InvalidSignatureException",
            "Signature expired: 20240101T001000Z is now earlier than 20240101T001100Z (20240101T001600Z - 5 min.)"
                .to_owned()
        )
    );
    // Server clock 6 min earlier: the signature is from the future.
    let err = check(CONVERSE, &headers, BODY, offset(t0(), -360)).unwrap_err();
    assert_eq!(
        err.shape().1,
        "Signature not yet current: 20240101T001000Z is still later than 20240101T000900Z (20240101T000400Z + 5 min.)"
    );
}

#[test]
fn tampered_body_path_or_header_is_bad_signature() {
    let headers = Sign::default().headers();
    let tampered_body = br#"{"messages":[{"role":"user","content":[{"text":"Hellp"}]}]}"#;
    assert_eq!(check(CONVERSE, &headers, tampered_body, t0()), Err(AuthError::BadSignature));
    let other_model = "/model/anthropic.claude-3-opus-20240229-v1%3A0/converse";
    assert_eq!(check(other_model, &headers, BODY, t0()), Err(AuthError::BadSignature));
    let mut changed = headers.clone();
    changed.insert("content-type", HeaderValue::from_static("text/plain"));
    assert_eq!(check(CONVERSE, &changed, BODY, t0()), Err(AuthError::BadSignature));
    // Headers that were not signed may change freely (proxies add and rewrite them).
    let mut extra = headers;
    extra.insert("user-agent", HeaderValue::from_static("Boto3/1.43 md/Botocore#1.43"));
    extra.insert("x-amzn-trace-id", HeaderValue::from_static("Root=1-abc"));
    assert!(check(CONVERSE, &extra, BODY, t0()).is_ok());
}

#[test]
fn scope_date_must_match_x_amz_date() {
    // Signed late on Jan 1st (scope 20240101), then X-Amz-Date moved past midnight.
    let at = SystemTime::from(time::macros::datetime!(2024-01-01 23:59 UTC));
    let mut headers = Sign { at, ..Sign::default() }.headers();
    headers.insert("x-amz-date", HeaderValue::from_static("20240102T000100Z"));
    let now = SystemTime::from(time::macros::datetime!(2024-01-02 00:01 UTC));
    let err = check(CONVERSE, &headers, BODY, now).unwrap_err();
    assert_eq!(
        err,
        AuthError::ScopeDateMismatch { scope_date: "20240101".into(), x_amz_date: "20240102T000100Z".into() }
    );
    assert_eq!(err.shape().0, "InvalidSignatureException");
    assert!(err.shape().1.contains("'20240101' != '20240102'"), "{}", err.shape().1);
}

#[test]
fn session_tokens() {
    let temp = |token| Sign { akid: TEMP_AKID, secret: TEMP_SECRET, token, ..Sign::default() }.headers();
    // Either listed token is accepted; the account is the key's.
    for token in TOKENS {
        assert_eq!(check(CONVERSE, &temp(Some(token)), BODY, t0()).unwrap().account, TEMP_ACCOUNT);
    }
    // A key with tokens requires one, and only a listed one.
    assert_eq!(check(CONVERSE, &temp(None), BODY, t0()), Err(AuthError::InvalidSessionToken));
    assert_eq!(check(CONVERSE, &temp(Some("forged")), BODY, t0()), Err(AuthError::InvalidSessionToken));
    // A long-term key used with a token is refused, as AWS does.
    let with_token = Sign { token: Some(TOKENS[0]), ..Sign::default() }.headers();
    let err = check(CONVERSE, &with_token, BODY, t0()).unwrap_err();
    assert_eq!(err.shape().0, "UnrecognizedClientException");
}

#[test]
fn arn_model_ids_are_signed_double_encoded() {
    let arn_path = "/model/arn%3Aaws%3Abedrock%3Aeu-west-3%3A111122223333%3Ainference-profile%2F\
                    eu.anthropic.claude-3-haiku-20240307-v1%3A0/converse";
    let headers = Sign { path: arn_path, ..Sign::default() }.headers();
    assert!(check(arn_path, &headers, BODY, t0()).is_ok());
    // Handing over the decoded path (what a router's Path extractor gives) must fail: the
    // signature covers the encoded form.
    let decoded = "/model/arn:aws:bedrock:eu-west-3:111122223333:inference-profile/\
                   eu.anthropic.claude-3-haiku-20240307-v1:0/converse";
    assert_eq!(check(decoded, &headers, BODY, t0()), Err(AuthError::BadSignature));
}

#[test]
fn query_string_and_get() {
    let path = "/async-invoke?maxResults=10&sortOrder=Descending&statusEquals=InProgress";
    let headers = Sign { method: "GET", path, body: b"", ..Sign::default() }.headers();
    let ok = authenticate(&keyring(), &Method::GET, path, &headers, b"", t0());
    assert!(ok.is_ok(), "{ok:?}");
    let reordered = "/async-invoke?sortOrder=Descending&statusEquals=InProgress&maxResults=10";
    assert!(authenticate(&keyring(), &Method::GET, reordered, &headers, b"", t0()).is_ok());
    let changed = "/async-invoke?maxResults=11&sortOrder=Descending&statusEquals=InProgress";
    assert!(authenticate(&keyring(), &Method::GET, changed, &headers, b"", t0()).is_err());
    assert!(authenticate(&keyring(), &Method::POST, path, &headers, b"", t0()).is_err());
}

#[test]
fn rust_sdk_style_extra_signed_headers() {
    // The Rust SDK also signs content-length and x-amz-user-agent.
    let len = BODY.len().to_string();
    let mut sign = Sign::default();
    sign.headers.extend([("content-length", len.as_str()), ("x-amz-user-agent", "aws-sdk-rust/1.3 api/bedrock")]);
    let headers = sign.headers();
    assert!(check(CONVERSE, &headers, BODY, t0()).is_ok());
}

#[test]
fn x_amz_content_sha256_must_match_body() {
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256; // S3-style, signs the hash header
    let headers = Sign { settings, ..Sign::default() }.headers();
    assert!(headers.contains_key("x-amz-content-sha256"));
    assert!(check(CONVERSE, &headers, BODY, t0()).is_ok());
    assert_eq!(check(CONVERSE, &headers, b"{}", t0()), Err(AuthError::BadSignature));
    let mut unsigned = headers;
    unsigned.insert("x-amz-content-sha256", HeaderValue::from_static("UNSIGNED-PAYLOAD"));
    assert_eq!(check(CONVERSE, &unsigned, BODY, t0()), Err(AuthError::BadSignature));
}

#[test]
fn malformed_or_missing_authorization() {
    let headers = Sign::default().headers();
    let with_auth = |value: &'static str| {
        let mut h = headers.clone();
        h.insert("authorization", HeaderValue::from_static(value));
        h
    };
    let cases = [
        "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/eu-west-3/bedrock, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/eu-west-3/bedrock/aws4_bogus, SignedHeaders=host, \
         Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/eu-west-3/bedrock/aws4_request, \
         SignedHeaders=content-type;x-amz-date, Signature=00",
        "Basic dXNlcjpwYXNz",
    ];
    for case in cases {
        let err = check(CONVERSE, &with_auth(case), BODY, t0()).unwrap_err();
        assert!(matches!(err, AuthError::Malformed(_)), "{case}: {err:?}");
        assert_eq!(err.shape().0, "IncompleteSignatureException");
    }
    let mut no_date = headers.clone();
    no_date.remove("x-amz-date");
    assert!(matches!(check(CONVERSE, &no_date, BODY, t0()), Err(AuthError::Malformed(_))));

    let mut none = headers;
    none.remove("authorization");
    let err = check(CONVERSE, &none, BODY, t0()).unwrap_err();
    assert_eq!(err, AuthError::Missing);
    assert_eq!(err.shape(), ("MissingAuthenticationTokenException", "Missing Authentication Token".to_owned()));
    let presigned = "/model/x/converse?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00";
    assert!(matches!(check(presigned, &none, BODY, t0()), Err(AuthError::Malformed(_))));
}

fn offset(t: SystemTime, secs: i64) -> SystemTime {
    if secs >= 0 {
        t + Duration::from_secs(secs.unsigned_abs())
    } else {
        t - Duration::from_secs(secs.unsigned_abs())
    }
}

/// A Converse request exactly as the AWS SDK for JavaScript v3 (client-bedrock-runtime
/// 3.1177) signed it over HTTP/2: `:authority` signed instead of `host`. The server hands
/// the `:authority` over as `host`.
fn javascript_sdk_request() -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("host", "127.0.0.1:18732"),
        ("content-type", "application/json"),
        ("content-length", "59"),
        ("x-amz-user-agent", "aws-sdk-js/3.1177.0"),
        ("user-agent", "aws-sdk-js/3.1177.0 ua/2.1 os/linux#6.18.44-fc-v1300 lang/js md/nodejs#20.20.2 api/bedrock-runtime#3.1177.0 m/N,E,e"),
        ("amz-sdk-invocation-id", "e8e04d3e-7ef5-416b-9816-b068a810a298"),
        ("amz-sdk-request", "attempt=1; max=1"),
        ("x-amz-date", "20261206T152811Z"),
        ("x-amz-content-sha256", "7421da8d1a0949a481724fee62d5886aacde03836bf58248adb73e8b61ac0d54"),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261206/eu-west-3/bedrock/aws4_request, \
             SignedHeaders=:authority;amz-sdk-invocation-id;amz-sdk-request;content-length;content-type;\
             x-amz-content-sha256;x-amz-date;x-amz-user-agent, \
             Signature=5eaf9ea761f58920282c73df459415c0edbef7ffa51aa221a547c1def55ef820",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
}

#[test]
fn javascript_sdk_signing_authority_over_http2_passes() {
    let signed_at = SystemTime::from(time::macros::datetime!(2026-12-06 15:28:11 UTC));
    let principal = check(CONVERSE, &javascript_sdk_request(), BODY, signed_at).unwrap();
    assert_eq!(principal.region.as_deref(), Some("eu-west-3"));
    // The same request with another authority, body or secret does not.
    let mut moved = javascript_sdk_request();
    moved.insert("host", HeaderValue::from_static("127.0.0.1:18733"));
    assert_eq!(check(CONVERSE, &moved, BODY, signed_at).unwrap_err(), AuthError::BadSignature);
    let other_path = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream";
    assert_eq!(check(other_path, &javascript_sdk_request(), BODY, signed_at).unwrap_err(), AuthError::BadSignature);
    let mut no_host = javascript_sdk_request();
    no_host.remove("host");
    assert!(matches!(check(CONVERSE, &no_host, BODY, signed_at).unwrap_err(), AuthError::Malformed(_)));
}
