//! What the bedrock list operations share: the common query members (`nameContains`,
//! `creationTimeAfter`/`Before`, `sortBy`, `sortOrder`, `maxResults`, `nextToken`) turned
//! into the store's one [`ListFilter`], opaque `nextToken`s (an offset, tagged with the
//! operation's own prefix so one list's token is refused by another) and the ISO 8601
//! time filters.

use base64::Engine as _;
use spillway_store::ListFilter;
use spillway_wire::{parse, BedrockError};
use time::OffsetDateTime;

/// The time window and order of a list operation: which members carry them.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    pub after: &'static str,
    pub before: &'static str,
    /// The one `sortBy` value the operation knows.
    pub sort_by: &'static str,
}

/// ListProvisionedModelThroughputs, ListModelImportJobs, ListImportedModels.
pub const CREATION_TIME: Times =
    Times { after: "creationTimeAfter", before: "creationTimeBefore", sort_by: "CreationTime" };
/// ListModelInvocationJobs: filtered by submit time, sorted by `CreationTime`.
pub const SUBMIT_TIME_JOBS: Times =
    Times { after: "submitTimeAfter", before: "submitTimeBefore", sort_by: "CreationTime" };
/// ListAsyncInvokes.
pub const SUBMIT_TIME: Times =
    Times { after: "submitTimeAfter", before: "submitTimeBefore", sort_by: "SubmissionTime" };

impl Default for Times {
    fn default() -> Self {
        CREATION_TIME
    }
}

/// The query members every list operation of the control plane has, as received.
#[derive(Debug, Default, Clone, Copy)]
pub struct ListParams<'a> {
    pub times: Times,
    pub name_contains: Option<&'a str>,
    pub time_after: Option<&'a str>,
    pub time_before: Option<&'a str>,
    pub sort_by: Option<&'a str>,
    pub sort_order: Option<&'a str>,
    pub max_results: Option<&'a str>,
    pub next_token: Option<&'a str>,
}

/// The store filter of a list call (sorted by creation time, newest first unless asked
/// otherwise, 1–1000 a page), or the ValidationException naming the bad member.
pub fn list_filter(p: ListParams<'_>, token_prefix: &str) -> Result<ListFilter, BedrockError> {
    if let Some(s) = p.sort_by.filter(|s| *s != p.times.sort_by) {
        let constraint = format!("Member must satisfy enum value set: [{}]", p.times.sort_by);
        return Err(parse::value_violation("sortBy", s, &constraint));
    }
    let descending = match p.sort_order {
        None | Some("Descending") => true,
        Some("Ascending") => false,
        Some(s) => {
            let constraint = "Member must satisfy enum value set: [Ascending, Descending]";
            return Err(parse::value_violation("sortOrder", s, constraint));
        }
    };
    let limit = match p.max_results {
        None => 1000,
        Some(m) => m
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| parse::value_violation("maxResults", m, "Member must have value between 1 and 1000"))?,
    };
    Ok(ListFilter {
        name_contains: p.name_contains.map(str::to_owned),
        created_after: p.time_after.map(|t| timestamp(p.times.after, t)).transpose()?,
        created_before: p.time_before.map(|t| timestamp(p.times.before, t)).transpose()?,
        descending,
        limit,
        offset: p.next_token.map(|t| decode_token(token_prefix, t)).transpose()?.unwrap_or(0),
    })
}

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
    fn list_filters_default_and_refuse_by_member() {
        let f = list_filter(ListParams::default(), "x:").unwrap();
        assert_eq!((f.limit, f.offset, f.descending), (1000, 0, true));
        let p = ListParams {
            sort_order: Some("Ascending"),
            next_token: Some(&encode_token("x:", 5)),
            ..Default::default()
        };
        let f = list_filter(p, "x:").unwrap();
        assert_eq!((f.offset, f.descending), (5, false));
        let bad = |p: ListParams<'_>| list_filter(p, "x:").unwrap_err().message;
        assert!(bad(ListParams { max_results: Some("0"), ..Default::default() }).contains("maxResults"));
        assert!(bad(ListParams { sort_by: Some("Name"), ..Default::default() }).contains("sortBy"));
        assert!(bad(ListParams { sort_order: Some("Up"), ..Default::default() }).contains("sortOrder"));
        assert!(bad(ListParams { next_token: Some("nope"), ..Default::default() }).contains("nextToken"));
    }

    #[test]
    fn timestamps_name_the_field() {
        assert!(timestamp("creationTimeAfter", "2024-01-01T00:00:00Z").is_ok());
        let e = timestamp("creationTimeAfter", "yesterday").unwrap_err();
        assert!(e.message.contains("creationTimeAfter"), "{}", e.message);
    }
}
