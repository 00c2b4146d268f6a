//! CreateAgent, ListAgents, GetAgent, UpdateAgent, DeleteAgent, PrepareAgent and the
//! agent versions (ListAgentVersions, GetAgentVersion, DeleteAgentVersion).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use spillway_agents::agent::{numbered_version, version_summary, version_view, AgentDraft, AgentRequest, Op};
use spillway_agents::ids::{agent_arn, new_id};
use spillway_store::AgentRow;
use spillway_wire::{BedrockError, ErrorCode};
use time::OffsetDateTime;

use super::{
    agent_error, answer, body_or_default, check_tags, facts, load_agent, quota, store_error, DeleteQuery, Labels,
    ListBody, MAX_AGENTS,
};
use crate::app::AppState;
use crate::context::Caller;
use crate::control::ControlQuery;
use crate::error::ApiError;

fn parse_agent(body: &[u8], op: Op) -> Result<AgentDraft, ApiError> {
    let req: AgentRequest = spillway_wire::parse::json(body).map_err(agent_error)?;
    req.into_body(op).map_err(agent_error)
}

pub async fn create(State(state): State<AppState>, caller: Caller, body: Bytes) -> Result<Response, ApiError> {
    let AgentDraft { name, client_token: token, tags, body } = parse_agent(&body, Op::Create)?;
    let tags = check_tags(tags.as_ref())?;
    let (account, region) = (&caller.account, &caller.source_region);
    let existing = state.store.list_agents(account, region, u32::try_from(MAX_AGENTS + 1).unwrap_or(u32::MAX), 0).await;
    let existing = existing.map_err(|e| store_error(e, "agents"))?;
    let retry = token.is_some() && existing.iter().any(|a| a.client_token == token);
    if existing.len() >= MAX_AGENTS && !retry {
        return Err(quota(format!("The account already has {MAX_AGENTS} agents in {region}.")));
    }
    let id = new_id();
    let now = OffsetDateTime::now_utc();
    let row = AgentRow {
        arn: agent_arn(region, account, &id),
        id,
        name,
        status: "NOT_PREPARED".to_owned(),
        body,
        created_at: now,
        updated_at: now,
        prepared_at: None,
        client_token: token,
    };
    let stored = state.store.create_agent(account, region, &row).await.map_err(|e| store_error(e, &row.name))?;
    // A repeated clientToken answers with the original, without tagging again.
    if stored.id == row.id && !tags.is_empty() {
        state.store.tag_resource(account, &stored.arn, &tags).await.map_err(|e| store_error(e, &stored.arn))?;
    }
    answer(StatusCode::ACCEPTED, &json!({ "agent": facts(&stored).view(now) }))
}

pub async fn list(State(state): State<AppState>, caller: Caller, body: Bytes) -> Result<Response, ApiError> {
    let req: ListBody = body_or_default(&body)?;
    let (account, region) = (&caller.account, &caller.source_region);
    let all = state.store.list_agents(account, region, u32::MAX, 0).await.map_err(|e| store_error(e, "agents"))?;
    let (page, next) = req.page(all)?;
    let now = OffsetDateTime::now_utc();
    let mut summaries = Vec::new();
    for a in &page {
        let versions = state.store.list_agent_versions(account, region, &a.id).await;
        let latest = versions.map_err(|e| store_error(e, &a.id))?.last().map(|v| v.version);
        summaries.push(facts(a).summary(now, latest));
    }
    let mut out = json!({ "agentSummaries": summaries });
    if let Some(t) = next {
        out["nextToken"] = json!(t);
    }
    answer(StatusCode::OK, &out)
}

pub async fn get(State(state): State<AppState>, caller: Caller, labels: Labels) -> Result<Response, ApiError> {
    let agent = load_agent(&state, &caller, labels.id("agent_id", "agentId")?).await?;
    answer(StatusCode::OK, &json!({ "agent": facts(&agent).view(OffsetDateTime::now_utc()) }))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    labels: Labels,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = labels.id("agent_id", "agentId")?;
    let AgentDraft { name, body, .. } = parse_agent(&body, Op::Update)?;
    let mut agent = load_agent(&state, &caller, id).await?;
    let now = OffsetDateTime::now_utc();
    agent.name = name;
    agent.body = body;
    agent.status = "NOT_PREPARED".to_owned();
    agent.updated_at = now;
    let stored = state.store.update_agent(&caller.account, &caller.source_region, &agent).await;
    let stored = stored.map_err(|e| store_error(e, &format!("The agent {id}")))?;
    answer(StatusCode::ACCEPTED, &json!({ "agent": facts(&stored).view(now) }))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    labels: Labels,
    ControlQuery(q): ControlQuery<DeleteQuery>,
) -> Result<Response, ApiError> {
    let id = labels.id("agent_id", "agentId")?;
    let (account, region) = (&caller.account, &caller.source_region);
    load_agent(&state, &caller, id).await?;
    let aliases = state.store.list_agent_aliases(account, region, id).await.map_err(|e| store_error(e, id))?;
    if !aliases.is_empty() && q.skip_resource_in_use_check != Some(true) {
        return Err(agent_error(BedrockError::new(
            ErrorCode::Conflict,
            format!(
                "The agent {id} has {} alias(es). Delete them first, or set skipResourceInUseCheck.",
                aliases.len()
            ),
        )));
    }
    state.store.delete_agent(account, region, id).await.map_err(|e| store_error(e, &format!("The agent {id}")))?;
    answer(StatusCode::ACCEPTED, &json!({ "agentId": id, "agentStatus": "DELETING" }))
}

