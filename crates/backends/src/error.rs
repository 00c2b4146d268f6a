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
    /// The backend answered, but not with anything spillway can read (not JSON, not a
    /// completion, not an event stream).
    #[error("invalid answer from the backend: {0}")]
    Invalid(String),
    /// The backend cannot be built from its configuration.
    #[error("backend configuration: {0}")]
    Config(String),
}

/// Whether another candidate may run a request after this failure: the one retry rule of
/// the dispatcher, decided by the error and nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryClass {
    /// The backend failed before it produced anything (busy, throttled, down, timed out,
    /// not loaded): the failure is the backend's state, so another candidate may run it.
    BeforeFirstByte,
    /// The backend failed after it began to answer (a broken stream). Another candidate may
    /// run the request only while none of that answer has reached the client: a unary
    /// call's buffer, a stream's uncommitted head. Once the client has bytes, it is final.
    AfterFirstByte,
    /// The request itself is at fault (refused, unsupported, misconfigured): no other
    /// candidate would answer differently.
    Never,
}

impl BackendError {
    pub fn retry_class(&self) -> RetryClass {
        match self {
            Self::Busy | Self::Throttled | Self::Unavailable(_) | Self::Timeout | Self::NotReady(_) => {
                RetryClass::BeforeFirstByte
            }
            Self::Stream(_) | Self::Invalid(_) => RetryClass::AfterFirstByte,
            Self::Rejected { .. } | Self::Unsupported(_) | Self::Config(_) => RetryClass::Never,
        }
    }

    /// Whether another candidate may run the request, given whether the client has
    /// already received part of this answer.
    pub fn may_retry(&self, client_has_bytes: bool) -> bool {
        match self.retry_class() {
            RetryClass::BeforeFirstByte | RetryClass::AfterFirstByte => !client_has_bytes,
            RetryClass::Never => false,
        }
    }

    /// Whether the backend should cool down after this answer.
    pub fn is_backend_fault(&self) -> bool {
        matches!(self, Self::Throttled | Self::Unavailable(_) | Self::Timeout | Self::Stream(_) | Self::Invalid(_))
    }

    /// The error an operation that does not declare `ModelStreamErrorException` answers
    /// (Converse, InvokeModel, and ConverseStream before its first event): a model that
    /// failed while generating is a `ModelErrorException`.
    pub fn into_model_error(self) -> BedrockError {
        match self {
            Self::Stream(message) => BedrockError::new(
                ErrorCode::ModelError,
                format!("The model failed while generating the answer: {message}"),
            )
            .with_extra("originalStatusCode", 500),
            other => other.into(),
        }
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
            BackendError::Invalid(message) => BedrockError::new(
                ErrorCode::ModelError,
                format!("The model backend returned an invalid answer: {message}"),
            )
            .with_extra("originalStatusCode", 200),
            BackendError::Config(message) => BedrockError::internal(message),
        }
    }
}
