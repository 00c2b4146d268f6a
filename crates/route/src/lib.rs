//! Routing: from the `modelId` a caller passed and the caller's source region to the
//! ordered list of regions that may run the request. Pure logic over the catalog; the
//! texts of the availability errors are Bedrock's, character for character.

mod resolve;

pub use resolve::{resolve, Plan, RouteError, Target};
