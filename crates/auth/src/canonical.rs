//! The SigV4 signature of a request whose `SignedHeaders` name the HTTP/2 pseudo-header
//! `:authority`, computed by hand.
//!
//! The AWS SDK for JavaScript v3 sends bedrock-runtime calls over HTTP/2 and signs
//! `:authority` instead of `host` (AWS accepts either). aws-sigv4 cannot sign that: its
//! canonical headers are an `http::HeaderMap`, where `:authority` is not a valid name, and
//! it always adds `host`. So for that case we build the canonical request ourselves,
//! canonicalizing path and query exactly as aws-sigv4 does (so both agree on everything
//! but the header name; a property test holds them to it), and use aws-sigv4 only for the
//! signing key and the final HMAC.

use std::time::SystemTime;

use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};
use sha2::{Digest, Sha256};

/// What SigV4 percent-encodes in a path segment and in a query key or value: everything
/// but the unreserved characters (aws-smithy-http's `BASE_SET`, the one aws-sigv4 uses).
const ENCODE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'/')
    .add(b':')
    .add(b',')
    .add(b'?')
    .add(b'#')
    .add(b'[')
    .add(b']')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'@')
    .add(b'!')
    .add(b'$')
    .add(b'&')
    .add(b'\'')
    .add(b'(')
    .add(b')')
    .add(b'*')
    .add(b'+')
    .add(b';')
    .add(b'=')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'"')
    .add(b'^')
    .add(b'`')
    .add(b'\\');
/// The path keeps its slashes.
const ENCODE_PATH: &AsciiSet = &ENCODE.remove(b'/');

/// One request as signed: `headers` are the signed ones only, names lowercase, in any
/// order (several values of one name are joined with `,` in the order given).
pub(crate) struct Signed<'a> {
    pub method: &'a str,
    pub raw_path_and_query: &'a str,
    pub headers: Vec<(&'a str, &'a str)>,
    pub payload_hash: &'a str,
    pub x_amz_date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

/// The hex signature of `req` with `secret`, signed at `time` (its `X-Amz-Date`).
pub(crate) fn signature(req: &Signed<'_>, secret: &str, time: SystemTime) -> String {
    let scope = format!("{}/{}/{}/aws4_request", req.x_amz_date.get(..8).unwrap_or_default(), req.region, req.service);
    let hashed = hex::encode(Sha256::digest(canonical_request(req).as_bytes()));
    let string_to_sign = format!("AWS4-HMAC-SHA256\n{}\n{scope}\n{hashed}", req.x_amz_date);
    calculate_signature(generate_signing_key(secret, time, req.region, req.service), string_to_sign.as_bytes())
}

fn canonical_request(req: &Signed<'_>) -> String {
    let (path, query) = req.raw_path_and_query.split_once('?').unwrap_or((req.raw_path_and_query, ""));
    let mut names: Vec<&str> = req.headers.iter().map(|(n, _)| *n).collect();
    names.sort_unstable();
    names.dedup();
    let mut out = format!("{}\n{}\n{}\n", req.method, canonical_path(path), canonical_query(query));
    for name in &names {
        let values: Vec<String> = req
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        out.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    out.push_str(&format!("\n{}\n{}", names.join(";"), req.payload_hash));
    out
}

/// The path as received (still percent-encoded), dot segments and empty segments removed
/// (RFC 3986 5.2.4, as aws-sigv4 normalizes), then encoded once more: `%3A` becomes
/// `%253A`, as every SDK signs for every service but S3.
fn canonical_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut normalized = format!("/{}", segments.join("/"));
    let ends_in_directory = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    if ends_in_directory && normalized.len() > 1 {
        normalized.push('/');
    }
    utf8_percent_encode(&normalized, ENCODE_PATH).to_string()
}

/// Query pairs form-decoded (`+` is a space), each key and value encoded again, sorted by
/// encoded key then value.
fn canonical_query(query: &str) -> String {
    let decode = |s: &str| percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (utf8_percent_encode(&decode(k), ENCODE).to_string(), utf8_percent_encode(&decode(v), ENCODE).to_string())
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_is_normalized_then_encoded_again() {
        assert_eq!(canonical_path("/model/a%3A0/converse"), "/model/a%253A0/converse");
        assert_eq!(canonical_path("/a//b/./c/../d"), "/a/b/d");
        assert_eq!(canonical_path("/a/b/"), "/a/b/");
        assert_eq!(canonical_path(""), "/");
    }

    #[test]
    fn query_is_decoded_encoded_and_sorted() {
        assert_eq!(canonical_query("b=2&a=x+y&a=%2F"), "a=%2F&a=x%20y&b=2");
        assert_eq!(canonical_query("flag&maxResults=10"), "flag=&maxResults=10");
        assert_eq!(canonical_query(""), "");
    }

    #[test]
    fn headers_are_sorted_trimmed_and_joined() {
        let req = Signed {
            method: "POST",
            raw_path_and_query: "/x",
            headers: vec![("x-b", " two  words "), (":authority", "h:1"), ("x-b", "again")],
            payload_hash: "abc",
            x_amz_date: "20240101T000000Z",
            region: "us-east-1",
            service: "bedrock",
        };
        assert_eq!(canonical_request(&req), "POST\n/x\n\n:authority:h:1\nx-b:two words,again\n\n:authority;x-b\nabc");
    }

    /// Signed with `host`, aws-sigv4 (what the SDKs' signing matches, see tests/botocore.rs)
    /// and this module agree on every path and query: only the header name differs.
    #[test]
    fn agrees_with_aws_sigv4_on_paths_and_queries() {
        use aws_credential_types::Credentials;
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        use aws_sigv4::sign::v4;
        use proptest::prelude::*;

        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_765_000_000);
        let x_amz_date = "20251206T054640Z";
        let segment = "([a-zA-Z0-9._~-]|%3A|%2F|%20|%25|[.]{1,2}|:|@|!|\\*){0,12}";
        let path = proptest::collection::vec(segment, 1..5).prop_map(|s| format!("/{}", s.join("/")));
        let pair = ("[a-zA-Z0-9._~+-]{1,6}|%2B|%3D", "([a-zA-Z0-9._~+-]|%20|%2F|%26){0,8}");
        let query = proptest::collection::vec(pair, 0..4);
        proptest!(ProptestConfig::with_cases(256), |(path in path, query in query)| {
            let query = query.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
            let target = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
            let headers = [("host", "h.example:8080"), ("x-amz-date", x_amz_date)];
            let identity = Credentials::new("AKID", "secret", None, None, "test").into();
            let mut settings = SigningSettings::default();
            settings.excluded_headers = None;
            let params = v4::SigningParams::builder()
                .identity(&identity).region("eu-west-3").name("bedrock").time(time).settings(settings)
                .build().map_err(|e| TestCaseError::fail(e.to_string()))?.into();
            let Ok(request) = SignableRequest::new("GET", &target, headers.iter().copied(), SignableBody::Bytes(b"")) else {
                return Ok(()); // not a URI aws-sigv4 accepts: nothing to compare
            };
            let reference = sign(request, &params).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let ours = Signed {
                method: "GET",
                raw_path_and_query: &target,
                headers: headers.to_vec(),
                payload_hash: &hex::encode(Sha256::digest(b"")),
                x_amz_date,
                region: "eu-west-3",
                service: "bedrock",
            };
            prop_assert_eq!(signature(&ours, "secret", time), reference.signature());
        });
    }
}
