//! Every runtime call ends in one record: its CloudWatch-named metrics, its usage row
//! (attributed by the plan it ran on) and its invocation-log record. A call ends when it
//! answers, when it fails, or when the client goes away first (a unary handler dropped by
//! a client read timeout, a stream body dropped mid-stream): the last is still a call,
//! recorded with the tokens it generated until then.

use axum::response::{IntoResponse, Response};
use spillway_invocation_log::{JsonBody, Operation};
use spillway_route::Attribution;
use spillway_wire::arn::Arn;
use spillway_wire::converse::TokenUsage;
use spillway_wire::{BedrockError, ErrorCode};

use super::Answer;
use crate::context::Caller;
use crate::dispatch::Progress;
use crate::error::ApiError;
use crate::logging::{Entry, ParsedInput};
use crate::state::Runtime;
use crate::telemetry::{self, Outcome};
use crate::usage::Usage;

/// How a call ended.
#[derive(Debug, Clone, Copy)]
pub enum Ending<'e> {
    Answered,
    Failed(&'e BedrockError),
    /// The client went away before the answer was complete.
    Abandoned,
}

/// What a finished call leaves behind.
struct Ended<'a> {
    region: Option<&'a str>,
    usage: TokenUsage,
    ending: Ending<'a>,
    output: Option<JsonBody>,
    embedding: bool,
    /// Set once the call was resolved: whose usage it is.
    attribution: Option<&'a Attribution>,
    /// What the log takes from the request, when the handler parsed it.
    parsed: Option<ParsedInput>,
}

/// One runtime call, for its metrics and its invocation-log record.
#[derive(Clone, Copy)]
pub struct Call<'a> {
    pub state: &'a Runtime,
    pub caller: &'a Caller,
    pub model_id: &'a str,
    pub operation: Operation,
    /// The request body as received (logged when text delivery is on).
    pub input: &'a [u8],
}

impl Call<'_> {
    /// Run a handler's work and answer. If the handler's future is dropped first (the
    /// client went away), the call is still recorded, with what it produced until then.
    /// `work` reports to `progress` (where it ran, the usage so far, whose usage it is).
    pub async fn serve(
        &self,
        progress: &Progress,
        work: impl std::future::Future<Output = Result<Answer, ApiError>>,
    ) -> Response {
        let mut unanswered = Unanswered { call: self, progress, armed: true };
        let result = work.await;
        unanswered.armed = false;
        let attribution = progress.attribution();
        match result {
            Ok(answer) => {
                if let Some(ran) = answer.ran {
                    let latency = self.caller.started.elapsed();
                    telemetry::overhead(latency.saturating_sub(ran.backend_time));
                    self.finish(Ended {
                        region: Some(&ran.region),
                        usage: ran.usage,
                        ending: Ending::Answered,
                        output: ran.output,
                        embedding: ran.embedding,
                        attribution: attribution.as_ref(),
                        parsed: ran.parsed,
                    });
                }
                answer.response
            }
            Err(e) => {
                // Nothing of a failed call is the caller's usage: failed attempts were released.
                let ending = Ending::Failed(&e.error);
                let (usage, attribution) = (TokenUsage::default(), attribution.as_ref());
                let ended =
                    Ended { region: None, usage, ending, output: None, embedding: false, attribution, parsed: None };
                self.finish(ended);
                e.into_response()
            }
        }
    }

    fn finish(&self, ended: Ended<'_>) {
        let error = match ended.ending {
            Ending::Failed(e) => Some(e),
            Ending::Answered | Ending::Abandoned => None,
        };
        let abandoned = matches!(ended.ending, Ending::Abandoned);
        telemetry::record(&Outcome {
            model_id: self.model_id,
            source_region: &self.caller.source_region,
            inference_region: ended.region,
            usage: ended.usage,
            latency: self.caller.started.elapsed(),
            error,
            abandoned,
        });
        self.attribute(ended.attribution, ended.usage, error);
        self.state.logs.emit(Entry {
            caller: self.caller,
            operation: self.operation,
            model_id: self.model_id,
            input: self.input,
            output: ended.output,
            usage: ended.usage,
            inference_region: ended.region,
            error,
            abandoned,
            embedding: ended.embedding,
            parsed: ended.parsed,
        });
    }

    /// Usage and cost, attributed to the foundation model and the application profile the
    /// plan named. A call that failed before it was resolved is attributed by the catalog
    /// alone; calls naming nothing in the catalog are not anyone's usage.
    fn attribute(&self, attribution: Option<&Attribution>, usage: TokenUsage, error: Option<&BedrockError>) {
        let catalog = &self.state.catalog;
        let fallback;
        let attribution = match attribution {
            Some(a) => a,
            None => {
                let id = Arn::parse(self.model_id).map_or(self.model_id, |a| a.resource);
                let model =
                    catalog.model(id).map(|m| m.id.clone()).or_else(|| catalog.profile(id).map(|p| p.model.clone()));
                let Some(foundation_model) = model else { return };
                fallback = Attribution { foundation_model, profile_arn: None };
                &fallback
            }
        };
        self.state.usage.add(
            catalog,
            Usage {
                account: &self.caller.account,
                model_id: self.model_id,
                foundation_model: &attribution.foundation_model,
                profile_arn: attribution.profile_arn.as_deref(),
                source_region: &self.caller.source_region,
                usage,
                throttled: error.is_some_and(|e| e.code == ErrorCode::Throttling),
                failed: error.is_some_and(|e| e.code != ErrorCode::Throttling),
            },
        );
    }

    /// An owned copy for a stream body, which outlives the handler.
    pub fn owned(&self, progress: &Progress, parsed: Option<ParsedInput>) -> OwnedCall {
        OwnedCall {
            state: self.state.clone(),
            caller: self.caller.clone(),
            model_id: self.model_id.to_owned(),
            operation: self.operation,
            input: bytes::Bytes::copy_from_slice(self.input),
            attribution: progress.attribution(),
            parsed,
        }
    }
}

/// Records a call whose handler was dropped before it answered.
struct Unanswered<'a> {
    call: &'a Call<'a>,
    progress: &'a Progress,
    armed: bool,
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if self.armed {
            let (region, usage) = self.progress.snapshot();
            let attribution = self.progress.attribution();
            tracing::info!(?usage, "the client went away before the answer");
            self.call.finish(Ended {
                region: region.as_deref(),
                usage,
                ending: Ending::Abandoned,
                output: None,
                embedding: false,
                attribution: attribution.as_ref(),
                parsed: None,
            });
        }
    }
}

/// [`Call`] for stream bodies.
pub struct OwnedCall {
    state: Runtime,
    caller: Caller,
    model_id: String,
    operation: Operation,
    input: bytes::Bytes,
    attribution: Option<Attribution>,
    parsed: Option<ParsedInput>,
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

    pub fn elapsed_ms(&self) -> u64 {
        self.caller.elapsed_ms()
    }

    /// The server's lifecycle: its shutdown deadline ends open streams.
    pub fn lifecycle(&self) -> crate::serve::Lifecycle {
        self.state.lifecycle.clone()
    }

    pub fn finish(&self, region: &str, usage: TokenUsage, ending: Ending<'_>, output: Option<JsonBody>) {
        let attribution = self.attribution.as_ref();
        let parsed = self.parsed.clone();
        let ended = Ended { region: Some(region), usage, ending, output, embedding: false, attribution, parsed };
        self.call().finish(ended);
    }
}
