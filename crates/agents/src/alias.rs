//! Agent aliases: CreateAgentAlias and UpdateAgentAlias requests, their routing
//! (an agent version and, optionally, a provisioned throughput: seed 002), the history
//! of routings, and the answers' shapes. The built-in TSTALIASID routes to the DRAFT.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::check::{invalid, put, AgentError, Checks};
use crate::ids::{iso, TEST_ALIAS_ID, TEST_ALIAS_NAME};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Routing {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioned_throughput: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAliasRequest {
    pub agent_alias_name: String,
    pub client_token: Option<String>,
    pub description: Option<String>,
    pub routing_configuration: Option<Vec<Routing>>,
    pub tags: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateAliasRequest {
    pub agent_alias_name: String,
    pub description: Option<String>,
    pub routing_configuration: Option<Vec<Routing>>,
    pub alias_invocation_state: Option<String>,
}

/// Where an alias's routing points once the handler resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionChoice {
    /// No agentVersion given: snapshot the (prepared) DRAFT as a new version.
    Snapshot,
    /// An existing numbered version.
    Existing(u32),
}

/// Checks a routing configuration; returns the version choice and the provisioned
/// throughput it names (name or ARN), if any.
pub fn check_routing(routing: Option<&[Routing]>) -> Result<(VersionChoice, Option<String>), AgentError> {
    let item = match routing {
        None | Some([]) => return Ok((VersionChoice::Snapshot, None)),
        Some([one]) => one,
        Some(_) => return Err(invalid("routingConfiguration", "Member must have length less than or equal to 1")),
    };
    if let Some(pt) = &item.provisioned_throughput {
        if !is_provisioned_identifier(pt) {
            return Err(invalid(
                "routingConfiguration.1.member.provisionedThroughput",
                "Member must satisfy regular expression pattern: ((([0-9a-zA-Z][_-]?){1,63})|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:provisioned-model/[a-z0-9]{12}))",
            ));
        }
    }
    let choice = match item.agent_version.as_deref() {
        None => VersionChoice::Snapshot,
        Some("DRAFT") => {
            return Err(invalid(
                "routingConfiguration.1.member.agentVersion",
                "An alias cannot route to the DRAFT version; the TSTALIASID alias does",
            ))
        }
        Some(v) => VersionChoice::Existing(crate::agent::numbered_version(v).map_err(|_| {
            invalid(
                "routingConfiguration.1.member.agentVersion",
                "Member must satisfy regular expression pattern: (DRAFT|[0-9]{0,4}[1-9][0-9]{0,4})",
            )
        })?),
    };
    Ok((choice, item.provisioned_throughput.clone()))
}

fn is_provisioned_identifier(s: &str) -> bool {
    if let Some(rest) = s.strip_prefix("arn:aws") {
        return rest.contains(":bedrock:") && rest.contains(":provisioned-model/") && s.len() <= 2048;
    }
    let mut groups = 0;
    let mut after_sep = true;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            groups += 1;
            after_sep = false;
        } else if matches!(c, '_' | '-') && !after_sep {
            after_sep = true;
        } else {
            return false;
        }
    }
    (1..=63).contains(&groups)
}

/// What the handler knows of the provisioned throughput an alias names.
pub struct ProvisionedFacts<'a> {
    pub arn: &'a str,
    pub status: &'a str,
    /// The foundation model it serves (`…:foundation-model/anthropic.claude-v2:1:18k`).
    pub foundation_model_arn: &'a str,
}

/// The throughput must be InService and serve the agent's model (a context-length
/// variant of it counts: Claude 2.1 18k serves an agent on Claude 2.1, as in seed 002).
pub fn check_provisioned(asked: &str, pt: &ProvisionedFacts<'_>, agent_model: &str) -> Result<(), AgentError> {
    if pt.status != "InService" {
        return Err(AgentError::validation(format!(
            "The provisioned throughput {asked} is not in service (status: {}). Use it in an alias once its status is InService.",
            pt.status
        )));
    }
    let served = pt.foundation_model_arn.rsplit_once("foundation-model/").map_or(pt.foundation_model_arn, |(_, m)| m);
    let agent_model = agent_model.rsplit_once("foundation-model/").map_or(agent_model, |(_, m)| m);
    let fits = served == agent_model
        || served
            .strip_prefix(agent_model)
            .and_then(|r| r.strip_prefix(':'))
            .is_some_and(|v| !v.is_empty() && !v.contains(':'));
    if !fits {
        return Err(AgentError::validation(format!(
            "The provisioned throughput {asked} serves {served}, not the agent's foundation model {agent_model}."
        )));
    }
    Ok(())
}

