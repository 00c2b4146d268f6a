//! The three call kinds on top of the one candidate loop: admit, attempt, settle.
//!
//! - unary chat ([`Dispatcher::run_chat`]): generate to the end on one candidate; any
//!   retryable failure, even after tokens, moves to the next (the client has nothing yet);
//! - stream ([`Dispatcher::open_chat`]): open and read until the first content event,
//!   which commits the stream to that candidate; the reservation goes with the stream;
//! - embedding ([`Dispatcher::run_embed`]).
//!
//! The reservation is settled to the real usage on success and released whole when no
//! candidate answered; a caller that goes away mid-call drops it, and it settles to the
//! usage observed so far.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use spillway_backends::{
    count_request_tokens, count_tokens, BackendError, ChatCall, EmbedCall, EventStream, Lane, Pool,
};
use spillway_catalog::Offer;
use spillway_quota::Floor;
use spillway_route::tier::Served;
use spillway_route::Plan;
use spillway_wire::converse::{ConverseRequest, TokenUsage};
use spillway_wire::invoke::{EmbedOutput, EmbedRequest};
use spillway_wire::stream::{Collector, ModelEvent};

use super::admit::Admitted;
use super::attempt::{Attempt, Declared};
use super::progress::{Progress, UsageTracker};
use super::{DispatchError, Dispatcher, Origin};

/// A generation that ran to its end.
#[derive(Debug)]
pub struct Completed {
    pub region: String,
    pub output: Collector,
    /// Time spent in backend calls, failed attempts included.
    pub backend_time: Duration,
    /// The service tier that served it.
    pub served: Served,
}

/// A stream committed to a region: the events read so far, then the rest.
pub struct Opened {
    pub region: String,
    pub head: Vec<ModelEvent>,
    pub rest: EventStream,
    /// Reports the stream's failure to the region's health when it breaks later.
    pub pool: Arc<Pool>,
    /// The service tier that serves it.
    pub served: Served,
}

/// An embedding and where it ran.
#[derive(Debug)]
pub struct Embedded {
    pub region: String,
    pub output: EmbedOutput,
    /// The service tier that served it.
    pub served: Served,
}

impl Dispatcher {
    /// The whole non-streaming path: admit, run to the end, settle to the real usage (or
    /// give the reservation back when nothing answered). `progress` follows the call so a
    /// caller that abandons it can record what it produced.
    pub async fn run_chat(
        &self,
        origin: Origin<'_>,
        plan: &Plan<'_>,
        request: &ConverseRequest,
        max_tokens: u32,
        progress: &Progress,
    ) -> Result<Completed, DispatchError> {
        let mut admitted = self
            .admission
            .admit(origin.account, origin.source_region, plan, origin.ask, count_request_tokens(request), max_tokens)
            .await?;
        let started = Instant::now();
        let (served, floor) = (admitted.served(), admitted.floor());
        let unary = Unary { request, max_tokens, progress, admitted: Some(&mut admitted) };
        let landed = self.attempt(plan, origin.source_region, Some(progress), floor, unary).await;
        match landed {
            Ok(landed) => {
                admitted.settle(landed.value.usage()).await;
                let backend_time = started.elapsed();
                Ok(Completed { region: landed.region, output: landed.value, backend_time, served })
            }
            Err(failure) => {
                admitted.release().await;
                Err(failure.into_error(Declared::ModelError))
            }
        }
    }

    /// Generate to the end on the plan's candidates without admission: for work whose
    /// capacity and quota are decided elsewhere (batch jobs on spare capacity).
    pub async fn complete(
        &self,
        plan: &Plan<'_>,
        source_region: &str,
        request: &ConverseRequest,
        max_tokens: u32,
    ) -> Result<Completed, DispatchError> {
        let progress = Progress::default();
        let started = Instant::now();
        let unary = Unary { request, max_tokens, progress: &progress, admitted: None };
        let landed = self.attempt(plan, source_region, Some(&progress), Floor::NONE, unary).await;
        let landed = landed.map_err(|f| f.into_error(Declared::ModelError))?;
        let served = Served::default();
        Ok(Completed { region: landed.region, output: landed.value, backend_time: started.elapsed(), served })
    }

    /// Embed on the plan's candidates without admission (see [`Dispatcher::complete`]).
    pub async fn embed(
        &self,
        plan: &Plan<'_>,
        source_region: &str,
        request: &EmbedRequest,
        default_dimensions: u32,
    ) -> Result<Embedded, DispatchError> {
        let landed = self.attempt(plan, source_region, None, Floor::NONE, Embed { request, default_dimensions }).await;
        let landed = landed.map_err(|f| f.into_error(Declared::ModelError))?;
        Ok(Embedded { region: landed.region, output: landed.value, served: Served::default() })
    }

    /// Admit and open a stream. The reservation comes back with it: the stream settles it.
    /// `declared` is the error the operation answers if no candidate opens.
    pub async fn open_chat(
        &self,
        origin: Origin<'_>,
        plan: &Plan<'_>,
        request: &ConverseRequest,
        max_tokens: u32,
        declared: Declared,
    ) -> Result<(Opened, Admitted), DispatchError> {
        let admitted = self
            .admission
            .admit(origin.account, origin.source_region, plan, origin.ask, count_request_tokens(request), max_tokens)
            .await?;
        let (served, floor) = (admitted.served(), admitted.floor());
        let landed = self.attempt(plan, origin.source_region, None, floor, Open { request, max_tokens }).await;
        match landed {
            Ok(l) => {
                let (head, rest) = l.value;
                Ok((Opened { region: l.region, head, rest, pool: l.pool, served }, admitted))
            }
            Err(failure) => {
                admitted.release().await;
                Err(failure.into_error(declared))
            }
        }
    }

