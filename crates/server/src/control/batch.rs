//! Batch inference (bedrock-wire.md §5): CreateModelInvocationJob (200 `{jobArn}`),
//! GetModelInvocationJob, ListModelInvocationJobs and StopModelInvocationJob, by ID or
//! ARN, in the caller's account and region. The job runs in [`crate::batch::job`].
//!
//! Choices where Bedrock's behaviour was not verified:
//! - the modelId is resolved at create time (an ID the endpoint cannot run is refused
//!   at once, with the runtime's words); the input is read when the job runs, so a
//!   missing input fails the job with a message rather than the call;
//! - `vpcConfig` and `s3EncryptionKeyId` are refused by name (there is no VPC between
//!   spillway and its object store, and no KMS); `s3BucketOwner` must be the caller's
//!   account (buckets here belong to the account that uses them);
//! - past `[batch].max_active_jobs` unfinished jobs on one model: ServiceQuotaExceeded;
//!   stopping a job that already ended: ConflictException.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use spillway_store::{BatchJob, BatchJobQuery, BatchJobStatus, ListFilter, StoreError};
use spillway_wire::{parse, BedrockError, ErrorCode};
use time::OffsetDateTime;

use super::tags::{validate_tags, Tag};
use super::{control_error, iso, json_ok, paging, store_error, ControlQuery, Label};
use crate::batch::Batch;
use crate::batch::{call, job_arn};
use crate::context::Caller;
use crate::error::ApiError;
use crate::imported::validate;
use crate::state::Control;
use spillway_dispatch::resolve::Resolver;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateRequest {
    job_name: String,
    role_arn: String,
    client_request_token: Option<String>,
    model_id: String,
    input_data_config: InputDataConfig,
    output_data_config: OutputDataConfig,
    vpc_config: Option<serde_json::Value>,
    timeout_duration_in_hours: Option<i64>,
    #[serde(default)]
    tags: Vec<Tag>,
    model_invocation_type: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InputDataConfig {
    s3_input_data_config: Option<S3Input>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct S3Input {
    #[serde(skip_serializing_if = "Option::is_none")]
    s3_input_format: Option<String>,
    s3_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    s3_bucket_owner: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OutputDataConfig {
    s3_output_data_config: Option<S3Output>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct S3Output {
    s3_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    s3_encryption_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    s3_bucket_owner: Option<String>,
}

fn s3_uri(field: &str, uri: &str) -> Result<(), BedrockError> {
    let constraint = format!(
        "Member must satisfy regular expression pattern: {} and have length between 1 and 1024",
        crate::imported::source::S3_URI_PATTERN
    );
    match crate::imported::source::S3Uri::parse(uri) {
        Some(_) if uri.len() <= 1024 => Ok(()),
        _ => Err(parse::value_violation(field, uri, &constraint)),
    }
}

fn bucket_owner(field: &str, owner: Option<&String>, account: &str) -> Result<(), BedrockError> {
    match owner {
        Some(o) if o.len() != 12 || !o.bytes().all(|b| b.is_ascii_digit()) => {
            Err(parse::value_violation(field, o, "Member must satisfy regular expression pattern: [0-9]{12}"))
        }
        Some(o) if o != account => Err(BedrockError::validation(format!(
            "{field} {o} is not the caller's account {account}: buckets here belong to the account that uses them."
        ))),
        _ => Ok(()),
    }
}

/// The checks the model states, and spillway's refusals by name. The input and output
/// s3Uris on success.
fn check(req: &CreateRequest, account: &str) -> Result<(String, String), BedrockError> {
    validate::job_name("jobName", &req.job_name)?;
    validate::role_arn(&req.role_arn)?;
    if let Some(token) = &req.client_request_token {
        validate::client_token(token)?;
    }
    if req.model_id.is_empty() || req.model_id.len() > 2048 {
        return Err(parse::value_violation("modelId", &req.model_id, "Member must have length between 1 and 2048"));
    }
    let Some(input) = &req.input_data_config.s3_input_data_config else {
        return Err(parse::violation("inputDataConfig.s3InputDataConfig", "Member must not be null"));
    };
    s3_uri("inputDataConfig.s3InputDataConfig.s3Uri", &input.s3_uri)?;
    if let Some(f) = input.s3_input_format.as_deref().filter(|f| *f != "JSONL") {
        let field = "inputDataConfig.s3InputDataConfig.s3InputFormat";
        return Err(parse::value_violation(field, f, "Member must satisfy enum value set: [JSONL]"));
    }
    bucket_owner("inputDataConfig.s3InputDataConfig.s3BucketOwner", input.s3_bucket_owner.as_ref(), account)?;
    let Some(output) = &req.output_data_config.s3_output_data_config else {
        return Err(parse::violation("outputDataConfig.s3OutputDataConfig", "Member must not be null"));
    };
    s3_uri("outputDataConfig.s3OutputDataConfig.s3Uri", &output.s3_uri)?;
    bucket_owner("outputDataConfig.s3OutputDataConfig.s3BucketOwner", output.s3_bucket_owner.as_ref(), account)?;
    if output.s3_encryption_key_id.is_some() {
        return Err(BedrockError::validation(
            "outputDataConfig.s3OutputDataConfig.s3EncryptionKeyId is not supported: spillway has no KMS to encrypt the output with.",
        ));
    }
    if req.vpc_config.is_some() {
        return Err(BedrockError::validation(
            "vpcConfig is not supported: spillway reads and writes its object store directly, with no VPC between.",
        ));
    }
    if let Some(h) = req.timeout_duration_in_hours.filter(|h| !(24..=168).contains(h)) {
        return Err(parse::value_violation("timeoutDurationInHours", h, "Member must have value between 24 and 168"));
    }
    if let Some(t) = req.model_invocation_type.as_deref().filter(|t| call::Shape::parse(Some(t)).is_none()) {
        let constraint = "Member must satisfy enum value set: [InvokeModel, Converse]";
        return Err(parse::value_violation("modelInvocationType", t, constraint));
    }
    validate_tags(&req.tags, "tags")?;
    if req.tags.len() > 200 {
        return Err(BedrockError::new(ErrorCode::TooManyTags, "A resource can have at most 200 tags."));
    }
    Ok((input.s3_uri.clone(), output.s3_uri.clone()))
}

/// GetModelInvocationJob's output, and a list's summary (the same members).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct JobView<'a> {
    job_arn: &'a str,
    job_name: &'a str,
    model_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_request_token: Option<&'a str>,
    role_arn: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    submit_time: String,
    last_modified_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<String>,
    input_data_config: serde_json::Value,
    output_data_config: serde_json::Value,
    timeout_duration_in_hours: u32,
    job_expiration_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_invocation_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_record_count: Option<u64>,
    processed_record_count: u64,
    success_record_count: u64,
    error_record_count: u64,
}

fn view(j: &BatchJob) -> JobView<'_> {
    JobView {
        job_arn: &j.arn,
        job_name: &j.name,
        model_id: &j.model_id,
        client_request_token: j.client_request_token.as_deref(),
        role_arn: &j.role_arn,
        status: j.status.as_str(),
        message: j.message.as_deref(),
        submit_time: iso(j.submit_time),
        last_modified_time: iso(j.updated_at),
        end_time: j.end_time.map(iso),
        input_data_config: serde_json::from_str(&j.input_config).unwrap_or_default(),
        output_data_config: serde_json::from_str(&j.output_config).unwrap_or_default(),
        timeout_duration_in_hours: j.timeout_hours,
        job_expiration_time: iso(j.expires_at),
        model_invocation_type: j.invocation_type.as_deref(),
        total_record_count: j.total_records,
        processed_record_count: j.processed_records,
        success_record_count: j.success_records,
        error_record_count: j.error_records,
    }
}

/// The data configs as Get echoes them.
fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn stored(e: StoreError, what: &str) -> ApiError {
    match e {
        StoreError::NotFound => {
            control_error(BedrockError::new(ErrorCode::ResourceNotFound, format!("{what} couldn't be found.")))
        }
        other => store_error(other, what),
    }
}

pub async fn create(
    State(state): State<Control>,
    State(resolver): State<Arc<Resolver>>,
    State(batch): State<Arc<Batch>>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: CreateRequest = parse::json(&body).map_err(control_error)?;
    let (input_uri, output_uri) = check(&req, &caller.account).map_err(control_error)?;
    let (region, account) = (&caller.source_region, &caller.account);
    // The model must be one this endpoint runs for the caller (the runtime's words if not).
    let model_id = {
        let plan = call::plan(&resolver, account, region, &req.model_id).await.map_err(control_error)?;
        plan.model.id.clone()
    };
    let (id, now) = (crate::imported::new_id(), OffsetDateTime::now_utc());
    let hours = req.timeout_duration_in_hours.and_then(|h| u32::try_from(h).ok()).unwrap_or(24);
    let job = BatchJob {
        arn: job_arn(region, account, &id),
        id,
        account: account.clone(),
        region: region.clone(),
        name: req.job_name.clone(),
        model_id: req.model_id.clone(),
        role_arn: req.role_arn.clone(),
        input_config: to_json(&req.input_data_config),
        output_config: to_json(&req.output_data_config),
        vpc_config: None,
        input_s3_uri: input_uri,
        output_s3_uri: output_uri,
        invocation_type: req.model_invocation_type.clone(),
        timeout_hours: hours,
        status: BatchJobStatus::Submitted,
        message: None,
        submit_time: now,
        updated_at: now,
        end_time: None,
        expires_at: now + time::Duration::hours(i64::from(hours)),
        client_request_token: req.client_request_token.clone(),
        total_records: None,
        processed_records: 0,
        success_records: 0,
        error_records: 0,
        input_tokens: 0,
        output_tokens: 0,
    };
    let saved = match state.store.create_batch_job(&job, state.catalog.batch.max_active_jobs).await {
        Ok(saved) => saved,
        Err(StoreError::Conflict(message)) => {
            let message = format!("{message} (model {model_id})");
            return Err(control_error(BedrockError::new(ErrorCode::ServiceQuotaExceeded, message)));
        }
        Err(e) => return Err(stored(e, &job.name)),
    };
    // A repeated clientRequestToken returns the original job: nothing is tagged again.
    if saved.arn == job.arn && !req.tags.is_empty() {
        let pairs: Vec<(String, String)> = req.tags.into_iter().map(|t| (t.key, t.value)).collect();
        state.store.tag_resource(account, &saved.arn, &pairs).await.map_err(|e| stored(e, &saved.arn))?;
    }
    batch.poke();
    json_ok(&json!({ "jobArn": saved.arn }))
}

pub async fn get(State(state): State<Control>, caller: Caller, Label(id): Label) -> Result<Response, ApiError> {
    let what = format!("Model invocation job {id}");
    let j =
        state.store.get_batch_job(&caller.account, &caller.source_region, &id).await.map_err(|e| stored(e, &what))?;
    json_ok(&view(&j))
}

pub async fn stop(
    State(state): State<Control>,
    State(batch): State<Arc<Batch>>,
    caller: Caller,
    Label(id): Label,
) -> Result<Response, ApiError> {
    let what = format!("Model invocation job {id}");
    let now = OffsetDateTime::now_utc();
    match state.store.stop_batch_job(&caller.account, &caller.source_region, &id, now).await {
        Ok(_) => {
            batch.poke();
            json_ok(&json!({}))
        }
        Err(StoreError::Conflict(message)) => Err(control_error(BedrockError::new(ErrorCode::Conflict, message))),
        Err(e) => Err(stored(e, &what)),
    }
}

/// ListModelInvocationJobs' query (strings, so bad values get Coral's words).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    submit_time_after: Option<String>,
    submit_time_before: Option<String>,
    status_equals: Option<String>,
    name_contains: Option<String>,
    max_results: Option<String>,
    next_token: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
}

const TOKEN_PREFIX: &str = "batch:";

impl ListQuery {
    fn into_query(self) -> Result<BatchJobQuery, BedrockError> {
        let status = match self.status_equals.as_deref() {
            None => None,
            Some(s) => Some(BatchJobStatus::parse(s).ok_or_else(|| {
                let names: Vec<&str> = BatchJobStatus::ALL.iter().map(|s| s.as_str()).collect();
                parse::value_violation(
                    "statusEquals",
                    s,
                    &format!("Member must satisfy enum value set: [{}]", names.join(", ")),
                )
            })?),
        };
        if let Some(name) = &self.name_contains {
            validate::job_name("nameContains", name)?;
        }
        let params = paging::ListParams {
            times: paging::SUBMIT_TIME_JOBS,
            name_contains: self.name_contains.as_deref(),
            time_after: self.submit_time_after.as_deref(),
            time_before: self.submit_time_before.as_deref(),
            sort_by: self.sort_by.as_deref(),
            sort_order: self.sort_order.as_deref(),
            max_results: self.max_results.as_deref(),
            next_token: self.next_token.as_deref(),
        };
        Ok(BatchJobQuery { status, filter: paging::list_filter(params, TOKEN_PREFIX)? })
    }
}

pub async fn list(
    State(state): State<Control>,
    caller: Caller,
    ControlQuery(q): ControlQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let query = q.into_query().map_err(control_error)?;
    let (offset, limit) = (query.filter.offset, query.filter.limit);
    let page = BatchJobQuery { filter: ListFilter { limit: limit + 1, ..query.filter.clone() }, ..query };
    let mut rows = state
        .store
        .list_batch_jobs(&caller.account, &caller.source_region, &page)
        .await
        .map_err(|e| stored(e, "model invocation jobs"))?;
    let next_token = (rows.len() > limit as usize).then(|| paging::encode_token(TOKEN_PREFIX, offset + limit));
    rows.truncate(limit as usize);
    let summaries: Vec<JobView<'_>> = rows.iter().map(view).collect();
    let mut out = json!({ "invocationJobSummaries": summaries });
    if let Some(token) = next_token {
        out["nextToken"] = json!(token);
    }
    json_ok(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(extra: serde_json::Value) -> CreateRequest {
        let mut base = json!({
            "jobName": "job-1",
            "roleArn": "arn:aws:iam::123456789012:role/batch",
            "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
            "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://in-bucket/records/"}},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://out-bucket/results/"}},
        });
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn create_checks_name_the_member() {
        let account = "123456789012";
        assert!(check(&request(json!({})), account).is_ok());
        let bad = |extra, field: &str| {
            let e = check(&request(extra), account).unwrap_err();
            assert!(e.message.contains(field), "{field}: {}", e.message);
        };
        bad(json!({"jobName": "-x"}), "jobName");
        bad(json!({"timeoutDurationInHours": 12}), "timeoutDurationInHours");
        bad(json!({"modelInvocationType": "Chat"}), "modelInvocationType");
        bad(json!({"vpcConfig": {"subnetIds": ["s"], "securityGroupIds": ["g"]}}), "vpcConfig");
        bad(json!({"inputDataConfig": {"s3InputDataConfig": {"s3Uri": "http://x"}}}), "s3InputDataConfig.s3Uri");
        bad(json!({"inputDataConfig": {}}), "inputDataConfig.s3InputDataConfig");
        bad(
            json!({"outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://out-bucket/", "s3BucketOwner": "210987654321"}}}),
            "s3BucketOwner",
        );
        bad(
            json!({"outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://out-bucket/", "s3EncryptionKeyId": "alias/k"}}}),
            "s3EncryptionKeyId",
        );
        let unknown = parse::json::<CreateRequest>(br#"{"jobName": "a", "surprise": 1}"#).unwrap_err();
        assert!(unknown.message.contains("surprise"), "{}", unknown.message);
    }

    #[test]
    fn list_queries() {
        let q = ListQuery {
            status_equals: Some("InProgress".into()),
            max_results: Some("5".into()),
            ..ListQuery::default()
        };
        let query = q.into_query().unwrap();
        assert_eq!(
            (query.status, query.filter.limit, query.filter.descending),
            (Some(BatchJobStatus::InProgress), 5, true)
        );
        let next = ListQuery { next_token: Some(paging::encode_token(TOKEN_PREFIX, 5)), ..ListQuery::default() };
        assert_eq!(next.into_query().unwrap().filter.offset, 5);
        let bad = |q: ListQuery| q.into_query().unwrap_err().message;
        assert!(bad(ListQuery { status_equals: Some("Done".into()), ..ListQuery::default() }).contains("statusEquals"));
        assert!(bad(ListQuery { sort_by: Some("Name".into()), ..ListQuery::default() }).contains("sortBy"));
        assert!(
            bad(ListQuery { submit_time_after: Some("x".into()), ..ListQuery::default() }).contains("submitTimeAfter")
        );
        assert!(bad(ListQuery { next_token: Some("zz".into()), ..ListQuery::default() }).contains("nextToken"));
    }
}
