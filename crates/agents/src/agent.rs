//! CreateAgent, UpdateAgent, GetAgent, ListAgents, PrepareAgent, and the agent versions:
//! what a request may hold, the DRAFT body the store keeps, and the answers' shapes.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::check::{invalid, put, refuse_if_set, AgentError, Checks};
use crate::ids::{iso, observed_status};

/// Bedrock's default idle session TTL.
pub const DEFAULT_SESSION_TTL: i64 = 600;

/// The members CreateAgent and UpdateAgent share (UpdateAgent requires some of them).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentRequest {
    pub agent_name: String,
    pub client_token: Option<String>,
    pub instruction: Option<String>,
    pub foundation_model: Option<String>,
    pub description: Option<String>,
    pub orchestration_type: Option<String>,
    #[serde(rename = "idleSessionTTLInSeconds")]
    pub idle_session_ttl_in_seconds: Option<i64>,
    pub agent_resource_role_arn: Option<String>,
    pub customer_encryption_key_arn: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub agent_collaboration: Option<String>,
    // Refused by name: each needs something spillway does not run.
    pub custom_orchestration: Option<Value>,
    pub prompt_override_configuration: Option<Value>,
    pub guardrail_configuration: Option<Value>,
    pub memory_configuration: Option<Value>,
}

/// A checked CreateAgent or UpdateAgent request.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentDraft {
    pub name: String,
    pub client_token: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    /// The DRAFT's members as stored.
    pub body: Value,
}

/// Which operation a request came with (they differ in what is required and allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    Update,
}

impl AgentRequest {
    /// Checks everything and returns the DRAFT body to store.
    pub fn into_body(self, op: Op) -> Result<AgentDraft, AgentError> {
        refuse_if_set(
            "customOrchestration",
            &self.custom_orchestration,
            "custom orchestration runs a Lambda function",
        )?;
        refuse_if_set(
            "promptOverrideConfiguration",
            &self.prompt_override_configuration,
            "agents use the built-in orchestration prompt (README, Agents)",
        )?;
        refuse_if_set("guardrailConfiguration", &self.guardrail_configuration, "there are no guardrails here")?;
        refuse_if_set("memoryConfiguration", &self.memory_configuration, "agent memory is not kept")?;
        if op == Op::Update && self.client_token.is_some() {
            return Err(invalid("clientToken", "UpdateAgent has no clientToken member"));
        }
        if op == Op::Update && self.tags.is_some() {
            return Err(invalid("tags", "UpdateAgent has no tags member; use TagResource"));
        }
        let mut c = Checks::default();
        c.name("agentName", &self.agent_name);
        c.client_token(self.client_token.as_deref());
        c.instruction(self.instruction.as_deref());
        c.model("foundationModel", self.foundation_model.as_deref());
        c.description(self.description.as_deref());
        c.session_ttl(self.idle_session_ttl_in_seconds);
        c.role_arn(self.agent_resource_role_arn.as_deref());
        c.kms_arn(self.customer_encryption_key_arn.as_deref());
        c.tags(self.tags.as_ref());
        c.enum_value("orchestrationType", self.orchestration_type.as_deref(), &["DEFAULT", "CUSTOM_ORCHESTRATION"]);
        c.enum_value(
            "agentCollaboration",
            self.agent_collaboration.as_deref(),
            &["SUPERVISOR", "SUPERVISOR_ROUTER", "DISABLED"],
        );
        if op == Op::Update {
            if self.foundation_model.is_none() {
                c.add("foundationModel", "Member must not be null");
            }
            if self.agent_resource_role_arn.is_none() {
                c.add("agentResourceRoleArn", "Member must not be null");
            }
        }
        c.finish()?;
        if self.orchestration_type.as_deref() == Some("CUSTOM_ORCHESTRATION") {
            return Err(crate::check::unsupported(
                "orchestrationType CUSTOM_ORCHESTRATION",
                "it runs a Lambda function",
            ));
        }
        if self.agent_collaboration.as_deref().is_some_and(|a| a != "DISABLED") {
            return Err(crate::check::unsupported(
                "agentCollaboration",
                "multi-agent collaboration is not implemented",
            ));
        }
        let mut body = Map::new();
        put(&mut body, "instruction", self.instruction);
        put(&mut body, "foundationModel", self.foundation_model);
        put(&mut body, "description", self.description);
        body.insert("orchestrationType".into(), json!("DEFAULT"));
        body.insert(
            "idleSessionTTLInSeconds".into(),
            json!(self.idle_session_ttl_in_seconds.unwrap_or(DEFAULT_SESSION_TTL)),
        );
        // Required in the answer; there is no IAM here, so an agent without one shows "".
        body.insert("agentResourceRoleArn".into(), json!(self.agent_resource_role_arn.unwrap_or_default()));
        put(&mut body, "customerEncryptionKeyArn", self.customer_encryption_key_arn);
        body.insert("agentCollaboration".into(), json!("DISABLED"));
        Ok(AgentDraft {
            name: self.agent_name,
            client_token: self.client_token,
            tags: self.tags,
            body: Value::Object(body),
        })
    }
}

