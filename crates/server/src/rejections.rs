//! Bedrock-shaped answers for the requests that never reach a handler's own error path.
//!
//! axum answers some requests itself, with a bare status or a plain-text body: a known
//! path with the wrong method (405), a body over the limit (413),
//! and the rejections of its extractors (`Bytes`, `Path`, `Query`: 400/413/415/422).
//! SDKs cannot parse those: botocore reports them as an `Unknown` error code. Rather than
//! remember to wrap every extractor of every handler, the request middleware passes each
//! answer through [`bedrock_shaped`], so that no error leaves the service without an
//! `x-amzn-ErrorType`. [`from_status`] is the one mapping from such an answer to a
//! [`BedrockError`]; the response itself is still built by [`crate::error`].

use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use spillway_wire::{BedrockError, ErrorCode};

use crate::app::MAX_BODY;
use crate::error::ApiError;

/// The error header every Bedrock-shaped answer carries (set in [`crate::error`]).
const ERROR_TYPE: &str = "x-amzn-errortype";

/// The most of a plain-text rejection body quoted in the message (axum's are one line).
const MAX_QUOTED: usize = 4096;

/// Bedrock refuses input over its size limit as a ValidationException (its models declare
/// no 413); the message says which limit.
pub fn too_large(declared: Option<u64>) -> BedrockError {
    match declared {
        Some(n) => BedrockError::validation(format!(
            "The request body is {n} bytes, which exceeds the limit of {MAX_BODY} bytes. Send a smaller request."
        )),
        None => BedrockError::validation(format!(
            "The request body exceeds the limit of {MAX_BODY} bytes. Send a smaller request."
        )),
    }
}

/// A body whose `Content-Length` already says it is too large is refused before a byte
/// of it is read (with or without accounts: authentication buffers the body too).
pub fn declared_too_large(headers: &HeaderMap) -> Option<BedrockError> {
    let declared = headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse::<u64>().ok()?;
    (declared > MAX_BODY as u64).then(|| too_large(Some(declared)))
}

/// What a failure to read the request body means for the client.
pub fn body_error(e: &axum::Error) -> BedrockError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return too_large(None);
        }
        source = err.source();
    }
    BedrockError::validation(format!("The request body could not be read: {e}"))
}

/// The Bedrock error for a plain answer axum produced (`status` and its text) to a request
/// `method path`.
pub fn from_status(status: StatusCode, text: &str, method: &Method, path: &str) -> BedrockError {
    let text = text.trim();
    match status {
        // No operation is defined by this method on this path: the same answer as for a
        // path no operation has. (axum's `Allow` header does not survive the middleware
        // layers, so the message names the method at fault instead.)
        StatusCode::METHOD_NOT_ALLOWED => BedrockError::new(
            ErrorCode::UnknownOperation,
            format!("No operation matches {method} {path}: the path exists, but not for {method}."),
        ),
        StatusCode::NOT_FOUND => {
            BedrockError::new(ErrorCode::UnknownOperation, format!("No operation matches {method} {path}"))
        }
        StatusCode::PAYLOAD_TOO_LARGE => too_large(None),
        StatusCode::SERVICE_UNAVAILABLE => BedrockError::new(
            ErrorCode::ServiceUnavailable,
            if text.is_empty() { "The service is unavailable. Try your request again." } else { text },
        ),
        s if s.is_server_error() => BedrockError::internal(format!(
            "The request to {method} {path} failed inside the service ({s}){}",
            detail(text)
        )),
        s => BedrockError::validation(format!("The request to {method} {path} is malformed ({s}){}", detail(text))),
    }
}

fn detail(text: &str) -> String {
    if text.is_empty() {
        ".".to_owned()
    } else {
        format!(": {text}")
    }
}

/// `response` unchanged when it is a success or already Bedrock-shaped; otherwise the
/// Bedrock error [`from_status`] makes of it.
pub async fn bedrock_shaped(response: Response, method: &Method, path: &str) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || response.headers().contains_key(ERROR_TYPE) {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), MAX_QUOTED).await.unwrap_or_default();
    ApiError::from(from_status(status, &String::from_utf8_lossy(&text), method, path)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(status: u16, text: &str) -> BedrockError {
        let status = StatusCode::from_u16(status).unwrap();
        from_status(status, text, &Method::GET, "/model/m/converse")
    }

    #[test]
    fn wrong_method_is_an_unknown_operation_naming_the_method() {
        let e = map(405, "");
        assert_eq!(e.code, ErrorCode::UnknownOperation);
        assert_eq!(e.message, "No operation matches GET /model/m/converse: the path exists, but not for GET.");
    }

    #[test]
    fn oversized_body_is_a_validation_error_naming_the_limit() {
        let e = map(413, "Failed to buffer the body: length limit exceeded");
        assert_eq!(e.code, ErrorCode::Validation);
        assert!(e.message.contains("25000000 bytes"), "{}", e.message);
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, "25000001".parse().unwrap());
        assert!(declared_too_large(&headers).unwrap().message.contains("25000001 bytes"));
        headers.insert(header::CONTENT_LENGTH, "25000000".parse().unwrap());
        assert!(declared_too_large(&headers).is_none());
    }

    #[test]
    fn extractor_rejections_keep_their_text() {
        let e = map(415, "Expected request with `Content-Type: application/json`\n");
        assert_eq!(e.code, ErrorCode::Validation);
        assert!(e
            .message
            .ends_with("(415 Unsupported Media Type): Expected request with `Content-Type: application/json`"));
        assert_eq!(map(500, "").code, ErrorCode::InternalServer);
        assert_eq!(map(503, "").code, ErrorCode::ServiceUnavailable);
        assert_eq!(map(404, "").code, ErrorCode::UnknownOperation);
    }
}
