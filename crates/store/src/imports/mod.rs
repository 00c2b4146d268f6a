//! Custom Model Import: model import jobs ([`ImportJob`], CreateModelImportJob and
//! friends) and the imported models they register ([`ImportedModel`]).
//!
//! The API layer draws the ids and builds the ARNs; a job runner copies and checks the
//! weights, then [`Store::finish_import_job`] moves the job out of InProgress with a
//! compare-and-set and, in the same transaction, registers the model and its tags. So
//! when several instances share one store and both pick a job up, exactly one result
//! counts.

mod jobs;
mod models;

use time::OffsetDateTime;

pub use jobs::{ImportJob, ImportJobQuery, ImportJobStatus};

/// One imported model as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedModel {
    /// `arn:aws:bedrock:{region}:{account}:imported-model/{id}`.
    pub arn: String,
    /// 12 lowercase alphanumerics.
    pub id: String,
    pub account: String,
    pub region: String,
    pub name: String,
    pub job_arn: String,
    pub job_name: String,
    pub s3_uri: String,
    /// `general.architecture` of the GGUF.
    pub architecture: String,
    pub instruct_supported: bool,
    /// Where its weights are: a copy, relative to the data directory.
    pub file: String,
    pub size_bytes: u64,
    pub created_at: OffsetDateTime,
}
