//! The runner of one async invocation (StartAsyncInvoke), on the instance holding its
//! lease: the model input runs on spare capacity like a batch record, its answer (the
//! InvokeModel response body of the model's family) is uploaded whole to
//! `{s3Uri}/{invocation id}/output.json`, then the invocation ends Completed, or Failed
//! with the reason. After a crash the invocation runs again from the start on whichever
//! instance takes the lease; the output is only ever written whole.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use spillway_store::AsyncInvoke;
use time::OffsetDateTime;

use super::call::{self, Failure, Shape};
use super::io::{self, Output};
use super::{Batch, LEASE, RENEW};
use crate::imported::source::S3Uri;
use crate::usage::Usage;

/// Tries when the failure is one of capacity.
const ATTEMPTS: u32 = 5;

/// The object the answer is written to.
pub fn output_name() -> &'static str {
    "output.json"
}

pub async fn run(batch: &Arc<Batch>, invoke: AsyncInvoke) {
    let keeper = {
        let (batch, arn) = (Arc::clone(batch), invoke.arn.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RENEW).await;
                let until = OffsetDateTime::now_utc() + LEASE;
                if !matches!(batch.store.renew_async_lease(&arn, &batch.owner, until).await, Ok(true)) {
                    tracing::warn!(invocation = %arn, "async invocation: lease not renewed");
                }
            }
        })
    };
    let outcome = invoke_once(batch, &invoke).await;
    keeper.abort();
    let now = OffsetDateTime::now_utc();
    let result = batch.store.finish_async_invoke(
        &invoke.arn,
        &batch.owner,
        outcome.as_ref().map(|_| ()).map_err(String::as_str),
        now,
    );
    match result.await {
        Ok(true) => tracing::info!(invocation = %invoke.arn, ok = outcome.is_ok(), "async invocation ended"),
        Ok(false) => tracing::info!(invocation = %invoke.arn, "async invocation: another instance ended it first"),
        Err(e) => {
            tracing::error!(invocation = %invoke.arn, error = %e, "async invocation: the store failed; it runs again")
        }
    }
}

/// Runs the model input and uploads the answer; the failure message otherwise.
async fn invoke_once(batch: &Arc<Batch>, a: &AsyncInvoke) -> Result<(), String> {
    let out = S3Uri::parse(&a.output_s3_uri).ok_or_else(|| format!("The s3Uri {} is not valid.", a.output_s3_uri))?;
    let store = batch.objects.store(&out.bucket)?;
    let input: Value =
        serde_json::from_str(&a.model_input).map_err(|e| format!("The stored modelInput is not JSON: {e}"))?;
    let plan = call::plan(&batch.resolver, &a.account, &a.region, &a.model_id).await.map_err(|e| e.message)?;
    let mut attempt = 1;
    let answer = loop {
        let (slot, offer) =
            call::slot(&batch.scheduler, &batch.dispatcher, &plan).await.ok_or("No region of the model is running.")?;
        match call::run(&batch.dispatcher, &plan, offer, slot, Shape::InvokeModel, &input).await {
            Ok(answer) => break answer,
            Err(Failure { retry: true, .. }) if attempt < ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(f) => return Err(f.message),
        }
    };
    batch.usage.add_batch(
        &batch.catalog,
        Usage {
            account: &a.account,
            model_id: &a.model_id,
            foundation_model: &plan.model.id,
            profile_arn: plan.application.as_deref(),
            source_region: &a.region,
            usage: answer.usage,
            throttled: false,
            failed: false,
        },
    );
    let mut output = Output::create(&store, &io::output_path(&out, &a.id, output_name())).await?;
    output.line(&answer.output.to_string());
    output.finish().await
}
