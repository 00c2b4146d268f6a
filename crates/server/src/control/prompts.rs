//! bedrock-agent Prompt management on the same port as everything else: CreatePrompt,
//! GetPrompt, ListPrompts, UpdatePrompt, CreatePromptVersion, DeletePrompt, and
//! bedrock-agent's own tagging (`/tags/{resourceArn}`, tags as a map).
//!
//! Errors are bedrock-agent shapes (`Service::Agent`): ConflictException is 409 and
//! ServiceQuotaExceededException 402 there, and ValidationException carries `fieldList`.
//! URIs have trailing slashes (`/prompts/`, `/prompts/{id}/`); both forms are routed.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use spillway_store::{DraftUpdate, Prompt, StoreError};
use spillway_wire::error::Service;
use spillway_wire::prompt::check::Violations;
use spillway_wire::prompt::UpdatePromptRequest;
use spillway_wire::prompt::{self, CreatePromptRequest, CreatePromptVersionRequest, PromptArn, PromptBody};
use spillway_wire::{parse, BedrockError, ErrorCode};

use super::tags::{validate_tags, Tag};
use super::{iso, json_ok, ControlQuery, Label};
use crate::app::AppState;
use crate::context::Caller;
use crate::error::ApiError;
use crate::state::Control;

// Spillway's own limits, standing in for Bedrock's (adjustable) service quotas.
const MAX_PROMPTS: usize = 500;
const MAX_VERSIONS: usize = 10;
const MAX_TAGS: usize = 200;
/// PromptSummaries holds at most 10 entries in the model.
const PAGE: usize = 10;

pub fn routes() -> Router<AppState> {
    let one = || get(get_prompt).put(update).delete(delete);
    Router::new()
        .route("/prompts", get(list).post(create))
        .route("/prompts/", get(list).post(create))
        .route("/prompts/{prompt_identifier}", one())
        .route("/prompts/{prompt_identifier}/", one())
        .route("/prompts/{prompt_identifier}/versions", post(create_version))
        .route("/tags/{resource_arn}", get(list_tags).post(tag).delete(untag))
}

fn agent_error(error: BedrockError) -> ApiError {
    ApiError { error, service: Service::Agent }
}

fn not_found(what: &str) -> ApiError {
    agent_error(BedrockError::new(ErrorCode::ResourceNotFound, format!("{what} couldn't be found.")))
}

fn store_error(e: StoreError, what: &str) -> ApiError {
    agent_error(crate::error::from_store(e, what))
}

fn quota(message: String) -> ApiError {
    agent_error(BedrockError::new(ErrorCode::ServiceQuotaExceeded, message))
}

fn violation(field: &str, constraint: &str) -> ApiError {
    let mut v = Violations::default();
    v.add(field, constraint);
    v.into_result().map_or_else(agent_error, |()| agent_error(BedrockError::validation(constraint)))
}

/// The prompt an identifier (ID, ARN, or ARN with `:version`) names in the caller's
/// account and region. Another account's or region's ARN names nothing.
fn identify(caller: &Caller, ident: &str) -> Result<(String, Option<u32>), ApiError> {
    if prompt::is_prompt_id(ident) {
        return Ok((ident.to_owned(), None));
    }
    match PromptArn::parse(ident) {
        Some(a) if a.account == caller.account && a.region == caller.source_region => Ok((a.id.to_owned(), a.version)),
        Some(_) => Err(not_found(&format!("The prompt {ident}"))),
        None => Err(violation(
            "promptIdentifier",
            "Member must satisfy regular expression pattern: ([0-9a-zA-Z]{10})|(arn:aws:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:prompt/[0-9a-zA-Z]{10})(?::[0-9]{1,5})?",
        )),
    }
}

/// `promptVersion`: `DRAFT` (→ `None`, where allowed) or a number of 1–5 digits.
fn version_param(value: &str, draft_ok: bool) -> Result<Option<u32>, ApiError> {
    if draft_ok && value == "DRAFT" {
        return Ok(None);
    }
    match value.parse::<u32>() {
        Ok(n) if (1..=5).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(n)),
        _ => Err(violation("promptVersion", "Member must satisfy regular expression pattern: (DRAFT|[0-9]{1,5})")),
    }
}

fn version_name(p: &Prompt) -> String {
    p.version.map_or_else(|| "DRAFT".to_owned(), |n| n.to_string())
}

