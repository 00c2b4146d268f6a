//! InvokeAgent (bedrock-agent-runtime): one turn of a session, answered as an event
//! stream of `trace`, `chunk` and `returnControl` events. The turn's model calls run to
//! their end before the answer starts (the final response is not streamed token by
//! token, as on Bedrock by default), so an error before the first byte is an HTTP error.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use spillway_agents::events::{self, Event, TraceContext};
use spillway_agents::ids::{agent_arn, TEST_ALIAS_ID};
use spillway_agents::invoke::{chunk_size, InvokeAgentRequest};
use spillway_agents::session::SessionKey;
use spillway_agents::tools::{invocation_input, GroupInput, Toolbox};
use spillway_agents::turn::{AgentSpec, Step};
use spillway_store::{StoreError, AGENT_DRAFT};
use spillway_wire::error::Service;
use spillway_wire::{BedrockError, ErrorCode};
use time::OffsetDateTime;

use super::aliases::load_alias;
use super::step::ModelCall;
use crate::app::AppState;
use crate::context::Caller;
use crate::error::ApiError;

fn runtime_error(error: BedrockError) -> ApiError {
    ApiError { error, service: Service::AgentRuntime }
}

fn not_found(what: String) -> ApiError {
    runtime_error(BedrockError::new(ErrorCode::ResourceNotFound, format!("{what} couldn't be found.")))
}

fn store_failed(e: StoreError, what: String) -> ApiError {
    match e {
        StoreError::NotFound => not_found(what),
        other => runtime_error(crate::error::from_store(other, &what)),
    }
}

