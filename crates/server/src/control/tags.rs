//! TagResource, UntagResource and ListTagsForResource (bedrock's RPC-style paths, the ARN
//! in the body, tags as `[{key, value}]`). A resource belongs to its account: another
//! account neither sees nor changes its tags.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use spillway_wire::arn::Arn;
use spillway_wire::{parse, BedrockError, ErrorCode};

use super::{control_error, found, json_ok, store_error};
use crate::context::Caller;
use crate::error::ApiError;
use crate::state::Control;

/// Bedrock's limit of tags on one resource.
const MAX_TAGS: usize = 200;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// `[a-zA-Z0-9\s._:/=+@-]*`, the key and value pattern of the model.
fn tag_chars(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_alphanumeric() || c.is_whitespace() || "._:/=+@-".contains(c))
}

pub fn validate_tags(tags: &[Tag], field: &str) -> Result<(), BedrockError> {
    for (i, t) in tags.iter().enumerate() {
        if t.key.is_empty() || t.key.chars().count() > 128 || !tag_chars(&t.key) {
            return Err(parse::value_violation(
                &format!("{field}.{}.member.key", i + 1),
                &t.key,
                "Member must satisfy regular expression pattern: ^[a-zA-Z0-9\\s._:/=+@-]*$ and have length between 1 and 128",
            ));
        }
        if t.value.chars().count() > 256 || !tag_chars(&t.value) {
            return Err(parse::value_violation(
                &format!("{field}.{}.member.value", i + 1),
                &t.value,
                "Member must satisfy regular expression pattern: ^[a-zA-Z0-9\\s._:/=+@-]*$ and have length less than or equal to 256",
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
struct TagRequest {
    #[serde(rename = "resourceARN")]
    resource_arn: String,
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(default)]
    tag_keys: Vec<String>,
}

/// The resource must exist and belong to the caller (application profiles today; more
/// kinds join as the store holds them).
async fn owned(state: &Control, caller: &Caller, arn: &str) -> Result<(), ApiError> {
    let not_found = || {
        control_error(BedrockError::new(ErrorCode::ResourceNotFound, format!("The resource {arn} couldn't be found.")))
    };
    let Some(parsed) = Arn::parse(arn) else {
        return Err(control_error(parse::value_violation(
            "resourceARN",
            arn,
            "Member must satisfy regular expression pattern: arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:.+",
        )));
    };
    if parsed.account != caller.account {
        return Err(not_found());
    }
    match parsed.resource_type {
        "application-inference-profile" => {
            let lookup = state.store.get_app_profile(&caller.account, parsed.region, arn).await;
            found(lookup).map_err(|e| store_error(e, arn))?.map(|_| ()).ok_or_else(not_found)
        }
        "provisioned-model" => {
            let lookup = state.store.get_provisioned(&caller.account, parsed.region, arn).await;
            found(lookup).map_err(|e| store_error(e, arn))?.map(|_| ()).ok_or_else(not_found)
        }
        "imported-model" => {
            let lookup = state.store.get_imported_model(&caller.account, parsed.region, arn).await;
            found(lookup).map_err(|e| store_error(e, arn))?.map(|_| ()).ok_or_else(not_found)
        }
        "model-invocation-job" => {
            let lookup = state.store.get_batch_job(&caller.account, parsed.region, arn).await;
            found(lookup).map_err(|e| store_error(e, arn))?.map(|_| ()).ok_or_else(not_found)
        }
        "model-import-job" => {
            let lookup = state.store.get_import_job(&caller.account, parsed.region, arn).await;
            found(lookup).map_err(|e| store_error(e, arn))?.map(|_| ()).ok_or_else(not_found)
        }
        _ => Err(not_found()),
    }
}

pub async fn tag(State(state): State<Control>, caller: Caller, body: Bytes) -> Result<Response, ApiError> {
    let req: TagRequest = parse::json(&body).map_err(control_error)?;
    validate_tags(&req.tags, "tags").map_err(control_error)?;
    owned(&state, &caller, &req.resource_arn).await?;
    let existing = state
        .store
        .list_tags(&caller.account, &req.resource_arn)
        .await
        .map_err(|e| store_error(e, &req.resource_arn))?;
    let mut keys: std::collections::BTreeSet<&str> = existing.iter().map(|(k, _)| k.as_str()).collect();
    keys.extend(req.tags.iter().map(|t| t.key.as_str()));
    if keys.len() > MAX_TAGS {
        return Err(control_error(
            BedrockError::new(
                ErrorCode::TooManyTags,
                format!("The number of tags on {} would exceed the limit of {MAX_TAGS}.", req.resource_arn),
            )
            .with_extra("resourceName", req.resource_arn.clone()),
        ));
    }
    let pairs: Vec<(String, String)> = req.tags.into_iter().map(|t| (t.key, t.value)).collect();
    state
        .store
        .tag_resource(&caller.account, &req.resource_arn, &pairs)
        .await
        .map_err(|e| store_error(e, &req.resource_arn))?;
    json_ok(&json!({}))
}

pub async fn untag(State(state): State<Control>, caller: Caller, body: Bytes) -> Result<Response, ApiError> {
    let req: TagRequest = parse::json(&body).map_err(control_error)?;
    owned(&state, &caller, &req.resource_arn).await?;
    state
        .store
        .untag_resource(&caller.account, &req.resource_arn, &req.tag_keys)
        .await
        .map_err(|e| store_error(e, &req.resource_arn))?;
    json_ok(&json!({}))
}

pub async fn list(State(state): State<Control>, caller: Caller, body: Bytes) -> Result<Response, ApiError> {
    let req: TagRequest = parse::json(&body).map_err(control_error)?;
    owned(&state, &caller, &req.resource_arn).await?;
    let tags: Vec<Tag> = state
        .store
        .list_tags(&caller.account, &req.resource_arn)
        .await
        .map_err(|e| store_error(e, &req.resource_arn))?
        .into_iter()
        .map(|(key, value)| Tag { key, value })
        .collect();
    json_ok(&json!({ "tags": tags }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(k: &str, v: &str) -> Tag {
        Tag { key: k.into(), value: v.into() }
    }

    #[test]
    fn tag_patterns() {
        assert!(validate_tags(&[tag("team", "ml"), tag("a:b/c=d+e@f-g_h.i", "")], "tags").is_ok());
        let e = validate_tags(&[tag("ok", "v"), tag("bad!", "v")], "tags").unwrap_err();
        assert!(e.message.contains("'tags.2.member.key'"), "{}", e.message);
        assert!(validate_tags(&[tag("", "v")], "tags").is_err());
        assert!(validate_tags(&[tag("k", &"v".repeat(257))], "tags").is_err());
    }
}
