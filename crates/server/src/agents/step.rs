//! One model call of an agent's turn: a Converse call through the normal dispatcher,
//! recorded like any runtime call (metrics, usage row, invocation-log record) under the
//! model it ran on: the alias's provisioned throughput ARN when it names one, so the
//! capacity, quotas and cost are the throughput's (seed 002), else the agent's model.
//! The usage row is attributed to the agent alias (its `profile_arn`, unless the model
//! is itself an application profile), and the log record carries the alias in
//! `requestMetadata`.

use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::Value;
use spillway_invocation_log::{JsonBody, Operation};
use spillway_route::Plan;
use spillway_wire::converse::ConverseRequest;
use spillway_wire::BedrockError;

use crate::app::AppState;
use crate::context::Caller;
use crate::runtime::{Answer, Call, Ran};
use axum::extract::FromRef;
use spillway_dispatch::Progress;

/// Where an agent's model calls run and whom they are attributed to.
pub struct ModelCall<'a> {
    pub state: &'a AppState,
    pub caller: &'a Caller,
    /// The modelId the calls are recorded under.
    pub target: &'a str,
    pub plan: &'a Plan<'a>,
    pub alias_arn: &'a str,
}

impl ModelCall<'_> {
    /// Runs the Converse request (JSON built by the turn) to its end; the Converse
    /// response as JSON.
    pub async fn converse(&self, request: &Value) -> Result<Value, BedrockError> {
        let parsed: ConverseRequest = serde_json::from_value(request.clone())
            .map_err(|e| BedrockError::internal(format!("The agent built an invalid model request: {e}")))?;
        spillway_wire::validate::converse(&parsed)?;
        let max_tokens = parsed
            .inference_config
            .as_ref()
            .and_then(|c| c.max_tokens)
            .map_or(self.plan.model.default_max_tokens, |n| u32::try_from(n).unwrap_or(u32::MAX));
        let input = serde_json::to_vec(request).unwrap_or_default();
        let mut attribution = self.plan.attribution();
        if attribution.profile_arn.is_none() {
            attribution.profile_arn = Some(self.alias_arn.to_owned());
        }
        let progress = Progress::default();
        progress.attribute(attribution);
        let runtime = crate::state::Runtime::from_ref(self.state);
        let (state, caller) = (&runtime, self.caller);
        let call = Call { state, caller, model_id: self.target, operation: Operation::Converse, input: &input };
        let mut outcome: Option<Result<Value, BedrockError>> = None;
        let work = async {
            match state.dispatcher.run_chat(caller.origin(), self.plan, &parsed, max_tokens, &progress).await {
                Ok(done) => {
                    let usage = done.output.usage();
                    let response = done.output.into_response(caller.elapsed_ms());
                    let value = serde_json::to_value(&response).unwrap_or_default();
                    let output = state.logs.enabled(caller).then(|| JsonBody::from(&value));
                    outcome = Some(Ok(value));
                    let ran = Ran::chat(done.region, usage, output, done.backend_time);
                    Ok(Answer { response: StatusCode::OK.into_response(), ran: Some(ran) })
                }
                Err(e) => {
                    let error = crate::error::from_dispatch(e);
                    outcome = Some(Err(error.clone()));
                    Err(error.into())
                }
            }
        };
        // The call's own HTTP answer is not sent anywhere: InvokeAgent answers.
        drop(call.serve(&progress, work).await);
        outcome.unwrap_or_else(|| Err(BedrockError::internal("The agent's model call did not finish.")))
    }
}
