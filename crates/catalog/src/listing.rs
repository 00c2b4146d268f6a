//! The read side of the bedrock control plane as pure functions of the catalog:
//! ListFoundationModels, GetFoundationModel, ListInferenceProfiles and
//! GetInferenceProfile (bedrock-wire.md §5), in their exact wire shapes.
//!
//! Everything is seen from the caller's source region, as Bedrock does: a model is
//! listed where it is offered, a system-defined profile where it may be called from, and
//! ARNs carry that region (and, for profiles, the caller's account).
//!
//! Every listed model and profile destination also carries an unmodeled member,
//! `spillwayBackend`, naming the kind of backend that serves it there (`"sim"` means
//! the answers come from the simulator; `"local"` the embedded model, `"local (model not
//! fetched)"` until its weights are there). SDKs ignore members they do not model, so this
//! costs clients nothing and makes it impossible to mistake simulated answers for a model.
//!
//! Error texts chosen here (real Bedrock's were not verified):
//! - unknown model, or one not offered in the caller's region: ResourceNotFoundException
//!   "Could not resolve the foundation model from the provided model identifier.";
//! - profile not visible from the caller's region and account: ResourceNotFoundException
//!   "The inference profile {identifier} couldn't be found in {region}.";
//! - bad filters, maxResults and identifiers: Coral's ValidationException list
//!   ("1 validation error detected: Value 'X' at 'member' failed to satisfy constraint: …");
//! - a nextToken we did not issue: ValidationException "The provided nextToken is invalid.".

mod validate;

use serde::{Deserialize, Serialize};
use spillway_wire::arn::{self, Arn};
use spillway_wire::{BedrockError, ErrorCode};

use crate::model::{Access, BackendSpec, Catalog, Model, Offer, Profile};
use validate::Violations;

/// `createdAt`/`updatedAt` of every system-defined profile. The catalog has no dates, so
/// all report the day cross-region inference launched; a fixed value keeps listings
/// reproducible.
pub const SYSTEM_PROFILE_TIMESTAMP: &str = "2024-08-27T00:00:00Z";

pub const MODEL_NOT_FOUND: &str = "Could not resolve the foundation model from the provided model identifier.";

/// The page size when a request sets no `maxResults` (the model's maximum).
const MAX_RESULTS: usize = 1000;

// === Foundation models ===