/// The full prompt object of Create/Get/Update/CreatePromptVersion answers.
fn view(p: &Prompt, with_variants: bool) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(p.name));
    if let Some(d) = &p.description {
        out.insert("description".into(), json!(d));
    }
    if let Value::Object(body) = &p.body {
        out.extend(body.iter().filter(|(k, _)| with_variants || *k != "variants").map(|(k, v)| (k.clone(), v.clone())));
    }
    out.insert("id".into(), json!(p.id));
    out.insert("arn".into(), json!(p.arn));
    out.insert("version".into(), json!(version_name(p)));
    out.insert("createdAt".into(), json!(iso(p.created_at)));
    out.insert("updatedAt".into(), json!(iso(p.updated_at)));
    Value::Object(out)
}

fn summary(p: &Prompt) -> Value {
    let mut s = json!({
        "name": p.name, "id": p.id, "arn": p.arn, "version": version_name(p),
        "createdAt": iso(p.created_at), "updatedAt": iso(p.updated_at),
    });
    if let (Some(d), Some(map)) = (&p.description, s.as_object_mut()) {
        map.insert("description".into(), json!(d));
    }
    s
}

fn created(value: &Value) -> Result<Response, ApiError> {
    let mut response = json_ok(value).map_err(|e| agent_error(e.error))?;
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

fn ok(value: &Value) -> Result<Response, ApiError> {
    json_ok(value).map_err(|e| agent_error(e.error))
}

fn check_tags(tags: &BTreeMap<String, String>) -> Result<Vec<(String, String)>, ApiError> {
    let list: Vec<Tag> = tags.iter().map(|(k, v)| Tag { key: k.clone(), value: v.clone() }).collect();
    validate_tags(&list, "tags").map_err(agent_error)?;
    if tags.len() > MAX_TAGS {
        return Err(quota(format!("A resource can have at most {MAX_TAGS} tags.")));
    }
    Ok(list.into_iter().map(|t| (t.key, t.value)).collect())
}

/// 10 characters of `[0-9A-Z]`, as Bedrock's prompt IDs.
fn new_id() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes.iter().take(10).map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect()
}

fn encode_body(body: &PromptBody) -> Result<Value, ApiError> {
    serde_json::to_value(body)
        .map_err(|e| agent_error(BedrockError::internal(format!("Could not encode the prompt: {e}"))))
}

