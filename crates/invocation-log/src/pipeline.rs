//! The writer task behind [`crate::InvocationLogger`]: batching, grouping by
//! destination, retries and retention (policy documented in `writer.rs`).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io::Write as _;
use std::mem;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use futures::stream::{self, StreamExt as _};
use object_store::PutPayload;
use time::{OffsetDateTime, UtcOffset};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::body::JsonBody;
use crate::intake::Intake;
use crate::sink::{Sinks, WriteError};
use crate::stats::Counters;
use crate::writer::{Envelope, LogSettings};

/// Groups written concurrently within one batch (distinct files/objects).
const WRITE_CONCURRENCY: usize = 8;
/// Upper bound of the delay between retries of retained deliveries.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);
/// Records serialised between two yields to the scheduler. The writer shares its worker
/// with the requests: a batch of 500 records serialised in one go held a worker for about
/// 2 ms, and every request that arrived meanwhile waited (the p99 at a fixed rate). Not
/// while another full batch waits: a task that yields gets one turn per round of the run
/// queue, which at saturation is less than the records that round adds, and the writer
/// would fall further behind (its backlog, memory, growing) the longer the load lasted.
const RECORDS_PER_SLICE: usize = 16;

/// Where one group of lines goes. S3 groups are per hour because the hour is
/// part of the object key; one object is written per group per batch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Dest {
    S3 { bucket: String, key_prefix: Option<String>, account_id: String, region: String, hour: (i32, u8, u8, u8) },
    CloudWatch { log_group: String },
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dest::S3 { bucket, key_prefix, account_id, region, hour: (y, m, d, h) } => write!(
                f,
                "s3://{bucket}/{}AWSLogs/{account_id}/BedrockModelInvocationLogs/{region}/{y:04}/{m:02}/{d:02}/{h:02}/",
                key_prefix.as_deref().map(|p| format!("{}/", p.trim_end_matches('/'))).unwrap_or_default()
            ),
            Dest::CloudWatch { log_group } => write!(f, "cloudwatch log group {log_group}"),
        }
    }
}

/// One serialised record bound for one destination (its line shared between them).
struct Delivery {
    ts: OffsetDateTime,
    line: Bytes,
}

/// Room for a record's line besides its bodies (its other members take a few hundred
/// bytes), so that serialising it does not grow the buffer step by step.
const LINE_WITHOUT_BODIES: usize = 1024;

pub(crate) struct Writer {
    settings: LogSettings,
    counters: Arc<Counters>,
    sinks: Sinks,
    batch: Vec<Envelope>,
    batch_deadline: Option<Instant>,
    /// Failed groups, oldest first, waiting for `retry_at`.
    retained: Vec<(Dest, Vec<Delivery>)>,
    retry_at: Option<Instant>,
    retry_delay: Duration,
}

impl Writer {
    pub(crate) fn new(mut settings: LogSettings, counters: Arc<Counters>) -> Self {
        settings.batch_max_records = settings.batch_max_records.max(1);
        settings.write_attempts = settings.write_attempts.max(1);
        let sinks = Sinks::new(settings.data_dir.clone(), settings.s3_endpoint.clone());
        Self {
            retry_delay: base_retry_delay(&settings),
            settings,
            counters,
            sinks,
            batch: Vec::new(),
            batch_deadline: None,
            retained: Vec::new(),
            retry_at: None,
        }
    }