/// `FoundationModelSummary`, which has the same members as `FoundationModelDetails`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FoundationModelSummary {
    pub model_arn: String,
    pub model_id: String,
    pub model_name: String,
    pub provider_name: String,
    pub input_modalities: Vec<String>,
    pub output_modalities: Vec<String>,
    pub response_streaming_supported: bool,
    pub customizations_supported: Vec<String>,
    /// `ON_DEMAND`, or `INFERENCE_PROFILE` where the model runs only through a profile
    /// (what real Bedrock reports, and what clients use to pick a profile ID).
    pub inference_types_supported: Vec<&'static str>,
    pub model_lifecycle: ModelLifecycle,
    pub spillway_backend: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelLifecycle {
    pub status: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListFoundationModelsResponse {
    pub model_summaries: Vec<FoundationModelSummary>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetFoundationModelResponse {
    pub model_details: FoundationModelSummary,
}

/// ListFoundationModels' query string, by the members' `locationName`s. Values stay
/// strings so that a bad one is reported in Coral's words rather than as a parse error.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
pub struct ModelFilters {
    pub by_provider: Option<String>,
    pub by_customization_type: Option<String>,
    pub by_output_modality: Option<String>,
    pub by_inference_type: Option<String>,
}

/// ListFoundationModels: the models offered in `region`, in catalog order.
pub fn list_foundation_models(
    catalog: &Catalog,
    region: &str,
    filters: &ModelFilters,
) -> Result<ListFoundationModelsResponse, BedrockError> {
    let mut v = Violations::default();
    if let Some(p) = &filters.by_provider {
        v.pattern("byProvider", p, "[A-Za-z0-9- ]{1,63}", validate::is_provider(p));
    }
    v.one_of("byCustomizationType", filters.by_customization_type.as_deref(), validate::CUSTOMIZATIONS, None);
    v.one_of("byOutputModality", filters.by_output_modality.as_deref(), validate::MODALITIES, None);
    // INFERENCE_PROFILE is accepted (it is what we report), but the message names the
    // model's enum, as Bedrock's own validation would.
    v.one_of(
        "byInferenceType",
        filters.by_inference_type.as_deref(),
        validate::INFERENCE_TYPES,
        Some(validate::INFERENCE_TYPES_MODELED),
    );
    v.check()?;

    let model_summaries = catalog
        .models
        .iter()
        .filter_map(|m| m.offer(region).map(|o| summary(catalog, m, o, region)))
        .filter(|s| matches_filters(s, filters))
        .collect();
    Ok(ListFoundationModelsResponse { model_summaries })
}

fn matches_filters(s: &FoundationModelSummary, f: &ModelFilters) -> bool {
    let has = |list: &[String], want: &Option<String>| want.as_ref().is_none_or(|w| list.contains(w));
    f.by_provider.as_ref().is_none_or(|p| s.provider_name.eq_ignore_ascii_case(p))
        && has(&s.customizations_supported, &f.by_customization_type)
        && has(&s.output_modalities, &f.by_output_modality)
        && f.by_inference_type.as_ref().is_none_or(|t| s.inference_types_supported.contains(&t.as_str()))
}

/// GetFoundationModel: by model ID or foundation-model ARN of the caller's region.
pub fn get_foundation_model(
    catalog: &Catalog,
    region: &str,
    identifier: &str,
) -> Result<GetFoundationModelResponse, BedrockError> {
    let id = if identifier.starts_with("arn:") {
        match Arn::parse(identifier) {
            Some(a) if a.service == "bedrock" && a.resource_type == "foundation-model" && a.account.is_empty() => {
                // A model is only resolvable in the region the caller is in.
                if a.region != region {
                    return Err(BedrockError::new(ErrorCode::ResourceNotFound, MODEL_NOT_FOUND));
                }
                a.resource
            }
            _ => return Err(validate::bad_model_identifier(identifier)),
        }
    } else {
        identifier
    };
    if !validate::is_model_id(id) {
        return Err(validate::bad_model_identifier(identifier));
    }
    let model = catalog.model(id).ok_or_else(|| BedrockError::new(ErrorCode::ResourceNotFound, MODEL_NOT_FOUND))?;
    let offer = model.offer(region).ok_or_else(|| BedrockError::new(ErrorCode::ResourceNotFound, MODEL_NOT_FOUND))?;
    Ok(GetFoundationModelResponse { model_details: summary(catalog, model, offer, region) })
}

fn summary(catalog: &Catalog, model: &Model, offer: &Offer, region: &str) -> FoundationModelSummary {
    let inference_type = match offer.access {
        Access::OnDemand => "ON_DEMAND",
        Access::ProfileOnly => "INFERENCE_PROFILE",
    };
    FoundationModelSummary {
        model_arn: arn::foundation_model(region, &model.id),
        model_id: model.id.clone(),
        model_name: model.name.clone(),
        provider_name: model.provider.clone(),
        input_modalities: model.input_modalities.clone(),
        output_modalities: model.output_modalities.clone(),
        response_streaming_supported: model.streaming,
        customizations_supported: model.customizations.clone(),
        inference_types_supported: vec![inference_type],
        model_lifecycle: ModelLifecycle { status: model.lifecycle.clone() },
        spillway_backend: backend_kind(catalog, offer),
    }
}

fn backend_kind(catalog: &Catalog, offer: &Offer) -> &'static str {
    // The loader guarantees the backend exists; "unknown" only guards a hand-built catalog.
    match catalog.backends.get(&offer.backend) {
        // Said where clients look: until `spillway fetch-model` runs, it answers
        // ModelNotReadyException.
        Some(BackendSpec::Local(l)) if !l.model_present() => "local (model not fetched)",
        Some(b) => b.kind(),
        None => "unknown",
    }
}

// === Inference profiles ===

/// `InferenceProfileSummary`, which is also GetInferenceProfile's whole response.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceProfileSummary {
    pub inference_profile_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub inference_profile_arn: String,
    pub models: Vec<InferenceProfileModel>,
    pub inference_profile_id: String,
    pub status: &'static str,
    #[serde(rename = "type")]
    pub profile_type: &'static str,
}

/// One destination of a profile: the foundation model's ARN in that region.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceProfileModel {
    pub model_arn: String,
    pub spillway_backend: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListInferenceProfilesResponse {
    pub inference_profile_summaries: Vec<InferenceProfileSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// ListInferenceProfiles' query string (`type` is the `typeEquals` member).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileQuery {
    #[serde(rename = "maxResults")]
    pub max_results: Option<String>,
    #[serde(rename = "nextToken")]
    pub next_token: Option<String>,
    #[serde(rename = "type")]
    pub type_equals: Option<String>,
}

/// ListInferenceProfiles: the profiles callable from `region`, a page at a time: the
/// system-defined ones of the catalog, then `applications` (the caller's application
/// profiles in this region, from the store, already summarised).
pub fn list_inference_profiles(
    catalog: &Catalog,
    region: &str,
    account: &str,
    query: &ProfileQuery,
    applications: Vec<InferenceProfileSummary>,
) -> Result<ListInferenceProfilesResponse, BedrockError> {
    let mut v = Violations::default();
    let max_results = v.int_range("maxResults", query.max_results.as_deref(), 1, MAX_RESULTS);
    v.one_of("typeEquals", query.type_equals.as_deref(), &["SYSTEM_DEFINED", "APPLICATION"], None);
    v.check()?;
    let offset = query.next_token.as_deref().map(validate::decode_token).transpose()?.unwrap_or(0);

    let system = query.type_equals.as_deref().is_none_or(|t| t == "SYSTEM_DEFINED");
    let application = query.type_equals.as_deref().is_none_or(|t| t == "APPLICATION");
    let mut visible: Vec<InferenceProfileSummary> = catalog
        .profiles
        .iter()
        .filter(|p| system && p.regions.iter().any(|r| r == region))
        .map(|p| profile_summary(catalog, p, region, account))
        .collect();
    if application {
        visible.extend(applications);
    }
    let limit = max_results.unwrap_or(MAX_RESULTS);
    let end = offset.saturating_add(limit).min(visible.len());
    let next_token = (end < visible.len()).then(|| validate::encode_token(end));
    let page = if offset < end { visible.drain(offset..end).collect() } else { Vec::new() };
    Ok(ListInferenceProfilesResponse { inference_profile_summaries: page, next_token })
}

