//! spillway's HTTP server: the Bedrock endpoints wired onto the catalog, the router and
//! the backends. Handlers are thin; the request path lives in [`engine`].

pub mod app;
mod apps;
mod batch;
pub mod cli;
mod context;
mod control;
mod engine;
mod error;
pub mod fetch_model;
mod imported;
mod logging;
mod provisioned;
mod report;
mod runtime;
mod stream_body;
mod telemetry;
mod usage;

pub use app::{build_router, AppState};
