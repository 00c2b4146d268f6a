//! Batch inference: model invocation jobs ([`BatchJob`], CreateModelInvocationJob and
//! friends), the answers of their records ([`RecordResult`]) and async invocations
//! ([`AsyncInvoke`], StartAsyncInvoke).
//!
//! A job is run by whichever instance holds its *lease* (`lease_owner` until
//! `lease_until`): the runner renews it while it works, and when an instance dies (a
//! crash, `kill -9`) the lease runs out and any instance, the restarted one included,
//! takes the job over. Every answer is stored with the job's counters in one
//! transaction, keyed by the record's position, so a job taken over skips what was
//! answered and no record is counted or written twice.

mod async_invokes;
mod jobs;
mod records;

pub use async_invokes::{AsyncInvoke, AsyncInvokeQuery, AsyncInvokeStatus};
pub use jobs::{BatchJob, BatchJobQuery, BatchJobStatus};
pub use records::RecordResult;

/// A count or token total as the database keeps it.
fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
