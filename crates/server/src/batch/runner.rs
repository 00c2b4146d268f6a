//! Step 2 of a job: its pending records on spare capacity, answers stored in small
//! batches (each with the job's counters in one transaction), until every record is
//! answered or the lease keeper says stop, expire or lost.

use std::time::{Duration, Instant};

use futures::future::{BoxFuture, FutureExt};
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use spillway_route::Plan;
use spillway_store::{BatchJob, BatchJobStatus, RecordResult};
use time::OffsetDateTime;
use tokio::sync::watch;

use super::call::{self, Failure, Shape};
use super::job::Control;
use super::records::{self, Input, Record};
use super::Batch;
use crate::usage::Usage;

/// Answers stored together (a crash re-runs at most this many, plus those in flight).
const FLUSH_EVERY: usize = 32;
const FLUSH_AFTER: Duration = Duration::from_millis(250);
/// Tries to store the last answers, a pause apart, before giving the job up.
const FINAL_TRIES: u32 = 5;
const RETRY_STORE: Duration = Duration::from_secs(1);
/// Tries of a record that meets no capacity or a backend fault before it is an error.
const ATTEMPTS: u32 = 5;

/// Step 2 for one job.
pub struct Runner<'a, 'c> {
    pub batch: &'a std::sync::Arc<Batch>,
    pub job: &'a BatchJob,
    pub plan: &'a Plan<'c>,
    pub shape: Shape,
    /// The input files' names, by index.
    pub names: Vec<String>,
}

impl Runner<'_, '_> {
    /// Runs the pending records; the keeper's word when it said stop, else `Run` once
    /// every record was answered and stored.
    pub async fn work(&self, pending: &[&Record], control: &mut watch::Receiver<Control>) -> Control {
        // Index of the next record to start (an iterator held across the awaits below
        // would make the task's future not provably Send).
        let mut next = 0;
        let mut running = FuturesUnordered::new();
        let mut done: Vec<RecordResult> = Vec::new();
        let mut flushed = Instant::now();
        let mut in_progress = false;
        let mut state = Control::Run;
        loop {
            // Malformed records need no capacity: answered in place.
            while let Some(r) = pending.get(next).filter(|r| matches!(r.input, Input::Bad { .. })) {
                done.push(self.refused(r));
                next += 1;
            }
            if done.len() >= FLUSH_EVERY || (!done.is_empty() && flushed.elapsed() >= FLUSH_AFTER) {
                if !self.flush(&mut done).await {
                    return Control::Lost;
                }
                flushed = Instant::now();
            }
            let more = next < pending.len();
            if state != Control::Run || (!more && running.is_empty()) {
                break;
            }
            tokio::select! {
                Some(result) = running.next(), if !running.is_empty() => done.push(result),
                got = call::slot(&self.batch.scheduler, &self.batch.dispatcher, self.plan), if more => {
                    let (Some((slot, offer)), Some(record)) = (got, pending.get(next).copied()) else {
                        return Control::Lost;
                    };
                    next += 1;
                    if !in_progress {
                        in_progress = true;
                        let now = OffsetDateTime::now_utc();
                        let _ = self.batch.store
                            .advance_batch_job(&self.job.arn, &self.batch.owner, BatchJobStatus::InProgress, None, None, now)
                            .await;
                    }
                    running.push(self.answer(record, slot, offer));
                }
                _ = tokio::time::sleep(FLUSH_AFTER) => {}
                changed = control.changed() => {
                    state = if changed.is_ok() { *control.borrow() } else { Control::Lost };
                }
            }
        }
        if state == Control::Lost {
            return state;
        }
        // Stopping or expiring: the calls already running finish (one request each).
        while let Some(result) = running.next().await {
            done.push(result);
        }
        // Every answer must be stored before the output is assembled from the store: a
        // store that keeps failing leaves the job to be taken over once the lease lapses.
        for _ in 0..FINAL_TRIES {
            if !self.flush(&mut done).await {
                return Control::Lost;
            }
            if done.is_empty() {
                return state;
            }
            tokio::time::sleep(RETRY_STORE).await;
        }
        Control::Lost
    }

