//! Agents for Amazon Bedrock: the bedrock-agent control plane (`/agents/…`: agents,
//! versions, aliases, action groups) and bedrock-agent-runtime InvokeAgent. The
//! handlers are thin: the checks, shapes, prompt and turn logic are in
//! `spillway-agents`; these read and write the store and run the model calls.
//!
//! Errors are bedrock-agent shapes (`Service::Agent`: ConflictException 409,
//! ServiceQuotaExceededException 402, `fieldList`) and, for InvokeAgent,
//! bedrock-agent-runtime ones (`Service::AgentRuntime`). URIs have trailing slashes in
//! the model (`/agents/{agentId}/`); both forms are routed.

mod aliases;
mod control;
mod groups;
mod invoke;
mod step;

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, MethodRouter};
use axum::Router;
use serde::de::DeserializeOwned;
use serde_json::Value;
use spillway_agents::agent::AgentFacts;
use spillway_store::{AgentRow, StoreError};
use spillway_wire::error::Service;
use spillway_wire::{BedrockError, ErrorCode};

use crate::app::AppState;
use crate::context::Caller;
use crate::error::ApiError;

// Spillway's own limits, standing in for Bedrock's (adjustable) service quotas.
const MAX_AGENTS: usize = 200;
const MAX_ALIASES: usize = 10;
const MAX_GROUPS: usize = 20;
const MAX_TAGS: usize = 50;

pub fn routes() -> Router<AppState> {
    use axum::routing::{get, put};
    Router::new()
        .merge(both("/agents/", put(control::create).post(control::list)))
        .merge(both(
            "/agents/{agent_id}/",
            get(control::get).put(control::update).delete(control::delete).post(control::prepare),
        ))
        .merge(both("/agents/{agent_id}/agentversions/", post(control::list_versions)))
        .merge(both(
            "/agents/{agent_id}/agentversions/{agent_version}/",
            get(control::get_version).delete(control::delete_version),
        ))
        .merge(both("/agents/{agent_id}/agentaliases/", put(aliases::create).post(aliases::list)))
        .merge(both(
            "/agents/{agent_id}/agentaliases/{agent_alias_id}/",
            get(aliases::get).put(aliases::update).delete(aliases::delete),
        ))
        .merge(both(
            "/agents/{agent_id}/agentversions/{agent_version}/actiongroups/",
            put(groups::create).post(groups::list),
        ))
        .merge(both(
            "/agents/{agent_id}/agentversions/{agent_version}/actiongroups/{action_group_id}/",
            get(groups::get).put(groups::update).delete(groups::delete),
        ))
        .route(
            "/agents/{agent_id}/agentAliases/{agent_alias_id}/sessions/{session_id}/text",
            post(invoke::invoke_agent),
        )
}

/// A route with and without its trailing slash (the model's URIs have one).
fn both(path: &str, method: MethodRouter<AppState>) -> Router<AppState> {
    let bare = path.trim_end_matches('/');
    Router::new().route(bare, method.clone()).route(&format!("{bare}/"), method)
}

fn agent_error(error: BedrockError) -> ApiError {
    ApiError { error, service: Service::Agent }
}

fn store_error(e: StoreError, what: &str) -> ApiError {
    agent_error(crate::error::from_store(e, what))
}

fn quota(message: String) -> ApiError {
    agent_error(BedrockError::new(ErrorCode::ServiceQuotaExceeded, message))
}

/// A JSON answer with the operation's success status.
fn answer(status: StatusCode, value: &Value) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(value)
        .map_err(|e| agent_error(BedrockError::internal(format!("Could not encode the response: {e}"))))?;
    let mut response = (status, body).into_response();
    response.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    Ok(response)
}

/// The path labels, percent-decoded, each an ID checked by name.
#[derive(Debug, Clone)]
pub struct Labels(HashMap<String, String>);

