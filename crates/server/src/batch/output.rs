//! Step 3 of a job: the output files, assembled from the stored answers in input
//! order and uploaded whole, then `manifest.json.out`.

use spillway_store::BatchJob;

use super::io::{self, Output};
use super::records;
use super::Batch;
use crate::imported::source::S3Uri;

/// Step 3: one output object per input file, then the manifest.
pub async fn write_outputs(batch: &Batch, job: &BatchJob, names: Vec<String>) -> Result<(), String> {
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
