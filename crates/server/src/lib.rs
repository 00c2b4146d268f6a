//! spillway's HTTP server: the Bedrock endpoints wired onto the catalog, the router and
//! the backends. Handlers are thin; the request path lives in [`dispatch`].

mod agents;
pub mod app;
mod batch;
pub mod cli;
mod cluster;
mod context;
mod control;
mod control_events;
mod dispatch;
mod error;
pub mod fetch_model;
mod imported;
mod invoke_headers;
mod logging;
mod provisioned;
mod rejections;
mod report;
mod request_span;
mod resolve;
mod runtime;
pub mod serve;
mod stream_body;
mod telemetry;
mod usage;

pub use app::{build_router, AppState};
