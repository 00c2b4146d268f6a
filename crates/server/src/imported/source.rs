//! Where an import job's weights come from: `modelDataSource.s3DataSource.s3Uri`, read
//! through the object-store setup invocation logs use — a local directory per bucket
//! (`<data-dir>/s3/<bucket>/<key>`) by default, or the S3-compatible endpoint of
//! `[invocation_logs.s3]` when one is configured.
//!
//! Bedrock's s3Uri names a folder of weights; here it names a GGUF file, or a folder
//! (`s3://bucket/prefix/`) holding exactly one `.gguf`.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _};
use spillway_invocation_log::{build_s3_store, local_bucket_dir, S3Endpoint};
use tokio::io::AsyncWriteExt;

/// A parsed `s3://bucket/key` (the key may be empty: the whole bucket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Uri {
    pub bucket: String,
    pub key: String,
}

/// The model's pattern for `S3Uri`:
/// `s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?`.
pub const S3_URI_PATTERN: &str =
    "s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?";

impl S3Uri {
    /// `None` when `uri` does not match [`S3_URI_PATTERN`].
    pub fn parse(uri: &str) -> Option<Self> {
        let rest = uri.strip_prefix("s3://")?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let edge = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket.starts_with(edge)
            && bucket.ends_with(edge)
            && bucket.chars().all(|c| edge(c) || c == '-' || c == '.');
        let trimmed = key.strip_suffix('/').unwrap_or(key);
        let segment_ok =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-!_*'().".contains(c));
        let key_ok = trimmed.is_empty() || trimmed.split('/').all(segment_ok);
        // `.` and `..` match the pattern but would leave the bucket's directory.
        let climbs = trimmed.split('/').any(|s| s == "." || s == "..");
        (bucket_ok && key_ok && !climbs).then(|| Self { bucket: bucket.to_owned(), key: key.to_owned() })
    }
}

impl std::fmt::Display for S3Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// The object stores model data is read from.
#[derive(Debug, Clone)]
pub struct Objects {
    data_dir: PathBuf,
    endpoint: Option<S3Endpoint>,
}

impl Objects {
    pub fn new(data_dir: PathBuf, endpoint: Option<S3Endpoint>) -> Self {
        Self { data_dir, endpoint }
    }

    /// The object store of `bucket` (batch jobs read and write through it too).
    pub(crate) fn store(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>, String> {
        match &self.endpoint {
            Some(endpoint) => build_s3_store(endpoint, bucket).map_err(|e| format!("The S3 endpoint failed: {e}")),
            None => {
                let dir = local_bucket_dir(&self.data_dir, bucket);
                if !dir.is_dir() {
                    return Err(format!(
                        "The S3 bucket {bucket} does not exist ({} is not a directory).",
                        dir.display()
                    ));
                }
                let store = LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| format!("Cannot read {}: {e}", dir.display()))?;
                Ok(Arc::new(store))
            }
        }
    }

    /// The GGUF object `uri` names: the object itself, or the one `.gguf` under it.
    async fn locate(&self, uri: &S3Uri) -> Result<(Arc<dyn ObjectStore>, Path), String> {
        let store = self.store(&uri.bucket)?;
        let trimmed = uri.key.trim_end_matches('/');
        if !uri.key.ends_with('/') && !trimmed.is_empty() {
            let path = Path::from(trimmed);
            match store.head(&path).await {
                Ok(_) => return Ok((store, path)),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(format!("Reading {uri} failed: {e}")),
            }
        }
        let prefix = (!trimmed.is_empty()).then(|| Path::from(trimmed));
        let found: Vec<Path> = store
            .list(prefix.as_ref())
            .map_ok(|meta| meta.location)
            .try_filter(|p| futures::future::ready(p.as_ref().ends_with(".gguf")))
            .try_collect()
            .await
            .map_err(|e| format!("Listing {uri} failed: {e}"))?;
        match found.as_slice() {
            [one] => Ok((store, one.clone())),
            [] => Err(format!("The S3 object {uri} does not exist, and no .gguf file is under it.")),
            many => Err(format!("{uri} holds {} .gguf files; name the one to import in the s3Uri.", many.len())),
        }
    }

    /// Copies the model data to `dest` (created or replaced); its size in bytes.
    pub async fn download(&self, uri: &S3Uri, dest: &FsPath) -> Result<u64, String> {
        let (store, path) = self.locate(uri).await?;
        let got = store.get(&path).await.map_err(|e| format!("Reading {uri} failed: {e}"))?;
        if let Some(dir) = dest.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(|e| format!("Cannot create {}: {e}", dir.display()))?;
        }
        let write_err = |e: std::io::Error| format!("Cannot write {}: {e}", dest.display());
        let mut file = tokio::fs::File::create(dest).await.map_err(write_err)?;
        let mut stream = got.into_stream();
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| format!("Reading {uri} failed: {e}"))?;
            size += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(write_err)?;
        }
        file.sync_all().await.map_err(write_err)?;
        Ok(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(bucket: &str, key: &str) -> Option<S3Uri> {
        Some(S3Uri { bucket: bucket.into(), key: key.into() })
    }

    #[test]
    fn s3_uris_follow_the_models_pattern() {
        assert_eq!(S3Uri::parse("s3://my-models/gemma/model.gguf"), uri("my-models", "gemma/model.gguf"));
        assert_eq!(S3Uri::parse("s3://my.models/gemma/"), uri("my.models", "gemma/"));
        assert_eq!(S3Uri::parse("s3://bucket"), uri("bucket", ""));
        for bad in
            ["http://bucket/key", "s3://B/key", "s3://ab/k", "s3://-bucket/k", "s3://bucket/a//b", "s3://bucket/a b"]
        {
            assert_eq!(S3Uri::parse(bad), None, "{bad}");
        }
        // Pattern-valid segments that would climb out of the bucket's directory.
        assert_eq!(S3Uri::parse("s3://bucket/../secret"), None);
    }

    #[tokio::test]
    async fn reads_a_file_or_the_one_gguf_of_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = local_bucket_dir(dir.path(), "models");
        std::fs::create_dir_all(bucket.join("gemma")).unwrap();
        std::fs::write(bucket.join("gemma/model.gguf"), b"GGUF....").unwrap();
        std::fs::write(bucket.join("gemma/README"), b"hi").unwrap();
        let objects = Objects::new(dir.path().to_path_buf(), None);
        let dest = dir.path().join("out/copy.gguf");
        for source in ["s3://models/gemma/model.gguf", "s3://models/gemma/", "s3://models/gemma"] {
            assert_eq!(objects.download(&S3Uri::parse(source).unwrap(), &dest).await, Ok(8), "{source}");
            assert_eq!(std::fs::read(&dest).unwrap(), b"GGUF....");
        }
        let missing = objects.download(&S3Uri::parse("s3://models/nothing.gguf").unwrap(), &dest).await;
        assert!(missing.unwrap_err().contains("does not exist"));
        let no_bucket = objects.download(&S3Uri::parse("s3://other/x.gguf").unwrap(), &dest).await;
        assert!(no_bucket.unwrap_err().contains("bucket other does not exist"));
        std::fs::write(bucket.join("gemma/second.gguf"), b"GGUF").unwrap();
        let two = objects.download(&S3Uri::parse("s3://models/gemma/").unwrap(), &dest).await;
        assert!(two.unwrap_err().contains("2 .gguf files"));
    }
}
