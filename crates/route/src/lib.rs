//! Routing: from the `modelId` a caller passed and the caller's source region to the
//! ordered list of regions that may run the request, and the quota buckets it touches.
//! Pure logic over the catalog; the texts of the availability errors are Bedrock's,
//! character for character.

pub mod admission;
pub mod order;
mod resolve;
pub mod tier;

pub use resolve::{resolve, Attribution, Plan, Provisioned, RouteError, Target};
