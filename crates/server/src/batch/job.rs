//! The runner of one model invocation job, on the instance that holds its lease:
//!
//! 1. Validating: resolve the modelId, list and read the input, check Bedrock's limits
//!    (`[batch]`); the output bucket must exist. Failing here fails the job.
//! 2. Scheduled → InProgress: every record not yet answered (a job taken over after a
//!    crash skips what the store has) runs when the scheduler finds spare capacity in
//!    one of the plan's regions; a malformed record is answered with its error at once.
//!    Answers reach the store in small batches, each with the job's counters in one
//!    transaction.
//! 3. The output files are assembled from the store in input order and uploaded whole,
//!    then `manifest.json.out`, then the job ends: Completed, PartiallyCompleted (some
//!    records failed), Failed (all did), Stopped (StopModelInvocationJob) or Expired
//!    (`timeoutDurationInHours` passed). A stopped or expired job's output holds the
//!    records answered until then.
//!
//! A lease keeper renews the lease every few seconds and reports stop requests, the
//! deadline and a lost lease (another instance took over: this one stops at once and
//! writes nothing). A record that was running when the process died runs again after
//! the takeover; its answer is stored once (the store skips a position it has).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, FutureExt};
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use spillway_route::Plan;
use spillway_store::{BatchJob, BatchJobStatus, RecordResult};
use time::OffsetDateTime;
use tokio::sync::watch;

use super::call::{self, Failure, Shape};
use super::io::{self, InputFile, Output};
use super::records::{self, Input, Record};
use super::{Batch, LEASE, RENEW};
use crate::imported::source::S3Uri;
use crate::usage::Usage;

/// Answers stored together (a crash re-runs at most this many, plus those in flight).
const FLUSH_EVERY: usize = 32;
const FLUSH_AFTER: Duration = Duration::from_millis(250);
/// Tries of a record that meets no capacity or a backend fault before it is an error.
const ATTEMPTS: u32 = 5;

/// What the lease keeper has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    Run,
    Stop,
    Expire,
    Lost,
}

/// How the job ends, and why.
struct End {
    status: BatchJobStatus,
    message: Option<String>,
    /// Whether the output is written first (no: the job never read its input).
    output: bool,
}

impl End {
    fn failed(message: String) -> Self {
        Self { status: BatchJobStatus::Failed, message: Some(message), output: false }
    }
}

pub async fn run(batch: &Arc<Batch>, job: BatchJob) {
    let (tx, control) = watch::channel(Control::Run);
    let keeper = tokio::spawn(keep(Arc::clone(batch), job.clone(), tx));
    let outcome = drive(batch, &job, control).await;
    keeper.abort();
    let Some((end, files)) = outcome else { return };
    let end = match (end.output, files) {
        (true, Some(files)) => match write_outputs(batch, &job, files.into_iter().map(|f| f.name).collect()).await {
            Ok(()) => end,
            Err(message) => End::failed(message),
        },
        _ => end,
    };
    let now = OffsetDateTime::now_utc();
    match batch.store.finish_batch_job(&job.arn, &batch.owner, end.status, end.message.as_deref(), now).await {
        Ok(true) => tracing::info!(job = %job.arn, status = end.status.as_str(), "batch job ended"),
        Ok(false) => tracing::info!(job = %job.arn, "batch job: another instance ended it first"),
        Err(e) => tracing::error!(job = %job.arn, error = %e, "batch job: the store failed; the job runs again"),
    }
}

/// Renews the lease and reports what the store says about the job.
async fn keep(batch: Arc<Batch>, job: BatchJob, tx: watch::Sender<Control>) {
    let started = Instant::now();
    let mut first: Option<u64> = None;
    loop {
        tokio::time::sleep(RENEW).await;
        let now = OffsetDateTime::now_utc();
        let state = match batch.store.renew_batch_lease(&job.arn, &batch.owner, now + LEASE).await {
            Ok(Some(_)) if now > job.expires_at => Control::Expire,
            Ok(Some(BatchJobStatus::Stopping)) => Control::Stop,
            Ok(Some(_)) => Control::Run,
            Ok(None) => Control::Lost,
            Err(e) => {
                tracing::warn!(job = %job.arn, error = %e, "batch job: cannot renew the lease");
                continue;
            }
        };
        let _ = tx.send(state);
        if state != Control::Run {
            return;
        }
        // Progress for Get (and `spillway batch watch`): done of total and the time left.
        if let Ok(now_job) = batch.store.batch_job(&job.arn).await {
            let (done, total) = (now_job.processed_records, now_job.total_records.unwrap_or(0));
            let base = *first.get_or_insert(done);
            if now_job.status == BatchJobStatus::InProgress && total > 0 {
                let message = progress(done, total, done.saturating_sub(base), started.elapsed());
                let _ = batch
                    .store
                    .advance_batch_job(&job.arn, &batch.owner, BatchJobStatus::InProgress, Some(&message), None, now)
                    .await;
            }
        }
    }
}

