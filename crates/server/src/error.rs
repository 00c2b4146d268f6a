//! The one place a [`BedrockError`] becomes an HTTP response: status from the shape's
//! table, `x-amzn-ErrorType`, and the JSON body. Every handler error goes through here.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use spillway_wire::error::Service;
use spillway_wire::BedrockError;

#[derive(Debug)]
pub struct ApiError {
    pub error: BedrockError,
    pub service: Service,
}

impl From<BedrockError> for ApiError {
    fn from(error: BedrockError) -> Self {
        Self { error, service: Service::Runtime }
    }
}

/// The one mapping of control-plane store failures: a missing resource (named by `what`)
/// is ResourceNotFoundException, a broken uniqueness rule is ConflictException with the
/// store's own words, anything else is the store's failure, never the caller's.
pub fn from_store(e: spillway_store::StoreError, what: &str) -> BedrockError {
    use spillway_store::StoreError;
    use spillway_wire::ErrorCode;
    match e {
        StoreError::NotFound => BedrockError::new(ErrorCode::ResourceNotFound, format!("{what} couldn't be found.")),
        StoreError::Conflict(message) => BedrockError::new(ErrorCode::Conflict, message),
        other => BedrockError::internal(format!("The control-plane store failed: {other}")),
    }
}

/// The one mapping of an admission refusal: a short bucket is the caller's throttle
/// (429); a shared quota store that cannot be reached under `fail = "closed"` is the
/// service's own outage (503, which the SDKs retry), never reported as a throttle.
pub fn from_quota(e: spillway_quota::Refused) -> BedrockError {
    use spillway_quota::Refused;
    use spillway_wire::ErrorCode;
    match e {
        Refused::Throttled(_) => BedrockError::throttled(),
        Refused::StoreUnavailable => BedrockError::new(
            ErrorCode::ServiceUnavailable,
            "Service unavailable: the quota store is unreachable, so no request can be admitted. Try your request again later.",
        ),
    }
}

impl From<spillway_route::RouteError> for ApiError {
    fn from(e: spillway_route::RouteError) -> Self {
        BedrockError::from(e).into()
    }
}

impl From<spillway_backends::BackendError> for ApiError {
    fn from(e: spillway_backends::BackendError) -> Self {
        BedrockError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.error.code.status(self.service)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(error = %self.error, "request failed");
        } else {
            tracing::debug!(error = %self.error, "request rejected");
        }
        let mut response = (status, self.error.body()).into_response();
        let headers = response.headers_mut();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("x-amzn-errortype", HeaderValue::from_static(self.error.code.shape_name()));
        response
    }
}

#[cfg(test)]
mod tests {
    use spillway_quota::{Limit, Refused, Throttled};
    use spillway_wire::ErrorCode;

    use super::*;

    #[test]
    fn a_short_bucket_throttles_but_an_unreachable_quota_store_is_a_503() {
        let throttled = from_quota(Refused::Throttled(Throttled { limit: Limit::Tokens }));
        assert_eq!(throttled.code, ErrorCode::Throttling);
        let down = from_quota(Refused::StoreUnavailable);
        assert_eq!(down.code, ErrorCode::ServiceUnavailable);
        assert!(down.message.contains("quota store is unreachable"), "{}", down.message);
        let response = ApiError::from(down).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["x-amzn-errortype"], "ServiceUnavailableException");
    }
}
