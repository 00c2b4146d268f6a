//! CreateAgentAlias, GetAgentAlias, ListAgentAliases, UpdateAgentAlias,
//! DeleteAgentAlias. An alias routes to a numbered version (a new one is snapshotted
//! from the prepared DRAFT when the routing names none) and, optionally, to one of the
//! account's provisioned throughputs, which must be InService and serve the agent's
//! model (seed 002). The test alias TSTALIASID (the DRAFT) is built in.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use spillway_agents::alias::{
    check_provisioned, check_routing, new_body, test_alias_body, unknown_provisioned, updated_body, AliasFacts,
    CreateAliasRequest, ProvisionedFacts, Routing, UpdateAliasRequest, VersionChoice,
};
use spillway_agents::ids::{alias_arn, new_id, TEST_ALIAS_ID, TEST_ALIAS_NAME};
use spillway_store::{AgentRow, AliasRow, StoreError};
use spillway_wire::BedrockError;
use time::OffsetDateTime;

use super::{
    agent_error, answer, body_or_default, check_tags, facts, load_agent, quota, store_error, Labels, ListBody,
    MAX_ALIASES,
};
use crate::app::AppState;
use crate::context::Caller;
use crate::error::ApiError;

fn alias_facts(a: &AliasRow) -> AliasFacts<'_> {
    AliasFacts {
        agent_id: &a.agent_id,
        id: &a.id,
        arn: &a.arn,
        name: &a.name,
        body: &a.body,
        created_at: a.created_at,
        updated_at: a.updated_at,
        client_token: a.client_token.as_deref(),
    }
}

/// The built-in test alias of an agent, as a row (never stored).
pub fn test_alias(caller: &Caller, agent: &AgentRow) -> AliasRow {
    AliasRow {
        agent_id: agent.id.clone(),
        id: TEST_ALIAS_ID.to_owned(),
        arn: alias_arn(&caller.source_region, &caller.account, &agent.id, TEST_ALIAS_ID),
        name: TEST_ALIAS_NAME.to_owned(),
        body: test_alias_body(),
        created_at: agent.created_at,
        updated_at: agent.updated_at,
        client_token: None,
    }
}

/// Resolves a routing configuration: the version it runs (snapshotting the DRAFT when
/// it names none) and the provisioned throughput's ARN, checked.
async fn resolve_routing(
    state: &AppState,
    caller: &Caller,
    agent: &AgentRow,
    routing: Option<&[Routing]>,
) -> Result<Routing, ApiError> {
    let (account, region) = (&caller.account, &caller.source_region);
    let (choice, provisioned) = check_routing(routing).map_err(agent_error)?;
    // The throughput must serve the model of the version the alias will run; it is
    // checked before a version is taken, so a refusal leaves no unused version behind.
    let (version, arn) = match choice {
        VersionChoice::Existing(n) => {
            let v = state.store.get_agent_version(account, region, &agent.id, n).await;
            let v = v.map_err(|e| store_error(e, &format!("Version {n} of the agent {}", agent.id)))?;
            let model = v.body.get("foundationModel").and_then(|m| m.as_str()).unwrap_or_default();
            let arn = match &provisioned {
                Some(pt) => Some(check_throughput(state, caller, pt, model).await?),
                None => None,
            };
            (n, arn)
        }
        VersionChoice::Snapshot => {
            let now = OffsetDateTime::now_utc();
            let status = facts(agent).status(now).to_owned();
            if status != "PREPARED" {
                return Err(agent_error(BedrockError::validation(format!(
                    "The agent {} is {status}: prepare it (PrepareAgent) before creating an alias from its DRAFT.",
                    agent.id
                ))));
            }
            let model = agent.body.get("foundationModel").and_then(|m| m.as_str()).unwrap_or_default();
            let arn = match &provisioned {
                Some(pt) => Some(check_throughput(state, caller, pt, model).await?),
                None => None,
            };
            let made = state.store.create_agent_version(account, region, &agent.id, now).await;
            (made.map_err(|e| store_error(e, &format!("The agent {}", agent.id)))?.version, arn)
        }
    };
    Ok(Routing { agent_version: Some(version.to_string()), provisioned_throughput: arn })
}

