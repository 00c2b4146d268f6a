//! What the bedrock list operations share: opaque `nextToken`s (an offset, tagged with
//! the operation's own prefix so one list's token is refused by another) and the
//! ISO 8601 time filters.

use base64::Engine as _;
use spillway_wire::{parse, BedrockError};
use time::OffsetDateTime;

/// The `nextToken` of the page that starts at `offset`.
pub fn encode_token(prefix: &str, offset: u32) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{prefix}{offset}"))
}

/// The offset a `nextToken` of this list stands for.
pub fn decode_token(prefix: &str, token: &str) -> Result<u32, BedrockError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix(prefix).and_then(|n| n.parse().ok()))
        .ok_or_else(|| BedrockError::validation("The provided nextToken is invalid."))
}

/// A `creationTimeAfter`-style filter value.
pub fn timestamp(field: &str, value: &str) -> Result<OffsetDateTime, BedrockError> {
    OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map_err(|_| parse::value_violation(field, value, "Member must be an ISO 8601 timestamp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_stay_with_their_list() {
        let t = encode_token("pt:", 40);
        assert_eq!(decode_token("pt:", &t).unwrap(), 40);
        assert!(decode_token("import:", &t).is_err());
        assert!(decode_token("pt:", "not base64!").is_err());
    }

    #[test]
    fn timestamps_name_the_field() {
        assert!(timestamp("creationTimeAfter", "2024-01-01T00:00:00Z").is_ok());
        let e = timestamp("creationTimeAfter", "yesterday").unwrap_err();
        assert!(e.message.contains("creationTimeAfter"), "{}", e.message);
    }
}
