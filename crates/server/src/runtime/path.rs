//! The bedrock-runtime paths, `/model/{modelId}/{action}`, read without the route table.
//!
//! Every model call arrives on one of these five paths, and the route table's way to them
//! (a `matchit` lookup, the path label copied into a new request extension, then percent-
//! decoded a byte at a time through an iterator, and the matched route's boxed service
//! cloned) cost about 4,500 instructions of a 126,000-instruction Converse (issue 13).
//! [`crate::app`] sends a POST on one of them straight to its handler; everything else,
//! a runtime path with another method included, still goes through the route table, so
//! what a client meets is unchanged: the same handler, the same model ID.

use std::borrow::Cow;
use std::str::Utf8Error;

/// The actions under `/model/{modelId}/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Converse,
    ConverseStream,
    Invoke,
    InvokeStream,
    CountTokens,
}

impl Action {
    /// The action named by a path's last segment.
    pub fn from_segment(segment: &str) -> Option<Self> {
        Some(match segment {
            "converse" => Self::Converse,
            "converse-stream" => Self::ConverseStream,
            "invoke" => Self::Invoke,
            "invoke-with-response-stream" => Self::InvokeStream,
            "count-tokens" => Self::CountTokens,
            _ => return None,
        })
    }

    /// The operation's name (log spans, metrics).
    pub fn operation(self) -> &'static str {
        match self {
            Self::Converse => "Converse",
            Self::ConverseStream => "ConverseStream",
            Self::Invoke => "InvokeModel",
            Self::InvokeStream => "InvokeModelWithResponseStream",
            Self::CountTokens => "CountTokens",
        }
    }
}

/// A runtime path: the action and the model ID label as it came (still percent-encoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimePath<'a> {
    pub action: Action,
    pub raw_model: &'a str,
}

/// `path` as a runtime path, exactly where the route table's `/model/{model_id}/…` would
/// match it: one non-empty label (no `/` in it; an ARN's slash comes encoded as `%2F`).
pub fn parse(path: &str) -> Option<RuntimePath<'_>> {
    let rest = path.strip_prefix("/model/")?;
    let (raw_model, action) = rest.split_once('/')?;
    if raw_model.is_empty() {
        return None;
    }
    Some(RuntimePath { action: Action::from_segment(action)?, raw_model })
}

/// The label percent-decoded (`%3A` → `:`, `%2F` → `/`), borrowed when there is nothing
/// to decode; an error when the decoded bytes are not UTF-8.
pub fn decode(raw: &str) -> Result<Cow<'_, str>, Utf8Error> {
    match unescape(raw) {
        None => Ok(Cow::Borrowed(raw)),
        Some(bytes) => String::from_utf8(bytes).map(Cow::Owned).map_err(|e| e.utf8_error()),
    }
}

/// [`decode`] for display: bytes that are not UTF-8 become U+FFFD.
pub fn decode_lossy(raw: &str) -> Cow<'_, str> {
    match unescape(raw) {
        None => Cow::Borrowed(raw),
        Some(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Cow::Owned(text),
            Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        },
    }
}

/// `raw` with every `%XX` (two hex digits) replaced by its byte, as `percent_encoding`
/// decodes (a `%` that starts no escape stays); `None` when there is no `%` at all. The
/// runs between escapes are copied whole: every SDK sends `:` as `%3A`, and decoding a
/// byte at a time through `percent_encoding`'s iterator cost about 1,000 instructions a
/// model ID.
fn unescape(raw: &str) -> Option<Vec<u8>> {
    let bytes = raw.as_bytes();
    let mut at = memchr::memchr(b'%', bytes)?;
    let mut out = Vec::with_capacity(bytes.len());
    let mut run = 0;
    loop {
        let hex = |i: usize| bytes.get(i).and_then(|&b| char::from(b).to_digit(16));
        let mut next = at + 1;
        if let (Some(high), Some(low)) = (hex(at + 1), hex(at + 2)) {
            out.extend_from_slice(&bytes[run..at]);
            // Two hex digits: at most 0xff.
            out.push(u8::try_from(high * 16 + low).unwrap_or(b'%'));
            run = at + 3;
            next = run;
        }
        match bytes.get(next..).and_then(|rest| memchr::memchr(b'%', rest)) {
            Some(n) => at = next + n,
            None => break,
        }
    }
    out.extend_from_slice(&bytes[run..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_paths_are_the_route_tables() {
        let p = parse("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream").unwrap();
        assert_eq!(
            p,
            RuntimePath { action: Action::ConverseStream, raw_model: "anthropic.claude-3-haiku-20240307-v1%3A0" }
        );
        for (segment, action) in [
            ("converse", Action::Converse),
            ("invoke", Action::Invoke),
            ("invoke-with-response-stream", Action::InvokeStream),
            ("count-tokens", Action::CountTokens),
        ] {
            assert_eq!(parse(&format!("/model/m/{segment}")).unwrap().action, action);
        }
        // What `/model/{model_id}/converse` would not match is not a runtime path.
        for path in [
            "/model//converse",
            "/model/a/b/converse",
            "/model/m/converse/",
            "/model/m/unknown",
            "/model/m",
            "/models/m/converse",
            "/foundation-models",
        ] {
            assert_eq!(parse(path), None, "{path}");
        }
    }

    #[test]
    fn labels_decode_as_axum_decodes_them() {
        let arn = "arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.m";
        assert_eq!(decode(arn).unwrap(), "arn:aws:bedrock:us-east-1:1:inference-profile/us.m");
        assert!(matches!(decode("amazon.nova-pro-v1:0").unwrap(), Cow::Borrowed("amazon.nova-pro-v1:0")));
        // A `%` that starts no escape stays, as percent_encoding leaves it.
        assert_eq!(decode("a%zz%4").unwrap(), "a%zz%4");
        assert!(decode("claude%FF").is_err());
        assert_eq!(decode_lossy("claude%FF"), "claude\u{fffd}");
        // The same as percent_encoding on every label (the route table's decoding).
        for raw in ["a%3Ab", "%2F%2f", "x%E2%9C%93y", "plain", "%", "%%41", "%4", "a%", "%41%", "%%%", "%3A%3a%"] {
            let axum = percent_encoding::percent_decode_str(raw).decode_utf8().unwrap();
            assert_eq!(decode(raw).unwrap(), axum, "{raw}");
        }
        // And on pseudo-random labels drawn from the bytes that matter.
        let alphabet = b"%3Aaf0Fg:/-.x";
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            let len = (seed % 12) as usize;
            let raw: String = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    char::from(alphabet[(seed % alphabet.len() as u64) as usize])
                })
                .collect();
            let lossy = percent_encoding::percent_decode_str(&raw).decode_utf8_lossy();
            assert_eq!(decode_lossy(&raw), lossy, "{raw}");
            seed = seed.wrapping_add(1);
        }
    }
}