    /// Stores `done`; false when the lease was lost.
    async fn flush(&self, done: &mut Vec<RecordResult>) -> bool {
        if done.is_empty() {
            return true;
        }
        let now = OffsetDateTime::now_utc();
        match self.batch.store.record_batch_results(&self.job.arn, &self.batch.owner, done, now).await {
            Ok(Some(_)) => {
                done.clear();
                true
            }
            Ok(None) => false,
            // Kept for the next flush; a store that stays down loses the lease too.
            Err(e) => {
                tracing::warn!(job = %self.job.arn, error = %e, "batch job: cannot store answers yet");
                true
            }
        }
    }

    fn file(&self, r: &Record) -> String {
        self.names.get(r.file).cloned().unwrap_or_default()
    }

    fn refused(&self, r: &Record) -> RecordResult {
        let Input::Bad { model_input, message } = &r.input else {
            return self.error(r, None, 400, "The record has no modelInput.");
        };
        metrics::counter!("spillway_batch_records_total", "region" => "none", "outcome" => "error").increment(1);
        self.error(r, model_input.as_ref(), 400, message)
    }

    fn error(&self, r: &Record, input: Option<&serde_json::Value>, code: u16, message: &str) -> RecordResult {
        let output = records::failed(&r.record_id, input, code, message);
        RecordResult { seq: r.seq, file: self.file(r), output, ok: false, input_tokens: 0, output_tokens: 0 }
    }

    /// Runs one record, trying again (on a newly granted slot) while the failure is
    /// one of capacity. Boxed: the set of running records holds these futures, and
    /// naming the type (with `Send`) is what lets the job's task be spawned.
    fn answer<'p>(
        &'p self,
        r: &'p Record,
        slot: super::scheduler::Slot,
        offer: &'p spillway_catalog::Offer,
    ) -> BoxFuture<'p, RecordResult> {
        self.answer_now(r, slot, offer).boxed()
    }

    async fn answer_now<'p>(
        &'p self,
        r: &'p Record,
        slot: super::scheduler::Slot,
        offer: &'p spillway_catalog::Offer,
    ) -> RecordResult {
        let Input::Model(input) = &r.input else { return self.refused(r) };
        let (mut slot, mut offer) = (slot, offer);
        let mut attempt = 1;
        loop {
            match call::run(&self.batch.dispatcher, self.plan, offer, slot, self.shape, input).await {
                Ok(answer) => {
                    metrics::counter!("spillway_batch_records_total", "region" => answer.region.clone(), "outcome" => "ok")
                        .increment(1);
                    self.bill(answer.usage);
                    let output = records::answered(&r.record_id, input, &answer.output);
                    let (input_tokens, output_tokens) =
                        (u64::from(answer.usage.input_tokens), u64::from(answer.usage.output_tokens));
                    return RecordResult {
                        seq: r.seq,
                        file: self.file(r),
                        output,
                        ok: true,
                        input_tokens,
                        output_tokens,
                    };
                }
                Err(Failure { retry: true, .. }) if attempt < ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                    attempt += 1;
                    match call::slot(&self.batch.scheduler, &self.batch.dispatcher, self.plan).await {
                        Some((s, o)) => (slot, offer) = (s, o),
                        None => return self.error(r, Some(input), 500, "No region of the model is running."),
                    }
                }
                Err(f) => {
                    metrics::counter!("spillway_batch_records_total", "region" => offer.region.clone(), "outcome" => "error")
                        .increment(1);
                    return self.error(r, Some(input), f.code, &f.message);
                }
            }
        }
    }

    /// Usage and cost at the batch price, attributed like an on-demand call.
    fn bill(&self, usage: spillway_wire::converse::TokenUsage) {
        self.batch.usage.add_batch(
            &self.batch.catalog,
            Usage {
                account: &self.job.account,
                model_id: &self.job.model_id,
                foundation_model: &self.plan.model.id,
                profile_arn: self.plan.application.as_deref(),
                source_region: &self.job.region,
                usage,
                throttled: false,
                failed: false,
            },
        );
    }
}
