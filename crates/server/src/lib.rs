//! spillway's HTTP server: the Bedrock endpoints wired onto the catalog, the router and
//! the backends. Handlers are thin; the request path lives in the dispatcher crate
//! (`spillway-dispatch`).

mod agents;
pub mod app;
mod batch;
mod cluster;
mod context;
mod control;
mod control_events;
mod error;
/// The import job runner and its sources; the registry of imported models is the
/// dispatcher's ([`spillway_dispatch::imported`]).
mod imported {
    pub mod job;
    pub mod source;
    pub mod validate;
    pub use spillway_dispatch::imported::*;
}
mod invoke_headers;
mod lanes;
mod logging;
/// The provisioning driver; the registry of provisioned models and what a throughput
/// serves are the dispatcher's ([`spillway_dispatch::provisioned`]).
mod provisioned {
    pub mod driver;
    pub use spillway_dispatch::provisioned::*;
}
mod rejections;
mod request_span;
mod runtime;
pub mod serve;
pub mod state;
mod stream_body;
mod telemetry;
mod usage;

pub use app::{build_app, App, AppState};
// The dispatcher crate under the names its modules had here.
use spillway_dispatch::{self as dispatch, resolve};
