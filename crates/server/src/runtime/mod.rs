//! bedrock-runtime handlers. Each one parses (wire), resolves (route), runs (engine) and
//! encodes (wire); the checks they share live here.

pub mod async_invoke;
pub mod converse;
pub mod count_tokens;
pub mod invoke;
mod stream;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use spillway_catalog::Model;
use spillway_route::{resolve, Plan};
use spillway_wire::arn::Arn;
use spillway_wire::converse::ConverseRequest;
use spillway_wire::BedrockError;

use spillway_invocation_log::Operation;
use spillway_wire::converse::TokenUsage;

use crate::app::AppState;
use crate::context::Caller;
use crate::error::ApiError;
use crate::logging::Entry;
use crate::telemetry::{self, Outcome};
use crate::usage::Usage;

/// The `{model_id}` path label, percent-decoded (`%3A` → `:`, `%2F` → `/`).
#[derive(Debug, Clone)]
pub struct ModelId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ModelId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) if !id.is_empty() => Ok(Self(id)),
            Ok(_) => Err(BedrockError::validation("The provided model identifier is invalid.").into()),
            Err(e) => Err(BedrockError::validation(format!("Invalid model identifier in the path: {e}")).into()),
        }
    }
}

/// Resolve `model_id` for the caller: an application profile ARN is looked up in the
/// store and routes as what it copies; everything else is the catalog's.
pub async fn plan<'c>(state: &'c AppState, caller: &Caller, model_id: &str) -> Result<Plan<'c>, ApiError> {
    // Converse and ConverseStream render a prompt before they get here (`converse::prepare`).
    if Arn::parse(model_id).is_some_and(|a| a.resource_type == "prompt") {
        return Err(BedrockError::validation(
            "A prompt ARN can be used as modelId with Converse and ConverseStream only.",
        )
        .into());
    }
    // A provisioned-model ARN runs on its reservation; a custom model never on demand.
    if let Some(plan) = crate::provisioned::runtime::plan(state, caller, model_id).await? {
        return Ok(plan);
    }
    // An imported model runs on demand on its own engine, in its import job's region.
    if let Some(plan) = crate::imported::runtime::plan(state, caller, model_id).await? {
        return Ok(plan);
    }
    let is_app = Arn::parse(model_id).is_some_and(|a| a.resource_type == "application-inference-profile");
    if !is_app {
        return Ok(resolve(&state.catalog, model_id, &caller.source_region, &caller.account)?);
    }
    let app = state
        .apps
        .lookup(&state.store, &caller.account, &caller.source_region, model_id)
        .await
        .map_err(|e| BedrockError::internal(format!("The control-plane store failed: {e}")))?
        .ok_or_else(|| BedrockError::validation("The provided model identifier is invalid."))?;
    let mut plan = resolve(&state.catalog, &app.copy_from, &caller.source_region, &caller.account)?;
    plan.application = Some(app.arn);
    Ok(plan)
}

/// The model must generate text (Converse and chat bodies).
fn ensure_text_model(model: &Model) -> Result<(), BedrockError> {
    if model.is_embedding() {
        return Err(BedrockError::validation(
            "This action doesn't support the model that you provided. Try again with a supported text or chat model.",
        ));
    }
    Ok(())
}

fn ensure_streaming(model: &Model) -> Result<(), BedrockError> {
    if !model.streaming {
        return Err(BedrockError::validation("The model is unsupported for streaming."));
    }
    Ok(())
}

/// maxTokens to generate: the request's, else the model's default; never above the
/// model's limit.
fn max_tokens(model: &Model, request: &ConverseRequest) -> Result<u32, BedrockError> {
    let asked = request.inference_config.as_ref().and_then(|c| c.max_tokens);
    let n = match asked {
        Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
        None => model.default_max_tokens,
    };
    if let Some(limit) = model.max_tokens_limit {
        if n > limit {
            return Err(BedrockError::validation(format!(
                "The maximum tokens you requested exceeds the model limit of {limit}. Try again with a maximum tokens value that is lower than {limit}."
            )));
        }
    }
    Ok(n)
}

/// A JSON answer with the debugging header naming the region that ran it.
fn json_response(body: Vec<u8>, region: &str, extra: &[(&'static str, String)]) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(region) {
        headers.insert("x-spillway-inference-region", v);
    }
    for (name, value) in extra {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(*name, v);
        }
    }
    response
}

/// What a handler produced: the response, and for answers that are complete when the
/// handler returns, where they ran and what they used (streams record themselves when
/// they end).
pub struct Answer {
    pub response: Response,
    pub ran: Option<Ran>,
}

