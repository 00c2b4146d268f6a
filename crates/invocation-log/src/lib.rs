//! Bedrock-compatible model invocation logging.
//!
//! * [`config`]: the `loggingConfig` wire shapes of
//!   `PutModelInvocationLoggingConfiguration` and their validation;
//! * [`record`]: the `ModelInvocationLog` record and body stripping per the
//!   `*DataDeliveryEnabled` flags; its bodies are [`JsonBody`] text, written verbatim;
//! * [`InvocationLogger`]: the off-hot-path delivery pipeline that batches
//!   records into gzip'd S3 objects (Bedrock's key layout, on a local
//!   directory or a real S3-compatible endpoint) and CloudWatch-style
//!   JSON-lines files.

mod body;
pub mod config;
mod intake;
mod line;
mod pipeline;
pub mod record;
pub mod sink;
mod stats;
mod writer;

pub use body::JsonBody;
pub use config::{validate, CloudWatchConfig, LoggingConfig, S3Config};
pub use record::{DataKinds, Identity, InvocationInput, InvocationOutput, ModelInvocationLog, Operation};
pub use sink::{build_s3_store, cloudwatch_log_path, local_bucket_dir, s3_object_key, LOG_STREAM_NAME};
pub use stats::LogStats;
pub use writer::{InvocationLogger, LogSettings, S3Endpoint, ShutdownHandle};
