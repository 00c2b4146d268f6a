//! The Bedrock wire contract: request/response shapes of bedrock-runtime, the error
//! shapes and their HTTP statuses, AWS event-stream frames, and model ID / ARN grammar.
//!
//! Nothing here does I/O. Everything the server sends or receives on the runtime API is
//! typed here, following `shared/spec/botocore/bedrock-runtime/service-2.json`.

pub mod arn;
pub mod converse;
pub mod error;
pub mod eventstream;
pub mod invoke;
pub mod json_text;
mod members;
pub mod options;
pub mod parse;
pub mod prompt;
pub mod reasoning;
pub mod response_fields;
pub mod stream;
pub mod structured;
pub mod surface;
mod union;

pub use error::{BedrockError, ErrorCode};
pub mod validate;
