//! StartAsyncInvoke, GetAsyncInvoke and ListAsyncInvokes (bedrock-wire.md §3.4) for any
//! model the endpoint runs: the modelInput (the InvokeModel body of the model's family)
//! is checked now and run later on spare capacity ([`crate::batch::async_run`]), its
//! answer written to `{s3Uri}/{invocation id}/output.json`.
//!
//! Choices where Bedrock's behaviour was not verified: an unknown invocation ARN is a
//! ValidationException (GetAsyncInvoke models no ResourceNotFoundException);
//! `kmsKeyId` is refused by name (no KMS here) and `bucketOwner` must be the caller's
//! account.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use spillway_store::{AsyncInvoke, AsyncInvokeQuery, AsyncInvokeStatus, ListFilter, StoreError};
use spillway_wire::invoke;
use spillway_wire::{parse, BedrockError, ErrorCode};
use time::OffsetDateTime;

use super::json_response;
use crate::batch::Batch;
use crate::batch::{async_arn, call};
use crate::context::Caller;
use crate::control::paging::{self, ListParams};
use crate::control::tags::{validate_tags, Tag};
use crate::error::ApiError;
use crate::state::Control;
use spillway_dispatch::resolve::Resolver;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StartRequest {
    client_request_token: Option<String>,
    model_id: String,
    model_input: serde_json::Value,
    output_data_config: OutputDataConfig,
    #[serde(default)]
    tags: Vec<Tag>,
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
    kms_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bucket_owner: Option<String>,
}

fn store_failed(e: StoreError) -> ApiError {
    BedrockError::internal(format!("The control-plane store failed: {e}")).into()
}

/// The model's checks, and spillway's refusals by name; the output s3Uri.
fn check(req: &StartRequest, account: &str) -> Result<String, BedrockError> {
    if let Some(t) = req.client_request_token.as_deref() {
        if t.is_empty() || t.len() > 256 || !t.bytes().all(|b| (b'!'..=b'~').contains(&b)) {
            let constraint = "Member must satisfy regular expression pattern: [!-~]* and have length between 1 and 256";
            return Err(parse::value_violation("clientRequestToken", t, constraint));
        }
    }
    let id_ok = |c: char| c.is_ascii_alphanumeric() || "_.-/:".contains(c);
    if req.model_id.is_empty() || req.model_id.len() > 256 || !req.model_id.chars().all(id_ok) {
        let constraint =
            "Member must satisfy regular expression pattern: [a-zA-Z_\\.\\-/0-9:]+ and have length between 1 and 256";
        return Err(parse::value_violation("modelId", &req.model_id, constraint));
    }
    let Some(out) = &req.output_data_config.s3_output_data_config else {
        return Err(parse::violation("outputDataConfig.s3OutputDataConfig", "Member must not be null"));
    };
    if crate::imported::source::S3Uri::parse(&out.s3_uri).is_none() || out.s3_uri.len() > 1024 {
        let constraint =
            "Member must satisfy regular expression pattern: s3://[a-z0-9][\\.\\-a-z0-9]{1,61}[a-z0-9](/.*)?";
        return Err(parse::value_violation("outputDataConfig.s3OutputDataConfig.s3Uri", &out.s3_uri, constraint));
    }
    if out.kms_key_id.is_some() {
        return Err(BedrockError::validation(
            "outputDataConfig.s3OutputDataConfig.kmsKeyId is not supported: spillway has no KMS to encrypt the output with.",
        ));
    }
    if let Some(owner) = out.bucket_owner.as_deref().filter(|o| *o != account) {
        return Err(BedrockError::validation(format!(
            "outputDataConfig.s3OutputDataConfig.bucketOwner {owner} is not the caller's account {account}."
        )));
    }
    validate_tags(&req.tags, "tags")?;
    if req.tags.len() > 200 {
        return Err(BedrockError::new(ErrorCode::TooManyTags, "A resource can have at most 200 tags."));
    }
    Ok(out.s3_uri.clone())
}

pub async fn start(
    State(state): State<Control>,
    State(resolver): State<Arc<Resolver>>,
    State(batch): State<Arc<Batch>>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: StartRequest = parse::json(&body)?;
    let output_uri = check(&req, &caller.account)?;
    let (account, region) = (&caller.account, &caller.source_region);
    let plan = call::plan(&resolver, account, region, &req.model_id).await?;
    // The body must be one the model takes; what it answers is known only later.
    let input = serde_json::to_vec(&req.model_input).unwrap_or_default();
    invoke::parse(plan.model.body_format, &input)?;
    let (id, now) = (crate::imported::new_id(), OffsetDateTime::now_utc());
    let invocation = AsyncInvoke {
        arn: async_arn(region, account, &id),
        id,
        account: account.clone(),
        region: region.clone(),
        model_id: req.model_id.clone(),
        model_arn: format!("arn:aws:bedrock:{region}::foundation-model/{}", plan.model.id),
        model_input: String::from_utf8(input).unwrap_or_default(),
        output_config: serde_json::to_string(&req.output_data_config).unwrap_or_default(),
        output_s3_uri: output_uri,
        status: AsyncInvokeStatus::InProgress,
        failure_message: None,
        submit_time: now,
        updated_at: now,
        end_time: None,
        client_request_token: req.client_request_token.clone(),
    };
    let saved = state.store.create_async_invoke(&invocation).await.map_err(store_failed)?;
    if saved.arn == invocation.arn && !req.tags.is_empty() {
        let pairs: Vec<(String, String)> = req.tags.into_iter().map(|t| (t.key, t.value)).collect();
        state.store.tag_resource(account, &saved.arn, &pairs).await.map_err(store_failed)?;
    }
    batch.poke();
    Ok(json_response(json!({ "invocationArn": saved.arn }).to_string().into_bytes(), region, Vec::new()))
}

