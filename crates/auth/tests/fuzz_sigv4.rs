//! Fuzz target: the `Authorization` header (SigV4 parameters, Bearer API keys) and the
//! headers SigV4 verification reads (`X-Amz-Date`, `x-amz-content-sha256`,
//! `x-amz-security-token`, `host`).
//!
//! Properties: no header panics the verifier; every refusal is a 403 with a known shape
//! and a message; a damaged header passes only if it still carries the original
//! credential and signature; reordering and re-spacing the parameters changes nothing;
//! whatever aws-sigv4 signs (any path, body, extra headers, region, clock within the
//! skew window) verifies.
// Helpers outside #[test] fns unwrap too; a failing unwrap is a failing test.
#![allow(clippy::unwrap_used)]

mod common;
mod fuzz_support;

use std::time::{Duration, SystemTime};

use common::*;
use fuzz_support::{fuzz, header_text, refusal};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use spillway_auth::{authenticate, AuthError, Principal};

fn check(headers: &HeaderMap, now: SystemTime) -> Result<Principal, AuthError> {
    authenticate(&keyring(), &Method::POST, CONVERSE, headers, BODY, now)
}

/// A correctly signed request's headers and its three Authorization parameters.
fn signed() -> (HeaderMap, Vec<String>) {
    let headers = Sign::default().headers();
    let auth = headers["authorization"].to_str().unwrap();
    let params = auth.strip_prefix("AWS4-HMAC-SHA256 ").unwrap().split(", ").map(str::to_owned).collect();
    (headers, params)
}

fn with_authorization(mut headers: HeaderMap, value: &[u8]) -> Option<HeaderMap> {
    headers.insert("authorization", HeaderValue::from_bytes(value).ok()?);
    Some(headers)
}

#[test]
fn fuzz_sigv4_any_authorization() {
    let value = prop_oneof![vec(any::<u8>(), 0..200), header_text().prop_map(String::into_bytes)];
    let scheme = prop::sample::select(vec!["", "AWS4-HMAC-SHA256 ", "Bearer ", "bearer", "AWS4-HMAC-SHA256"]);
    fuzz("sigv4_any", (scheme, value), |(scheme, value)| {
        let Some(headers) = with_authorization(signed().0, &[scheme.as_bytes(), &value].concat()) else {
            return Ok(());
        };
        match check(&headers, t0()) {
            Ok(p) => Err(TestCaseError::fail(format!("accepted {value:?} as {p:?}"))),
            Err(e) => refusal(&e),
        }
    });
}

/// One change to one Authorization parameter (`Name=value`).
#[derive(Debug, Clone)]
enum Damage {
    Drop,
    Duplicate(String),
    Replace(String),
    /// Replaces the `k`-th `/`-separated part of the value (the credential scope).
    Part(usize, String),
    /// Replaces one character of the value.
    Char(usize, char),
    Name(String),
}

fn damage() -> impl Strategy<Value = (usize, Damage)> {
    let d = prop_oneof![
        Just(Damage::Drop),
        header_text().prop_map(Damage::Duplicate),
        header_text().prop_map(Damage::Replace),
        (0..6usize, prop_oneof![header_text(), Just(String::new())]).prop_map(|(k, s)| Damage::Part(k, s)),
        (any::<usize>(), prop_oneof![any::<char>(), Just('/'), Just('='), Just(','), Just(';')])
            .prop_map(|(i, c)| Damage::Char(i, c)),
        prop_oneof![Just("credential".to_owned()), Just("".to_owned()), header_text()].prop_map(Damage::Name),
    ];
    (0..3usize, d)
}

fn apply(params: &mut Vec<String>, (index, d): &(usize, Damage)) {
    let i = index % params.len().max(1);
    let Some(param) = params.get(i).cloned() else { return };
    let (name, value) = param.split_once('=').unwrap_or((&param, ""));
    match d {
        Damage::Drop => drop(params.remove(i)),
        Damage::Duplicate(v) => params.insert(i, format!("{name}={v}")),
        Damage::Replace(v) => params[i] = format!("{name}={v}"),
        Damage::Part(k, s) => {
            let mut parts: Vec<&str> = value.split('/').collect();
            let k = k % (parts.len() + 1);
            if k < parts.len() {
                parts[k] = s
            } else {
                parts.push(s)
            }
            params[i] = format!("{name}={}", parts.join("/"));
        }
        Damage::Char(at, c) => {
            let mut chars: Vec<char> = value.chars().collect();
            let at = at % (chars.len() + 1);
            if at < chars.len() {
                chars[at] = *c
            } else {
                chars.push(*c)
            }
            params[i] = format!("{name}={}", chars.into_iter().collect::<String>());
        }
        Damage::Name(n) => params[i] = format!("{n}={value}"),
    }
}

