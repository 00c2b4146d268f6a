//! The delivery pipeline: request handlers hand records to an unbounded
//! channel (never blocking, never waiting on I/O) and one background task
//! batches, groups and writes them.
//!
//! Failure policy, per (destination, record) delivery:
//! * each group write is tried `write_attempts` times with exponential
//!   backoff starting at `retry_backoff`;
//! * if all attempts fail, the error is logged with `tracing::error!`, the
//!   deliveries are counted in `failed` and *retained*: they are merged into
//!   the next batch and retried, with the retry delay doubling (up to a minute)
//!   while failures continue. Successful destinations of the same record are
//!   not re-sent, so a record is never duplicated by a retry of another
//!   destination;
//! * memory is the only bound: above `max_retained` retained deliveries the
//!   oldest are dropped, loudly, and counted in `dropped`;
//! * on shutdown, whatever still fails after the final round of attempts is
//!   dropped the same way (there is no later batch to keep it for).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::LoggingConfig;
use crate::intake::{Intake, Sender};
use crate::pipeline::Writer;
use crate::record::ModelInvocationLog;
use crate::stats::{Counters, LogStats};

/// A real S3-compatible endpoint (MinIO, Ceph, AWS itself) for `s3Config`
/// buckets. Without one, buckets are directories under `data_dir/s3/`.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Endpoint {
    pub url: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Needed for plain-`http://` endpoints such as a local MinIO.
    pub allow_http: bool,
}

impl std::fmt::Debug for S3Endpoint {
    // Keeps the secret out of logs and panic messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Endpoint")
            .field("url", &self.url)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// Writer settings. Build with [`LogSettings::new`] and adjust fields.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// Root for local buckets (`s3/<bucket>/`) and log groups (`cloudwatch/`).
    pub data_dir: PathBuf,
    pub s3_endpoint: Option<S3Endpoint>,
    /// A batch is written once it holds this many records (default 500)...
    pub batch_max_records: usize,
    /// ...or this long after its first record arrived (default 1 s).
    pub batch_max_wait: Duration,
    /// Attempts per group write before the group is retained (default 3).
    pub write_attempts: u32,
    /// Delay before the second attempt; doubles per attempt (default 200 ms).
    pub retry_backoff: Duration,
    /// Cap on deliveries kept for retry across batches (default 100,000).
    pub max_retained: usize,
}

impl LogSettings {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            s3_endpoint: None,
            batch_max_records: 500,
            batch_max_wait: Duration::from_secs(1),
            write_attempts: 3,
            retry_backoff: Duration::from_millis(200),
            max_retained: 100_000,
        }
    }
}

/// What a handler hands over: the record plus the config in force
/// when the request ran (a later config change must not re-route it).
pub(crate) struct Envelope {
    pub(crate) config: Arc<LoggingConfig>,
    pub(crate) record: ModelInvocationLog,
}

/// The request-side handle: cheap to clone, `submit` never blocks.
#[derive(Clone)]
pub struct InvocationLogger {
    tx: Arc<Sender>,
    counters: Arc<Counters>,
}

/// Owned by whoever runs graceful shutdown; see [`ShutdownHandle::shutdown`].
pub struct ShutdownHandle {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    counters: Arc<Counters>,
}

impl InvocationLogger {
    /// Spawns the writer task. Must be called inside a Tokio runtime.
    ///
    /// Dropping the [`ShutdownHandle`] without calling `shutdown` leaves the
    /// writer running until every `InvocationLogger` clone is gone (it then
    /// drains and exits on its own), but nobody can wait for that.
    pub fn start(settings: LogSettings) -> (InvocationLogger, ShutdownHandle) {
        let intake = Intake::new(settings.batch_max_records);
        let (stop, stop_rx) = oneshot::channel();
        let counters = Arc::new(Counters::default());
        let writer = Writer::new(settings, Arc::clone(&counters));
        let task = tokio::spawn(writer.run(Arc::clone(&intake), stop_rx));
        let logger = InvocationLogger { tx: Arc::new(Sender(intake)), counters: Arc::clone(&counters) };
        (logger, ShutdownHandle { stop, task, counters })
    }

    /// Queues `record` for delivery under `config`. Returns `true` when the
    /// record was accepted; an accepted record is written unless its
    /// destination keeps failing (see the module docs). Returns `false` only
    /// once shutdown has begun; that is counted in `rejected`.
    ///
    /// Bodies are stripped per the `*DataDeliveryEnabled` flags later, on
    /// the writer task, so this stays O(1) for the request.
    pub fn submit(&self, config: Arc<LoggingConfig>, record: ModelInvocationLog) -> bool {
        if self.tx.0.push(Envelope { config, record }) {
            self.counters.accepted.inc();
            true
        } else {
            self.counters.rejected.inc();
            tracing::warn!("invocation log record rejected: logger is shutting down");
            false
        }
    }

    pub fn stats(&self) -> LogStats {
        self.counters.snapshot()
    }
}

impl ShutdownHandle {
    /// Closes intake (later `submit`s return `false`), writes every record
    /// already accepted, and waits for the writer task to finish. Wrap it in
    /// `tokio::time::timeout` if shutdown must be bounded: an unreachable S3
    /// endpoint costs the full retry schedule. Returns the final counters.
    pub async fn shutdown(self) -> LogStats {
        // If the task already ended, the receiver is gone; nothing to stop.
        let _ = self.stop.send(());
        if let Err(err) = self.task.await {
            tracing::error!(%err, "invocation log writer task failed");
        }
        self.counters.snapshot()
    }

    pub fn stats(&self) -> LogStats {
        self.counters.snapshot()
    }
}
