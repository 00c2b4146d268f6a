//! bedrock (control plane) handlers. The listings themselves are pure functions of the
//! catalog ([`spillway_catalog::listing`]); these handlers only pull the caller, the path
//! label and the query string out of the request and encode the answer.
//!
//! Errors here are control-plane shapes (`Service::Control`), and malformed input is
//! always a Bedrock ValidationException, never axum's plain-text rejection, so SDKs can
//! parse every answer.

pub mod app_profiles;
pub mod batch;
pub mod foundation_models;
pub mod imports;
pub mod inference_profiles;
pub mod logging;
pub mod paging;
pub mod prompts;
pub mod provisioned;
pub mod tags;
pub mod usage;

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use spillway_wire::error::Service;
use spillway_wire::BedrockError;

use crate::error::ApiError;

/// A control-plane error.
fn control_error(error: BedrockError) -> ApiError {
    ApiError { error, service: Service::Control }
}

/// A store failure as the control plane answers it ([`crate::error::from_store`]).
fn store_error(e: spillway_store::StoreError, what: &str) -> ApiError {
    control_error(crate::error::from_store(e, what))
}

/// `NotFound` as absence, for lookups that answer 404 themselves.
fn found<T>(r: Result<T, spillway_store::StoreError>) -> Result<Option<T>, spillway_store::StoreError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(spillway_store::StoreError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// RFC 3339 with fractional seconds, as Bedrock's timestamps.
fn iso(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// A 200 JSON answer.
fn json_ok<T: Serialize>(value: &T) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(value)
        .map_err(|e| control_error(BedrockError::internal(format!("Could not encode the response: {e}"))))?;
    let mut response = body.into_response();
    response.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    Ok(response)
}

/// The one `{…}` label of a control-plane path, percent-decoded (`%3A` → `:`, `%2F` → `/`,
/// so ARNs arrive whole).
#[derive(Debug, Clone)]
pub struct Label(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Label {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(label)) if !label.is_empty() => Ok(Self(label)),
            Ok(_) => Err(control_error(BedrockError::validation("The resource identifier in the path is empty."))),
            Err(e) => Err(control_error(BedrockError::validation(format!("Invalid identifier in the path: {e}")))),
        }
    }
}

/// The query string as `T`; a malformed one (a member given twice) is a ValidationException.
#[derive(Debug, Clone)]
pub struct ControlQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ControlQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(e) => Err(control_error(BedrockError::validation(format!("Invalid query string: {}", e.body_text())))),
        }
    }
}
