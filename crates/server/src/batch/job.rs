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

use spillway_store::{BatchJob, BatchJobStatus};
use time::OffsetDateTime;
use tokio::sync::watch;

use super::call::{self, Shape};
use super::io::{self, InputFile};
use super::output::write_outputs;
use super::records::{self, Record};
use super::runner::Runner;
use super::{Batch, LEASE, RENEW};
use crate::imported::source::S3Uri;

/// What the lease keeper has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
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
    let plan = match call::plan(&batch.resolver, &job.account, &job.region, &job.model_id).await {
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