/// The provisioned throughput (name or ARN) of the caller, InService and serving
/// `model`; its ARN.
async fn check_throughput(state: &AppState, caller: &Caller, asked: &str, model: &str) -> Result<String, ApiError> {
    let row = match state.store.get_provisioned(&caller.account, &caller.source_region, asked).await {
        Ok(r) => r,
        Err(StoreError::NotFound) => return Err(agent_error(unknown_provisioned(asked))),
        Err(e) => return Err(store_error(e, asked)),
    };
    let pt = ProvisionedFacts {
        arn: &row.arn,
        status: row.status.as_str(),
        foundation_model_arn: &row.foundation_model_arn,
    };
    check_provisioned(asked, &pt, model).map_err(agent_error)?;
    Ok(row.arn)
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    labels: Labels,
    body: Bytes,
) -> Result<Response, ApiError> {
    let agent_id = labels.id("agent_id", "agentId")?;
    let req: CreateAliasRequest = spillway_wire::parse::json(&body).map_err(agent_error)?;
    let mut c = spillway_agents::check::Checks::default();
    c.name("agentAliasName", &req.agent_alias_name);
    c.client_token(req.client_token.as_deref());
    c.description(req.description.as_deref());
    c.tags(req.tags.as_ref());
    c.finish().map_err(agent_error)?;
    let tags = check_tags(req.tags.as_ref())?;
    let agent = load_agent(&state, &caller, agent_id).await?;
    let (account, region) = (&caller.account, &caller.source_region);
    let existing =
        state.store.list_agent_aliases(account, region, agent_id).await.map_err(|e| store_error(e, agent_id))?;
    if let Some(original) = existing.iter().find(|a| req.client_token.is_some() && a.client_token == req.client_token) {
        return answer(StatusCode::ACCEPTED, &json!({ "agentAlias": alias_facts(original).view() }));
    }
    if existing.len() >= MAX_ALIASES {
        return Err(quota(format!("The agent {agent_id} already has {MAX_ALIASES} aliases.")));
    }
    if existing.iter().any(|a| a.name == req.agent_alias_name) || req.agent_alias_name == TEST_ALIAS_NAME {
        return Err(store_error(
            StoreError::Conflict(format!("An alias named {} already exists for this agent.", req.agent_alias_name)),
            "",
        ));
    }
    let routing = resolve_routing(&state, &caller, &agent, req.routing_configuration.as_deref()).await?;
    let now = OffsetDateTime::now_utc();
    let id = new_id();
    let row = AliasRow {
        agent_id: agent_id.to_owned(),
        arn: alias_arn(region, account, agent_id, &id),
        id,
        name: req.agent_alias_name,
        body: new_body(req.description, &routing, now),
        created_at: now,
        updated_at: now,
        client_token: req.client_token,
    };
    let stored = state.store.create_agent_alias(account, region, &row).await.map_err(|e| store_error(e, &row.name))?;
    if stored.id == row.id && !tags.is_empty() {
        state.store.tag_resource(account, &stored.arn, &tags).await.map_err(|e| store_error(e, &stored.arn))?;
    }
    answer(StatusCode::ACCEPTED, &json!({ "agentAlias": alias_facts(&stored).view() }))
}

/// The alias `id` of the agent (the test alias included).
pub async fn load_alias(state: &AppState, caller: &Caller, agent: &AgentRow, id: &str) -> Result<AliasRow, ApiError> {
    if id == TEST_ALIAS_ID {
        return Ok(test_alias(caller, agent));
    }
    let found = state.store.get_agent_alias(&caller.account, &caller.source_region, &agent.id, id).await;
    found.map_err(|e| store_error(e, &format!("The alias {id} of the agent {}", agent.id)))
}

fn alias_label(labels: &Labels) -> Result<&str, ApiError> {
    labels.id("agent_alias_id", "agentAliasId")
}

pub async fn get(State(state): State<AppState>, caller: Caller, labels: Labels) -> Result<Response, ApiError> {
    let agent = load_agent(&state, &caller, labels.id("agent_id", "agentId")?).await?;
    let alias = load_alias(&state, &caller, &agent, alias_label(&labels)?).await?;
    answer(StatusCode::OK, &json!({ "agentAlias": alias_facts(&alias).view() }))
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    labels: Labels,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: ListBody = body_or_default(&body)?;
    let agent = load_agent(&state, &caller, labels.id("agent_id", "agentId")?).await?;
    let stored = state.store.list_agent_aliases(&caller.account, &caller.source_region, &agent.id).await;
    let mut all = vec![test_alias(&caller, &agent)];
    all.extend(stored.map_err(|e| store_error(e, &agent.id))?);
    let (page, next) = req.page(all)?;
    let mut out = json!({ "agentAliasSummaries": page.iter().map(|a| alias_facts(a).summary()).collect::<Vec<_>>() });
    if let Some(t) = next {
        out["nextToken"] = json!(t);
    }
    answer(StatusCode::OK, &out)
}

fn test_alias_is_fixed(id: &str) -> Result<(), ApiError> {
    if id == TEST_ALIAS_ID {
        return Err(agent_error(spillway_agents::check::invalid(
            "agentAliasId",
            "The test alias TSTALIASID can't be changed or deleted",
        )));
    }
    Ok(())
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    labels: Labels,
    body: Bytes,
) -> Result<Response, ApiError> {
    let alias_id = alias_label(&labels)?;
    test_alias_is_fixed(alias_id)?;
    let req: UpdateAliasRequest = spillway_wire::parse::json(&body).map_err(agent_error)?;
    let mut c = spillway_agents::check::Checks::default();
    c.name("agentAliasName", &req.agent_alias_name);
    c.description(req.description.as_deref());
    c.finish().map_err(agent_error)?;
    let agent = load_agent(&state, &caller, labels.id("agent_id", "agentId")?).await?;
    let mut alias = load_alias(&state, &caller, &agent, alias_id).await?;
    let routing = resolve_routing(&state, &caller, &agent, req.routing_configuration.as_deref()).await?;
    let now = OffsetDateTime::now_utc();
    alias.body = updated_body(&alias.body, req.description, &routing, req.alias_invocation_state.as_deref(), now)
        .map_err(agent_error)?;
    alias.name = req.agent_alias_name;
    alias.updated_at = now;
    let stored = state.store.update_agent_alias(&caller.account, &caller.source_region, &alias).await;
    let stored = stored.map_err(|e| store_error(e, &format!("The alias {alias_id}")))?;
    answer(StatusCode::ACCEPTED, &json!({ "agentAlias": alias_facts(&stored).view() }))
}

pub async fn delete(State(state): State<AppState>, caller: Caller, labels: Labels) -> Result<Response, ApiError> {
    let agent_id = labels.id("agent_id", "agentId")?;
    let alias_id = alias_label(&labels)?;
    test_alias_is_fixed(alias_id)?;
    let deleted = state.store.delete_agent_alias(&caller.account, &caller.source_region, agent_id, alias_id).await;
    deleted.map_err(|e| store_error(e, &format!("The alias {alias_id} of the agent {agent_id}")))?;
    answer(
        StatusCode::ACCEPTED,
        &json!({ "agentId": agent_id, "agentAliasId": alias_id, "agentAliasStatus": "DELETING" }),
    )
}
