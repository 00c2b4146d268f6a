//! CreateAgentActionGroup, GetAgentActionGroup, ListAgentActionGroups,
//! UpdateAgentActionGroup, DeleteAgentActionGroup. Only the DRAFT's groups change; a
//! version's are read-only copies. A change makes the DRAFT NOT_PREPARED again.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use spillway_agents::action::{ActionGroupRequest, GroupFacts};
use spillway_agents::ids::new_id;
use spillway_store::{ActionGroupRow, AGENT_DRAFT};
use spillway_wire::{BedrockError, ErrorCode};
use time::OffsetDateTime;

use super::{
    agent_error, answer, body_or_default, load_agent, quota, store_error, unprepare, DeleteQuery, Labels, ListBody,
    MAX_GROUPS,
};
use crate::app::AppState;
use crate::context::Caller;
use crate::control::ControlQuery;
use crate::error::ApiError;

fn group_facts(g: &ActionGroupRow) -> GroupFacts<'_> {
    GroupFacts {
        agent_id: &g.agent_id,
        agent_version: &g.agent_version,
        id: &g.id,
        name: &g.name,
        body: &g.body,
        created_at: g.created_at,
        updated_at: g.updated_at,
        client_token: g.client_token.as_deref(),
    }
}

/// The `{agentVersion}` label: DRAFT where the operation changes groups, DRAFT or a
/// number where it reads them.
fn version_label(labels: &Labels, draft_only: bool) -> Result<String, ApiError> {
    let v = labels.raw("agent_version");
    if v == AGENT_DRAFT {
        return Ok(v.to_owned());
    }
    if draft_only {
        return Err(agent_error(spillway_agents::check::invalid(
            "agentVersion",
            "Member must satisfy regular expression pattern: DRAFT (only the DRAFT's action groups can change)",
        )));
    }
    spillway_agents::agent::numbered_version(v).map(|n| n.to_string()).map_err(agent_error)
}

fn group_label(labels: &Labels) -> Result<&str, ApiError> {
    labels.id("action_group_id", "actionGroupId")
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    labels: Labels,
    body: Bytes,
) -> Result<Response, ApiError> {
    let agent_id = labels.id("agent_id", "agentId")?;
    let version = version_label(&labels, true)?;
    let req: ActionGroupRequest = spillway_wire::parse::json(&body).map_err(agent_error)?;
    let (name, token, body) = req.into_body(false).map_err(agent_error)?;
    let agent = load_agent(&state, &caller, agent_id).await?;
    let (account, region) = (&caller.account, &caller.source_region);
    let existing = state.store.list_action_groups(account, region, agent_id, &version).await;
    let existing = existing.map_err(|e| store_error(e, agent_id))?;
    let retry = token.is_some() && existing.iter().any(|g| g.client_token == token);
    if existing.len() >= MAX_GROUPS && !retry {
        return Err(quota(format!("The agent {agent_id} already has {MAX_GROUPS} action groups.")));
    }
    let now = OffsetDateTime::now_utc();
    let row = ActionGroupRow {
        agent_id: agent_id.to_owned(),
        agent_version: version,
        id: new_id(),
        name,
        body,
        created_at: now,
        updated_at: now,
        client_token: token,
    };
    let stored = state.store.create_action_group(account, region, &row).await.map_err(|e| store_error(e, &row.name))?;
    if stored.id == row.id {
        unprepare(&state, &caller, &agent).await?;
    }
    answer(StatusCode::OK, &json!({ "agentActionGroup": group_facts(&stored).view() }))
}

pub async fn get(State(state): State<AppState>, caller: Caller, labels: Labels) -> Result<Response, ApiError> {
    let agent_id = labels.id("agent_id", "agentId")?;
    let version = version_label(&labels, false)?;
    let id = group_label(&labels)?;
    let found = state.store.get_action_group(&caller.account, &caller.source_region, agent_id, &version, id).await;
    let g = found.map_err(|e| store_error(e, &format!("The action group {id} of the agent {agent_id} ({version})")))?;
    answer(StatusCode::OK, &json!({ "agentActionGroup": group_facts(&g).view() }))
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    labels: Labels,
    body: Bytes,
) -> Result<Response, ApiError> {
    let agent_id = labels.id("agent_id", "agentId")?;
    let version = version_label(&labels, false)?;
    let req: ListBody = body_or_default(&body)?;
    load_agent(&state, &caller, agent_id).await?;
    let all = state.store.list_action_groups(&caller.account, &caller.source_region, agent_id, &version).await;
    let (page, next) = req.page(all.map_err(|e| store_error(e, agent_id))?)?;
    let mut out = json!({ "actionGroupSummaries": page.iter().map(|g| group_facts(g).summary()).collect::<Vec<_>>() });
    if let Some(t) = next {
        out["nextToken"] = json!(t);
    }
    answer(StatusCode::OK, &out)
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    labels: Labels,
    body: Bytes,
) -> Result<Response, ApiError> {
    let agent_id = labels.id("agent_id", "agentId")?;
    let version = version_label(&labels, true)?;
    let id = group_label(&labels)?;
    let req: ActionGroupRequest = spillway_wire::parse::json(&body).map_err(agent_error)?;
    let (name, _, body) = req.into_body(true).map_err(agent_error)?;
    let agent = load_agent(&state, &caller, agent_id).await?;
    let (account, region) = (&caller.account, &caller.source_region);
    let what = format!("The action group {id} of the agent {agent_id}");
    let mut g = state
        .store
        .get_action_group(account, region, agent_id, &version, id)
        .await
        .map_err(|e| store_error(e, &what))?;
    g.name = name;
    g.body = body;
    g.updated_at = OffsetDateTime::now_utc();
    let stored = state.store.update_action_group(account, region, &g).await.map_err(|e| store_error(e, &what))?;
    unprepare(&state, &caller, &agent).await?;
    answer(StatusCode::OK, &json!({ "agentActionGroup": group_facts(&stored).view() }))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    labels: Labels,
    ControlQuery(q): ControlQuery<DeleteQuery>,
) -> Result<Response, ApiError> {
    let agent_id = labels.id("agent_id", "agentId")?;
    let version = version_label(&labels, true)?;
    let id = group_label(&labels)?;
    let agent = load_agent(&state, &caller, agent_id).await?;
    let (account, region) = (&caller.account, &caller.source_region);
    let what = format!("The action group {id} of the agent {agent_id}");
    let g = state
        .store
        .get_action_group(account, region, agent_id, &version, id)
        .await
        .map_err(|e| store_error(e, &what))?;
    // As on Bedrock: an ENABLED group is in use; disable it first or skip the check.
    if g.body.get("actionGroupState").and_then(|s| s.as_str()) != Some("DISABLED")
        && q.skip_resource_in_use_check != Some(true)
    {
        return Err(agent_error(BedrockError::new(
            ErrorCode::Conflict,
            format!("The action group {} is ENABLED. Disable it first, or set skipResourceInUseCheck.", g.name),
        )));
    }
    state
        .store
        .delete_action_group(account, region, agent_id, &version, id)
        .await
        .map_err(|e| store_error(e, &what))?;
    unprepare(&state, &caller, &agent).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
