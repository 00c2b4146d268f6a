//! Identifiers and ARNs of agents, aliases and action groups, and the agent status
//! clock (PrepareAgent's PREPARING → PREPARED).

use time::OffsetDateTime;

/// The built-in alias of every agent: it runs the DRAFT (as on Bedrock).
pub const TEST_ALIAS_ID: &str = "TSTALIASID";
pub const TEST_ALIAS_NAME: &str = "AgentTestAlias";

/// How long an agent stays PREPARING after PrepareAgent. Short, but observable: a
/// client that polls GetAgent sees the transition Bedrock documents.
pub const PREPARE_TIME: time::Duration = time::Duration::milliseconds(300);

/// A new 10-character ID (`[0-9A-Z]{10}`), as Bedrock's agent, alias and group IDs.
pub fn new_id() -> String {
    const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let bits = uuid::Uuid::new_v4().as_u128();
    (0..10).map(|i| char::from(ALPHABET[((bits >> (i * 6)) % 36) as usize])).collect()
}

/// Whether `s` is an agent, alias or action-group ID: 10 ASCII alphanumerics.
pub fn is_id(s: &str) -> bool {
    s.len() == 10 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

pub fn agent_arn(region: &str, account: &str, agent_id: &str) -> String {
    format!("arn:aws:bedrock:{region}:{account}:agent/{agent_id}")
}

pub fn alias_arn(region: &str, account: &str, agent_id: &str, alias_id: &str) -> String {
    format!("arn:aws:bedrock:{region}:{account}:agent-alias/{agent_id}/{alias_id}")
}

/// A taggable agent resource named by its ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taggable<'a> {
    Agent { region: &'a str, account: &'a str, agent_id: &'a str },
    Alias { region: &'a str, account: &'a str, agent_id: &'a str, alias_id: &'a str },
}

/// Parses `arn:aws:bedrock:{region}:{account}:agent/{id}` or `…:agent-alias/{id}/{alias}`.
pub fn parse_taggable(arn: &str) -> Option<Taggable<'_>> {
    let rest = arn.strip_prefix("arn:aws:bedrock:")?;
    let (region, rest) = rest.split_once(':')?;
    let (account, resource) = rest.split_once(':')?;
    if let Some(id) = resource.strip_prefix("agent/") {
        return is_id(id).then_some(Taggable::Agent { region, account, agent_id: id });
    }
    let (agent_id, alias_id) = resource.strip_prefix("agent-alias/")?.split_once('/')?;
    (is_id(agent_id) && is_id(alias_id)).then_some(Taggable::Alias { region, account, agent_id, alias_id })
}

/// The agent's status as a reader sees it at `now`: PREPARING lasts [`PREPARE_TIME`]
/// from `prepared_at`, then it is PREPARED. Computed, not written, so the transition
/// needs no background task and survives a restart.
pub fn observed_status(stored: &str, prepared_at: Option<OffsetDateTime>, now: OffsetDateTime) -> &str {
    match (stored, prepared_at) {
        ("PREPARING", Some(at)) if now >= at + PREPARE_TIME => "PREPARED",
        (s, _) => s,
    }
}

/// RFC 3339 with fractional seconds, as Bedrock's timestamps.
pub fn iso(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn ids_are_ten_alphanumerics_and_differ() {
        let (a, b) = (new_id(), new_id());
        assert!(is_id(&a) && is_id(&b), "{a} {b}");
        assert!(a.bytes().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert_ne!(a, b);
        assert!(!is_id("short") && !is_id("ABCDEFGHI-"));
    }

    #[test]
    fn taggable_arns_parse_and_others_do_not() {
        let agent = agent_arn("us-east-1", "123456789012", "AGENT00001");
        assert_eq!(
            parse_taggable(&agent),
            Some(Taggable::Agent { region: "us-east-1", account: "123456789012", agent_id: "AGENT00001" })
        );
        let alias = alias_arn("us-east-1", "123456789012", "AGENT00001", "ALIAS00001");
        assert!(matches!(parse_taggable(&alias), Some(Taggable::Alias { alias_id: "ALIAS00001", .. })));
        assert_eq!(parse_taggable("arn:aws:bedrock:us-east-1:123456789012:prompt/ABCDEFGHIJ"), None);
        assert_eq!(parse_taggable("arn:aws:bedrock:us-east-1:123456789012:agent/short"), None);
    }

    #[test]
    fn preparing_turns_prepared_after_the_prepare_time() {
        let at = datetime!(2024-05-03 10:00:00 UTC);
        assert_eq!(observed_status("PREPARING", Some(at), at), "PREPARING");
        assert_eq!(observed_status("PREPARING", Some(at), at + PREPARE_TIME), "PREPARED");
        assert_eq!(observed_status("NOT_PREPARED", Some(at), at + PREPARE_TIME), "NOT_PREPARED");
    }
}
