//! A job's files in the object store (the import jobs' [`Objects`]: `<data-dir>/s3/…`
//! or the configured S3 endpoint).
//!
//! Input: the `.jsonl` object the input s3Uri names, or every `.jsonl` under it (a
//! folder), in key order. Output, under the output s3Uri as Bedrock lays it out:
//! `{prefix}/{job id}/{input name}.out` per input file and `{prefix}/{job id}/manifest.json.out`.
//! Each is written with one multipart upload: the object appears whole when it
//! completes (a local bucket writes a staging file and renames it; S3 completes the
//! upload at once), so a crash never leaves half an output file.

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _, WriteMultipart};

use crate::imported::source::{Objects, S3Uri};

/// One input file: its object and its name relative to the input s3Uri (what its
/// output is named after).
#[derive(Debug, Clone)]
pub struct InputFile {
    pub path: Path,
    pub name: String,
    pub size: u64,
}

/// The input files of `uri`, in key order.
pub async fn inputs(objects: &Objects, uri: &S3Uri) -> Result<(Arc<dyn ObjectStore>, Vec<InputFile>), String> {
    let store = objects.store(&uri.bucket)?;
    let trimmed = uri.key.trim_end_matches('/');
    if !uri.key.ends_with('/') && !trimmed.is_empty() {
        let path = Path::from(trimmed);
        match store.head(&path).await {
            Ok(meta) => {
                if !trimmed.ends_with(".jsonl") {
                    return Err(format!("The input file {uri} must have the extension .jsonl."));
                }
                let name = trimmed.rsplit('/').next().unwrap_or(trimmed).to_owned();
                return Ok((store, vec![InputFile { path, name, size: meta.size }]));
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(format!("Reading {uri} failed: {e}")),
        }
    }
    let prefix = (!trimmed.is_empty()).then(|| Path::from(trimmed));
    let mut found: Vec<InputFile> = store
        .list(prefix.as_ref())
        .try_filter(|m| futures::future::ready(m.location.as_ref().ends_with(".jsonl")))
        .map_ok(|m| {
            let full = m.location.as_ref();
            let name = full.strip_prefix(trimmed).unwrap_or(full).trim_start_matches('/').to_owned();
            InputFile { path: m.location, name, size: m.size }
        })
        .try_collect()
        .await
        .map_err(|e| format!("Listing {uri} failed: {e}"))?;
    if found.is_empty() {
        return Err(format!("No .jsonl input file was found at {uri}."));
    }
    found.sort_by(|a, b| a.path.as_ref().cmp(b.path.as_ref()));
    Ok((store, found))
}

/// The text of an input file.
pub async fn read(store: &Arc<dyn ObjectStore>, file: &InputFile) -> Result<String, String> {
    let bytes = store
        .get(&file.path)
        .await
        .map_err(|e| format!("Reading {} failed: {e}", file.name))?
        .bytes()
        .await
        .map_err(|e| format!("Reading {} failed: {e}", file.name))?;
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("The input file {} is not UTF-8 text.", file.name))
}

/// `{prefix}/{job id}/{name}` under the output s3Uri.
pub fn output_path(out: &S3Uri, job_id: &str, name: &str) -> Path {
    let prefix = out.key.trim_matches('/');
    if prefix.is_empty() {
        Path::from(format!("{job_id}/{name}"))
    } else {
        Path::from(format!("{prefix}/{job_id}/{name}"))
    }
}

/// An output object being written; it exists only once [`Output::finish`] returned.
pub struct Output {
    upload: WriteMultipart,
}

impl Output {
    pub async fn create(store: &Arc<dyn ObjectStore>, path: &Path) -> Result<Self, String> {
        let upload = store.put_multipart(path).await.map_err(|e| format!("Cannot write {path}: {e}"))?;
        Ok(Self { upload: WriteMultipart::new(upload) })
    }

    /// Adds one line (a newline is appended).
    pub fn line(&mut self, line: &str) {
        self.upload.write(line.as_bytes());
        self.upload.write(b"\n");
    }

    pub async fn finish(self) -> Result<(), String> {
        self.upload.finish().await.map(|_| ()).map_err(|e| format!("Cannot write the output: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spillway_invocation_log::local_bucket_dir;

    #[test]
    fn outputs_sit_under_the_job_id() {
        let out = S3Uri::parse("s3://out/results/").unwrap();
        assert_eq!(output_path(&out, "abc", "in.jsonl.out").as_ref(), "results/abc/in.jsonl.out");
        let bare = S3Uri::parse("s3://out").unwrap();
        assert_eq!(output_path(&bare, "abc", "manifest.json.out").as_ref(), "abc/manifest.json.out");
    }

    #[tokio::test]
    async fn a_file_or_the_jsonl_files_of_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = local_bucket_dir(dir.path(), "data");
        std::fs::create_dir_all(bucket.join("in/sub")).unwrap();
        std::fs::write(bucket.join("in/b.jsonl"), "{}\n").unwrap();
        std::fs::write(bucket.join("in/sub/a.jsonl"), "{}\n{}\n").unwrap();
        std::fs::write(bucket.join("in/notes.txt"), "x").unwrap();
        let objects = Objects::new(dir.path().to_path_buf(), None);
        let (_, files) = inputs(&objects, &S3Uri::parse("s3://data/in/").unwrap()).await.unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["b.jsonl", "sub/a.jsonl"]);
        let (store, one) = inputs(&objects, &S3Uri::parse("s3://data/in/sub/a.jsonl").unwrap()).await.unwrap();
        assert_eq!(one[0].name, "a.jsonl");
        assert_eq!(read(&store, &one[0]).await.unwrap(), "{}\n{}\n");
        let none = inputs(&objects, &S3Uri::parse("s3://data/nothing/").unwrap()).await.unwrap_err();
        assert!(none.contains("No .jsonl"), "{none}");
        let txt = inputs(&objects, &S3Uri::parse("s3://data/in/notes.txt").unwrap()).await.unwrap_err();
        assert!(txt.contains(".jsonl"), "{txt}");

        let mut out =
            Output::create(&store, &output_path(&S3Uri::parse("s3://data/o/").unwrap(), "j1", "x.out")).await.unwrap();
        out.line("one");
        out.line("two");
        assert!(!bucket.join("o/j1/x.out").exists());
        out.finish().await.unwrap();
        assert_eq!(std::fs::read_to_string(bucket.join("o/j1/x.out")).unwrap(), "one\ntwo\n");
    }
}