pub struct Ran {
    pub region: String,
    pub usage: TokenUsage,
    /// The answer's JSON, for the invocation log (only built when logging is on).
    pub output: Option<serde_json::Value>,
    pub embedding: bool,
    /// Time inside backend calls; the rest of the request's time is spillway's overhead.
    pub backend_time: std::time::Duration,
}

/// One runtime call, for its metrics and its invocation-log record.
#[derive(Clone, Copy)]
pub struct Call<'a> {
    pub state: &'a AppState,
    pub caller: &'a Caller,
    pub model_id: &'a str,
    pub operation: Operation,
    /// The request body as received (logged when text delivery is on).
    pub input: &'a [u8],
}

impl Call<'_> {
    /// Record the call's metrics and log, and turn the result into the response.
    fn respond(&self, result: Result<Answer, ApiError>) -> Response {
        match result {
            Ok(answer) => {
                if let Some(ran) = answer.ran {
                    let latency = self.caller.started.elapsed();
                    telemetry::overhead(latency.saturating_sub(ran.backend_time));
                    self.finish(Some(&ran.region), ran.usage, None, ran.output, ran.embedding);
                }
                answer.response
            }
            Err(e) => {
                self.finish(None, TokenUsage::default(), Some(&e.error), None, false);
                e.into_response()
            }
        }
    }

    /// Metrics and log record of a call that ended (streams call this when they end).
    fn finish(
        &self,
        region: Option<&str>,
        usage: TokenUsage,
        error: Option<&BedrockError>,
        output: Option<serde_json::Value>,
        embedding: bool,
    ) {
        telemetry::record(&Outcome {
            model_id: self.model_id,
            source_region: &self.caller.source_region,
            inference_region: region,
            usage,
            latency: self.caller.started.elapsed(),
            error,
        });
        self.attribute(usage, error);
        self.state.logs.emit(Entry {
            caller: self.caller,
            operation: self.operation,
            model_id: self.model_id,
            input: self.input,
            output,
            usage,
            inference_region: region,
            error,
            embedding,
        });
    }

    /// Usage and cost, attributed to the foundation model and the application profile.
    fn attribute(&self, usage: TokenUsage, error: Option<&BedrockError>) {
        let catalog = &self.state.catalog;
        // A prompt ARN is attributed to the model its variant ran on.
        let target = self.state.usage.target_of(self.model_id);
        let effective = target.as_deref().unwrap_or(self.model_id);
        let (foundation, profile) = match self.state.apps.cached(effective) {
            Some(app) => (Some(app.model_id), Some(app.arn)),
            None => {
                let id = Arn::parse(effective).map_or(effective, |a| a.resource);
                let fm = catalog
                    .model(id)
                    .map(|m| m.id.clone())
                    .or_else(|| catalog.profile(id).map(|p| p.model.clone()))
                    .or_else(|| self.state.engine.provisioned().foundation_model(effective))
                    // An imported model is its own foundation model (it has no catalog price).
                    .or_else(|| self.state.engine.imported().get(effective).map(|s| s.arn.clone()));
                (fm, None)
            }
        };
        // Calls naming nothing in the catalog are not anyone's usage.
        let Some(foundation) = foundation else { return };
        self.state.usage.add(
            catalog,
            Usage {
                account: &self.caller.account,
                model_id: self.model_id,
                foundation_model: &foundation,
                profile_arn: profile.as_deref(),
                source_region: &self.caller.source_region,
                usage,
                throttled: error.is_some_and(|e| e.code == spillway_wire::ErrorCode::Throttling),
                failed: error.is_some_and(|e| e.code != spillway_wire::ErrorCode::Throttling),
            },
        );
    }

    /// An owned copy for a stream body, which outlives the handler.
    fn owned(&self) -> OwnedCall {
        OwnedCall {
            state: self.state.clone(),
            caller: self.caller.clone(),
            model_id: self.model_id.to_owned(),
            operation: self.operation,
            input: bytes::Bytes::copy_from_slice(self.input),
        }
    }
}

/// [`Call`] for stream bodies.
pub struct OwnedCall {
    state: AppState,
    caller: Caller,
    model_id: String,
    operation: Operation,
    input: bytes::Bytes,
}

impl OwnedCall {
    fn call(&self) -> Call<'_> {
        Call {
            state: &self.state,
            caller: &self.caller,
            model_id: &self.model_id,
            operation: self.operation,
            input: &self.input,
        }
    }

    fn elapsed_ms(&self) -> u64 {
        self.caller.elapsed_ms()
    }

    fn finish(&self, region: &str, usage: TokenUsage, error: Option<&BedrockError>, output: Option<serde_json::Value>) {
        self.call().finish(Some(region), usage, error, output, false);
    }
}