/// PrepareAgent: the DRAFT becomes PREPARING, then PREPARED ([`spillway_agents::ids::PREPARE_TIME`]
/// later). Its model must be one this service runs for the caller.
pub async fn prepare(State(state): State<AppState>, caller: Caller, labels: Labels) -> Result<Response, ApiError> {
    let id = labels.id("agent_id", "agentId")?;
    let mut agent = load_agent(&state, &caller, id).await?;
    let model = facts(&agent).check_preparable().map_err(agent_error)?.to_owned();
    if let Err(e) = state.resolver.plan(caller.origin(), &model).await {
        return Err(agent_error(BedrockError::validation(format!(
            "The agent's foundation model {model} can't be used: {}",
            crate::error::from_dispatch(e).message
        ))));
    }
    let now = OffsetDateTime::now_utc();
    agent.status = "PREPARING".to_owned();
    agent.prepared_at = Some(now);
    agent.updated_at = now;
    let stored = state.store.update_agent(&caller.account, &caller.source_region, &agent).await;
    stored.map_err(|e| store_error(e, &format!("The agent {id}")))?;
    let out = json!({ "agentId": id, "agentStatus": "PREPARING", "agentVersion": "DRAFT",
        "preparedAt": spillway_agents::ids::iso(now) });
    answer(StatusCode::ACCEPTED, &out)
}

pub async fn list_versions(
    State(state): State<AppState>,
    caller: Caller,
    labels: Labels,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = labels.id("agent_id", "agentId")?;
    let req: ListBody = body_or_default(&body)?;
    let agent = load_agent(&state, &caller, id).await?;
    let versions = state.store.list_agent_versions(&caller.account, &caller.source_region, id).await;
    let versions = versions.map_err(|e| store_error(e, id))?;
    let now = OffsetDateTime::now_utc();
    let f = facts(&agent);
    // The DRAFT first, then the numbered versions, as Bedrock lists them.
    let mut all =
        vec![version_summary(&agent.name, "DRAFT", f.status(now), &agent.body, agent.created_at, agent.updated_at)];
    all.extend(
        versions
            .iter()
            .map(|v| version_summary(&v.name, &v.version.to_string(), "PREPARED", &v.body, v.created_at, v.created_at)),
    );
    let (page, next) = req.page(all)?;
    let mut out = json!({ "agentVersionSummaries": page });
    if let Some(t) = next {
        out["nextToken"] = json!(t);
    }
    answer(StatusCode::OK, &out)
}

pub async fn get_version(State(state): State<AppState>, caller: Caller, labels: Labels) -> Result<Response, ApiError> {
    let id = labels.id("agent_id", "agentId")?;
    let n = numbered_version(labels.raw("agent_version")).map_err(agent_error)?;
    let agent = load_agent(&state, &caller, id).await?;
    let v = state.store.get_agent_version(&caller.account, &caller.source_region, id, n).await;
    let v = v.map_err(|e| store_error(e, &format!("Version {n} of the agent {id}")))?;
    answer(StatusCode::OK, &json!({ "agentVersion": version_view(&facts(&agent), n, &v.name, &v.body, v.created_at) }))
}

pub async fn delete_version(
    State(state): State<AppState>,
    caller: Caller,
    labels: Labels,
    ControlQuery(q): ControlQuery<DeleteQuery>,
) -> Result<Response, ApiError> {
    let id = labels.id("agent_id", "agentId")?;
    let n = numbered_version(labels.raw("agent_version")).map_err(agent_error)?;
    let (account, region) = (&caller.account, &caller.source_region);
    let aliases = state.store.list_agent_aliases(account, region, id).await.map_err(|e| store_error(e, id))?;
    let using: Vec<&str> = aliases
        .iter()
        .filter(|a| spillway_agents::alias::routing_of(&a.body).agent_version == Some(n.to_string()))
        .map(|a| a.name.as_str())
        .collect();
    if !using.is_empty() && q.skip_resource_in_use_check != Some(true) {
        return Err(agent_error(BedrockError::new(
            ErrorCode::Conflict,
            format!("Version {n} of the agent {id} is in use by the alias(es) {}. Set skipResourceInUseCheck to delete it anyway.", using.join(", ")),
        )));
    }
    let deleted = state.store.delete_agent_version(account, region, id, n).await;
    deleted.map_err(|e| store_error(e, &format!("Version {n} of the agent {id}")))?;
    answer(StatusCode::ACCEPTED, &json!({ "agentId": id, "agentVersion": n.to_string(), "agentStatus": "DELETING" }))
}
