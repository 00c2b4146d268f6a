//! Provisioned throughput (bedrock-wire.md §5): Create (201 `{provisionedModelArn}`),
//! Get, List, Update (PATCH) and Delete, by name or ARN, in the caller's account and
//! region. The status changes themselves (and the capacity they reserve, and the hourly
//! billing) belong to [`crate::provisioned::driver`].
//!
//! Choices where Bedrock's behaviour was not verified:
//! - a name already used in the account and region: ConflictException;
//! - updating one that is not InService: ValidationException;
//! - deleting one whose commitment term has not ended: ConflictException (the API
//!   reference: "You can't delete a Provisioned Throughput before the commitment term is
//!   over");
//! - the list is sorted by creation time, newest first unless `sortOrder=Ascending`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use spillway_catalog::provisioned::{is_model_name, Commitment};
use spillway_store::{ListFilter, ProvisionedModel, ProvisionedQuery, ProvisionedStatus, StoreError};
use spillway_wire::{parse, BedrockError, ErrorCode};
use time::OffsetDateTime;

use super::tags::{validate_tags, Tag};
use super::{control_error, iso, json_ok, paging, store_error, ControlQuery, Label};
use crate::context::Caller;
use crate::error::ApiError;
use crate::provisioned::{driver, provisioned_arn, served, Registry};
use crate::state::Control;

const NAME_PATTERN: &str = "([0-9a-zA-Z][_-]?)+";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    client_request_token: Option<String>,
    model_units: i64,
    provisioned_model_name: String,
    model_id: String,
    commitment_duration: Option<String>,
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    desired_provisioned_model_name: Option<String>,
    desired_model_id: Option<String>,
}

/// ListProvisionedModelThroughputs' query; strings, so bad values get Coral's words.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    creation_time_after: Option<String>,
    creation_time_before: Option<String>,
    status_equals: Option<String>,
    model_arn_equals: Option<String>,
    name_contains: Option<String>,
    max_results: Option<String>,
    next_token: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
}

/// GetProvisionedModelThroughput's output; a list entry has the same members but
/// `failureMessage`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct View<'a> {
    provisioned_model_name: &'a str,
    provisioned_model_arn: &'a str,
    model_arn: &'a str,
    desired_model_arn: &'a str,
    foundation_model_arn: &'a str,
    model_units: u32,
    desired_model_units: u32,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    commitment_duration: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    commitment_expiration_time: Option<String>,
    creation_time: String,
    last_modified_time: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ListResponse<'a> {
    provisioned_model_summaries: Vec<View<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn view(p: &ProvisionedModel, with_failure: bool) -> View<'_> {
    View {
        provisioned_model_name: &p.name,
        provisioned_model_arn: &p.arn,
        model_arn: &p.model_arn,
        desired_model_arn: &p.desired_model_arn,
        foundation_model_arn: &p.foundation_model_arn,
        model_units: p.model_units,
        desired_model_units: p.desired_model_units,
        status: p.status.as_str(),
        failure_message: p.failure_message.as_deref().filter(|_| with_failure),
        commitment_duration: p.commitment_duration.as_deref(),
        commitment_expiration_time: p.commitment_expiration_time.map(iso),
        creation_time: iso(p.created_at),
        last_modified_time: iso(p.updated_at),
    }
}

fn check_name(field: &str, name: &str) -> Result<(), ApiError> {
    if name.chars().count() > 63 || !is_model_name(name) {
        let constraint =
            format!("Member must satisfy regular expression pattern: {NAME_PATTERN} and have length between 1 and 63");
        return Err(control_error(parse::value_violation(field, name, &constraint)));
    }
    Ok(())
}

fn stored(e: StoreError, id: &str) -> ApiError {
    store_error(e, &format!("Provisioned model {id}"))
}

async fn lookup(state: &Control, caller: &Caller, id: &str) -> Result<ProvisionedModel, ApiError> {
    state.store.get_provisioned(&caller.account, &caller.source_region, id).await.map_err(|e| stored(e, id))
}