    pub(crate) async fn run(mut self, intake: Arc<Intake>, mut stop: oneshot::Receiver<()>) {
        let mut stop_armed = true;
        loop {
            let wake = match (self.batch_deadline, self.retry_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            // Biased: honour shutdown first, then deadlines, so a steady
            // stream of records cannot starve `batch_max_wait`.
            tokio::select! {
                biased;
                res = &mut stop, if stop_armed => {
                    stop_armed = false;
                    // Err: the handle was dropped without shutdown; keep
                    // running until every logger clone is gone.
                    if res.is_ok() {
                        break;
                    }
                }
                () = sleep_until(wake) => {
                    self.batch.append(&mut intake.take());
                    self.flush(false, &intake).await;
                }
                () = intake.notified() => {
                    if intake.orphaned() {
                        break;
                    }
                    match intake.pending() {
                        (_, true) => {
                            self.batch.append(&mut intake.take());
                            self.flush(false, &intake).await;
                        }
                        (n, false) if n > 0 && self.batch_deadline.is_none() => {
                            self.batch_deadline = Some(Instant::now() + self.settings.batch_max_wait);
                        }
                        _ => {}
                    }
                }
            }
        }
        // Later records are refused; what was accepted is written.
        intake.close();
        self.batch.append(&mut intake.take());
        // Intake is closed and drained: one last round for everything.
        self.flush(true, &intake).await;
        let left: usize = self.retained.iter().map(|(_, items)| items.len()).sum();
        if left > 0 {
            tracing::error!(deliveries = left, "invocation log: dropping undeliverable records at shutdown");
            self.counters.dropped.add(left);
            self.retained.clear();
            self.counters.retained.set(0);
        }
    }

    /// Writes the current batch, plus the retained groups if their retry is
    /// due (or `force`), then updates retention and the retry schedule.
    async fn flush(&mut self, force: bool, intake: &Intake) {
        self.batch_deadline = None;
        let due = force || self.retry_at.is_some_and(|t| Instant::now() >= t);
        let mut groups: HashMap<Dest, Vec<Delivery>> = HashMap::new();
        if due {
            for (dest, items) in mem::take(&mut self.retained) {
                groups.entry(dest).or_default().extend(items);
            }
        }
        let batch = mem::take(&mut self.batch);
        self.expand(batch, &mut groups, intake).await;
        let (sinks, settings) = (&self.sinks, &self.settings);
        let results: Vec<_> = stream::iter(groups)
            .map(|(dest, items)| async move {
                let result = write_group(sinks, settings, &dest, &items).await;
                (dest, items, result)
            })
            .buffer_unordered(WRITE_CONCURRENCY)
            .collect()
            .await;
        for (dest, items, result) in results {
            match result {
                Ok(()) => self.counters.written.add(items.len()),
                Err(err) => {
                    tracing::error!(destination = %dest, deliveries = items.len(), error = %err,
                        "invocation log write failed after retries; keeping records for the next batch");
                    self.counters.failed.add(items.len());
                    self.retained.push((dest, items));
                }
            }
        }
        self.schedule_retry(due);
    }

    fn schedule_retry(&mut self, was_due: bool) {
        let mut total: usize = self.retained.iter().map(|(_, items)| items.len()).sum();
        if total > self.settings.max_retained {
            let mut excess = total - self.settings.max_retained;
            tracing::error!(deliveries = excess, "invocation log retry buffer full; dropping the oldest records");
            self.counters.dropped.add(excess);
            total -= excess;
            for (_, items) in &mut self.retained {
                let n = excess.min(items.len());
                items.drain(..n);
                excess -= n;
            }
            self.retained.retain(|(_, items)| !items.is_empty());
        }
        self.counters.retained.set(total);
        if total == 0 {
            self.retry_at = None;
            self.retry_delay = base_retry_delay(&self.settings);
        } else if was_due || self.retry_at.is_none() {
            // Back off while the destination stays down.
            self.retry_at = Some(Instant::now() + self.retry_delay);
            self.retry_delay = (self.retry_delay * 2).min(MAX_RETRY_DELAY);
        }
    }

    /// Applies each record's delivery flags, serialises it once and fans it
    /// out to the destinations of the config it was submitted with; yields to the
    /// scheduler every [`RECORDS_PER_SLICE`] records unless `intake` holds a full batch.
    async fn expand(&self, batch: Vec<Envelope>, groups: &mut HashMap<Dest, Vec<Delivery>>, intake: &Intake) {
        // Consecutive records mostly share their S3 destination: the previous record's
        // run is extended after comparing fields, so a `Dest` (four strings) is built and
        // hashed once per run instead of once per record.
        let mut run: Option<(Dest, Vec<Delivery>)> = None;
        for (i, Envelope { config, mut record }) in batch.into_iter().enumerate() {
            if i % RECORDS_PER_SLICE == RECORDS_PER_SLICE - 1 && !intake.pending().1 {
                tokio::task::yield_now().await;
            }
            record.apply_delivery_flags(&config);
            let bodies = record.input.input_body_json.as_ref().map_or(0, JsonBody::len)
                + record.output.output_body_json.as_ref().map_or(0, JsonBody::len);
            let mut line = Vec::with_capacity(LINE_WITHOUT_BODIES + bodies);
            let line = match record.write_json(&mut line) {
                Ok(()) => Bytes::from(line),
                Err(err) => {
                    tracing::error!(request_id = %record.request_id, error = %err, "invocation log record not serialisable; dropped");
                    self.counters.dropped.inc();
                    continue;
                }
            };
            let ts = record.timestamp;
            if let Some(s3) = &config.s3_config {
                let t = ts.to_offset(UtcOffset::UTC);
                let hour = (t.year(), u8::from(t.month()), t.day(), t.hour());
                let prefix = s3.key_prefix.as_deref().filter(|p| !p.is_empty());
                let same = matches!(&run, Some((Dest::S3 { bucket, key_prefix, account_id, region, hour: h }, _))
                    if *bucket == s3.bucket_name && key_prefix.as_deref() == prefix
                        && *account_id == record.account_id && *region == record.region && *h == hour);
                if !same {
                    if let Some((dest, items)) = run.take() {
                        groups.entry(dest).or_default().extend(items);
                    }
                    let dest = Dest::S3 {
                        bucket: s3.bucket_name.clone(),
                        key_prefix: prefix.map(str::to_owned),
                        account_id: record.account_id.clone(),
                        region: record.region.clone(),
                        hour,
                    };
                    run = Some((dest, Vec::new()));
                }
                if let Some((_, items)) = run.as_mut() {
                    items.push(Delivery { ts, line: line.clone() });
                }
            }
            if let Some(cw) = &config.cloud_watch_config {
                let dest = Dest::CloudWatch { log_group: cw.log_group_name.clone() };
                groups.entry(dest).or_default().push(Delivery { ts, line });
            }
        }
        if let Some((dest, items)) = run {
            groups.entry(dest).or_default().extend(items);
        }
    }
}

/// First retry of retained deliveries: one batch interval, but never a
/// tight loop when `batch_max_wait` is tiny.
fn base_retry_delay(settings: &LogSettings) -> Duration {
    settings.batch_max_wait.max(Duration::from_millis(100))
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// One group, one object (S3) or one append (CloudWatch), with retries. The
/// S3 key is fixed before the first attempt so retries overwrite rather than
/// duplicate.
async fn write_group(sinks: &Sinks, settings: &LogSettings, dest: &Dest, items: &[Delivery]) -> Result<(), WriteError> {
    let lines: Vec<Bytes> = items.iter().map(|d| d.line.clone()).collect();
    match dest {
        Dest::S3 { bucket, key_prefix, account_id, region, .. } => {
            let first = items.iter().map(|d| d.ts).min().unwrap_or_else(OffsetDateTime::now_utc);
            let key = Sinks::object_path(key_prefix.as_deref(), account_id, region, first);
            // gzip is CPU work; keep it off the async workers.
            let gz = tokio::task::spawn_blocking(move || gzip_lines(&lines)).await??;
            let payload = PutPayload::from(gz);
            with_retries(settings, dest, || sinks.put_s3(bucket, &key, payload.clone())).await
        }
        Dest::CloudWatch { log_group } => {
            let mut data = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
            for line in &lines {
                data.extend_from_slice(line);
                data.push(b'\n');
            }
            let data = Arc::new(data);
            with_retries(settings, dest, || sinks.append_cloudwatch(log_group, Arc::clone(&data))).await
        }
    }
}

/// Newline-delimited JSON, gzip-compressed: the content of a Bedrock log object. The
/// fastest level: every logged call's record passes through here, so its cost is paid
/// per request (bench/README.md, issue 13).
fn gzip_lines(lines: &[Bytes]) -> std::io::Result<Vec<u8>> {
    // One write: flate2 zero-fills its 32 KiB output buffer on every write, which cost
    // about 60,000 instructions per logged call when each line was written on its own.
    let mut text = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for line in lines {
        text.extend_from_slice(line);
        text.push(b'\n');
    }
    let mut gz = GzEncoder::new(Vec::with_capacity(text.len() / 4), Compression::fast());
    gz.write_all(&text)?;
    gz.finish()
}

async fn with_retries<F, Fut>(settings: &LogSettings, dest: &Dest, mut op: F) -> Result<(), WriteError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), WriteError>>,
{
    let mut delay = settings.retry_backoff;
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(()) => return Ok(()),
            Err(err) if attempt >= settings.write_attempts => return Err(err),
            Err(err) => {
                tracing::warn!(destination = %dest, attempt, error = %err, "invocation log write failed; retrying");
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
                attempt += 1;
            }
        }
    }
}