#[test]
fn fuzz_sigv4_damaged_parameters() {
    fuzz("sigv4_damaged", vec(damage(), 1..4), |damages| {
        let (headers, original) = signed();
        let mut params = original.clone();
        for d in &damages {
            apply(&mut params, d);
        }
        let value = format!("AWS4-HMAC-SHA256 {}", params.join(", "));
        let Some(headers) = with_authorization(headers, value.as_bytes()) else { return Ok(()) };
        match check(&headers, t0()) {
            // Only a header that still says the original credential and signature may pass
            // (whitespace around a parameter is not part of it: a trailing tab once was).
            Ok(_) => {
                let kept = |p: &String| params.iter().any(|q| q.trim() == p);
                prop_assert!(kept(&original[0]) && kept(&original[2]), "accepted {value}");
                Ok(())
            }
            Err(e) => refusal(&e),
        }
    });
}

#[test]
fn fuzz_sigv4_order_and_spacing_do_not_matter() {
    let spaces = vec(prop::sample::select(vec!["", " ", "  ", "\t"]), 6);
    fuzz("sigv4_order", (any::<u8>(), spaces), |(order, spaces)| {
        let (headers, mut params) = signed();
        params.rotate_left(usize::from(order) % 3);
        if order & 4 != 0 {
            params.swap(0, 1);
        }
        let joined: Vec<String> =
            params.iter().enumerate().map(|(i, p)| format!("{}{p}{}", spaces[2 * i], spaces[2 * i + 1])).collect();
        let value = format!("AWS4-HMAC-SHA256 {}", joined.join(","));
        let headers = with_authorization(headers, value.as_bytes()).unwrap();
        prop_assert!(check(&headers, t0()).is_ok(), "refused {value:?}");
        Ok(())
    });
}

#[test]
fn fuzz_sigv4_other_headers() {
    let name = prop::sample::select(vec!["x-amz-date", "x-amz-content-sha256", "x-amz-security-token", "host"]);
    let value = prop_oneof![header_text(), "[0-9]{8}T[0-9]{6}Z", "[+-]?[0-9]{4,6}[0-9]{4}T[0-9]{6}Z"];
    fuzz("sigv4_headers", vec((name, value, any::<bool>()), 1..3), |changes| {
        let (mut headers, _) = signed();
        for (name, value, remove) in changes {
            if remove {
                headers.remove(name);
            } else if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        match check(&headers, t0()) {
            Ok(_) => Ok(()),
            Err(e) => refusal(&e),
        }
    });
}

#[test]
fn fuzz_sigv4_signed_requests_verify() {
    let path = "/model/([a-z0-9.-]|%3A|%2F){1,30}/(converse|invoke|converse-stream)";
    let extra = vec(("x-[a-z]{1,10}", "[ -~]{0,30}"), 0..4);
    let skew = -300i64..=300;
    fuzz(
        "sigv4_signed",
        (path, vec(any::<u8>(), 0..256), extra, "[a-z]{2}-[a-z]{4,9}-[1-3]", skew),
        |(path, body, extra, region, skew)| {
            let mut sent: Vec<(&str, &str)> = vec![("host", HOST)];
            sent.extend(extra.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            if extra.iter().any(|(n, _)| HeaderName::from_bytes(n.as_bytes()).is_err()) {
                return Ok(());
            }
            let headers =
                Sign { path: &path, body: &body, region: &region, headers: sent, ..Sign::default() }.headers();
            let now = if skew < 0 {
                t0() - Duration::from_secs(skew.unsigned_abs())
            } else {
                t0() + Duration::from_secs(skew as u64)
            };
            let got = authenticate(&keyring(), &Method::POST, &path, &headers, &body, now);
            prop_assert_eq!(got.map(|p| p.region), Ok(Some(region.clone())));
            Ok(())
        },
    );
}

#[test]
fn fuzz_bearer_keys() {
    fuzz("bearer", header_text(), |key| {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static(HOST));
        let Some(headers) = with_authorization(headers, format!("Bearer {key}").as_bytes()) else { return Ok(()) };
        match authenticate(&keyring(), &Method::POST, CONVERSE, &headers, BODY, t0()) {
            Ok(p) => {
                prop_assert_eq!(key.trim(), API_KEY);
                prop_assert_eq!(p.account, ACCOUNT);
                Ok(())
            }
            Err(e) => refusal(&e),
        }
    });
}