/// `[0-9a-zA-Z._:-]{2,100}`.
fn is_session_id(s: &str) -> bool {
    (2..=100).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

/// What the alias runs: the version's body and action groups, and the model target.
struct Resolved {
    version: String,
    body: Value,
    groups: Vec<(String, Value)>,
    target: String,
    alias_arn: String,
}

async fn resolve(state: &AppState, caller: &Caller, agent_id: &str, alias_id: &str) -> Result<Resolved, ApiError> {
    let (account, region) = (&caller.account, &caller.source_region);
    let agent = state
        .store
        .get_agent(account, region, agent_id)
        .await
        .map_err(|e| store_failed(e, format!("The agent {agent_id}")))?;
    let alias = load_alias(state, caller, &agent, alias_id).await.map_err(|e| runtime_error(e.error))?;
    if alias.body.get("aliasInvocationState").and_then(Value::as_str) == Some("REJECT_INVOCATIONS") {
        return Err(runtime_error(BedrockError::validation(format!(
            "The alias {alias_id} does not accept invocations (aliasInvocationState REJECT_INVOCATIONS)."
        ))));
    }
    let routing = spillway_agents::alias::routing_of(&alias.body);
    let (version, body) = if alias_id == TEST_ALIAS_ID {
        let status = super::facts(&agent).status(OffsetDateTime::now_utc()).to_owned();
        if status != "PREPARED" {
            return Err(runtime_error(BedrockError::validation(format!(
                "The agent {agent_id} is {status}: prepare it (PrepareAgent) before invoking its DRAFT through {TEST_ALIAS_ID}."
            ))));
        }
        (AGENT_DRAFT.to_owned(), agent.body.clone())
    } else {
        let n = routing.agent_version.as_deref().and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
        let v = state.store.get_agent_version(account, region, agent_id, n).await;
        (n.to_string(), v.map_err(|e| store_failed(e, format!("Version {n} of the agent {agent_id}")))?.body)
    };
    let groups = state.store.list_action_groups(account, region, agent_id, &version).await;
    let groups = groups.map_err(|e| store_failed(e, format!("The action groups of the agent {agent_id}")))?;
    let model = body.get("foundationModel").and_then(Value::as_str).unwrap_or_default().to_owned();
    Ok(Resolved {
        version,
        groups: groups.into_iter().map(|g| (g.name, g.body)).collect(),
        target: routing.provisioned_throughput.unwrap_or(model),
        body,
        alias_arn: alias.arn,
    })
}

pub async fn invoke_agent(
    State(state): State<AppState>,
    caller: Caller,
    labels: super::Labels,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (agent_id, alias_id, session_id) =
        (labels.raw("agent_id"), labels.raw("agent_alias_id"), labels.raw("session_id"));
    let id_ok = |s: &str| !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_alphanumeric());
    if !id_ok(agent_id) || !id_ok(alias_id) {
        return Err(runtime_error(BedrockError::validation(
            "agentId and agentAliasId must be up to 10 alphanumerics.",
        )));
    }
    if !is_session_id(session_id) {
        return Err(runtime_error(spillway_agents::check::invalid(
            "sessionId",
            "Member must satisfy regular expression pattern: ^[0-9a-zA-Z._:-]+$ and have length between 2 and 100",
        )));
    }
    let req: InvokeAgentRequest = if body.iter().all(u8::is_ascii_whitespace) {
        InvokeAgentRequest::default()
    } else {
        spillway_wire::parse::json(&body).map_err(runtime_error)?
    };
    req.check().map_err(runtime_error)?;
    let chunking = chunk_size(req.streaming_configurations.as_ref()).map_err(runtime_error)?;
    let this_agent = agent_arn(&caller.source_region, &caller.account, agent_id);
    if let Some(source) = headers.get("x-amz-source-arn").and_then(|v| v.to_str().ok()) {
        if source != this_agent {
            return Err(runtime_error(spillway_agents::check::invalid(
                "sourceArn",
                format!("The source ARN must be the agent's own: {this_agent}"),
            )));
        }
    }
    let resolved = resolve(&state, &caller, agent_id, alias_id).await?;
    let plan = state
        .resolver
        .plan(caller.origin(), &resolved.target)
        .await
        .map_err(|e| runtime_error(crate::error::from_dispatch(e)))?;
    if plan.model.is_embedding() {
        return Err(runtime_error(BedrockError::validation(format!(
            "The agent's model {} does not generate text.",
            resolved.target
        ))));
    }
    let group_inputs: Vec<GroupInput<'_>> =
        resolved.groups.iter().map(|(name, body)| GroupInput { name, body }).collect();
    let toolbox = Toolbox::build(&group_inputs);
    let instruction = resolved.body.get("instruction").and_then(Value::as_str).unwrap_or_default();
    let metadata = BTreeMap::from([
        ("agentId".to_owned(), agent_id.to_owned()),
        ("agentAliasId".to_owned(), alias_id.to_owned()),
        ("agentAliasArn".to_owned(), resolved.alias_arn.clone()),
        ("agentVersion".to_owned(), resolved.version.clone()),
        ("sessionId".to_owned(), session_id.to_owned()),
    ]);
    let max_tokens = plan.model.max_tokens_limit.unwrap_or(plan.model.default_max_tokens);
    let spec = AgentSpec { instruction, toolbox: &toolbox, metadata, max_tokens };
    let ttl = resolved.body.get("idleSessionTTLInSeconds").and_then(Value::as_u64).unwrap_or(600);
    let key = SessionKey {
        account: caller.account.clone(),
        region: caller.source_region.clone(),
        agent_id: agent_id.to_owned(),
        alias_id: alias_id.to_owned(),
        session_id: session_id.to_owned(),
    };
    let mut lease = state.agent_sessions.lease(key, Duration::from_secs(ttl), Instant::now()).map_err(runtime_error)?;
    let mut turn = lease.session.begin(&req).map_err(runtime_error)?;
    let trace = req.enable_trace.unwrap_or(false);
    let ctx = TraceContext { agent_id, alias_id, version: &resolved.version, session_id };
    let prefix: String = caller.request_id.chars().filter(char::is_ascii_alphanumeric).take(8).collect();
    let mut out: Vec<Event> = Vec::new();
    let model_call = ModelCall {
        state: &state,
        caller: &caller,
        target: &resolved.target,
        plan: &plan,
        alias_arn: &resolved.alias_arn,
    };
    for text in &turn.observations {
        if trace {
            out.push(ctx.orchestration(
                "observation",
                events::action_observation(&events::trace_id(&prefix, turn.step), text),
                OffsetDateTime::now_utc(),
            ));
        }
    }
    loop {
        let trace_id = events::trace_id(&prefix, turn.step + 1);
        let request = turn.request(&lease.session, &spec);
        let started = OffsetDateTime::now_utc();
        if trace {
            out.push(ctx.orchestration(
                "modelInvocationInput",
                events::model_input(&trace_id, &request, &resolved.target),
                started,
            ));
        }
        let response = model_call.converse(&request).await.map_err(runtime_error)?;
        let ended = OffsetDateTime::now_utc();
        if trace {
            out.push(ctx.orchestration(
                "modelInvocationOutput",
                events::model_output(&trace_id, &response, &caller.request_id, started, ended),
                ended,
            ));
        }
        let message = response.pointer("/output/message").cloned().unwrap_or(json!({}));
        let (step, answered) = turn.absorb(&message, &toolbox).map_err(runtime_error)?;
        match step {
            Step::Retry => continue,
            Step::Final(text) => {
                if trace {
                    out.push(ctx.orchestration("observation", events::final_observation(&trace_id, &text), ended));
                }
                out.extend(events::chunks(&text, chunking));
                lease.session.finish(turn);
                break;
            }
            Step::ReturnControl { calls, rationale } => {
                let invocation_id = uuid::Uuid::new_v4().to_string();
                if let (true, Some(r)) = (trace, &rationale) {
                    out.push(ctx.orchestration("rationale", events::rationale(&trace_id, r), ended));
                }
                let mut inputs = Vec::new();
                for c in &calls {
                    let (member, trace_input) = invocation_input(&c.action, &c.input, agent_id, &invocation_id);
                    if trace {
                        out.push(ctx.orchestration(
                            "invocationInput",
                            events::invocation_input(&trace_id, trace_input),
                            ended,
                        ));
                    }
                    inputs.push(member);
                }
                out.push(events::return_control(&invocation_id, inputs));
                lease.session.suspend(turn, invocation_id, &calls, answered);
                break;
            }
        }
    }
    lease.commit(req.end_session.unwrap_or(false), Instant::now());
    Ok(stream_response(&out, session_id))
}

/// The events as event-stream frames, with InvokeAgent's headers.
fn stream_response(events: &[Event], session_id: &str) -> Response {
    let mut body = Vec::new();
    for e in events {
        let payload = serde_json::to_vec(&e.payload).unwrap_or_default();
        body.extend_from_slice(&spillway_wire::eventstream::event_frame(e.kind, &payload));
    }
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::OK;
    let h = response.headers_mut();
    h.insert("content-type", HeaderValue::from_static(spillway_wire::eventstream::CONTENT_TYPE));
    h.insert("x-amzn-bedrock-agent-content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(session_id) {
        h.insert("x-amz-bedrock-agent-session-id", v);
    }
    response
}
