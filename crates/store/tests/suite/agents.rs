//! Agent cases (bedrock-agent agents, versions, action groups, aliases), run once per
//! backend like `cases.rs` (re-exported from there so that `suite!` finds them).

use serde_json::json;
use spillway_store::{ActionGroupRow, AgentRow, AliasRow, StoreError, AGENT_DRAFT};
use time::macros::datetime;

use crate::Harness;

const ACCOUNT: &str = "123456789012";
const OTHER: &str = "210987654321";
const REGION: &str = "us-east-1";

fn agent(account: &str, id: &str, name: &str) -> AgentRow {
    AgentRow {
        id: id.to_owned(),
        arn: format!("arn:aws:bedrock:{REGION}:{account}:agent/{id}"),
        name: name.to_owned(),
        status: "NOT_PREPARED".to_owned(),
        body: json!({"foundationModel": "anthropic.claude-v2:1", "instruction": "x".repeat(40)}),
        created_at: datetime!(2024-05-03 10:00:00.123456 UTC),
        updated_at: datetime!(2024-05-03 10:00:00.123456 UTC),
        prepared_at: None,
        client_token: None,
    }
}

fn group(agent_id: &str, id: &str, name: &str) -> ActionGroupRow {
    ActionGroupRow {
        agent_id: agent_id.to_owned(),
        agent_version: AGENT_DRAFT.to_owned(),
        id: id.to_owned(),
        name: name.to_owned(),
        body: json!({"actionGroupExecutor": {"customControl": "RETURN_CONTROL"}}),
        created_at: datetime!(2024-05-03 11:00:00 UTC),
        updated_at: datetime!(2024-05-03 11:00:00 UTC),
        client_token: None,
    }
}

fn alias(account: &str, agent_id: &str, id: &str, name: &str) -> AliasRow {
    AliasRow {
        agent_id: agent_id.to_owned(),
        id: id.to_owned(),
        arn: format!("arn:aws:bedrock:{REGION}:{account}:agent-alias/{agent_id}/{id}"),
        name: name.to_owned(),
        body: json!({"routingConfiguration": [{"agentVersion": "1"}]}),
        created_at: datetime!(2024-05-03 12:00:00 UTC),
        updated_at: datetime!(2024-05-03 12:00:00 UTC),
        client_token: None,
    }
}

pub async fn agent_create_get_list_update_delete(h: &Harness) {
    let s = &h.store;
    let mut first = agent(ACCOUNT, "AGENT00001", "one");
    first.client_token = Some("t".repeat(33));
    let a = s.create_agent(ACCOUNT, REGION, &first).await.unwrap();
    assert_eq!(a, first);
    // A retry with the same token (and a fresh id) answers with the original.
    let mut retry = agent(ACCOUNT, "AGENT00009", "one");
    retry.client_token = first.client_token.clone();
    assert_eq!(s.create_agent(ACCOUNT, REGION, &retry).await.unwrap(), a);
    // Same name without the token: a conflict.
    let clash = s.create_agent(ACCOUNT, REGION, &agent(ACCOUNT, "AGENT00002", "one")).await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
    let b = s.create_agent(ACCOUNT, REGION, &agent(ACCOUNT, "AGENT00002", "two")).await.unwrap();
    assert_eq!(s.list_agents(ACCOUNT, REGION, 10, 0).await.unwrap().len(), 2);
    assert_eq!(s.list_agents(ACCOUNT, REGION, 1, 1).await.unwrap(), std::slice::from_ref(&b));

    // Isolation: another account or region sees nothing.
    assert!(matches!(s.get_agent(OTHER, REGION, &a.id).await, Err(StoreError::NotFound)));
    assert!(matches!(s.get_agent(ACCOUNT, "eu-west-1", &a.id).await, Err(StoreError::NotFound)));
    assert!(s.list_agents(OTHER, REGION, 10, 0).await.unwrap().is_empty());
    assert!(matches!(s.delete_agent(OTHER, REGION, &a.id).await, Err(StoreError::NotFound)));

    let mut changed = a.clone();
    changed.status = "PREPARING".to_owned();
    changed.prepared_at = Some(datetime!(2024-05-03 10:05:00 UTC));
    changed.updated_at = datetime!(2024-05-03 10:05:00 UTC);
    assert_eq!(s.update_agent(ACCOUNT, REGION, &changed).await.unwrap(), changed);
    changed.name = "two".to_owned();
    assert!(matches!(s.update_agent(ACCOUNT, REGION, &changed).await, Err(StoreError::Conflict(_))));

    // Deleting takes action groups, versions, aliases and their tags with it.
    s.create_action_group(ACCOUNT, REGION, &group(&a.id, "GROUP00001", "g")).await.unwrap();
    s.create_agent_version(ACCOUNT, REGION, &a.id, datetime!(2024-05-04 0:00 UTC)).await.unwrap();
    let al = s.create_agent_alias(ACCOUNT, REGION, &alias(ACCOUNT, &a.id, "ALIAS00001", "live")).await.unwrap();
    s.tag_resource(ACCOUNT, &al.arn, &[("team".into(), "x".into())]).await.unwrap();
    s.tag_resource(ACCOUNT, &a.arn, &[("team".into(), "y".into())]).await.unwrap();
    assert_eq!(s.delete_agent(ACCOUNT, REGION, &a.id).await.unwrap().id, a.id);
    assert!(matches!(s.get_agent(ACCOUNT, REGION, &a.id).await, Err(StoreError::NotFound)));
    assert!(s.list_agent_aliases(ACCOUNT, REGION, &a.id).await.unwrap().is_empty());
    assert!(s.list_agent_versions(ACCOUNT, REGION, &a.id).await.unwrap().is_empty());
    assert!(s.list_tags(ACCOUNT, &al.arn).await.unwrap().is_empty());
    assert!(s.list_tags(ACCOUNT, &a.arn).await.unwrap().is_empty());
    // Its name is free again.
    s.create_agent(ACCOUNT, REGION, &agent(ACCOUNT, "AGENT00003", "one")).await.unwrap();
}