/// GetInferenceProfile: by profile ID or by an ARN of the caller's region and account.
pub fn get_inference_profile(
    catalog: &Catalog,
    region: &str,
    account: &str,
    identifier: &str,
) -> Result<InferenceProfileSummary, BedrockError> {
    let not_found = || {
        BedrockError::new(
            ErrorCode::ResourceNotFound,
            format!("The inference profile {identifier} couldn't be found in {region}."),
        )
    };
    let id = match Arn::parse(identifier) {
        // Application profiles are not in the catalog, so their ARNs resolve to nothing.
        Some(a) if a.resource_type == "inference-profile" || a.resource_type == "application-inference-profile" => {
            if a.service != "bedrock"
                || a.region != region
                || a.account != account
                || a.resource_type != "inference-profile"
            {
                return Err(not_found());
            }
            a.resource
        }
        _ => identifier,
    };
    if !validate::is_profile_id(id) {
        return Err(validate::pattern_error(
            "inferenceProfileIdentifier",
            identifier,
            validate::PROFILE_IDENTIFIER_PATTERN,
        ));
    }
    let profile = catalog.profile(id).filter(|p| p.regions.iter().any(|r| r == region)).ok_or_else(not_found)?;
    Ok(profile_summary(catalog, profile, region, account))
}

fn profile_summary(catalog: &Catalog, profile: &Profile, region: &str, account: &str) -> InferenceProfileSummary {
    // Destinations: the profile's regions that serve its model, in the profile's order.
    // A global profile names no regions: the caller's region's model and the regionless
    // foundation-model ARN (what IAM policies for global inference name).
    let models = catalog
        .model(&profile.model)
        .map(|m| {
            let global = profile.is_global();
            profile
                .regions
                .iter()
                .filter(|r| !global || *r == region)
                .filter_map(|r| m.offer(r).map(|o| (r.as_str(), o)))
                .chain(global.then(|| m.offers.values().next().map(|o| ("", o))).flatten())
                .map(|(r, o)| InferenceProfileModel {
                    model_arn: arn::foundation_model(r, &m.id),
                    spillway_backend: backend_kind(catalog, o),
                })
                .collect()
        })
        .unwrap_or_default();
    InferenceProfileSummary {
        inference_profile_name: profile.name.clone(),
        description: Some(profile.description.clone()),
        created_at: SYSTEM_PROFILE_TIMESTAMP.to_owned(),
        updated_at: SYSTEM_PROFILE_TIMESTAMP.to_owned(),
        inference_profile_arn: arn::inference_profile(region, account, &profile.id),
        models,
        inference_profile_id: profile.id.clone(),
        status: "ACTIVE",
        profile_type: "SYSTEM_DEFINED",
    }
}

/// What an application inference profile is, for its summary.
#[derive(Debug, Clone, Copy)]
pub struct ApplicationProfileView<'a> {
    pub arn: &'a str,
    pub id: &'a str,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub created_at: &'a str,
    pub updated_at: &'a str,
    /// The foundation model it runs.
    pub model_id: &'a str,
    /// Its destination regions (one when copied from a model, the system profile's
    /// otherwise).
    pub regions: &'a [String],
}

/// The summary of an application profile: its models are the foundation model's ARN in
/// each of its regions, as Bedrock lists them.
pub fn application_summary(catalog: &Catalog, app: ApplicationProfileView<'_>) -> InferenceProfileSummary {
    let model = catalog.model(app.model_id);
    let models = app
        .regions
        .iter()
        .filter_map(|r| model.and_then(|m| m.offer(r)).map(|o| (r, o)))
        .map(|(r, o)| InferenceProfileModel {
            model_arn: arn::foundation_model(r, app.model_id),
            spillway_backend: backend_kind(catalog, o),
        })
        .collect();
    InferenceProfileSummary {
        inference_profile_name: app.name.to_owned(),
        description: app.description.map(str::to_owned),
        created_at: app.created_at.to_owned(),
        updated_at: app.updated_at.to_owned(),
        inference_profile_arn: app.arn.to_owned(),
        models,
        inference_profile_id: app.id.to_owned(),
        status: "ACTIVE",
        profile_type: "APPLICATION",
    }
}

#[cfg(test)]
mod tests;
