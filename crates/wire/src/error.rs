//! Bedrock error shapes. Every error the service answers is a [`BedrockError`]; the HTTP
//! status, the `x-amzn-ErrorType` value and the event-stream member name all come from
//! the single table in [`ErrorCode`], so they cannot drift apart.

use serde_json::{Map, Value};

/// The modeled error shapes spillway answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    Validation,
    AccessDenied,
    ResourceNotFound,
    ModelTimeout,
    ModelError,
    ModelStreamError,
    Throttling,
    ModelNotReady,
    ServiceQuotaExceeded,
    Conflict,
    InternalServer,
    ServiceUnavailable,
    UnrecognizedClient,
    InvalidSignature,
    TooManyTags,
    /// Not a modeled shape: what AWS answers for a path no operation has.
    UnknownOperation,
    /// Not modeled: AWS's answer to an unsigned request.
    MissingAuthenticationToken,
    /// Not modeled: AWS's answer to an Authorization header it cannot parse.
    IncompleteSignature,
}

/// Which Bedrock API a response belongs to: a few shapes have a different status there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Runtime,
    Control,
    Agent,
    /// bedrock-agent-runtime (InvokeAgent): ConflictException is 409 and
    /// ModelNotReadyException 424 there.
    AgentRuntime,
}

impl ErrorCode {
    /// The shape name, as sent in `x-amzn-ErrorType` (SDKs match on it exactly).
    pub fn shape_name(self) -> &'static str {
        match self {
            Self::Validation => "ValidationException",
            Self::AccessDenied => "AccessDeniedException",
            Self::ResourceNotFound => "ResourceNotFoundException",
            Self::ModelTimeout => "ModelTimeoutException",
            Self::ModelError => "ModelErrorException",
            Self::ModelStreamError => "ModelStreamErrorException",
            Self::Throttling => "ThrottlingException",
            Self::ModelNotReady => "ModelNotReadyException",
            Self::ServiceQuotaExceeded => "ServiceQuotaExceededException",
            Self::Conflict => "ConflictException",
            Self::InternalServer => "InternalServerException",
            Self::ServiceUnavailable => "ServiceUnavailableException",
            Self::UnrecognizedClient => "UnrecognizedClientException",
            Self::InvalidSignature => "InvalidSignatureException",
            Self::TooManyTags => "TooManyTagsException",
            Self::UnknownOperation => "UnknownOperationException",
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::IncompleteSignature => "IncompleteSignatureException",
        }
    }

    /// HTTP status of the shape in the given service's model.
    pub fn status(self, service: Service) -> u16 {
        match self {
            Self::Validation => 400,
            Self::AccessDenied
            | Self::UnrecognizedClient
            | Self::InvalidSignature
            | Self::MissingAuthenticationToken
            | Self::IncompleteSignature => 403,
            Self::ResourceNotFound | Self::UnknownOperation => 404,
            Self::ModelTimeout => 408,
            Self::ModelError | Self::ModelStreamError => 424,
            Self::ModelNotReady if service == Service::AgentRuntime => 424,
            Self::Throttling | Self::ModelNotReady => 429,
            Self::ServiceQuotaExceeded => match service {
                Service::Agent => 402,
                Service::Runtime | Service::Control | Service::AgentRuntime => 400,
            },
            Self::Conflict => match service {
                Service::Agent | Service::AgentRuntime => 409,
                Service::Runtime | Service::Control => 400,
            },
            Self::TooManyTags => 400,
            Self::InternalServer => 500,
            Self::ServiceUnavailable => 503,
        }
    }

    /// The member name of this error in the ConverseStream / ResponseStream unions, for
    /// `:exception-type` frames. `None` for shapes that cannot appear mid-stream; those are
    /// sent as the closest modeled member (see [`BedrockError::stream_member`]).
    pub fn stream_member(self) -> Option<&'static str> {
        match self {
            Self::InternalServer => Some("internalServerException"),
            Self::ModelStreamError => Some("modelStreamErrorException"),
            Self::Validation => Some("validationException"),
            Self::Throttling => Some("throttlingException"),
            Self::ServiceUnavailable => Some("serviceUnavailableException"),
            Self::ModelTimeout => Some("modelTimeoutException"),
            _ => None,
        }
    }

    /// The code whose shape name is `name`.
    pub fn from_shape_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.shape_name() == name)
    }

    /// Every code, for table tests and documentation.
    pub const ALL: [ErrorCode; 18] = [
        Self::Validation,
        Self::AccessDenied,
        Self::ResourceNotFound,
        Self::ModelTimeout,
        Self::ModelError,
        Self::ModelStreamError,
        Self::Throttling,
        Self::ModelNotReady,
        Self::ServiceQuotaExceeded,
        Self::Conflict,
        Self::InternalServer,
        Self::ServiceUnavailable,
        Self::UnrecognizedClient,
        Self::InvalidSignature,
        Self::TooManyTags,
        Self::UnknownOperation,
        Self::MissingAuthenticationToken,
        Self::IncompleteSignature,
    ];
}

/// The text Bedrock answers for every throttle (observed verbatim).
pub const THROTTLED_MESSAGE: &str = "Too many requests, please wait before trying again.";

/// An error as the client will see it: shape, message and any extra modeled members.
#[derive(Debug, Clone, PartialEq)]
pub struct BedrockError {
    pub code: ErrorCode,
    pub message: String,
    /// Extra members of the shape (`originalStatusCode`, `resourceName`, `fieldList`, …).
    pub extra: Map<String, Value>,
}