    /// Admit, embed on the first candidate that answers, settle.
    pub async fn run_embed(
        &self,
        origin: Origin<'_>,
        plan: &Plan<'_>,
        request: &EmbedRequest,
        default_dimensions: u32,
    ) -> Result<Embedded, DispatchError> {
        let estimate = request.texts.iter().map(|t| count_tokens(t)).sum();
        let admitted =
            self.admission.admit(origin.account, origin.source_region, plan, origin.ask, estimate, 0).await?;
        let embed = Embed { request, default_dimensions };
        let served = admitted.served();
        let landed = self.attempt(plan, origin.source_region, None, admitted.floor(), embed).await;
        match landed {
            Ok(l) => {
                admitted.settle(TokenUsage::new(l.value.input_tokens, 0)).await;
                Ok(Embedded { region: l.region, output: l.value, served })
            }
            Err(failure) => {
                admitted.release().await;
                Err(failure.into_error(Declared::ModelError))
            }
        }
    }
}

/// A unary generation: read to its end, keeping the caller's progress and reservation up
/// to date (a caller that goes away mid-way is billed for what was generated).
struct Unary<'r> {
    request: &'r ConverseRequest,
    max_tokens: u32,
    progress: &'r Progress,
    /// `None` for work admitted elsewhere (batch jobs have their own scheduler).
    admitted: Option<&'r mut Admitted>,
}

impl Attempt for Unary<'_> {
    type Output = Collector;

    async fn run(&mut self, pool: &Arc<Pool>, lane: Lane<'_>, offer: &Offer) -> Result<Collector, BackendError> {
        let call =
            ChatCall { model: &offer.backend_model, request: self.request, max_tokens: self.max_tokens, stream: false };
        let mut stream = pool.chat(lane, call).await?;
        let mut out = Collector::default();
        let mut usage = UsageTracker::default();
        // Events not yet in `usage`. The call can only be abandoned while it waits, so the
        // usage is brought up to date when the backend has nothing ready (and at the end),
        // not after every event: a whole answer that arrives at once ends with the
        // backend's own usage, and its text is never counted (≈ 17,000 instructions for a
        // 1 KB answer, issue 13).
        let mut pending = Vec::new();
        loop {
            let next = std::future::poll_fn(|cx| {
                let polled = stream.poll_next_unpin(cx);
                if polled.is_pending() {
                    self.catch_up(&mut pending, &mut usage, &mut out);
                }
                polled
            })
            .await;
            match next {
                Some(Ok(event)) => pending.push(event),
                Some(Err(e)) => {
                    self.catch_up(&mut pending, &mut usage, &mut out);
                    return Err(e);
                }
                None => break,
            }
        }
        self.catch_up(&mut pending, &mut usage, &mut out);
        if out.is_finished() {
            Ok(out)
        } else {
            Err(BackendError::Stream("the backend ended the answer without a stop reason".into()))
        }
    }
}

impl Unary<'_> {
    /// `pending`'s events into the usage (the progress and the reservation follow it) and
    /// the answer.
    fn catch_up(&mut self, pending: &mut Vec<ModelEvent>, usage: &mut UsageTracker, out: &mut Collector) {
        if pending.is_empty() {
            return;
        }
        usage.see_all(pending);
        self.progress.track(*usage);
        if let Some(admitted) = self.admitted.as_deref_mut() {
            admitted.observe(usage.current());
        }
        for event in pending.drain(..) {
            out.push(event);
        }
    }
}

/// A stream: open it and read until its first content event, which commits it. A stream
/// that fails or ends before content has shown the client nothing.
struct Open<'r> {
    request: &'r ConverseRequest,
    max_tokens: u32,
}

impl Attempt for Open<'_> {
    type Output = (Vec<ModelEvent>, EventStream);

    async fn run(&mut self, pool: &Arc<Pool>, lane: Lane<'_>, offer: &Offer) -> Result<Self::Output, BackendError> {
        let call =
            ChatCall { model: &offer.backend_model, request: self.request, max_tokens: self.max_tokens, stream: true };
        let mut rest = pool.chat(lane, call).await?;
        let mut head = Vec::new();
        while let Some(event) = rest.next().await {
            let event = event?;
            let commit = event.is_content();
            head.push(event);
            if commit {
                return Ok((head, rest));
            }
        }
        Err(BackendError::Stream("the backend ended the stream without output".into()))
    }
}

struct Embed<'r> {
    request: &'r EmbedRequest,
    default_dimensions: u32,
}

impl Attempt for Embed<'_> {
    type Output = EmbedOutput;

    fn run<'a>(
        &'a mut self,
        pool: &'a Arc<Pool>,
        lane: Lane<'a>,
        offer: &'a Offer,
    ) -> impl Future<Output = Result<EmbedOutput, BackendError>> + Send + 'a {
        let call = EmbedCall {
            model: &offer.backend_model,
            request: self.request,
            default_dimensions: self.default_dimensions,
        };
        pool.embed(lane, call)
    }
}
