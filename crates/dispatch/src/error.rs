//! The dispatcher's one error type: why a call could not be resolved or run, in the
//! dispatcher's own terms. The server gives it its Bedrock shape (status, error type,
//! message) in the one place it maps errors (`crates/server/src/error.rs`), so nothing
//! here knows about HTTP.

use spillway_backends::BackendError;
use spillway_route::RouteError;
use spillway_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The call names something it cannot run (an identifier of the wrong kind, place
    /// or account; a prompt without a runnable variant).
    #[error("{0}")]
    Invalid(String),
    /// The call names a resource that does not exist (a prompt).
    #[error("{0}")]
    NotFound(String),
    /// What the call names exists but cannot serve here now (a provisioned model not
    /// yet in service on this instance, an imported model just deleted).
    #[error("{0}")]
    NotReady(String),
    /// The caller's quota is spent, or every candidate region is out of room.
    #[error("too many requests")]
    Throttled,
    /// The shared quota store cannot be reached and `fail = "closed"`: the service's own
    /// outage, never reported to the caller as a throttle.
    #[error("the quota store is unreachable")]
    QuotaStoreUnavailable,
    /// This service's own failure (a backend the catalog names is not running, a stored
    /// value that cannot be read).
    #[error("{0}")]
    Internal(String),
    /// The control-plane store failed while resolving (a missing row is handled first).
    #[error(transparent)]
    Store(StoreError),
    /// The catalog's routing refused the identifier.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// A backend's failure, answered as the backend error it is.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A generation that broke, for an operation whose model declares only
    /// `ModelErrorException` (see [`crate::Declared`]).
    #[error("{0}")]
    Model(BackendError),
}

impl From<spillway_quota::Refused> for DispatchError {
    fn from(e: spillway_quota::Refused) -> Self {
        match e {
            spillway_quota::Refused::Throttled(_) => Self::Throttled,
            spillway_quota::Refused::StoreUnavailable => Self::QuotaStoreUnavailable,
        }
    }
}

impl DispatchError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}