/// GetAsyncInvoke's output, and a list's summary (the same members).
fn view(a: &AsyncInvoke) -> serde_json::Value {
    let iso = |t: OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let mut v = json!({
        "invocationArn": a.arn,
        "modelArn": a.model_arn,
        "status": a.status.as_str(),
        "submitTime": iso(a.submit_time),
        "lastModifiedTime": iso(a.updated_at),
        "outputDataConfig": serde_json::from_str::<serde_json::Value>(&a.output_config).unwrap_or_default(),
    });
    if let Some(token) = &a.client_request_token {
        v["clientRequestToken"] = json!(token);
    }
    if let Some(m) = &a.failure_message {
        v["failureMessage"] = json!(m);
    }
    if let Some(t) = a.end_time {
        v["endTime"] = json!(iso(t));
    }
    v
}

pub async fn get(
    State(state): State<Control>,
    caller: Caller,
    super::ModelId(arn): super::ModelId,
) -> Result<Response, ApiError> {
    match state.store.get_async_invoke(&caller.account, &caller.source_region, &arn).await {
        Ok(a) => Ok(json_response(view(&a).to_string().into_bytes(), &caller.source_region, Vec::new())),
        Err(StoreError::NotFound) => Err(BedrockError::validation(format!(
            "The async invocation {arn} doesn't exist in this account and region."
        ))
        .into()),
        Err(e) => Err(store_failed(e)),
    }
}

/// ListAsyncInvokes' query (strings, so bad values get Coral's words).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    submit_time_after: Option<String>,
    submit_time_before: Option<String>,
    status_equals: Option<String>,
    max_results: Option<String>,
    next_token: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
}

const TOKEN_PREFIX: &str = "async:";

fn query(q: ListQuery) -> Result<AsyncInvokeQuery, BedrockError> {
    let status = match q.status_equals.as_deref() {
        None => None,
        Some(s) => Some(AsyncInvokeStatus::parse(s).ok_or_else(|| {
            parse::value_violation(
                "statusEquals",
                s,
                "Member must satisfy enum value set: [InProgress, Completed, Failed]",
            )
        })?),
    };
    let params = ListParams {
        times: paging::SUBMIT_TIME,
        name_contains: None,
        time_after: q.submit_time_after.as_deref(),
        time_before: q.submit_time_before.as_deref(),
        sort_by: q.sort_by.as_deref(),
        sort_order: q.sort_order.as_deref(),
        max_results: q.max_results.as_deref(),
        next_token: q.next_token.as_deref(),
    };
    Ok(AsyncInvokeQuery { status, filter: paging::list_filter(params, TOKEN_PREFIX)? })
}

pub async fn list(
    State(state): State<Control>,
    caller: Caller,
    crate::control::ControlQuery(q): crate::control::ControlQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let (offset, limit) = (q.filter.offset, q.filter.limit);
    let page = AsyncInvokeQuery { filter: ListFilter { limit: limit + 1, ..q.filter.clone() }, ..q };
    let mut rows =
        state.store.list_async_invokes(&caller.account, &caller.source_region, &page).await.map_err(store_failed)?;
    let next = (rows.len() > limit as usize).then(|| paging::encode_token(TOKEN_PREFIX, offset + limit));
    rows.truncate(limit as usize);
    let mut out = json!({ "asyncInvokeSummaries": rows.iter().map(view).collect::<Vec<_>>() });
    if let Some(token) = next {
        out["nextToken"] = json!(token);
    }
    Ok(json_response(out.to_string().into_bytes(), &caller.source_region, Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(v: serde_json::Value) -> StartRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn start_checks_name_the_member() {
        let ok = json!({"modelId": "m.x", "modelInput": {}, "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://out-b/x"}}});
        assert_eq!(check(&request(ok.clone()), "123456789012").unwrap(), "s3://out-b/x");
        let mut kms = ok.clone();
        kms["outputDataConfig"]["s3OutputDataConfig"]["kmsKeyId"] = json!("arn:aws:kms:us-east-1:123456789012:key/k");
        assert!(check(&request(kms), "123456789012").unwrap_err().message.contains("kmsKeyId"));
        let mut bad_id = ok.clone();
        bad_id["modelId"] = json!("a b");
        assert!(check(&request(bad_id), "123456789012").unwrap_err().message.contains("modelId"));
        let mut none = ok;
        none["outputDataConfig"] = json!({});
        assert!(check(&request(none), "123456789012").unwrap_err().message.contains("s3OutputDataConfig"));
        assert!(query(ListQuery { sort_by: Some("CreationTime".into()), ..ListQuery::default() }).is_err());
        assert!(query(ListQuery { status_equals: Some("Completed".into()), ..ListQuery::default() }).is_ok());
    }
}