impl BedrockError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), extra: Map::new() }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Validation, message)
    }

    pub fn throttled() -> Self {
        Self::new(ErrorCode::Throttling, THROTTLED_MESSAGE)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InternalServer, message)
    }

    pub fn with_extra(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// JSON body: `message`, the extra members, and `__type` for clients that read it.
    pub fn body(&self) -> Vec<u8> {
        let mut map = self.extra.clone();
        map.insert("message".into(), Value::String(self.message.clone()));
        map.insert("__type".into(), Value::String(self.code.shape_name().into()));
        serde_json::to_vec(&Value::Object(map)).unwrap_or_default()
    }

    /// Member name and payload for an exception frame after the stream has started.
    /// Shapes that the stream unions do not model are reported as the nearest member:
    /// a model-side failure as `modelStreamErrorException`, anything else as
    /// `internalServerException`.
    pub fn stream_member(&self) -> &'static str {
        match self.code.stream_member() {
            Some(member) => member,
            None => match self.code {
                ErrorCode::ModelError | ErrorCode::ModelNotReady => "modelStreamErrorException",
                ErrorCode::AccessDenied
                | ErrorCode::ResourceNotFound
                | ErrorCode::ServiceQuotaExceeded
                | ErrorCode::Conflict
                | ErrorCode::UnrecognizedClient
                | ErrorCode::InvalidSignature
                | ErrorCode::TooManyTags
                | ErrorCode::UnknownOperation
                | ErrorCode::MissingAuthenticationToken
                | ErrorCode::IncompleteSignature => "validationException",
                _ => "internalServerException",
            },
        }
    }

    /// Payload of the exception frame: `{"message": …}` plus extra members.
    pub fn stream_payload(&self) -> Vec<u8> {
        let mut map = self.extra.clone();
        map.insert("message".into(), Value::String(self.message.clone()));
        serde_json::to_vec(&Value::Object(map)).unwrap_or_default()
    }
}

impl std::fmt::Display for BedrockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.shape_name(), self.message)
    }
}

impl std::error::Error for BedrockError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The status table of the botocore models (bedrock-wire.md §2.2), pinned.
    #[test]
    fn status_table_matches_the_models() {
        let rows = [
            ("ValidationException", 400, 400, 400),
            ("AccessDeniedException", 403, 403, 403),
            ("ResourceNotFoundException", 404, 404, 404),
            ("ModelTimeoutException", 408, 408, 408),
            ("ModelErrorException", 424, 424, 424),
            ("ModelStreamErrorException", 424, 424, 424),
            ("ThrottlingException", 429, 429, 429),
            ("ModelNotReadyException", 429, 429, 429),
            ("ServiceQuotaExceededException", 400, 400, 402),
            ("ConflictException", 400, 400, 409),
            ("InternalServerException", 500, 500, 500),
            ("ServiceUnavailableException", 503, 503, 503),
            ("UnrecognizedClientException", 403, 403, 403),
            ("InvalidSignatureException", 403, 403, 403),
            ("TooManyTagsException", 400, 400, 400),
            ("UnknownOperationException", 404, 404, 404),
            ("MissingAuthenticationTokenException", 403, 403, 403),
            ("IncompleteSignatureException", 403, 403, 403),
        ];
        assert_eq!(rows.len(), ErrorCode::ALL.len());
        for (code, (name, rt, ctl, agent)) in ErrorCode::ALL.iter().zip(rows) {
            assert_eq!(code.shape_name(), name);
            assert_eq!(code.status(Service::Runtime), rt, "{name} runtime");
            assert_eq!(code.status(Service::Control), ctl, "{name} control");
            assert_eq!(code.status(Service::Agent), agent, "{name} agent");
        }
    }

    #[test]
    fn stream_members_are_lower_camel_union_members() {
        assert_eq!(BedrockError::throttled().stream_member(), "throttlingException");
        let model = BedrockError::new(ErrorCode::ModelError, "boom");
        assert_eq!(model.stream_member(), "modelStreamErrorException");
        let nf = BedrockError::new(ErrorCode::ResourceNotFound, "x");
        assert_eq!(nf.stream_member(), "validationException");
    }

    #[test]
    fn body_carries_message_type_and_extras() {
        let e = BedrockError::new(ErrorCode::ModelError, "bad").with_extra("originalStatusCode", 500);
        let v: Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(v["message"], "bad");
        assert_eq!(v["__type"], "ModelErrorException");
        assert_eq!(v["originalStatusCode"], 500);
    }

    /// bedrock-agent-runtime's own statuses (its service model): Conflict 409,
    /// ModelNotReady 424, ServiceQuotaExceeded 400.
    #[test]
    fn agent_runtime_statuses_follow_its_model() {
        assert_eq!(ErrorCode::Conflict.status(Service::AgentRuntime), 409);
        assert_eq!(ErrorCode::ModelNotReady.status(Service::AgentRuntime), 424);
        assert_eq!(ErrorCode::ServiceQuotaExceeded.status(Service::AgentRuntime), 400);
        assert_eq!(ErrorCode::Throttling.status(Service::AgentRuntime), 429);
        assert_eq!(ErrorCode::ModelNotReady.status(Service::Runtime), 429);
    }
}
