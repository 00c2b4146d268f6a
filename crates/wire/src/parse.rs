//! Request bodies to typed values, with errors that name the field path.

use serde::de::DeserializeOwned;

use crate::error::BedrockError;

/// Parse a JSON body. Syntax errors and type errors both become a ValidationException;
/// type errors name the path (`messages[0].content[1]`) of the offending value.
pub fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, BedrockError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(BedrockError::validation(
            "Malformed input request: the request body is empty, please reformat your input and try again.",
        ));
    }
    // Well-formed bodies (nearly all of them) take the plain parser; the path-tracking
    // one, which costs about twice as much, runs again only to explain a failure.
    if let Ok(value) = from_text(body) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            BedrockError::validation(format!(
                "Malformed input request: {inner}, please reformat your input and try again."
            ))
        } else {
            let msg = strip_position(&inner.to_string());
            unknown_member(&path, &msg).unwrap_or_else(|| violation(&path, &msg))
        }
    })?;
    de.end().map_err(|e| {
        BedrockError::validation(format!("Malformed input request: {e}, please reformat your input and try again."))
    })?;
    Ok(value)
}

/// `body` parsed as the text it is when it is UTF-8: validated once as a whole (the
/// standard library's ASCII fast path) instead of string by string, as `from_slice`
/// validates each string it reads (issue 13: the answer's text is most of a body). Not
/// UTF-8: `from_slice`, whose error names the place.
pub fn from_text<'de, T: serde::Deserialize<'de>>(body: &'de [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    }
}

/// A member the request types do not model (`deny_unknown_fields`) is refused by its
/// path, like the modelled members this endpoint does not honour ([`crate::surface`]).
fn unknown_member(path: &str, msg: &str) -> Option<BedrockError> {
    let rest = msg.strip_prefix("unknown field `")?;
    let name = &rest[..rest.find('`')?];
    let full = match path {
        "" | "." => name.to_owned(),
        p if p == name || p.ends_with(&format!(".{name}")) => p.to_owned(),
        p => format!("{p}.{name}"),
    };
    Some(crate::surface::not_supported(&format!("The member {name}"), &full))
}

/// serde_json appends " at line 1 column 40" to data errors; the path says it better.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// Bedrock's (Coral's) wording for one constraint violation.
pub fn violation(path: &str, constraint: &str) -> BedrockError {
    let path = if path == "." || path.is_empty() { "body" } else { path };
    BedrockError::validation(format!(
        "1 validation error detected: Value at '{path}' failed to satisfy constraint: {constraint}"
    ))
}

/// Like [`violation`], quoting the offending value as Coral does.
pub fn value_violation(path: &str, value: impl std::fmt::Display, constraint: &str) -> BedrockError {
    BedrockError::validation(format!(
        "1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: {constraint}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::converse::ConverseRequest;

    #[test]
    fn wrong_type_names_the_path() {
        let e = json::<ConverseRequest>(br#"{"messages":[{"role":"user","content":"hi"}]}"#).unwrap_err();
        assert!(e.message.contains("'messages[0].content'"), "{}", e.message);
        assert!(e.message.contains("expected a sequence"), "{}", e.message);
    }

    #[test]
    fn union_with_two_members_names_both() {
        let body = br#"{"messages":[{"role":"user","content":[{"text":"a","image":{"format":"png","source":{"bytes":"AA=="}}}]}]}"#;
        let e = json::<ConverseRequest>(body).unwrap_err();
        assert!(e.message.contains("'messages[0].content[0]'"), "{}", e.message);
        assert!(e.message.contains("found 2 (text, image)"), "{}", e.message);
    }

    #[test]
    fn bad_role_names_the_path_and_choices() {
        let e = json::<ConverseRequest>(br#"{"messages":[{"role":"robot","content":[]}]}"#).unwrap_err();
        assert!(e.message.contains("'messages[0].role'"), "{}", e.message);
        assert!(e.message.contains("`user`"), "{}", e.message);
    }

    /// Found by fuzz_converse: without serde_json's `float_roundtrip` this parsed one ULP off
    /// (4.303363396616074e130), so the backend saw another number than the client sent.
    #[test]
    fn floats_parse_exactly() {
        let v: serde_json::Value = json(b"[4.303363396616073e130, 0.1, 5e-324]").unwrap();
        assert_eq!(v[0].as_f64(), Some(4.303363396616073e130));
        assert_eq!(v[1].as_f64(), Some(0.1));
        assert_eq!(v[2].as_f64(), Some(5e-324));
    }

    #[test]
    fn unknown_member_is_named_with_its_path() {
        let e = json::<ConverseRequest>(br#"{"messages":[{"role":"user","content":[{"text":"x"}],"name":"bob"}]}"#)
            .unwrap_err();
        assert!(e.message.contains("messages[0].name"), "{}", e.message);
        assert!(e.message.contains("The member name is not supported"), "{}", e.message);
        let e = json::<ConverseRequest>(br#"{"messages":[],"inferenceConfig":{"maxToken":5}}"#).unwrap_err();
        assert!(e.message.contains("inferenceConfig.maxToken"), "{}", e.message);
    }

    #[test]
    fn unmodelled_member_is_refused_by_path() {
        let body = br#"{"messages":[{"role":"user","content":[{"text":"a"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"t","inputSchema":{"json":{}},"strict":true}}]}}"#;
        let e = json::<ConverseRequest>(body).unwrap_err();
        assert!(
            e.message.ends_with("is not supported by this endpoint: toolConfig.tools[0].toolSpec.strict"),
            "{}",
            e.message
        );
        let e = json::<ConverseRequest>(br#"{"messages":[],"modelId":"x"}"#).unwrap_err();
        assert!(e.message.ends_with("is not supported by this endpoint: modelId"), "{}", e.message);
    }

    #[test]
    fn malformed_json_is_a_validation_error() {
        let e = json::<ConverseRequest>(b"{\"messages\": [").unwrap_err();
        assert_eq!(e.code, crate::ErrorCode::Validation);
        assert!(e.message.starts_with("Malformed input request"), "{}", e.message);
        let e = json::<ConverseRequest>(b"").unwrap_err();
        assert!(e.message.contains("empty"), "{}", e.message);
    }
}
