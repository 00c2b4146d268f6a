//! Replays the checked-in Authorization corpus (`tests/corpus/authorization.txt`) against
//! the signed Converse request of `tests/common` (eu-west-3, 2024-01-01T00:10:00Z).
//!
//! Each line is `expected<TAB>header value`: `expected` is `ok` or the error shape the
//! header must be refused with. `\xNN` in a value stands for that byte (obs-text). The
//! corpus holds well-formed and near-miss headers and each input a fuzz target of
//! `fuzz_sigv4.rs` once failed on.
// Helpers outside #[test] fns unwrap too; a failing unwrap is a failing test.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::*;
use http::{HeaderValue, Method};
use spillway_auth::authenticate;

/// The value with its `\xNN` escapes turned into bytes.
fn unescape(value: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = value.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        match (b, tail) {
            (b'\\', [b'x', h, l, more @ ..]) => {
                out.push(u8::from_str_radix(std::str::from_utf8(&[*h, *l]).unwrap(), 16).unwrap());
                rest = more;
            }
            _ => {
                out.push(b);
                rest = tail;
            }
        }
    }
    out
}

#[test]
fn fuzz_corpus_authorization() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/authorization.txt")).unwrap();
    let mut n = 0;
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (expected, value) = line.split_once('\t').unwrap_or_else(|| panic!("no tab: {line}"));
        let mut headers = Sign::default().headers();
        headers.insert("authorization", HeaderValue::from_bytes(&unescape(value)).unwrap());
        let got = authenticate(&keyring(), &Method::POST, CONVERSE, &headers, BODY, t0());
        match (expected, got) {
            ("ok", Ok(_)) => {}
            ("ok", Err(e)) => panic!("refused {value:?}: {e:?}"),
            (shape, Ok(p)) => panic!("accepted {value:?} as {p:?}, expected {shape}"),
            (shape, Err(e)) => {
                assert_eq!(e.shape().0, shape, "{value:?}: {e:?}");
                assert!(!e.shape().1.is_empty());
                assert_eq!(e.status(), 403);
            }
        }
        n += 1;
    }
    assert!(n >= 10, "authorization.txt is nearly empty");
}