pub async fn create(State(state): State<Control>, caller: Caller, body: Bytes) -> Result<Response, ApiError> {
    let req: CreatePromptRequest = parse::json(&body).map_err(agent_error)?;
    let draft = PromptBody {
        customer_encryption_key_arn: req.customer_encryption_key_arn,
        default_variant: req.default_variant,
        variants: req.variants,
    };
    let mut v = Violations::default();
    v.prompt(&req.name, req.description.as_deref(), &draft);
    v.client_token(req.client_token.as_deref());
    v.into_result().map_err(agent_error)?;
    let tags = check_tags(&req.tags)?;
    let (account, region) = (&caller.account, &caller.source_region);
    let existing = state.store.list_prompts(account, region, MAX_PROMPTS as u32, 0).await;
    let existing = existing.map_err(|e| store_error(e, "prompts"))?;
    let retry = req.client_token.is_some() && existing.iter().any(|p| p.client_token == req.client_token);
    if existing.len() >= MAX_PROMPTS && !retry {
        return Err(quota(format!("The account already has {MAX_PROMPTS} prompts in {region}.")));
    }
    let id = new_id();
    let now = time::OffsetDateTime::now_utc();
    let new = Prompt {
        arn: prompt::prompt_arn(region, account, &id, None),
        id,
        account: account.clone(),
        region: region.clone(),
        name: req.name,
        description: req.description,
        version: None,
        body: encode_body(&draft)?,
        created_at: now,
        updated_at: now,
        client_token: req.client_token,
    };
    let stored = state.store.create_prompt(&new).await.map_err(|e| store_error(e, &new.name))?;
    // A repeated clientToken answers with the original, without tagging again.
    if stored.id == new.id && !tags.is_empty() {
        state.store.tag_resource(account, &stored.arn, &tags).await.map_err(|e| store_error(e, &stored.arn))?;
    }
    created(&view(&stored, true))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
pub struct GetQuery {
    prompt_version: Option<String>,
    included_data: Option<String>,
}

pub async fn get_prompt(
    State(state): State<Control>,
    caller: Caller,
    Label(ident): Label,
    ControlQuery(q): ControlQuery<GetQuery>,
) -> Result<Response, ApiError> {
    let (id, arn_version) = identify(&caller, &ident)?;
    let version = match q.prompt_version.as_deref() {
        Some(v) => version_param(v, true)?,
        None => arn_version,
    };
    let with_variants = match q.included_data.as_deref() {
        None | Some("ALL_DATA") => true,
        Some("METADATA_ONLY") => false,
        Some(_) => {
            return Err(violation("includedData", "Member must satisfy enum value set: [ALL_DATA, METADATA_ONLY]"))
        }
    };
    let found = state.store.get_prompt(&caller.account, &caller.source_region, &id, version).await;
    let p = found.map_err(|e| store_error(e, &format!("The prompt {ident}")))?;
    ok(&view(&p, with_variants))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    prompt_identifier: Option<String>,
    max_results: Option<String>,
    next_token: Option<String>,
}

const TOKEN_PREFIX: &str = "prompts:";

pub async fn list(
    State(state): State<Control>,
    caller: Caller,
    ControlQuery(q): ControlQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let page = match q.max_results.as_deref().map(str::parse::<usize>) {
        None => PAGE,
        Some(Ok(n)) if (1..=1000).contains(&n) => n.min(PAGE),
        Some(_) => return Err(violation("maxResults", "Member must have value between 1 and 1000")),
    };
    let offset = match q.next_token.as_deref() {
        None => 0,
        Some(t) => URL_SAFE_NO_PAD
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix(TOKEN_PREFIX).and_then(|n| n.parse::<usize>().ok()))
            .ok_or_else(|| agent_error(BedrockError::validation("The provided nextToken is invalid.")))?,
    };
    let (account, region) = (&caller.account, &caller.source_region);
    // One prompt: its DRAFT and its versions (few, bounded by MAX_VERSIONS), paged here.
    // All prompts: paged by the store, asking one more row to know whether more follow.
    let mut rows = match &q.prompt_identifier {
        Some(ident) => {
            let (id, _) = identify(&caller, ident)?;
            let what = format!("The prompt {ident}");
            let draft = state.store.get_prompt(account, region, &id, None).await.map_err(|e| store_error(e, &what))?;
            let versions = state.store.list_prompt_versions(account, region, &id).await;
            let all: Vec<Prompt> = std::iter::once(draft).chain(versions.map_err(|e| store_error(e, &what))?).collect();
            all.into_iter().skip(offset).take(page + 1).collect()
        }
        None => {
            let (limit, skip) =
                (u32::try_from(page + 1).unwrap_or(u32::MAX), u32::try_from(offset).unwrap_or(u32::MAX));
            state.store.list_prompts(account, region, limit, skip).await.map_err(|e| store_error(e, "prompts"))?
        }
    };
    let more = rows.len() > page;
    rows.truncate(page);
    let mut answer = json!({ "promptSummaries": rows.iter().map(summary).collect::<Vec<_>>() });
    if let (true, Some(map)) = (more, answer.as_object_mut()) {
        map.insert("nextToken".into(), json!(URL_SAFE_NO_PAD.encode(format!("{TOKEN_PREFIX}{}", offset + page))));
    }
    ok(&answer)
}

pub async fn update(
    State(state): State<Control>,
    caller: Caller,
    Label(ident): Label,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: UpdatePromptRequest = parse::json(&body).map_err(agent_error)?;
    let (id, version) = identify(&caller, &ident)?;
    if version.is_some() {
        return Err(violation("promptIdentifier", "Only the DRAFT of a prompt can be updated; versions are immutable"));
    }
    let draft = PromptBody {
        customer_encryption_key_arn: req.customer_encryption_key_arn,
        default_variant: req.default_variant,
        variants: req.variants,
    };
    let mut v = Violations::default();
    v.prompt(&req.name, req.description.as_deref(), &draft);
    v.into_result().map_err(agent_error)?;
    let body = encode_body(&draft)?;
    let update = DraftUpdate { name: &req.name, description: req.description.as_deref(), body: &body };
    let now = time::OffsetDateTime::now_utc();
    let stored = state.store.update_prompt(&caller.account, &caller.source_region, &id, update, now).await;
    ok(&view(&stored.map_err(|e| store_error(e, &format!("The prompt {ident}")))?, true))
}

pub async fn create_version(
    State(state): State<Control>,
    caller: Caller,
    Label(ident): Label,
    body: Bytes,
) -> Result<Response, ApiError> {
    // Every member is optional: an empty body is an empty request.
    let req: CreatePromptVersionRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CreatePromptVersionRequest::default()
    } else {
        parse::json(&body).map_err(agent_error)?
    };
    let mut v = Violations::default();
    v.description("description", req.description.as_deref());
    v.client_token(req.client_token.as_deref());
    v.into_result().map_err(agent_error)?;
    let tags = check_tags(&req.tags)?;
    let (id, _) = identify(&caller, &ident)?;
    let (account, region) = (&caller.account, &caller.source_region);
    let what = format!("The prompt {ident}");
    let before = state.store.list_prompt_versions(account, region, &id).await.map_err(|e| store_error(e, &what))?;
    let retry = req.client_token.is_some() && before.iter().any(|p| p.client_token == req.client_token);
    if before.len() >= MAX_VERSIONS && !retry {
        return Err(quota(format!("The prompt {id} already has {MAX_VERSIONS} versions. Delete one and try again.")));
    }
    let now = time::OffsetDateTime::now_utc();
    let token = req.client_token.as_deref();
    let made = state.store.create_prompt_version(account, region, &id, req.description.as_deref(), token, now).await;
    let made = made.map_err(|e| store_error(e, &what))?;
    if !retry && !tags.is_empty() {
        state.store.tag_resource(account, &made.arn, &tags).await.map_err(|e| store_error(e, &made.arn))?;
    }
    created(&view(&made, true))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    prompt_version: Option<String>,
}

