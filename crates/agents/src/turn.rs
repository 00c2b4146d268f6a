//! One InvokeAgent turn as a state machine over a session.
//!
//! A turn starts with the user's `inputText` ([`Session::begin`]), or continues with
//! the results of the functions the agent asked the caller to run. Each step is one
//! model call ([`Turn::request`] builds it, [`Turn::absorb`] reads its answer):
//! - an answer without tool calls ends the turn: [`Step::Final`], kept in the history;
//! - tool calls of known functions suspend it: [`Step::ReturnControl`]; the session
//!   keeps the turn until the caller sends every result back, and the next step runs
//!   with them as Converse `toolResult`s;
//! - a call of an unknown tool is answered with an error result at once, and the model
//!   is asked again ([`Step::Retry`]), a bounded number of times.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::check::{invalid, AgentError};
use crate::invoke::InvokeAgentRequest;
use crate::tools::{Action, Toolbox};

/// Model calls one turn may make before it is given up (unknown-tool retries).
pub const MAX_STEPS: u32 = 5;
/// Invocations one `returnControl` event may hold (the model's limit).
pub const MAX_CALLS: usize = 5;
/// Bedrock's default `maximumLength` for orchestration.
pub const MAX_TOKENS: u32 = 2048;

/// A session's memory between turns.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// Converse messages of the finished turns.
    pub history: Vec<Value>,
    pub session_attributes: BTreeMap<String, String>,
    /// A turn waiting for function results.
    pub pending: Option<Pending>,
}

#[derive(Debug, Clone)]
pub struct Pending {
    pub invocation_id: String,
    /// The turn so far: the user's input and the model's tool calls.
    pub messages: Vec<Value>,
    /// (toolUseId, action) of every call waiting for its result.
    pub calls: Vec<(String, Action)>,
    /// Tool results already known (calls of unknown tools).
    pub answered: Vec<Value>,
    pub prompt_attributes: BTreeMap<String, String>,
    pub step: u32,
}

/// A turn in progress.
#[derive(Debug, Clone)]
pub struct Turn {
    pub messages: Vec<Value>,
    pub prompt_attributes: BTreeMap<String, String>,
    /// Model calls made so far in this turn (across returnControl round trips).
    pub step: u32,
    /// What the caller's results said, for the trace's observations.
    pub observations: Vec<String>,
}

/// A tool call the caller is to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub tool_use_id: String,
    pub action: Action,
    pub input: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Final(String),
    /// `rationale` is the model's text beside its calls (if any).
    ReturnControl {
        calls: Vec<Call>,
        rationale: Option<String>,
    },
    Retry,
}

fn user(content: Vec<Value>) -> Value {
    json!({"role": "user", "content": content})
}

impl Session {
    /// Starts (or continues, with function results) a turn.
    pub fn begin(&mut self, req: &InvokeAgentRequest) -> Result<Turn, AgentError> {
        let state = req.session_state.as_ref();
        if let Some(attrs) = state.and_then(|s| s.session_attributes.clone()) {
            self.session_attributes = attrs;
        }
        let prompt_attributes = state.and_then(|s| s.prompt_session_attributes.clone());
        let text = req.input_text.as_deref().filter(|t| !t.trim().is_empty());
        let outcomes = req.outcomes()?;
        if outcomes.is_empty() {
            if let Some(p) = &self.pending {
                return Err(AgentError::validation(format!(
                    "The agent is waiting for the results of invocation {}: send them in sessionState.returnControlInvocationResults.",
                    p.invocation_id
                )));
            }
            let Some(text) = text else {
                return Err(invalid("inputText", "Member must not be empty when no function results are returned"));
            };
            if self.history.is_empty() {
                for m in state.and_then(|s| s.conversation_history.as_ref()).into_iter().flat_map(|h| &h.messages) {
                    let content: Vec<Value> = m.content.iter().map(|c| json!({"text": c.text})).collect();
                    self.history.push(json!({"role": m.role, "content": content}));
                }
            }
            return Ok(Turn {
                messages: vec![user(vec![json!({"text": text})])],
                prompt_attributes: prompt_attributes.unwrap_or_default(),
                step: 0,
                observations: Vec::new(),
            });
        }
        let Some(pending) = &self.pending else {
            return Err(AgentError::validation(
                "No function invocation of this session is waiting for results (sessionState.returnControlInvocationResults).",
            ));
        };
        if let Some(id) = state.and_then(|s| s.invocation_id.as_deref()) {
            if id != pending.invocation_id {
                return Err(invalid(
                    "sessionState.invocationId",
                    format!("The session's pending invocation is {}", pending.invocation_id),
                ));
            }
        }
        // Match each waiting call to a result of the same function; all must be answered.
        let mut unused: Vec<Option<&crate::invoke::ToolOutcome>> = outcomes.iter().map(Some).collect();
        let mut blocks = pending.answered.clone();
        let mut observations = Vec::new();
        for (id, action) in &pending.calls {
            let target = match action {
                Action::Function { function, .. } => function.clone(),
                Action::Api { method, path, .. } => format!("{method} {path}"),
            };
            let found =
                unused.iter_mut().find(|o| o.is_some_and(|o| o.action_group == action.group() && o.target == target));
            let Some(outcome) = found.and_then(Option::take) else {
                return Err(invalid(
                    "sessionState.returnControlInvocationResults",
                    format!("No result for {}.{target} of invocation {}", action.group(), pending.invocation_id),
                ));
            };
            let status = if outcome.failed { "error" } else { "success" };
            blocks
                .push(json!({"toolResult": {"toolUseId": id, "content": [{"text": outcome.text}], "status": status}}));
            observations.push(outcome.text.clone());
        }
        if let Some(extra) = unused.into_iter().flatten().next() {
            return Err(invalid(
                "sessionState.returnControlInvocationResults",
                format!(
                    "{}.{} was not asked for by invocation {}",
                    extra.action_group, extra.target, pending.invocation_id
                ),
            ));
        }
        if let Some(text) = text {
            blocks.push(json!({"text": text}));
        }
        let Some(p) = self.pending.take() else {
            return Err(AgentError::internal("the pending invocation vanished"));
        };
        let mut messages = p.messages;
        messages.push(user(blocks));
        Ok(Turn {
            messages,
            prompt_attributes: prompt_attributes.unwrap_or(p.prompt_attributes),
            step: p.step,
            observations,
        })
    }

