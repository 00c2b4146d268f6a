//! Custom Model Import (bedrock-wire.md §5): CreateModelImportJob (201 `{jobArn}`),
//! GetModelImportJob, ListModelImportJobs, GetImportedModel, ListImportedModels and
//! DeleteImportedModel, by name or ARN, in the caller's account and region. The job
//! itself runs in [`crate::imported::job`].
//!
//! Choices where Bedrock's behaviour was not verified:
//! - a job name already used, or an imported model name that a model or a running job
//!   has, in the account and region: ConflictException;
//! - an s3Uri that names no object is not checked at create time: the job fails with a
//!   failureMessage saying so (Bedrock reads the data asynchronously too);
//! - `vpcConfig` and `importedModelKmsKeyId` are accepted and not used (the weights are
//!   read from spillway's own object store and kept in its data directory);
//! - lists are sorted by creation time, newest first unless `sortOrder=Ascending`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use spillway_store::{ImportJob, ImportJobQuery, ImportJobStatus, ImportedModel};
use spillway_wire::{parse, BedrockError, ErrorCode};
use time::OffsetDateTime;

use super::tags::{validate_tags, Tag};
use super::{control_error, iso, json_ok, store_error, ControlQuery, Label};
use crate::context::Caller;
use crate::error::ApiError;
use crate::imported::job::Importer;
use crate::imported::validate::{self, encode_token, ListQuery};
use crate::imported::Registry;
use crate::imported::{job_arn, model_arn, new_id};
use crate::state::Control;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    job_name: String,
    imported_model_name: String,
    role_arn: String,
    model_data_source: ModelDataSource,
    #[serde(default)]
    job_tags: Vec<Tag>,
    #[serde(default)]
    imported_model_tags: Vec<Tag>,
    client_request_token: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelDataSource {
    s3_data_source: Option<S3DataSource>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct S3DataSource {
    s3_uri: String,
}

fn data_source(s3_uri: &str) -> ModelDataSource {
    ModelDataSource { s3_data_source: Some(S3DataSource { s3_uri: s3_uri.to_owned() }) }
}

/// GetModelImportJob's output, and (without the source, role and failure) a summary.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct JobView<'a> {
    job_arn: &'a str,
    job_name: &'a str,
    imported_model_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    imported_model_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_data_source: Option<ModelDataSource>,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_message: Option<&'a str>,
    creation_time: String,
    last_modified_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<String>,
}

fn job_view(j: &ImportJob, full: bool) -> JobView<'_> {
    JobView {
        job_arn: &j.arn,
        job_name: &j.name,
        imported_model_name: &j.imported_model_name,
        // The model exists once the job completed.
        imported_model_arn: (j.status == ImportJobStatus::Completed).then_some(j.imported_model_arn.as_str()),
        role_arn: full.then_some(j.role_arn.as_str()),
        model_data_source: full.then(|| data_source(&j.s3_uri)),
        status: j.status.as_str(),
        failure_message: j.failure_message.as_deref().filter(|_| full),
        creation_time: iso(j.created_at),
        last_modified_time: iso(j.updated_at),
        end_time: j.end_time.map(iso),
    }
}

/// GetImportedModel's output, and (without the job and source) a summary.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelView<'a> {
    model_arn: &'a str,
    model_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_data_source: Option<ModelDataSource>,
    creation_time: String,
    model_architecture: &'a str,
    instruct_supported: bool,
}

fn model_view(m: &ImportedModel, full: bool) -> ModelView<'_> {
    ModelView {
        model_arn: &m.arn,
        model_name: &m.name,
        job_name: full.then_some(m.job_name.as_str()),
        job_arn: full.then_some(m.job_arn.as_str()),
        model_data_source: full.then(|| data_source(&m.s3_uri)),
        creation_time: iso(m.created_at),
        model_architecture: &m.architecture,
        instruct_supported: m.instruct_supported,
    }
}

/// A list answer: the page under `key`, and `nextToken` only when there is more.
fn page<T: Serialize>(key: &str, items: &[T], next_token: Option<String>) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    out.insert(key.to_owned(), json!(items));
    if let Some(token) = next_token {
        out.insert("nextToken".to_owned(), json!(token));
    }
    serde_json::Value::Object(out)
}

fn check_tags(tags: &[Tag], field: &str) -> Result<(), ApiError> {
    validate_tags(tags, field).map_err(control_error)?;
    if tags.len() > 200 {
        return Err(control_error(BedrockError::new(ErrorCode::TooManyTags, "A resource can have at most 200 tags.")));
    }
    Ok(())
}