pub async fn delete(
    State(state): State<Control>,
    caller: Caller,
    Label(ident): Label,
    ControlQuery(q): ControlQuery<DeleteQuery>,
) -> Result<Response, ApiError> {
    let (id, arn_version) = identify(&caller, &ident)?;
    let version = match q.prompt_version.as_deref() {
        Some(v) => version_param(v, false)?,
        None => arn_version,
    };
    let deleted = state.store.delete_prompt(&caller.account, &caller.source_region, &id, version).await;
    let what = match version {
        Some(n) => format!("Version {n} of the prompt {id}"),
        None => format!("The prompt {ident}"),
    };
    let p = deleted.map_err(|e| store_error(e, &what))?;
    match p.version {
        Some(n) => ok(&json!({ "id": p.id, "version": n.to_string() })),
        None => ok(&json!({ "id": p.id })),
    }
}

/// A taggable resource here is a prompt or a prompt version of the caller's, or an
/// agent or agent alias ([`crate::agents`]).
async fn owned(state: &Control, caller: &Caller, arn: &str) -> Result<(), ApiError> {
    if crate::agents::is_agent_arn(arn) {
        return crate::agents::owned(state, caller, arn).await;
    }
    let Some(a) = PromptArn::parse(arn) else {
        return Err(violation(
            "resourceArn",
            "Member must be the ARN of a prompt, prompt version, agent or agent alias",
        ));
    };
    if a.account != caller.account || a.region != caller.source_region {
        return Err(not_found(&format!("The resource {arn}")));
    }
    let found = state.store.get_prompt(&caller.account, a.region, a.id, a.version).await;
    found.map(|_| ()).map_err(|e| store_error(e, &format!("The resource {arn}")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TagBody {
    tags: BTreeMap<String, String>,
}

pub async fn tag(
    State(state): State<Control>,
    caller: Caller,
    Label(arn): Label,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: TagBody = parse::json(&body).map_err(agent_error)?;
    let pairs = check_tags(&req.tags)?;
    owned(&state, &caller, &arn).await?;
    let existing = state.store.list_tags(&caller.account, &arn).await.map_err(|e| store_error(e, &arn))?;
    let mut keys: std::collections::BTreeSet<&str> = existing.iter().map(|(k, _)| k.as_str()).collect();
    keys.extend(req.tags.keys().map(String::as_str));
    if keys.len() > MAX_TAGS {
        return Err(quota(format!("The number of tags on {arn} would exceed the limit of {MAX_TAGS}.")));
    }
    state.store.tag_resource(&caller.account, &arn, &pairs).await.map_err(|e| store_error(e, &arn))?;
    ok(&json!({}))
}

/// `?tagKeys=a&tagKeys=b`: a list member is a repeated key, which axum's `Query` (a
/// map) cannot hold, so the raw query is read here.
pub async fn untag(
    State(state): State<Control>,
    caller: Caller,
    Label(arn): Label,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut keys = Vec::new();
    for pair in query.as_deref().unwrap_or_default().split('&') {
        if let Some(("tagKeys", raw)) = pair.split_once('=') {
            let raw = raw.replace('+', " ");
            let key = percent_encoding::percent_decode_str(&raw).decode_utf8();
            keys.push(key.map_err(|_| violation("tagKeys", "Member must be UTF-8"))?.into_owned());
        }
    }
    owned(&state, &caller, &arn).await?;
    state.store.untag_resource(&caller.account, &arn, &keys).await.map_err(|e| store_error(e, &arn))?;
    ok(&json!({}))
}

pub async fn list_tags(State(state): State<Control>, caller: Caller, Label(arn): Label) -> Result<Response, ApiError> {
    owned(&state, &caller, &arn).await?;
    let tags = state.store.list_tags(&caller.account, &arn).await.map_err(|e| store_error(e, &arn))?;
    ok(&json!({ "tags": tags.into_iter().collect::<BTreeMap<_, _>>() }))
}
