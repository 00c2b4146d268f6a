//! Destinations: the S3 object layout Bedrock uses (on a local directory or a
//! real S3-compatible endpoint) and a file per CloudWatch log group.
//!
//! Everything here is one attempt at one write; retrying and retention are
//! the writer's business (see `writer.rs`).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::{Path, PathPart};
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt as _, PutPayload, RetryConfig};
use time::macros::format_description;
use time::OffsetDateTime;

use crate::writer::S3Endpoint;

/// The CloudWatch Logs stream Bedrock writes invocation logs to.
pub const LOG_STREAM_NAME: &str = "aws/bedrock/modelinvocations";

/// Why one write attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("background task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// The S3 key of one delivered object, exactly as Bedrock lays it out:
/// `{keyPrefix/}AWSLogs/{account}/BedrockModelInvocationLogs/{region}/YYYY/MM/DD/HH/{YYYYMMDDTHHMMSSmmmZ}_{hex16}.json.gz`.
///
/// `first` is the earliest record timestamp of the object (so the name sorts
/// with its content and lies inside its hour folder); `suffix` is the
/// 16-hex random part that keeps concurrent objects apart.
pub fn s3_object_key(
    key_prefix: Option<&str>,
    account_id: &str,
    region: &str,
    first: OffsetDateTime,
    suffix: &str,
) -> String {
    object_path(key_prefix, account_id, region, first, suffix).to_string()
}

fn object_path(key_prefix: Option<&str>, account_id: &str, region: &str, first: OffsetDateTime, suffix: &str) -> Path {
    let t = first.to_offset(time::UtcOffset::UTC);
    let stamp_fmt = format_description!("[year][month][day]T[hour][minute][second][subsecond digits:3]Z");
    let stamp = t.format(&stamp_fmt).unwrap_or_else(|_| t.unix_timestamp().to_string());
    let (y, m, d, h) = (t.year(), u8::from(t.month()), t.day(), t.hour());
    // keyPrefix may hold several segments ("a/b/"); empty segments vanish
    // (as "logs/" must not give "logs//AWSLogs") and "."/".." get
    // percent-encoded by PathPart::from, so a prefix can never escape the
    // bucket directory on the local store.
    let prefix =
        key_prefix.unwrap_or("").split('/').map(|seg| PathPart::parse(seg).unwrap_or_else(|_| PathPart::from(seg)));
    let fixed = [
        "AWSLogs".to_owned(),
        account_id.to_owned(),
        "BedrockModelInvocationLogs".to_owned(),
        region.to_owned(),
        format!("{y:04}"),
        format!("{m:02}"),
        format!("{d:02}"),
        format!("{h:02}"),
        format!("{stamp}_{suffix}.json.gz"),
    ];
    prefix.chain(fixed.iter().map(|part| PathPart::from(part.as_str()))).collect()
}

/// Makes one path component out of an arbitrary name: `[A-Za-z0-9._-]` stay,
/// everything else (notably `/`) becomes `%XX`; `.`/`..` are encoded too so
/// a name can never climb out of its parent directory.
pub fn fs_component(name: &str) -> String {
    match name {
        "." => return "%2E".to_owned(),
        ".." => return "%2E%2E".to_owned(),
        // Unreachable for validated configs (min lengths 1 and 3); "%" alone
        // can't come out of the encoding below, so it cannot collide.
        "" => return "%".to_owned(),
        _ => {}
    }
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `<data_dir>/s3/<bucket>/`: the directory that stands in for a bucket.
pub fn local_bucket_dir(data_dir: &FsPath, bucket: &str) -> PathBuf {
    data_dir.join("s3").join(fs_component(bucket))
}

/// `<data_dir>/cloudwatch/<group>/aws/bedrock/modelinvocations.jsonl`.
pub fn cloudwatch_log_path(data_dir: &FsPath, log_group: &str) -> PathBuf {
    data_dir.join("cloudwatch").join(fs_component(log_group)).join(format!("{LOG_STREAM_NAME}.jsonl"))
}

/// Builds the client for one bucket on a real S3-compatible endpoint. No
/// request is made here. Path-style addressing (object_store's default) is
/// what MinIO and most self-hosted stores expect. object_store's own retry
/// budget is kept short because the writer retries and retains on top.
pub fn build_s3_store(endpoint: &S3Endpoint, bucket: &str) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
    let retry = RetryConfig { max_retries: 2, retry_timeout: Duration::from_secs(30), ..RetryConfig::default() };
    let store = AmazonS3Builder::new()
        .with_endpoint(&endpoint.url)
        .with_region(&endpoint.region)
        .with_access_key_id(&endpoint.access_key_id)
        .with_secret_access_key(&endpoint.secret_access_key)
        .with_allow_http(endpoint.allow_http)
        .with_bucket_name(bucket)
        .with_retry(retry)
        .with_client_options(ClientOptions::new().with_timeout(Duration::from_secs(60)))
        .build()?;
    Ok(Arc::new(store))
}

/// One object store per bucket, built lazily and reused across batches.
pub(crate) struct Sinks {
    data_dir: PathBuf,
    endpoint: Option<S3Endpoint>,
    stores: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl Sinks {
    pub(crate) fn new(data_dir: PathBuf, endpoint: Option<S3Endpoint>) -> Self {
        Self { data_dir, endpoint, stores: Mutex::new(HashMap::new()) }
    }

    pub(crate) fn object_path(key_prefix: Option<&str>, account_id: &str, region: &str, first: OffsetDateTime) -> Path {
        let suffix = format!("{:016x}", uuid::Uuid::new_v4().as_u128() >> 64);
        object_path(key_prefix, account_id, region, first, &suffix)
    }

    async fn store(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>, WriteError> {
        if let Some(store) = self.cache().get(bucket) {
            return Ok(Arc::clone(store));
        }
        let store: Arc<dyn ObjectStore> = match &self.endpoint {
            Some(endpoint) => build_s3_store(endpoint, bucket)?,
            None => {
                // LocalFileSystem needs its root to exist; it creates the
                // key's parent directories itself on put.
                let dir = local_bucket_dir(&self.data_dir, bucket);
                tokio::fs::create_dir_all(&dir).await?;
                Arc::new(LocalFileSystem::new_with_prefix(dir)?)
            }
        };
        self.cache().insert(bucket.to_owned(), Arc::clone(&store));
        Ok(store)
    }

    /// A poisoned lock only means another write panicked mid-insert; the map
    /// itself is still a valid cache.
    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<dyn ObjectStore>>> {
        self.stores.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) async fn put_s3(&self, bucket: &str, key: &Path, body: PutPayload) -> Result<(), WriteError> {
        let store = self.store(bucket).await?;
        store.put(key, body).await?;
        Ok(())
    }

    /// Appends whole lines with one `write_all` on an O_APPEND file, on the
    /// blocking pool (tokio's File would need an extra flush to be durable).
    pub(crate) async fn append_cloudwatch(&self, log_group: &str, lines: Arc<Vec<u8>>) -> Result<(), WriteError> {
        let path = cloudwatch_log_path(&self.data_dir, log_group);
        tokio::task::spawn_blocking(move || -> Result<(), WriteError> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
            file.write_all(&lines)?;
            file.flush()?;
            Ok(())
        })
        .await?
    }
}
