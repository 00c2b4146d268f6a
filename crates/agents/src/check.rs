//! Constraint checks shared by the bedrock-agent requests, on top of the prompt
//! checks' [`Violations`] (every violation in one ValidationException, with `fieldList`).
//! Members spillway does not implement are refused by name here, never ignored.

use std::collections::BTreeMap;

use serde_json::Value;
use spillway_wire::prompt::check::Violations;
use spillway_wire::BedrockError;

/// The error of this crate: always a Bedrock shape, mapped to HTTP by the server.
pub type AgentError = BedrockError;

/// A ValidationException naming one field.
pub fn invalid(field: &str, constraint: impl Into<String>) -> AgentError {
    let mut v = Violations::default();
    v.add(field, constraint);
    v.into_result().err().unwrap_or_else(|| BedrockError::validation(field.to_owned()))
}

/// A member spillway does not implement, refused by name.
pub fn unsupported(field: &str, why: &str) -> AgentError {
    BedrockError::validation(format!("{field} is not supported by spillway: {why}"))
}

/// Refuses `value` when it was sent at all.
pub fn refuse_if_set<T>(field: &str, value: &Option<T>, why: &str) -> Result<(), AgentError> {
    match value {
        Some(_) => Err(unsupported(field, why)),
        None => Ok(()),
    }
}

/// The checks of one request, collected.
#[derive(Debug, Default)]
pub struct Checks(pub Violations);

impl Checks {
    pub fn add(&mut self, field: &str, constraint: impl Into<String>) {
        self.0.add(field, constraint);
    }

    pub fn name(&mut self, field: &str, value: &str) {
        self.0.name(field, value);
    }

    pub fn description(&mut self, value: Option<&str>) {
        self.0.description("description", value);
    }

    pub fn client_token(&mut self, value: Option<&str>) {
        self.0.client_token(value);
    }

    /// `instruction`: 40 to 4000 characters.
    pub fn instruction(&mut self, value: Option<&str>) {
        if value.is_some_and(|i| !(40..=4000).contains(&i.chars().count())) {
            self.add("instruction", "Member must have length between 40 and 4000");
        }
    }

    /// `idleSessionTTLInSeconds`: 60 to 5400.
    pub fn session_ttl(&mut self, value: Option<i64>) {
        if value.is_some_and(|t| !(60..=5400).contains(&t)) {
            self.add("idleSessionTTLInSeconds", "Member must have value between 60 and 5400");
        }
    }

    /// An IAM role ARN (`arn:aws…:iam::{account}:role/…`); spillway keeps it, no IAM here.
    pub fn role_arn(&mut self, value: Option<&str>) {
        let ok = |r: &str| r.starts_with("arn:aws") && r.contains(":iam::") && r.contains(":role/") && r.len() <= 2048;
        if value.is_some_and(|r| !ok(r)) {
            self.add(
                "agentResourceRoleArn",
                "Member must satisfy regular expression pattern: arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+",
            );
        }
    }

    /// A KMS key ARN.
    pub fn kms_arn(&mut self, value: Option<&str>) {
        let ok = |k: &str| k.starts_with("arn:aws") && k.contains(":kms:") && k.contains(":key/") && k.len() <= 2048;
        if value.is_some_and(|k| !ok(k)) {
            self.add("customerEncryptionKeyArn", "Member must satisfy regular expression pattern: arn:aws(|-cn|-us-gov):kms:[a-zA-Z0-9-]*:[0-9]{12}:key/[a-zA-Z0-9-]{36}");
        }
    }

    /// A model identifier: 1 to 2048 characters without spaces (the server checks that
    /// it names a model it runs when the agent is prepared).
    pub fn model(&mut self, field: &str, value: Option<&str>) {
        if value.is_some_and(|m| m.is_empty() || m.len() > 2048 || m.chars().any(char::is_whitespace)) {
            self.add(field, "Member must have length between 1 and 2048 and satisfy the ModelIdentifier pattern");
        }
    }