/// The unknown-throughput refusal.
pub fn unknown_provisioned(asked: &str) -> AgentError {
    AgentError::validation(format!(
        "The provisioned throughput {asked} doesn't exist in this account and Region. Purchase it with CreateProvisionedModelThroughput or name an existing one."
    ))
}

/// A new alias body: its routing, one history event starting now, accepting calls.
pub fn new_body(description: Option<String>, routing: &Routing, now: OffsetDateTime) -> Value {
    let mut m = Map::new();
    put(&mut m, "description", description);
    m.insert("routingConfiguration".into(), json!([routing]));
    m.insert("agentAliasHistoryEvents".into(), json!([{"routingConfiguration": [routing], "startDate": iso(now)}]));
    m.insert("aliasInvocationState".into(), json!("ACCEPT_INVOCATIONS"));
    Value::Object(m)
}

/// The body after UpdateAgentAlias: the previous routing's history event ends now.
pub fn updated_body(
    old: &Value,
    description: Option<String>,
    routing: &Routing,
    state: Option<&str>,
    now: OffsetDateTime,
) -> Result<Value, AgentError> {
    let mut c = Checks::default();
    c.enum_value("aliasInvocationState", state, &["ACCEPT_INVOCATIONS", "REJECT_INVOCATIONS"]);
    c.finish()?;
    let mut history: Vec<Value> =
        old.get("agentAliasHistoryEvents").and_then(Value::as_array).cloned().unwrap_or_default();
    if old.get("routingConfiguration") != Some(&json!([routing])) {
        if let Some(Value::Object(last)) = history.first_mut() {
            last.entry("endDate").or_insert_with(|| json!(iso(now)));
        }
        // Newest first, as Bedrock lists them; it keeps the last 10.
        history.insert(0, json!({"routingConfiguration": [routing], "startDate": iso(now)}));
        history.truncate(10);
    }
    let previous_state = old.get("aliasInvocationState").and_then(Value::as_str).unwrap_or("ACCEPT_INVOCATIONS");
    let mut m = Map::new();
    put(&mut m, "description", description);
    m.insert("routingConfiguration".into(), json!([routing]));
    m.insert("agentAliasHistoryEvents".into(), Value::Array(history));
    m.insert("aliasInvocationState".into(), json!(state.unwrap_or(previous_state)));
    Ok(Value::Object(m))
}

/// What the views need of a stored alias.
pub struct AliasFacts<'a> {
    pub agent_id: &'a str,
    pub id: &'a str,
    pub arn: &'a str,
    pub name: &'a str,
    pub body: &'a Value,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub client_token: Option<&'a str>,
}

impl AliasFacts<'_> {
    /// The `AgentAlias` shape.
    pub fn view(&self) -> Value {
        let mut m = self.body.as_object().cloned().unwrap_or_default();
        m.insert("agentId".into(), json!(self.agent_id));
        m.insert("agentAliasId".into(), json!(self.id));
        m.insert("agentAliasName".into(), json!(self.name));
        m.insert("agentAliasArn".into(), json!(self.arn));
        m.insert("agentAliasStatus".into(), json!("PREPARED"));
        m.insert("createdAt".into(), json!(iso(self.created_at)));
        m.insert("updatedAt".into(), json!(iso(self.updated_at)));
        put(&mut m, "clientToken", self.client_token);
        Value::Object(m)
    }

    /// The `AgentAliasSummary` shape.
    pub fn summary(&self) -> Value {
        let mut m = Map::new();
        m.insert("agentAliasId".into(), json!(self.id));
        m.insert("agentAliasName".into(), json!(self.name));
        put(&mut m, "description", self.body.get("description"));
        put(&mut m, "routingConfiguration", self.body.get("routingConfiguration"));
        m.insert("agentAliasStatus".into(), json!("PREPARED"));
        m.insert("createdAt".into(), json!(iso(self.created_at)));
        m.insert("updatedAt".into(), json!(iso(self.updated_at)));
        put(&mut m, "aliasInvocationState", self.body.get("aliasInvocationState"));
        Value::Object(m)
    }

    /// The routing the alias runs on.
    pub fn routing(&self) -> Routing {
        routing_of(self.body)
    }

    pub fn accepts_invocations(&self) -> bool {
        self.body.get("aliasInvocationState").and_then(Value::as_str) != Some("REJECT_INVOCATIONS")
    }
}

