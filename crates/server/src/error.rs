//! The one place a [`BedrockError`] becomes an HTTP response: status from the shape's
//! table, `x-amzn-ErrorType`, and the JSON body. Every handler error goes through here.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use spillway_dispatch::DispatchError;
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

/// The one mapping of the dispatcher's errors (resolution, admission, the candidate loop).
pub fn from_dispatch(e: DispatchError) -> BedrockError {
    use spillway_wire::ErrorCode;
    match e {
        DispatchError::Invalid(message) => BedrockError::validation(message),
        DispatchError::NotFound(message) => BedrockError::new(ErrorCode::ResourceNotFound, message),
        DispatchError::NotReady(message) => BedrockError::new(ErrorCode::ModelNotReady, message),
        DispatchError::Throttled => BedrockError::throttled(),
        // A short bucket is the caller's throttle (429); a shared quota store that
        // cannot be reached under `fail = "closed"` is the service's own outage (503,
        // which the SDKs retry).
        DispatchError::QuotaStoreUnavailable => BedrockError::new(
            ErrorCode::ServiceUnavailable,
            "Service unavailable: the quota store is unreachable, so no request can be admitted. Try your request again later.",
        ),
        DispatchError::Internal(message) => BedrockError::internal(message),
        DispatchError::Store(e) => from_store(e, "The resource"),
        DispatchError::Route(e) => e.into(),
        DispatchError::Backend(e) => e.into(),
        // Only the streaming operations declare ModelStreamErrorException.
        DispatchError::Model(e) => e.into_model_error(),
    }
}

/// What a provisioned throughput cannot serve, as CreateProvisionedModelThroughput and
/// UpdateProvisionedModelThroughput answer it.
pub fn from_not_served(e: spillway_dispatch::provisioned::NotServed) -> BedrockError {
    use spillway_dispatch::provisioned::NotServed;
    match e {
        NotServed::Unknown => BedrockError::new(
            spillway_wire::ErrorCode::ResourceNotFound,
            "Could not resolve the model from the provided model identifier.",
        ),
        NotServed::NotSold(message) => BedrockError::validation(message),
    }
}

impl From<DispatchError> for ApiError {
    fn from(e: DispatchError) -> Self {
        from_dispatch(e).into()
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
    use spillway_backends::BackendError;
    use spillway_quota::{Limit, Refused, Throttled};
    use spillway_wire::ErrorCode;

    use super::*;

    #[test]
    fn a_short_bucket_throttles_but_an_unreachable_quota_store_is_a_503() {
        let throttled = from_dispatch(DispatchError::from(Refused::Throttled(Throttled { limit: Limit::Tokens })));
        assert_eq!(throttled.code, ErrorCode::Throttling);
        let down = from_dispatch(DispatchError::from(Refused::StoreUnavailable));
        assert_eq!(down.code, ErrorCode::ServiceUnavailable);
        assert!(down.message.contains("quota store is unreachable"), "{}", down.message);
        let response = ApiError::from(down).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["x-amzn-errortype"], "ServiceUnavailableException");
    }

    #[test]
    fn dispatch_errors_take_the_shape_the_operation_declares() {
        let stream = || BackendError::Stream("cut".into());
        assert_eq!(from_dispatch(DispatchError::Model(stream())).code, ErrorCode::ModelError);
        assert_eq!(from_dispatch(DispatchError::Backend(stream())).code, ErrorCode::ModelStreamError);
        assert_eq!(from_dispatch(DispatchError::Model(BackendError::Timeout)).code, ErrorCode::ModelTimeout);
        assert_eq!(from_dispatch(DispatchError::Throttled).code, ErrorCode::Throttling);
        assert_eq!(from_dispatch(DispatchError::NotReady("x".into())).code, ErrorCode::ModelNotReady);
        assert_eq!(from_dispatch(DispatchError::NotFound("x".into())).code, ErrorCode::ResourceNotFound);
        let invalid = from_dispatch(DispatchError::invalid("bad id"));
        assert_eq!((invalid.code, invalid.message.as_str()), (ErrorCode::Validation, "bad id"));
        let missing = from_dispatch(DispatchError::Store(spillway_store::StoreError::NotFound));
        assert_eq!(missing.code, ErrorCode::ResourceNotFound);
    }
}