    /// The turn ended with `answer`: it joins the history.
    pub fn finish(&mut self, turn: Turn) {
        self.history.extend(turn.messages);
    }

    /// The turn waits for the caller to run `calls`.
    pub fn suspend(&mut self, turn: Turn, invocation_id: String, calls: &[Call], answered: Vec<Value>) {
        self.pending = Some(Pending {
            invocation_id,
            messages: turn.messages,
            calls: calls.iter().map(|c| (c.tool_use_id.clone(), c.action.clone())).collect(),
            answered,
            prompt_attributes: turn.prompt_attributes,
            step: turn.step,
        });
    }
}

/// What a model call needs to know of the agent.
pub struct AgentSpec<'a> {
    pub instruction: &'a str,
    pub toolbox: &'a Toolbox,
    /// `requestMetadata` of every model call: the agent, alias and session it ran for
    /// (the invocation log records it).
    pub metadata: BTreeMap<String, String>,
    pub max_tokens: u32,
}

impl Turn {
    /// The Converse request of the next step (JSON, parsed by the server).
    pub fn request(&self, session: &Session, agent: &AgentSpec<'_>) -> Value {
        let system =
            crate::prompt::system_prompt(agent.instruction, !agent.toolbox.is_empty(), &self.prompt_attributes);
        let messages: Vec<&Value> = session.history.iter().chain(&self.messages).collect();
        let mut request = json!({
            "system": [{"text": system}],
            "messages": messages,
            "inferenceConfig": {"maxTokens": agent.max_tokens.min(MAX_TOKENS), "temperature": 0.0},
        });
        if !agent.toolbox.is_empty() {
            request["toolConfig"] = json!({"tools": agent.toolbox.specs});
        }
        if !agent.metadata.is_empty() {
            request["requestMetadata"] = json!(agent.metadata);
        }
        request
    }

    /// Reads the model's answer (`output.message` of a Converse response). Returns the
    /// step and, for [`Step::ReturnControl`], the results already known (calls of
    /// unknown tools) that must go back with the caller's.
    pub fn absorb(&mut self, message: &Value, toolbox: &Toolbox) -> Result<(Step, Vec<Value>), AgentError> {
        self.step += 1;
        let content = message.get("content").and_then(Value::as_array).cloned().unwrap_or_default();
        let text: String =
            content.iter().filter_map(|b| b.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("");
        let mut calls = Vec::new();
        let mut answered = Vec::new();
        for use_ in content.iter().filter_map(|b| b.get("toolUse")) {
            let id = use_.get("toolUseId").and_then(Value::as_str).unwrap_or_default().to_owned();
            let name = use_.get("name").and_then(Value::as_str).unwrap_or_default();
            let input = use_.get("input").cloned().unwrap_or(json!({}));
            let refusal = match toolbox.actions.get(name) {
                // A returnControl event holds at most 5 invocations: later calls are
                // answered at once, so nothing waits for a result the caller never saw.
                Some(action) if calls.len() < MAX_CALLS => {
                    calls.push(Call { tool_use_id: id, action: action.clone(), input });
                    continue;
                }
                Some(_) => format!("Too many function calls at once: call {name} again after the others returned."),
                None => format!("There is no function named {name}. Use one of the functions you were given."),
            };
            answered.push(json!({"toolResult": {"toolUseId": id, "status": "error", "content": [{"text": refusal}]}}));
        }
        self.messages.push(json!({"role": "assistant", "content": content}));
        if !calls.is_empty() {
            let rationale = (!text.trim().is_empty()).then(|| text.trim().to_owned());
            return Ok((Step::ReturnControl { calls, rationale }, answered));
        }
        if !answered.is_empty() {
            if self.step >= MAX_STEPS {
                return Err(AgentError::internal(format!(
                    "The agent's model kept calling unknown functions ({MAX_STEPS} times)."
                )));
            }
            self.messages.push(user(answered));
            return Ok((Step::Retry, Vec::new()));
        }
        Ok((Step::Final(text), Vec::new()))
    }
}

#[cfg(test)]
mod tests;
