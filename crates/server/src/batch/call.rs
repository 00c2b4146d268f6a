//! One batch call: resolving a job's modelId, and running one model input on the region
//! the scheduler picked. Shared by jobs and async invocations.

use std::sync::Arc;

use serde_json::Value;
use spillway_backends::Pool;
use spillway_catalog::{Model, Offer};
use spillway_route::Plan;
use spillway_wire::arn::Arn;
use spillway_wire::converse::{ConverseRequest, TokenUsage};
use spillway_wire::error::Service;
use spillway_wire::invoke::{self, InvokeRequest};
use spillway_wire::{parse, validate, BedrockError, ErrorCode};

use super::scheduler::{Scheduler, Slot};
use crate::dispatch::{Dispatcher, Origin};
use crate::resolve::Resolver;

/// How a record's `modelInput` is written (`modelInvocationType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The InvokeModel body of the model's family.
    InvokeModel,
    /// A Converse request.
    Converse,
}

impl Shape {
    pub fn parse(s: Option<&str>) -> Option<Self> {
        match s {
            None | Some("InvokeModel") => Some(Self::InvokeModel),
            Some("Converse") => Some(Self::Converse),
            Some(_) => None,
        }
    }
}

/// The plan of a batch modelId: a foundation model, a system profile (the job spreads
/// over its regions) or an application profile (routes as what it copies). Batch does
/// not run on provisioned, custom or imported models, nor prompts.
pub async fn plan<'r>(
    resolver: &'r Resolver,
    account: &str,
    region: &str,
    model_id: &str,
) -> Result<Plan<'r>, BedrockError> {
    let kind = Arn::parse(model_id).map(|a| a.resource_type);
    if let Some("provisioned-model" | "custom-model" | "imported-model" | "prompt") = kind {
        return Err(BedrockError::validation(format!(
            "Batch inference isn't supported for the model {model_id}: use a foundation model or an inference profile."
        )));
    }
    resolver
        .plan(Origin { account, source_region: region, ask: Default::default() }, model_id)
        .await
        .map_err(crate::error::from_dispatch)
}

/// The pools of a plan's regions, in the plan's order (a region without a running
/// backend is left out).
pub fn pools<'p>(dispatcher: &'p Dispatcher, plan: &Plan<'_>) -> Vec<(&'p Arc<Pool>, usize)> {
    plan.candidates
        .iter()
        .enumerate()
        .filter_map(|(i, o)| dispatcher.backends().get(&o.region, &o.backend).map(|p| (p, i)))
        .collect()
}

/// What one call produced.
#[derive(Debug)]
pub struct Answer {
    pub output: Value,
    pub usage: TokenUsage,
    pub region: String,
}

/// Why a call produced nothing.
#[derive(Debug)]
pub struct Failure {
    /// Worth running again later (no capacity, a backend fault), as opposed to an input
    /// the model refuses.
    pub retry: bool,
    /// HTTP status of the error, as Bedrock's record errors carry it.
    pub code: u16,
    pub message: String,
}

impl From<BedrockError> for Failure {
    fn from(e: BedrockError) -> Self {
        let retry = matches!(
            e.code,
            ErrorCode::Throttling
                | ErrorCode::ServiceUnavailable
                | ErrorCode::ModelNotReady
                | ErrorCode::ModelTimeout
                | ErrorCode::InternalServer
        );
        Self { retry, code: e.code.status(Service::Runtime), message: e.message }
    }
}

impl From<spillway_dispatch::DispatchError> for Failure {
    fn from(e: spillway_dispatch::DispatchError) -> Self {
        crate::error::from_dispatch(e).into()
    }
}

/// maxTokens of a request: its own, else the model's default; never above the limit.
fn max_tokens(model: &Model, request: &ConverseRequest) -> Result<u32, BedrockError> {
    let asked = request.inference_config.as_ref().and_then(|c| c.max_tokens);
    let n = asked.map_or(model.default_max_tokens, |n| u32::try_from(n).unwrap_or(u32::MAX));
    match model.max_tokens_limit {
        Some(limit) if n > limit => Err(BedrockError::validation(format!(
            "The maximum tokens you requested exceeds the model limit of {limit}. Try again with a maximum tokens value that is lower than {limit}."
        ))),
        _ => Ok(n),
    }
}

/// Runs `input` on the offer the scheduler granted `slot` for (and only there: the
/// scheduler, not the engine's failover, spreads batch work). A model refusing the
/// input is not retried; no capacity or a backend fault is.
pub async fn run<'c>(
    dispatcher: &Dispatcher,
    plan: &Plan<'c>,
    offer: &'c Offer,
    mut slot: Slot,
    shape: Shape,
    input: &Value,
) -> Result<Answer, Failure> {
    let model = plan.model;
    let mut one = plan.clone();
    one.candidates = vec![offer];
    let body = serde_json::to_vec(input).map_err(|e| Failure::from(BedrockError::internal(e.to_string())))?;
    let started = std::time::Instant::now();
    let source = &offer.region;
    match shape {
        Shape::Converse => {
            let request: ConverseRequest = parse::json(&body)?;
            validate::converse(&request)?;
            let max = max_tokens(model, &request)?;
            slot.started();
            let done = dispatcher.complete(&one, source, &request, max).await?;
            let usage = done.output.usage();
            let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let output = serde_json::to_value(done.output.into_response(ms)).unwrap_or_default();
            Ok(Answer { output, usage, region: done.region })
        }
        Shape::InvokeModel => match invoke::parse(model.body_format, &body)? {
            InvokeRequest::Chat { request, dialect } => {
                validate::converse(&request)?;
                let max = max_tokens(model, &request)?;
                slot.started();
                let done = dispatcher.complete(&one, source, &request, max).await?;
                let output = invoke::chat_response(dialect, &model.id, &done.output);
                Ok(Answer { output, usage: done.output.usage(), region: done.region })
            }
            InvokeRequest::Embed(request) => {
                let dims = model.dimensions.unwrap_or(1024);
                slot.started();
                let done = dispatcher.embed(&one, source, &request, dims).await?;
                let (region, out) = (done.region, done.output);
                let output = invoke::embed_response(model.body_format, &request, &out);
                Ok(Answer { output, usage: TokenUsage::new(out.input_tokens, 0), region })
            }
        },
    }
}

/// Waits for spare capacity on one of the plan's regions; the slot and its offer.
pub async fn slot<'c>(
    scheduler: &Arc<Scheduler>,
    dispatcher: &Dispatcher,
    plan: &Plan<'c>,
) -> Option<(Slot, &'c Offer)> {
    let pools = pools(dispatcher, plan);
    if pools.is_empty() {
        return None;
    }
    let list: Vec<&Arc<Pool>> = pools.iter().map(|(p, _)| *p).collect();
    let slot = scheduler.acquire(&list).await;
    let offer = plan.candidates.get(pools.get(slot.index)?.1).copied()?;
    Some((slot, offer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_from_capacity_are_retried_and_refusals_are_not() {
        let f = Failure::from(BedrockError::throttled());
        assert!(f.retry);
        assert_eq!(f.code, 429);
        let f = Failure::from(BedrockError::validation("bad input"));
        assert!(!f.retry);
        assert_eq!(f.code, 400);
        assert_eq!(Shape::parse(Some("Converse")), Some(Shape::Converse));
        assert_eq!(Shape::parse(None), Some(Shape::InvokeModel));
        assert_eq!(Shape::parse(Some("Chat")), None);
    }
}