/// What the views need of a stored agent (the store's row, without depending on it).
pub struct AgentFacts<'a> {
    pub id: &'a str,
    pub arn: &'a str,
    pub name: &'a str,
    pub status: &'a str,
    pub body: &'a Value,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub prepared_at: Option<OffsetDateTime>,
    pub client_token: Option<&'a str>,
}

impl AgentFacts<'_> {
    pub fn status(&self, now: OffsetDateTime) -> &str {
        observed_status(self.status, self.prepared_at, now)
    }

    /// The `Agent` shape (GetAgent, CreateAgent, UpdateAgent).
    pub fn view(&self, now: OffsetDateTime) -> Value {
        let mut m = self.body.as_object().cloned().unwrap_or_default();
        m.insert("agentId".into(), json!(self.id));
        m.insert("agentName".into(), json!(self.name));
        m.insert("agentArn".into(), json!(self.arn));
        m.insert("agentVersion".into(), json!("DRAFT"));
        m.insert("agentStatus".into(), json!(self.status(now)));
        m.insert("createdAt".into(), json!(iso(self.created_at)));
        m.insert("updatedAt".into(), json!(iso(self.updated_at)));
        put(&mut m, "preparedAt", self.prepared_at.map(iso));
        put(&mut m, "clientToken", self.client_token);
        Value::Object(m)
    }

    /// The `AgentSummary` shape (ListAgents).
    pub fn summary(&self, now: OffsetDateTime, latest_version: Option<u32>) -> Value {
        let mut m = Map::new();
        m.insert("agentId".into(), json!(self.id));
        m.insert("agentName".into(), json!(self.name));
        m.insert("agentStatus".into(), json!(self.status(now)));
        put(&mut m, "description", self.body.get("description"));
        m.insert("updatedAt".into(), json!(iso(self.updated_at)));
        m.insert("latestAgentVersion".into(), json!(latest_version.map_or("DRAFT".to_owned(), |v| v.to_string())));
        Value::Object(m)
    }

    /// The members that must be set before PrepareAgent: a model and an instruction.
    pub fn check_preparable(&self) -> Result<&str, AgentError> {
        let model = self.body.get("foundationModel").and_then(Value::as_str);
        let Some(model) = model else {
            return Err(invalid("foundationModel", "The agent needs a foundationModel before it can be prepared"));
        };
        if self.body.get("instruction").is_none() {
            return Err(invalid("instruction", "The agent needs an instruction before it can be prepared"));
        }
        Ok(model)
    }
}

/// The `AgentVersion` shape of a numbered version (a snapshot of the DRAFT's body).
pub fn version_view(
    agent: &AgentFacts<'_>,
    version: u32,
    name: &str,
    body: &Value,
    created_at: OffsetDateTime,
) -> Value {
    let mut m = body.as_object().cloned().unwrap_or_default();
    m.remove("orchestrationType");
    m.insert("agentId".into(), json!(agent.id));
    m.insert("agentName".into(), json!(name));
    m.insert("agentArn".into(), json!(agent.arn));
    m.insert("version".into(), json!(version.to_string()));
    m.insert("agentStatus".into(), json!("PREPARED"));
    m.insert("createdAt".into(), json!(iso(created_at)));
    m.insert("updatedAt".into(), json!(iso(created_at)));
    Value::Object(m)
}