/// "412 of 1000 records processed; about 12 s left" (the rate since this runner began).
pub fn progress(done: u64, total: u64, done_here: u64, elapsed: Duration) -> String {
    let left = total.saturating_sub(done);
    let secs = elapsed.as_secs_f64();
    if done_here == 0 || secs <= 0.0 {
        return format!("{done} of {total} records processed.");
    }
    let eta = (left as f64 / (done_here as f64 / secs)).ceil() as u64;
    format!("{done} of {total} records processed; about {eta} s left.")
}

/// Steps 1–2. `None`: the lease was lost, nothing more to do here. Otherwise how the
/// job ends and (once read) its input files.
async fn drive(
    batch: &Arc<Batch>,
    job: &BatchJob,
    mut control: watch::Receiver<Control>,
) -> Option<(End, Option<Vec<InputFile>>)> {
    if job.status == BatchJobStatus::Stopping {
        let files = read_input(batch, job).await.ok().map(|(files, _)| files);
        return Some((End { status: BatchJobStatus::Stopped, message: None, output: true }, files));
    }
    let plan =
        match call::plan(&batch.catalog, &batch.apps, &batch.store, &job.account, &job.region, &job.model_id).await {
            Ok(plan) => plan,
            Err(e) => return Some((End::failed(e.message), None)),
        };
    let Some(shape) = Shape::parse(job.invocation_type.as_deref()) else {
        return Some((End::failed("The modelInvocationType is not valid.".into()), None));
    };
    let now = OffsetDateTime::now_utc();
    let _ = batch.store.advance_batch_job(&job.arn, &batch.owner, BatchJobStatus::Validating, None, None, now).await;
    let (files, all) = match read_input(batch, job).await {
        Ok(read) => read,
        Err(message) => return Some((End::failed(message), None)),
    };
    let total = all.len() as u64;
    let now = OffsetDateTime::now_utc();
    let _ =
        batch.store.advance_batch_job(&job.arn, &batch.owner, BatchJobStatus::Scheduled, None, Some(total), now).await;
    let answered: HashSet<u64> = match batch.store.batch_answered(&job.arn).await {
        Ok(seqs) => seqs.into_iter().collect(),
        Err(e) => {
            tracing::warn!(job = %job.arn, error = %e, "batch job: cannot read its progress; the job runs again");
            return None;
        }
    };
    let pending: Vec<&Record> = all.iter().filter(|r| !answered.contains(&r.seq)).collect();
    let names = files.iter().map(|f| f.name.clone()).collect();
    let runner = Runner { batch, job, plan: &plan, shape, names };
    let state = runner.work(&pending, &mut control).await;
    let end = match state {
        Control::Lost => return None,
        Control::Stop => End { status: BatchJobStatus::Stopped, message: None, output: true },
        Control::Expire => End {
            status: BatchJobStatus::Expired,
            message: Some(format!("The job ran past its timeout of {} hours.", job.timeout_hours)),
            output: true,
        },
        Control::Run => finished(batch, job).await?,
    };
    Some((end, Some(files)))
}

/// Completed, PartiallyCompleted or Failed, from the stored counts.
async fn finished(batch: &Batch, job: &BatchJob) -> Option<End> {
    let now = batch.store.batch_job(&job.arn).await.ok()?;
    let (ok, errors) = (now.success_records, now.error_records);
    let end = match (ok, errors) {
        (_, 0) => End { status: BatchJobStatus::Completed, message: None, output: true },
        (0, n) => End {
            status: BatchJobStatus::Failed,
            message: Some(format!("All {n} records failed; each one's error is in the output.")),
            output: true,
        },
        (_, n) => End {
            status: BatchJobStatus::PartiallyCompleted,
            message: Some(format!("{n} of {} records failed; each one's error is in the output.", ok + n)),
            output: true,
        },
    };
    Some(end)
}

