//! ListFoundationModels (`GET /foundation-models`) and GetFoundationModel
//! (`GET /foundation-models/{modelIdentifier}`), seen from the caller's region.

use axum::extract::State;
use axum::response::Response;
use spillway_catalog::listing::{self, ModelFilters};

use super::{control_error, json_ok, ControlQuery, Label};
use crate::context::Caller;
use crate::error::ApiError;
use crate::state::Control;

pub async fn list(
    State(state): State<Control>,
    caller: Caller,
    ControlQuery(filters): ControlQuery<ModelFilters>,
) -> Result<Response, ApiError> {
    let answer =
        listing::list_foundation_models(&state.catalog, &caller.source_region, &filters).map_err(control_error)?;
    json_ok(&answer)
}

pub async fn get(State(state): State<Control>, caller: Caller, Label(id): Label) -> Result<Response, ApiError> {
    let answer = listing::get_foundation_model(&state.catalog, &caller.source_region, &id).map_err(control_error)?;
    json_ok(&answer)
}
