//! CreateInferenceProfile and DeleteInferenceProfile: application inference profiles.
//! One copies a foundation model of the caller's region (it runs there only) or a
//! system-defined profile (it runs across that profile's regions); invoking its ARN
//! routes exactly as what it copies, and usage is attributed to it and its tags.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use spillway_route::resolve;
use spillway_store::AppProfile;
use spillway_wire::parse::value_violation;
use spillway_wire::{parse, BedrockError, ErrorCode};

use super::tags::{validate_tags, Tag};
use super::{control_error, found, json_ok, store_error, Label};
use crate::context::Caller;
use crate::error::ApiError;
use crate::state::Control;
use spillway_dispatch::resolve::application::AppProfiles;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    inference_profile_name: String,
    description: Option<String>,
    client_request_token: Option<String>,
    model_source: ModelSource,
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
struct ModelSource {
    copy_from: String,
}

/// `([0-9a-zA-Z][ _-]?)+`: alphanumerics, each optionally followed by one separator.
fn is_name(s: &str, extra_lead: &[char]) -> bool {
    let mut prev_sep = true;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || extra_lead.contains(&c) {
            prev_sep = false;
        } else if matches!(c, ' ' | '_' | '-') && !prev_sep {
            prev_sep = true;
        } else {
            return false;
        }
    }
    !s.is_empty()
}

fn check(field: &str, value: &str, max: usize, extra: &[char], pattern: &str) -> Result<(), BedrockError> {
    if value.is_empty() || value.chars().count() > max || !is_name(value, extra) {
        return Err(parse::value_violation(
            field,
            value,
            &format!("Member must satisfy regular expression pattern: {pattern} and have length between 1 and {max}"),
        ));
    }
    Ok(())
}

/// `modelSource.copyFrom` must be the ARN of a foundation model or a system-defined
/// profile (the model's pattern); an ARN of the right form that names nothing callable
/// from here is a ResourceNotFoundException further on.
fn check_copy_from(copy_from: &str) -> Result<(), BedrockError> {
    let is_source = spillway_wire::arn::Arn::parse(copy_from)
        .is_some_and(|a| a.service == "bedrock" && matches!(a.resource_type, "foundation-model" | "inference-profile"));
    if is_source {
        return Ok(());
    }
    Err(value_violation(
        "modelSource.copyFrom",
        copy_from,
        "Member must satisfy regular expression pattern: arn:aws(|-us-gov|-cn|-iso|-iso-b):bedrock:(|[0-9a-z-]{0,20}):(|[0-9]{12}):(inference-profile|foundation-model)/[a-zA-Z0-9-:.]+",
    ))
}

/// Refuses a provisioned-model ARN where an inference profile would hold it (the docs'
/// rule; the model's pattern for `copyFrom` admits no provisioned-model ARN).
fn reject_in_profile(copy_from: &str) -> Result<(), BedrockError> {
    if crate::provisioned::is_provisioned_arn(copy_from) {
        return Err(BedrockError::validation(format!(
            "Inference profiles don't support Provisioned Throughput: {copy_from} can't be the model source. Use a foundation-model or inference-profile ARN."
        )));
    }
    Ok(())
}

pub async fn create(State(state): State<Control>, caller: Caller, body: Bytes) -> Result<Response, ApiError> {
    let req: CreateRequest = parse::json(&body).map_err(control_error)?;
    check("inferenceProfileName", &req.inference_profile_name, 64, &[], "([0-9a-zA-Z][ _-]?)+")
        .map_err(control_error)?;
    if let Some(d) = &req.description {
        check("description", d, 200, &[':', '.'], "([0-9a-zA-Z:.][ _-]?)+").map_err(control_error)?;
    }
    validate_tags(&req.tags, "tags").map_err(control_error)?;
    let copy_from = req.model_source.copy_from.as_str();
    reject_in_profile(copy_from).map_err(control_error)?;
    check_copy_from(copy_from).map_err(control_error)?;
    // What it copies must be callable from here: the same resolution an invocation does.
    let plan = resolve(&state.catalog, copy_from, &caller.source_region, &caller.account).map_err(|e| {
        control_error(BedrockError::new(
            ErrorCode::ResourceNotFound,
            format!("The model source {copy_from} couldn't be used from {}: {e}", caller.source_region),
        ))
    })?;
    let id = new_id();
    let now = time::OffsetDateTime::now_utc();
    let app = AppProfile {
        arn: format!("arn:aws:bedrock:{}:{}:application-inference-profile/{id}", caller.source_region, caller.account),
        id,
        account: caller.account.clone(),
        region: caller.source_region.clone(),
        name: req.inference_profile_name,
        description: req.description,
        copy_from: copy_from.to_owned(),
        model_id: plan.model.id.clone(),
        regions: plan.candidates.iter().map(|o| o.region.clone()).collect(),
        status: "ACTIVE".to_owned(),
        created_at: now,
        updated_at: now,
        client_request_token: req.client_request_token,
    };
    let stored = state.store.create_app_profile(&app).await.map_err(|e| store_error(e, &app.name))?;
    // A repeated clientRequestToken returns the original without tagging again.
    if stored.arn == app.arn && !req.tags.is_empty() {
        let pairs: Vec<(String, String)> = req.tags.into_iter().map(|t| (t.key, t.value)).collect();
        state
            .store
            .tag_resource(&caller.account, &stored.arn, &pairs)
            .await
            .map_err(|e| store_error(e, &stored.arn))?;
    }
    let body = json!({ "inferenceProfileArn": stored.arn, "status": stored.status });
    let mut response = json_ok(&body)?;
    *response.status_mut() = StatusCode::CREATED;
    Ok(response.into_response())
}

pub async fn delete(
    State(state): State<Control>,
    State(apps): State<Arc<AppProfiles>>,
    caller: Caller,
    Label(id): Label,
) -> Result<Response, ApiError> {
    let lookup = state.store.get_app_profile(&caller.account, &caller.source_region, &id).await;
    let Some(app) = found(lookup).map_err(|e| store_error(e, &id))? else {
        return Err(control_error(BedrockError::new(
            ErrorCode::ResourceNotFound,
            format!("The inference profile {id} couldn't be found in {}.", caller.source_region),
        )));
    };
    // The store deletes the profile's tags with it.
    state
        .store
        .delete_app_profile(&caller.account, &caller.source_region, &app.arn)
        .await
        .map_err(|e| store_error(e, &id))?;
    apps.forget(&app.arn);
    json_ok(&json!({}))
}

/// 12 lowercase alphanumerics, as Bedrock's application profile IDs.
fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}