/// The input files and their records, checked against the quotas; the output bucket
/// must exist too (checked here rather than after every record ran).
async fn read_input(batch: &Batch, job: &BatchJob) -> Result<(Vec<InputFile>, Vec<Record>), String> {
    let limits = &batch.catalog.batch;
    let input =
        S3Uri::parse(&job.input_s3_uri).ok_or_else(|| format!("The s3Uri {} is not valid.", job.input_s3_uri))?;
    let output =
        S3Uri::parse(&job.output_s3_uri).ok_or_else(|| format!("The s3Uri {} is not valid.", job.output_s3_uri))?;
    batch.objects.store(&output.bucket)?;
    let (store, files) = io::inputs(&batch.objects, &input).await?;
    let bytes: u64 = files.iter().map(|f| f.size).sum();
    if let Some(big) = files.iter().find(|f| f.size > limits.max_file_bytes) {
        return Err(format!(
            "The input file {} is {} bytes, over the limit of {} bytes per file.",
            big.name, big.size, limits.max_file_bytes
        ));
    }
    if bytes > limits.max_job_bytes {
        return Err(format!("The input is {bytes} bytes, over the limit of {} bytes per job.", limits.max_job_bytes));
    }
    let mut all = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let text = io::read(&store, file).await?;
        let count = records::count_records(&text);
        if count > u64::from(limits.max_records) {
            return Err(format!(
                "The input file {} has {count} records, over the limit of {} per file.",
                file.name, limits.max_records
            ));
        }
        all.extend(records::parse_file(&text, i, &file.name, all.len() as u64));
    }
    let n = all.len() as u64;
    if n < u64::from(limits.min_records) || n > u64::from(limits.max_records) {
        return Err(format!(
            "The job has {n} records; a batch inference job needs between {} and {} records.",
            limits.min_records, limits.max_records
        ));
    }
    Ok((files, all))
}

/// Step 2 for one job.
struct Runner<'a, 'c> {
    batch: &'a Arc<Batch>,
    job: &'a BatchJob,
    plan: &'a Plan<'c>,
    shape: Shape,
    /// The input files' names, by index.
    names: Vec<String>,
}

impl Runner<'_, '_> {
    /// Runs the pending records; the keeper's word when it said stop, else `Run` once
    /// every record was answered and stored.
    async fn work(&self, pending: &[&Record], control: &mut watch::Receiver<Control>) -> Control {
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
                got = call::slot(&self.batch.scheduler, &self.batch.engine, self.plan), if more => {
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
        if !self.flush(&mut done).await {
            return Control::Lost;
        }
        state
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
            match call::run(&self.batch.engine, self.plan, offer, slot, self.shape, input).await {
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
                    match call::slot(&self.batch.scheduler, &self.batch.engine, self.plan).await {
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

/// Step 3: one output object per input file, then the manifest.
async fn write_outputs(batch: &Batch, job: &BatchJob, names: Vec<String>) -> Result<(), String> {
    const PAGE: u32 = 1000;
    let out =
        S3Uri::parse(&job.output_s3_uri).ok_or_else(|| format!("The s3Uri {} is not valid.", job.output_s3_uri))?;
    let store = batch.objects.store(&out.bucket)?;
    let failed = |e: spillway_store::StoreError| format!("The control-plane store failed: {e}");
    for name in names {
        let mut output = Output::create(&store, &io::output_path(&out, &job.id, &format!("{name}.out"))).await?;
        let mut after = None;
        loop {
            let page = batch.store.batch_output_page(&job.arn, &name, after, PAGE).await.map_err(failed)?;
            for (_, line) in &page {
                output.line(line);
            }
            match page.last() {
                Some((seq, _)) if page.len() == PAGE as usize => after = Some(*seq),
                _ => break,
            }
        }
        output.finish().await?;
    }
    let now = batch.store.batch_job(&job.arn).await.map_err(failed)?;
    let manifest = records::manifest(
        now.total_records.unwrap_or(now.processed_records),
        now.processed_records,
        now.success_records,
        now.error_records,
        now.input_tokens,
        now.output_tokens,
    );
    let mut output = Output::create(&store, &io::output_path(&out, &job.id, "manifest.json.out")).await?;
    output.line(&manifest);
    output.finish().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_says_done_of_total_and_the_time_left() {
        assert_eq!(progress(0, 100, 0, Duration::from_secs(1)), "0 of 100 records processed.");
        assert_eq!(progress(50, 100, 50, Duration::from_secs(10)), "50 of 100 records processed; about 10 s left.");
        // A job taken over counts only what this runner did for the rate.
        assert_eq!(progress(90, 100, 10, Duration::from_secs(10)), "90 of 100 records processed; about 10 s left.");
    }
}
