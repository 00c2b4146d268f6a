//! Backend failures, and how each one looks to a Bedrock client.

use spillway_wire::{BedrockError, ErrorCode};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BackendError {
    /// Every slot of this backend is taken (spillway's own concurrency limit).
    #[error("backend is at its concurrency limit")]
    Busy,
    /// The backend answered 429.
    #[error("backend throttled the request")]
    Throttled,
    /// The backend could not be reached or answered 5xx.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    #[error("backend timed out")]
    Timeout,
    /// The backend rejected the request (4xx other than 429).
    #[error("backend rejected the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// The request asks for something this backend cannot do.
    #[error("{0}")]
    Unsupported(String),
    /// The model is not loaded yet.
    #[error("{0}")]
    NotReady(String),
    /// The generation failed after it had started.
    #[error("backend stream failed: {0}")]
    Stream(String),
    /// The backend cannot be built from its configuration.
    #[error("backend configuration: {0}")]
    Config(String),
}

impl BackendError {
    /// Whether another region may be tried: the failure says nothing about the request,
    /// only about this backend's state.
    pub fn is_retryable_elsewhere(&self) -> bool {
        matches!(self, Self::Busy | Self::Throttled | Self::Unavailable(_) | Self::Timeout | Self::NotReady(_))
    }

    /// Whether the backend should cool down after this answer.
    pub fn is_backend_fault(&self) -> bool {
        matches!(self, Self::Throttled | Self::Unavailable(_) | Self::Timeout | Self::Stream(_))
    }
}

impl From<BackendError> for BedrockError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Busy | BackendError::Throttled => BedrockError::throttled(),
            BackendError::Unavailable(_) => BedrockError::new(
                ErrorCode::ServiceUnavailable,
                "The model backend is unavailable. Try your request again.",
            ),
            BackendError::Timeout => BedrockError::new(
                ErrorCode::ModelTimeout,
                "Model has timed out in processing the request. Try your request again.",
            ),
            BackendError::Rejected { status, message } => BedrockError::new(
                ErrorCode::ModelError,
                format!("Received client error ({status}) from the model backend: {message}"),
            )
            .with_extra("originalStatusCode", status),
            BackendError::Unsupported(message) => BedrockError::validation(message),
            BackendError::NotReady(message) => BedrockError::new(ErrorCode::ModelNotReady, message),
            BackendError::Stream(message) => {
                BedrockError::new(ErrorCode::ModelStreamError, format!("The model stream failed: {message}"))
                    .with_extra("originalStatusCode", 500)
                    .with_extra("originalMessage", message)
            }
            BackendError::Config(message) => BedrockError::internal(message),
        }
    }
}