    /// `tags`: keys 1–128 and values 0–256 characters of `[a-zA-Z0-9\s._:/=+@-]`.
    pub fn tags(&mut self, tags: Option<&BTreeMap<String, String>>) {
        let allowed =
            |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || c.is_whitespace() || "._:/=+@-".contains(c));
        for (k, v) in tags.into_iter().flatten() {
            if k.is_empty() || k.chars().count() > 128 || !allowed(k) {
                self.add(
                    &format!("tags.{k}"),
                    "Tag keys must have length between 1 and 128 and satisfy [a-zA-Z0-9\\s._:/=+@-]*",
                );
            }
            if v.chars().count() > 256 || !allowed(v) {
                self.add(
                    &format!("tags.{k}"),
                    "Tag values must have length at most 256 and satisfy [a-zA-Z0-9\\s._:/=+@-]*",
                );
            }
        }
    }

    pub fn enum_value(&mut self, field: &str, value: Option<&str>, allowed: &[&str]) {
        if let Some(v) = value {
            if !allowed.contains(&v) {
                self.add(field, format!("Member must satisfy enum value set: [{}]", allowed.join(", ")));
            }
        }
    }

    pub fn finish(self) -> Result<(), AgentError> {
        self.0.into_result()
    }
}

/// Tags as the (key, value) pairs the store takes.
pub fn tag_pairs(tags: Option<&BTreeMap<String, String>>) -> Vec<(String, String)> {
    tags.into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Inserts `value` under `key` when it is `Some` (answers omit absent members).
pub fn put<T: serde::Serialize>(map: &mut serde_json::Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(v) = value.and_then(|v| serde_json::to_value(v).ok()) {
        map.insert(key.to_owned(), v);
    }
}

/// A maxResults/nextToken page over `total` items: (offset, limit).
pub fn page(max_results: Option<i64>, next_token: Option<&str>) -> Result<(usize, usize), AgentError> {
    let limit = match max_results {
        None => 100,
        Some(n) if (1..=1000).contains(&n) => usize::try_from(n).unwrap_or(100),
        Some(_) => return Err(invalid("maxResults", "Member must have value between 1 and 1000")),
    };
    let offset = match next_token {
        None => 0,
        Some(t) => t
            .strip_prefix("agents-")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| BedrockError::validation("The provided nextToken is invalid."))?,
    };
    Ok((offset, limit))
}

/// The nextToken after a page that ended at `end`, if more follow.
pub fn next_token(end: usize, total_seen_more: bool) -> Option<String> {
    total_seen_more.then(|| format!("agents-{end}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_are_listed_together() {
        let mut c = Checks::default();
        c.instruction(Some("too short"));
        c.session_ttl(Some(5));
        c.name("agentName", "bad name!");
        let e = c.finish().unwrap_err();
        assert!(e.message.starts_with("3 validation errors detected"), "{}", e.message);
    }

    #[test]
    fn refused_members_are_named() {
        let e = refuse_if_set("memoryConfiguration", &Some(1), "no memory here").unwrap_err();
        assert!(e.message.contains("memoryConfiguration"));
        assert!(refuse_if_set::<u8>("memoryConfiguration", &None, "x").is_ok());
    }

    #[test]
    fn pages_round_trip_and_bad_tokens_fail() {
        assert_eq!(page(None, None).unwrap(), (0, 100));
        let token = next_token(10, true).unwrap();
        assert_eq!(page(Some(10), Some(&token)).unwrap(), (10, 10));
        assert!(page(Some(0), None).is_err());
        assert!(page(None, Some("garbage")).is_err());
        assert_eq!(next_token(10, false), None);
    }

    #[test]
    fn tags_are_checked() {
        let mut c = Checks::default();
        let tags = BTreeMap::from([("ok".to_owned(), "fine".to_owned()), ("bad*".to_owned(), "x".to_owned())]);
        c.tags(Some(&tags));
        assert!(c.finish().is_err());
    }
}
