//! Agents for Amazon Bedrock on spillway: the pure half of `bedrock-agent` (agents,
//! versions, aliases, action groups: request checks and answer shapes) and of
//! `bedrock-agent-runtime` InvokeAgent (the orchestration prompt, the turn state
//! machine, tool calls as `returnControl`, sessions, the response-stream events).
//!
//! Nothing here does I/O: the server's handlers (crates/server/src/agents) read and
//! write the store, run the model through the dispatcher, and encode frames; everything
//! they decide is decided here, where it is unit-tested.
//!
//! How an agent runs (documented for users in the README, "Agents"):
//! - every model call of a turn is one Converse call on the agent's foundation model,
//!   or on the provisioned throughput the alias routes to;
//! - the system prompt is [`prompt::ORCHESTRATION`] with the agent's instruction and the
//!   turn's prompt session attributes filled in;
//! - each function (or OpenAPI operation) of the enabled action groups is one tool;
//! - a tool call of the model ends the turn's current step with a `returnControl`
//!   event; the caller runs the function and sends the result back in
//!   `sessionState.returnControlInvocationResults`, which continues the same turn;
//! - an answer without tool calls is the turn's final response (`chunk` events).

pub mod action;
pub mod agent;
pub mod alias;
pub mod check;
pub mod events;
pub mod ids;
pub mod invoke;
pub mod prompt;
pub mod session;
pub mod tools;
pub mod turn;

pub use check::AgentError;