pub async fn create(
    State(state): State<Control>,
    State(importer): State<Arc<Importer>>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: CreateRequest = parse::json(&body).map_err(control_error)?;
    validate::job_name("jobName", &req.job_name).map_err(control_error)?;
    validate::model_name("importedModelName", &req.imported_model_name).map_err(control_error)?;
    validate::role_arn(&req.role_arn).map_err(control_error)?;
    let Some(source) = &req.model_data_source.s3_data_source else {
        let e = parse::violation("modelDataSource.s3DataSource", "Member must not be null");
        return Err(control_error(e));
    };
    validate::s3_uri(&source.s3_uri).map_err(control_error)?;
    if let Some(token) = &req.client_request_token {
        validate::client_token(token).map_err(control_error)?;
    }
    check_tags(&req.job_tags, "jobTags")?;
    check_tags(&req.imported_model_tags, "importedModelTags")?;
    let (region, account) = (&caller.source_region, &caller.account);
    let (id, now) = (new_id(), OffsetDateTime::now_utc());
    let job = ImportJob {
        arn: job_arn(region, account, &id),
        id,
        account: account.clone(),
        region: region.clone(),
        name: req.job_name.clone(),
        imported_model_name: req.imported_model_name.clone(),
        imported_model_arn: model_arn(region, account, &new_id()),
        role_arn: req.role_arn.clone(),
        s3_uri: source.s3_uri.clone(),
        status: ImportJobStatus::InProgress,
        failure_message: None,
        imported_model_tags: req.imported_model_tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect(),
        created_at: now,
        updated_at: now,
        end_time: None,
        client_request_token: req.client_request_token.clone(),
    };
    let saved = state.store.create_import_job(&job).await.map_err(|e| store_error(e, &job.name))?;
    // A repeated clientRequestToken returns the original job: nothing runs or is tagged again.
    if saved.arn == job.arn {
        if !req.job_tags.is_empty() {
            let pairs: Vec<(String, String)> = req.job_tags.into_iter().map(|t| (t.key, t.value)).collect();
            state.store.tag_resource(account, &saved.arn, &pairs).await.map_err(|e| store_error(e, &saved.arn))?;
        }
        importer.spawn(saved.clone());
    }
    let mut response = json_ok(&json!({ "jobArn": saved.arn }))?;
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

pub async fn get_job(State(state): State<Control>, caller: Caller, Label(id): Label) -> Result<Response, ApiError> {
    let what = format!("Model import job {id}");
    let j = state
        .store
        .get_import_job(&caller.account, &caller.source_region, &id)
        .await
        .map_err(|e| store_error(e, &what))?;
    json_ok(&job_view(&j, true))
}

pub async fn list_jobs(
    State(state): State<Control>,
    caller: Caller,
    ControlQuery(q): ControlQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let (common, status, limit) = q.into_query(true).map_err(control_error)?;
    let offset = common.offset;
    let query = ImportJobQuery { status, common: spillway_store::ListFilter { limit: limit + 1, ..common } };
    let mut rows = state
        .store
        .list_import_jobs(&caller.account, &caller.source_region, &query)
        .await
        .map_err(|e| store_error(e, "model import jobs"))?;
    let next_token = (rows.len() > limit as usize).then(|| encode_token(offset + limit));
    rows.truncate(limit as usize);
    let summaries: Vec<JobView<'_>> = rows.iter().map(|j| job_view(j, false)).collect();
    json_ok(&page("modelImportJobSummaries", &summaries, next_token))
}

pub async fn get_model(State(state): State<Control>, caller: Caller, Label(id): Label) -> Result<Response, ApiError> {
    let what = format!("Imported model {id}");
    let m = state
        .store
        .get_imported_model(&caller.account, &caller.source_region, &id)
        .await
        .map_err(|e| store_error(e, &what))?;
    json_ok(&model_view(&m, true))
}

pub async fn list_models(
    State(state): State<Control>,
    caller: Caller,
    ControlQuery(q): ControlQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let (query, _, limit) = q.into_query(false).map_err(control_error)?;
    let offset = query.offset;
    let mut rows = state
        .store
        .list_imported_models(
            &caller.account,
            &caller.source_region,
            &spillway_store::ListFilter { limit: limit + 1, ..query },
        )
        .await
        .map_err(|e| store_error(e, "imported models"))?;
    let next_token = (rows.len() > limit as usize).then(|| encode_token(offset + limit));
    rows.truncate(limit as usize);
    let summaries: Vec<ModelView<'_>> = rows.iter().map(|m| model_view(m, false)).collect();
    json_ok(&page("modelSummaries", &summaries, next_token))
}

/// Deletes the model, its tags, its engine on this instance and its weights.
pub async fn delete_model(
    State(state): State<Control>,
    State(registry): State<Arc<Registry>>,
    State(importer): State<Arc<Importer>>,
    caller: Caller,
    Label(id): Label,
) -> Result<Response, ApiError> {
    let what = format!("Imported model {id}");
    let m = state
        .store
        .delete_imported_model(&caller.account, &caller.source_region, &id)
        .await
        .map_err(|e| store_error(e, &what))?;
    registry.delete(&m.arn);
    if let Err(e) = tokio::fs::remove_file(importer.weights(&m)).await {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(arn = %m.arn, file = %m.file, error = %e, "cannot remove the weights of a deleted imported model");
        }
    }
    json_ok(&json!({}))
}