impl Labels {
    fn raw(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    /// An agent, alias or action-group ID label: 10 alphanumerics.
    fn id(&self, name: &str, member: &str) -> Result<&str, ApiError> {
        let v = self.raw(name);
        if spillway_agents::ids::is_id(v) {
            Ok(v)
        } else {
            Err(agent_error(spillway_agents::check::invalid(
                member,
                "Member must satisfy regular expression pattern: [0-9a-zA-Z]{10}",
            )))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Labels {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<HashMap<String, String>>::from_request_parts(parts, state).await {
            Ok(Path(map)) => Ok(Self(map)),
            Err(e) => Err(agent_error(BedrockError::validation(format!("Invalid identifier in the path: {e}")))),
        }
    }
}

/// A JSON body; an empty one is `T::default()` (list operations may send none).
fn body_or_default<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    spillway_wire::parse::json(body).map_err(agent_error)
}

/// `maxResults` / `nextToken` of the list operations (a POST body).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListBody {
    max_results: Option<i64>,
    next_token: Option<String>,
}

impl ListBody {
    /// One page of `items`, and the token of the next if more follow.
    fn page<T>(&self, items: Vec<T>) -> Result<(Vec<T>, Option<String>), ApiError> {
        let (offset, limit) =
            spillway_agents::check::page(self.max_results, self.next_token.as_deref()).map_err(agent_error)?;
        let total = items.len();
        let page: Vec<T> = items.into_iter().skip(offset).take(limit).collect();
        let end = offset + page.len();
        Ok((page, spillway_agents::check::next_token(end, end < total)))
    }
}

/// `?skipResourceInUseCheck=true|false`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeleteQuery {
    skip_resource_in_use_check: Option<bool>,
}

fn facts(a: &AgentRow) -> AgentFacts<'_> {
    AgentFacts {
        id: &a.id,
        arn: &a.arn,
        name: &a.name,
        status: &a.status,
        body: &a.body,
        created_at: a.created_at,
        updated_at: a.updated_at,
        prepared_at: a.prepared_at,
        client_token: a.client_token.as_deref(),
    }
}

/// The caller's agent `id`, else ResourceNotFoundException.
async fn load_agent(state: &AppState, caller: &Caller, id: &str) -> Result<AgentRow, ApiError> {
    let found = state.store.get_agent(&caller.account, &caller.source_region, id).await;
    found.map_err(|e| store_error(e, &format!("The agent {id}")))
}

/// The DRAFT changed: it must be prepared again before the test alias runs it.
async fn unprepare(state: &AppState, caller: &Caller, agent: &AgentRow) -> Result<(), ApiError> {
    let mut changed = agent.clone();
    changed.status = "NOT_PREPARED".to_owned();
    changed.updated_at = time::OffsetDateTime::now_utc();
    let stored = state.store.update_agent(&caller.account, &caller.source_region, &changed).await;
    stored.map(|_| ()).map_err(|e| store_error(e, &format!("The agent {}", agent.id)))
}

/// Tags checked against the store's and the service's limits, as (key, value) pairs.
fn check_tags(tags: Option<&std::collections::BTreeMap<String, String>>) -> Result<Vec<(String, String)>, ApiError> {
    let pairs = spillway_agents::check::tag_pairs(tags);
    if pairs.len() > MAX_TAGS {
        return Err(quota(format!("A resource can have at most {MAX_TAGS} tags.")));
    }
    Ok(pairs)
}

/// Whether `arn` is an agent or alias ARN (tagging through `/tags/{resourceArn}`).
pub fn is_agent_arn(arn: &str) -> bool {
    spillway_agents::ids::parse_taggable(arn).is_some()
}

/// An agent or alias of the caller's that `arn` names must exist to be tagged.
pub async fn owned(state: &crate::state::Control, caller: &Caller, arn: &str) -> Result<(), ApiError> {
    use spillway_agents::ids::Taggable;
    let missing = || {
        agent_error(BedrockError::new(ErrorCode::ResourceNotFound, format!("The resource {arn} couldn't be found.")))
    };
    let (region, account, agent_id, alias_id) = match spillway_agents::ids::parse_taggable(arn) {
        Some(Taggable::Agent { region, account, agent_id }) => (region, account, agent_id, None),
        Some(Taggable::Alias { region, account, agent_id, alias_id }) => (region, account, agent_id, Some(alias_id)),
        None => return Err(missing()),
    };
    if account != caller.account || region != caller.source_region {
        return Err(missing());
    }
    let found = match alias_id {
        None => state.store.get_agent(account, region, agent_id).await.map(|_| ()),
        Some(alias) => state.store.get_agent_alias(account, region, agent_id, alias).await.map(|_| ()),
    };
    found.map_err(|e| store_error(e, &format!("The resource {arn}")))
}
