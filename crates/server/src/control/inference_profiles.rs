//! ListInferenceProfiles (`GET /inference-profiles`) and GetInferenceProfile
//! (`GET /inference-profiles/{inferenceProfileIdentifier}`): the system-defined profiles
//! callable from the caller's region, with ARNs in the caller's region and account, and
//! the caller's application profiles in that region.

use axum::extract::State;
use axum::response::Response;
use spillway_catalog::listing::{self, ApplicationProfileView, InferenceProfileSummary, ProfileQuery};
use spillway_store::AppProfile;

use super::{control_error, found, iso, json_ok, store_error, ControlQuery, Label};
use crate::context::Caller;
use crate::error::ApiError;
use crate::state::Control;

fn summary(state: &Control, app: &AppProfile) -> InferenceProfileSummary {
    let (created, updated) = (iso(app.created_at), iso(app.updated_at));
    listing::application_summary(
        &state.catalog,
        ApplicationProfileView {
            arn: &app.arn,
            id: &app.id,
            name: &app.name,
            description: app.description.as_deref(),
            created_at: &created,
            updated_at: &updated,
            model_id: &app.model_id,
            regions: &app.regions,
        },
    )
}

pub async fn list(
    State(state): State<Control>,
    caller: Caller,
    ControlQuery(query): ControlQuery<ProfileQuery>,
) -> Result<Response, ApiError> {
    let wants_apps = query.type_equals.as_deref().is_none_or(|t| t == "APPLICATION");
    let apps = if wants_apps {
        let rows = state
            .store
            .list_app_profiles(&caller.account, &caller.source_region, 10_000, 0)
            .await
            .map_err(|e| store_error(e, "inference profiles"))?;
        rows.iter().map(|a| summary(&state, a)).collect()
    } else {
        Vec::new()
    };
    let answer = listing::list_inference_profiles(&state.catalog, &caller.source_region, &caller.account, &query, apps)
        .map_err(control_error)?;
    json_ok(&answer)
}

pub async fn get(State(state): State<Control>, caller: Caller, Label(id): Label) -> Result<Response, ApiError> {
    // An application profile answers by its ARN or its 12-character ID.
    let lookup = state.store.get_app_profile(&caller.account, &caller.source_region, &id).await;
    let app = found(lookup).map_err(|e| store_error(e, &id))?;
    if let Some(app) = app {
        return json_ok(&summary(&state, &app));
    }
    let answer = listing::get_inference_profile(&state.catalog, &caller.source_region, &caller.account, &id)
        .map_err(control_error)?;
    json_ok(&answer)
}