pub async fn agent_versions_snapshot_the_draft_and_its_groups(h: &Harness) {
    let s = &h.store;
    let a = s.create_agent(ACCOUNT, REGION, &agent(ACCOUNT, "AGENT00001", "one")).await.unwrap();
    let g = s.create_action_group(ACCOUNT, REGION, &group(&a.id, "GROUP00001", "weather")).await.unwrap();
    let dup = s.create_action_group(ACCOUNT, REGION, &group(&a.id, "GROUP00002", "weather")).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let v1 = s.create_agent_version(ACCOUNT, REGION, &a.id, datetime!(2024-05-04 0:00 UTC)).await.unwrap();
    assert_eq!((v1.version, &v1.name, &v1.body), (1, &a.name, &a.body));
    // The version has its own copy of the group, with the same id.
    let copy = s.get_action_group(ACCOUNT, REGION, &a.id, "1", &g.id).await.unwrap();
    assert_eq!((copy.name.as_str(), &copy.body), ("weather", &g.body));

    // Changing the DRAFT changes neither.
    let mut edited = g.clone();
    edited.body = json!({"description": "edited"});
    edited.name = "forecast".to_owned();
    s.update_action_group(ACCOUNT, REGION, &edited).await.unwrap();
    let mut draft = a.clone();
    draft.body = json!({"foundationModel": "other"});
    s.update_agent(ACCOUNT, REGION, &draft).await.unwrap();
    assert_eq!(s.get_agent_version(ACCOUNT, REGION, &a.id, 1).await.unwrap(), v1);
    assert_eq!(s.get_action_group(ACCOUNT, REGION, &a.id, "1", &g.id).await.unwrap(), copy);
    assert_eq!(s.list_action_groups(ACCOUNT, REGION, &a.id, AGENT_DRAFT).await.unwrap()[0].name, "forecast");

    // Numbers are never reused; deleting a version takes its groups.
    let v2 = s.create_agent_version(ACCOUNT, REGION, &a.id, datetime!(2024-05-05 0:00 UTC)).await.unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(s.delete_agent_version(ACCOUNT, REGION, &a.id, 2).await.unwrap().version, 2);
    assert!(s.list_action_groups(ACCOUNT, REGION, &a.id, "2").await.unwrap().is_empty());
    let v3 = s.create_agent_version(ACCOUNT, REGION, &a.id, datetime!(2024-05-06 0:00 UTC)).await.unwrap();
    assert_eq!(v3.version, 3);
    let all: Vec<u32> =
        s.list_agent_versions(ACCOUNT, REGION, &a.id).await.unwrap().iter().map(|v| v.version).collect();
    assert_eq!(all, [1, 3]);
    assert!(matches!(s.create_agent_version(OTHER, REGION, &a.id, v3.created_at).await, Err(StoreError::NotFound)));
    assert!(matches!(s.get_agent_version(OTHER, REGION, &a.id, 1).await, Err(StoreError::NotFound)));

    assert_eq!(s.delete_action_group(ACCOUNT, REGION, &a.id, AGENT_DRAFT, &g.id).await.unwrap().name, "forecast");
    assert!(matches!(
        s.delete_action_group(ACCOUNT, REGION, &a.id, AGENT_DRAFT, &g.id).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn agent_aliases_are_unique_idempotent_and_survive_restart(h: &Harness) {
    let s = &h.store;
    let a = s.create_agent(ACCOUNT, REGION, &agent(ACCOUNT, "AGENT00001", "one")).await.unwrap();
    let mut live = alias(ACCOUNT, &a.id, "ALIAS00001", "live");
    live.client_token = Some("k".repeat(40));
    let created = s.create_agent_alias(ACCOUNT, REGION, &live).await.unwrap();
    let mut retry = alias(ACCOUNT, &a.id, "ALIAS00009", "other-name");
    retry.client_token = live.client_token.clone();
    assert_eq!(s.create_agent_alias(ACCOUNT, REGION, &retry).await.unwrap(), created);
    let dup = s.create_agent_alias(ACCOUNT, REGION, &alias(ACCOUNT, &a.id, "ALIAS00002", "live")).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let mut moved = created.clone();
    moved.body = json!({"routingConfiguration": [{"agentVersion": "2", "provisionedThroughput": "pt"}]});
    moved.updated_at = datetime!(2024-05-07 0:00 UTC);
    assert_eq!(s.update_agent_alias(ACCOUNT, REGION, &moved).await.unwrap(), moved);
    assert!(matches!(s.get_agent_alias(OTHER, REGION, &a.id, &created.id).await, Err(StoreError::NotFound)));
    assert!(matches!(s.update_agent_alias(OTHER, REGION, &moved).await, Err(StoreError::NotFound)));

    let reopened = h.reopen().await;
    assert_eq!(reopened.get_agent_alias(ACCOUNT, REGION, &a.id, &created.id).await.unwrap(), moved);
    assert_eq!(reopened.get_agent(ACCOUNT, REGION, &a.id).await.unwrap(), a);
    assert_eq!(reopened.delete_agent_alias(ACCOUNT, REGION, &a.id, &created.id).await.unwrap(), moved);
    assert!(reopened.list_agent_aliases(ACCOUNT, REGION, &a.id).await.unwrap().is_empty());
    reopened.close().await;
}
