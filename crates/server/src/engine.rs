//! Running a request on the regions of its plan, with failover: a region that fails
//! before anything reached the client is replaced by the next one. Non-streaming calls
//! can fail over at any point (the client sees nothing until the end); streams commit at
//! their first content event.

use std::sync::Arc;

use futures::StreamExt;
use spillway_backends::{Backend, BackendError, Backends, ChatCall, EmbedCall, EventStream, ModelBackend};
use spillway_catalog::Offer;
use spillway_route::Plan;
use spillway_wire::converse::ConverseRequest;
use spillway_wire::invoke::{EmbedOutput, EmbedRequest};
use spillway_wire::stream::{Collector, ModelEvent};
use spillway_wire::BedrockError;

#[derive(Debug)]
pub struct Engine {
    backends: Backends,
}

/// A generation that ran to its end.
#[derive(Debug)]
pub struct Completed {
    pub region: String,
    pub output: Collector,
}

/// A stream committed to a region: the events read so far, then the rest.
pub struct Opened {
    pub region: String,
    pub head: Vec<ModelEvent>,
    pub rest: EventStream,
}

impl Engine {
    pub fn new(backends: Backends) -> Self {
        Self { backends }
    }

    fn backend(&self, offer: &Offer) -> Result<&Arc<Backend>, BedrockError> {
        self.backends
            .get(&offer.backend)
            .ok_or_else(|| BedrockError::internal(format!("backend `{}` is not running", offer.backend)))
    }

    /// Generate to the end, trying the plan's regions in order.
    pub async fn complete(
        &self,
        plan: &Plan<'_>,
        request: &ConverseRequest,
        max_tokens: u32,
    ) -> Result<Completed, BedrockError> {
        let mut last = None;
        for offer in &plan.candidates {
            let backend = self.backend(offer)?;
            let call = ChatCall { model: &offer.backend_model, request, max_tokens, stream: false };
            match collect(backend.chat(call).await).await {
                Ok(output) => return Ok(Completed { region: offer.region.clone(), output }),
                Err(e) if e.is_retryable_elsewhere() || matches!(e, BackendError::Stream(_)) => {
                    tracing::debug!(region = %offer.region, error = %e, "region failed, trying the next");
                    last = Some(e);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(exhausted(plan, last))
    }

    /// Open a stream, trying the plan's regions in order until one produces content.
    pub async fn open(
        &self,
        plan: &Plan<'_>,
        request: &ConverseRequest,
        max_tokens: u32,
    ) -> Result<Opened, BedrockError> {
        let mut last = None;
        'regions: for offer in &plan.candidates {
            let backend = self.backend(offer)?;
            let call = ChatCall { model: &offer.backend_model, request, max_tokens, stream: true };
            let mut rest = match backend.chat(call).await {
                Ok(s) => s,
                Err(e) if e.is_retryable_elsewhere() => {
                    last = Some(e);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let mut head = Vec::new();
            loop {
                match rest.next().await {
                    Some(Ok(event)) => {
                        let commit = event.is_content();
                        head.push(event);
                        if commit {
                            return Ok(Opened { region: offer.region.clone(), head, rest });
                        }
                    }
                    // Nothing has reached the client yet: another region may still answer.
                    Some(Err(e)) if e.is_retryable_elsewhere() || matches!(e, BackendError::Stream(_)) => {
                        last = Some(e);
                        continue 'regions;
                    }
                    Some(Err(e)) => return Err(e.into()),
                    None => {
                        last = Some(BackendError::Stream("the backend ended the stream without output".into()));
                        continue 'regions;
                    }
                }
            }
        }
        Err(exhausted(plan, last))
    }

    pub async fn embed(
        &self,
        plan: &Plan<'_>,
        request: &EmbedRequest,
        default_dimensions: u32,
    ) -> Result<(String, EmbedOutput), BedrockError> {
        let mut last = None;
        for offer in &plan.candidates {
            let backend = self.backend(offer)?;
            let call = EmbedCall { model: &offer.backend_model, request, default_dimensions };
            match backend.embed(call).await {
                Ok(out) => return Ok((offer.region.clone(), out)),
                Err(e) if e.is_retryable_elsewhere() => last = Some(e),
                Err(e) => return Err(e.into()),
            }
        }
        Err(exhausted(plan, last))
    }

    pub async fn count_tokens(&self, offer: &Offer, request: &ConverseRequest) -> Result<u32, BedrockError> {
        Ok(self.backend(offer)?.count_tokens(&offer.backend_model, request).await?)
    }
}

async fn collect(stream: Result<EventStream, BackendError>) -> Result<Collector, BackendError> {
    let mut stream = stream?;
    let mut out = Collector::default();
    while let Some(event) = stream.next().await {
        out.push(event?);
    }
    if out.is_finished() {
        Ok(out)
    } else {
        Err(BackendError::Stream("the backend ended the answer without a stop reason".into()))
    }
}

/// What the caller hears when no region could run the request. A profile answers the
/// standard throttle (Bedrock's rule); a direct call reports its one region's failure.
fn exhausted(plan: &Plan<'_>, last: Option<BackendError>) -> BedrockError {
    match last {
        Some(e) if plan.candidates.len() == 1 => e.into(),
        _ => BedrockError::throttled(),
    }
}
