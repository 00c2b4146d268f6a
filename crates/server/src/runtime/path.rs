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
/// to decode (the usual model ID); an error when the decoded bytes are not UTF-8.
pub fn decode(raw: &str) -> Result<Cow<'_, str>, Utf8Error> {
    if !raw.as_bytes().contains(&b'%') {
        return Ok(Cow::Borrowed(raw));
    }
    percent_encoding::percent_decode_str(raw).decode_utf8()
}

/// [`decode`] for display: bytes that are not UTF-8 become U+FFFD.
pub fn decode_lossy(raw: &str) -> Cow<'_, str> {
    if !raw.as_bytes().contains(&b'%') {
        return Cow::Borrowed(raw);
    }
    percent_encoding::percent_decode_str(raw).decode_utf8_lossy()
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
        for raw in ["a%3Ab", "%2F%2f", "x%E2%9C%93y", "plain", "%", "%%41"] {
            let axum = percent_encoding::percent_decode_str(raw).decode_utf8().unwrap();
            assert_eq!(decode(raw).unwrap(), axum, "{raw}");
        }
    }
}
