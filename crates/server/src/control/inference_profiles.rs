//! ListInferenceProfiles (`GET /inference-profiles`) and GetInferenceProfile
//! (`GET /inference-profiles/{inferenceProfileIdentifier}`): the system-defined profiles
//! callable from the caller's region, with ARNs in the caller's region and account.

use axum::extract::State;
use axum::response::Response;
use spillway_catalog::listing::{self, ProfileQuery};

use super::{control_error, json_ok, ControlQuery, Label};
use crate::app::AppState;
use crate::context::Caller;
use crate::error::ApiError;

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ControlQuery(query): ControlQuery<ProfileQuery>,
) -> Result<Response, ApiError> {
    let answer = listing::list_inference_profiles(&state.catalog, &caller.source_region, &caller.account, &query)
        .map_err(control_error)?;
    json_ok(&answer)
}

pub async fn get(State(state): State<AppState>, caller: Caller, Label(id): Label) -> Result<Response, ApiError> {
    let answer = listing::get_inference_profile(&state.catalog, &caller.source_region, &caller.account, &id)
        .map_err(control_error)?;
    json_ok(&answer)
}