pub async fn create(State(state): State<Control>, caller: Caller, body: Bytes) -> Result<Response, ApiError> {
    let req: CreateRequest = parse::json(&body).map_err(control_error)?;
    if req.model_units < 1 {
        let e =
            parse::value_violation("modelUnits", req.model_units, "Member must have value greater than or equal to 1");
        return Err(control_error(e));
    }
    let units = u32::try_from(req.model_units).map_err(|_| {
        control_error(parse::value_violation("modelUnits", req.model_units, "Member must fit in a 32-bit integer"))
    })?;
    check_name("provisionedModelName", &req.provisioned_model_name)?;
    let term = match req.commitment_duration.as_deref() {
        None => None,
        Some(c) => Some(Commitment::parse(c).ok_or_else(|| {
            control_error(parse::value_violation(
                "commitmentDuration",
                c,
                "Member must satisfy enum value set: [OneMonth, SixMonths]",
            ))
        })?),
    };
    validate_tags(&req.tags, "tags").map_err(control_error)?;
    if req.tags.len() > 200 {
        return Err(control_error(BedrockError::new(ErrorCode::TooManyTags, "A resource can have at most 200 tags.")));
    }
    let (region, account) = (&caller.source_region, &caller.account);
    let s = served(&state.catalog, region, account, &req.model_id)
        .map_err(|e| control_error(crate::error::from_not_served(e)))?;
    let price = s.unit.hourly_price.for_term(term).ok_or_else(|| {
        let term = term.map_or("no commitment", Commitment::as_str);
        control_error(BedrockError::validation(format!(
            "Provisioned Throughput with {term} isn't available for the model {} in {region}.",
            req.model_id
        )))
    })?;
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let now = OffsetDateTime::now_utc();
    let row = ProvisionedModel {
        arn: provisioned_arn(region, account, &id),
        id,
        account: account.clone(),
        region: region.clone(),
        name: req.provisioned_model_name,
        desired_model_arn: s.model_arn.clone(),
        model_arn: s.model_arn,
        foundation_model_arn: s.foundation_model_arn,
        // Seed 002: a Creating one reports 0 units of those it asked for.
        model_units: 0,
        desired_model_units: units,
        status: ProvisionedStatus::Creating,
        failure_message: None,
        commitment_duration: term.map(|t| t.as_str().to_owned()),
        commitment_expiration_time: None,
        unit_price_micros: (price * 1_000_000.0).round() as i64,
        created_at: now,
        updated_at: now,
        billed_until: None,
        client_request_token: req.client_request_token,
    };
    let saved = state.store.create_provisioned(&row).await.map_err(|e| stored(e, &row.name))?;
    // A repeated clientRequestToken returns the original without tagging again.
    if saved.arn == row.arn && !req.tags.is_empty() {
        let pairs: Vec<(String, String)> = req.tags.into_iter().map(|t| (t.key, t.value)).collect();
        state.store.tag_resource(account, &saved.arn, &pairs).await.map_err(|e| stored(e, &saved.arn))?;
    }
    let mut response = json_ok(&json!({ "provisionedModelArn": saved.arn }))?;
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

pub async fn get(State(state): State<Control>, caller: Caller, Label(id): Label) -> Result<Response, ApiError> {
    let p = lookup(&state, &caller, &id).await?;
    json_ok(&view(&p, true))
}

pub async fn list(
    State(state): State<Control>,
    caller: Caller,
    ControlQuery(q): ControlQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let (query, limit) = list_query(q).map_err(control_error)?;
    let mut rows = state
        .store
        .list_provisioned(
            &caller.account,
            &caller.source_region,
            &ProvisionedQuery { filter: ListFilter { limit: limit + 1, ..query.filter.clone() }, ..query.clone() },
        )
        .await
        .map_err(|e| stored(e, "provisioned models"))?;
    let next_token = (rows.len() > limit as usize).then(|| encode_token(query.filter.offset + limit));
    rows.truncate(limit as usize);
    let provisioned_model_summaries = rows.iter().map(|p| view(p, false)).collect();
    json_ok(&ListResponse { provisioned_model_summaries, next_token })
}

pub async fn update(
    State(state): State<Control>,
    caller: Caller,
    Label(id): Label,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: UpdateRequest = parse::json(&body).map_err(control_error)?;
    let p = lookup(&state, &caller, &id).await?;
    if p.status != ProvisionedStatus::InService {
        return Err(control_error(BedrockError::validation(format!(
            "The provisioned model {} can't be updated while its status is {}.",
            p.name,
            p.status.as_str()
        ))));
    }
    if let Some(name) = &req.desired_provisioned_model_name {
        check_name("desiredProvisionedModelName", name)?;
    }
    let model_arn = match &req.desired_model_id {
        None => None,
        Some(m) => Some(desired_model(&state, &caller, &p, m)?),
    };
    let now = OffsetDateTime::now_utc();
    state
        .store
        .update_provisioned(
            &caller.account,
            &caller.source_region,
            &p.arn,
            req.desired_provisioned_model_name.as_deref(),
            model_arn.as_deref(),
            now,
        )
        .await
        .map_err(|e| stored(e, &id))?;
    json_ok(&json!({}))
}

/// The model an update may switch to: only a custom model's throughput can change
/// model, to its base model or another custom model of the same base (the API reference).
fn desired_model(state: &Control, caller: &Caller, p: &ProvisionedModel, id: &str) -> Result<String, ApiError> {
    let (region, account) = (&caller.source_region, &caller.account);
    let current = served(&state.catalog, region, account, &p.model_arn)
        .map_err(|e| control_error(crate::error::from_not_served(e)))?;
    if current.custom.is_none() {
        return Err(control_error(BedrockError::validation(
            "You can't change the model of a Provisioned Throughput for a base model.",
        )));
    }
    let next =
        served(&state.catalog, region, account, id).map_err(|e| control_error(crate::error::from_not_served(e)))?;
    if next.model.id != current.model.id {
        return Err(control_error(BedrockError::validation(format!(
            "The model {id} isn't customized from {}, the base model of {}.",
            current.model.id, p.name
        ))));
    }
    Ok(next.model_arn)
}

pub async fn delete(
    State(state): State<Control>,
    State(registry): State<Arc<Registry>>,
    caller: Caller,
    Label(id): Label,
) -> Result<Response, ApiError> {
    let p = lookup(&state, &caller, &id).await?;
    let now = OffsetDateTime::now_utc();
    if let Some(end) = p.commitment_expiration_time.filter(|end| *end > now) {
        return Err(control_error(BedrockError::new(
            ErrorCode::Conflict,
            format!(
                "You can't delete the Provisioned Throughput {} before its commitment term ends ({}).",
                p.name,
                iso(end)
            ),
        )));
    }
    // The hours it served until now are charged before it disappears.
    driver::bill(&state.catalog, &state.store, &p, now, true).await.map_err(|e| stored(e, &id))?;
    state.store.delete_provisioned(&caller.account, &caller.source_region, &p.arn).await.map_err(|e| stored(e, &id))?;
    registry.delete(&p.arn);
    json_ok(&json!({}))
}

// === List query ===

const TOKEN_PREFIX: &str = "pt:";

fn encode_token(offset: u32) -> String {
    paging::encode_token(TOKEN_PREFIX, offset)
}

/// The store query and page size of a ListProvisionedModelThroughputs call.
fn list_query(q: ListQuery) -> Result<(ProvisionedQuery, u32), BedrockError> {
    let status = match q.status_equals.as_deref() {
        None => None,
        Some(s) => Some(ProvisionedStatus::parse(s).ok_or_else(|| {
            let constraint = "Member must satisfy enum value set: [Creating, InService, Updating, Failed]";
            parse::value_violation("statusEquals", s, constraint)
        })?),
    };
    let params = paging::ListParams {
        times: paging::CREATION_TIME,
        name_contains: q.name_contains.as_deref(),
        time_after: q.creation_time_after.as_deref(),
        time_before: q.creation_time_before.as_deref(),
        sort_by: q.sort_by.as_deref(),
        sort_order: q.sort_order.as_deref(),
        max_results: q.max_results.as_deref(),
        next_token: q.next_token.as_deref(),
    };
    let filter = paging::list_filter(params, TOKEN_PREFIX)?;
    let limit = filter.limit;
    let query = ProvisionedQuery { status, model_arn: q.model_arn_equals, filter };
    Ok((query, limit))
}