pub fn routing_of(body: &Value) -> Routing {
    body.get("routingConfiguration")
        .and_then(|r| r.get(0))
        .and_then(|r| serde_json::from_value(r.clone()).ok())
        .unwrap_or_default()
}

/// The built-in test alias body: the DRAFT, on demand.
pub fn test_alias_body() -> Value {
    let routing = Routing { agent_version: Some("DRAFT".into()), provisioned_throughput: None };
    json!({"routingConfiguration": [routing], "aliasInvocationState": "ACCEPT_INVOCATIONS"})
}

pub const TEST_ALIAS: (&str, &str) = (TEST_ALIAS_ID, TEST_ALIAS_NAME);

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const PT: &str = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/6w96yspvh8ey";

    fn routing(version: Option<&str>, pt: Option<&str>) -> Vec<Routing> {
        vec![Routing { agent_version: version.map(str::to_owned), provisioned_throughput: pt.map(str::to_owned) }]
    }

    #[test]
    fn routing_is_checked() {
        assert_eq!(check_routing(None).unwrap(), (VersionChoice::Snapshot, None));
        assert_eq!(
            check_routing(Some(&routing(Some("2"), Some(PT)))).unwrap(),
            (VersionChoice::Existing(2), Some(PT.into()))
        );
        assert_eq!(check_routing(Some(&routing(None, Some("hogethru2")))).unwrap().1.as_deref(), Some("hogethru2"));
        assert!(check_routing(Some(&routing(Some("DRAFT"), None))).is_err());
        assert!(check_routing(Some(&routing(Some("x"), None))).is_err());
        assert!(check_routing(Some(&routing(None, Some("not a name!")))).is_err());
        let two = [routing(Some("1"), None), routing(Some("2"), None)].concat();
        assert!(check_routing(Some(&two)).is_err());
    }

    #[test]
    fn provisioned_must_serve_the_agent_model_in_service() {
        let claude = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2:1:18k";
        let pt = ProvisionedFacts { arn: PT, status: "InService", foundation_model_arn: claude };
        assert!(check_provisioned(PT, &pt, "anthropic.claude-v2:1").is_ok());
        assert!(check_provisioned(PT, &pt, "anthropic.claude-v2").is_err());
        assert!(check_provisioned(PT, &pt, "anthropic.claude-3-haiku-20240307-v1:0").is_err());
        let creating = ProvisionedFacts { status: "Creating", ..pt };
        let e = check_provisioned(PT, &creating, "anthropic.claude-v2:1").unwrap_err();
        assert!(e.message.contains("Creating"), "{}", e.message);
        assert!(unknown_provisioned("nope").message.contains("nope"));
    }

    #[test]
    fn updates_keep_a_history_of_routings() {
        let t0 = datetime!(2024-05-03 10:00 UTC);
        let r1 = Routing { agent_version: Some("1".into()), provisioned_throughput: Some(PT.into()) };
        let body = new_body(Some("live".into()), &r1, t0);
        let facts = AliasFacts {
            agent_id: "AGENT00001",
            id: "ALIAS00001",
            arn: "arn",
            name: "live",
            body: &body,
            created_at: t0,
            updated_at: t0,
            client_token: None,
        };
        assert_eq!(facts.routing(), r1);
        assert_eq!(facts.summary()["routingConfiguration"][0]["provisionedThroughput"], PT);
        assert!(facts.accepts_invocations());
        let r2 = Routing { agent_version: Some("2".into()), provisioned_throughput: None };
        let t1 = datetime!(2024-05-04 10:00 UTC);
        let next = updated_body(&body, None, &r2, Some("REJECT_INVOCATIONS"), t1).unwrap();
        let history = next["agentAliasHistoryEvents"].as_array().unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[0]["routingConfiguration"][0]["agentVersion"], "2");
        assert_eq!(history[1]["endDate"], iso(t1));
        assert_eq!(next["aliasInvocationState"], "REJECT_INVOCATIONS");
        assert!(updated_body(&body, None, &r2, Some("MAYBE"), t1).is_err());
        assert_eq!(routing_of(&test_alias_body()).agent_version.as_deref(), Some("DRAFT"));
    }
}