/// An `AgentVersionSummary`.
pub fn version_summary(
    name: &str,
    version: &str,
    status: &str,
    body: &Value,
    created: OffsetDateTime,
    updated: OffsetDateTime,
) -> Value {
    let mut m = Map::new();
    m.insert("agentName".into(), json!(name));
    m.insert("agentStatus".into(), json!(status));
    m.insert("agentVersion".into(), json!(version));
    m.insert("createdAt".into(), json!(iso(created)));
    m.insert("updatedAt".into(), json!(iso(updated)));
    put(&mut m, "description", body.get("description"));
    Value::Object(m)
}

/// A `{agentVersion}` path label naming a numbered version: `[0-9]{1,5}`, not 0.
pub fn numbered_version(label: &str) -> Result<u32, AgentError> {
    match label.parse::<u32>() {
        Ok(n) if n > 0 && label.len() <= 5 && label.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(invalid("agentVersion", "Member must satisfy regular expression pattern: [0-9]{1,5}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn request(extra: Value) -> AgentRequest {
        let mut base = json!({"agentName": "seed-002", "foundationModel": "anthropic.claude-v2:1",
            "instruction": "You answer questions about the weather in a friendly way."});
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn create_fills_defaults_and_views_show_them() {
        let AgentDraft { name, client_token, tags, body } = request(json!({})).into_body(Op::Create).unwrap();
        assert_eq!((name.as_str(), client_token, tags), ("seed-002", None, None));
        assert_eq!(body["idleSessionTTLInSeconds"], 600);
        assert_eq!(body["orchestrationType"], "DEFAULT");
        let at = datetime!(2024-05-03 10:00 UTC);
        let facts = AgentFacts {
            id: "AGENT00001",
            arn: "arn:aws:bedrock:us-east-1:123456789012:agent/AGENT00001",
            name: &name,
            status: "NOT_PREPARED",
            body: &body,
            created_at: at,
            updated_at: at,
            prepared_at: None,
            client_token: None,
        };
        let v = facts.view(at);
        assert_eq!((v["agentVersion"].as_str(), v["agentStatus"].as_str()), (Some("DRAFT"), Some("NOT_PREPARED")));
        assert_eq!(v["foundationModel"], "anthropic.claude-v2:1");
        assert_eq!(facts.summary(at, Some(2))["latestAgentVersion"], "2");
        assert_eq!(facts.check_preparable().unwrap(), "anthropic.claude-v2:1");
        let version = version_view(&facts, 3, "seed-002", &body, at);
        assert_eq!((version["version"].as_str(), version.get("orchestrationType")), (Some("3"), None));
    }

    #[test]
    fn unsupported_members_are_refused_by_name() {
        for (member, value) in [
            ("memoryConfiguration", json!({"enabledMemoryTypes": ["SESSION_SUMMARY"]})),
            ("guardrailConfiguration", json!({"guardrailIdentifier": "g"})),
            ("promptOverrideConfiguration", json!({"promptConfigurations": []})),
            ("customOrchestration", json!({})),
            ("orchestrationType", json!("CUSTOM_ORCHESTRATION")),
            ("agentCollaboration", json!("SUPERVISOR")),
        ] {
            let e = request(json!({ member: value })).into_body(Op::Create).unwrap_err();
            assert!(e.message.contains(member), "{member}: {}", e.message);
        }
        assert!(serde_json::from_value::<AgentRequest>(json!({"agentName": "a", "bogus": 1})).is_err());
    }

    #[test]
    fn update_requires_model_and_role() {
        let e = request(json!({"foundationModel": null})).into_body(Op::Update).unwrap_err();
        assert!(e.message.contains("foundationModel") && e.message.contains("agentResourceRoleArn"), "{}", e.message);
        let role =
            json!({"agentResourceRoleArn": "arn:aws:iam::123456789012:role/AmazonBedrockExecutionRoleForAgents_x"});
        assert!(request(role).into_body(Op::Update).is_ok());
    }

    #[test]
    fn instruction_and_version_labels_are_checked() {
        assert!(request(json!({"instruction": "short"})).into_body(Op::Create).is_err());
        assert_eq!(numbered_version("12").unwrap(), 12);
        for bad in ["0", "DRAFT", "123456", "-1"] {
            assert!(numbered_version(bad).is_err(), "{bad}");
        }
    }
}
