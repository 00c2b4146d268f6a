//! The router and the state every handler shares.
//!
//! The request path, outermost first:
//! 1. `request_id`: an ID for the request and the `x-amzn-RequestId` header on every answer;
//! 2. the body limit (InvokeModel bodies may be up to 25 MB);
//! 3. the route table below (method + raw path; axum decodes `{model_id}`);
//! 4. a thin handler in [`crate::runtime`]: parse (wire) → resolve (route) → run with
//!    failover ([`crate::engine`]) → encode JSON or event-stream frames (wire).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use spillway_backends::Backends;
use spillway_catalog::Catalog;
use spillway_invocation_log::{InvocationLogger, LogSettings, S3Endpoint, ShutdownHandle};
use spillway_quota::{InProcessQuotas, Quotas};
use spillway_wire::{BedrockError, ErrorCode};

use crate::engine::Engine;
use crate::error::ApiError;
use crate::logging::InvocationLogs;
use crate::{context, control, runtime};

/// Bedrock's limit on an InvokeModel body.
const MAX_BODY: usize = 25_000_000;

#[derive(Debug, Clone)]
pub struct AppState {
    pub catalog: Arc<Catalog>,
    pub engine: Arc<Engine>,
    pub logs: Arc<InvocationLogs>,
}

impl AppState {
    /// Build the state and start the invocation-log writer (inside a Tokio runtime). The
    /// returned handle flushes the logs on shutdown: call it after the server stopped.
    pub fn new(catalog: Arc<Catalog>, data_dir: &Path) -> anyhow::Result<(Self, ShutdownHandle)> {
        crate::telemetry::handle();
        let backends = Backends::build(&catalog)?;
        let quotas = Arc::new(Quotas::InProcess(InProcessQuotas::new()));
        let engine = Arc::new(Engine::new(Arc::clone(&catalog), backends, quotas));
        let mut settings = LogSettings::new(data_dir);
        if let Some(s3) = &catalog.invocation_logs.s3 {
            let env = |name: &str| {
                std::env::var(name).with_context(|| format!("{name} (S3 credentials for invocation logs) is not set"))
            };
            settings.s3_endpoint = Some(S3Endpoint {
                allow_http: s3.endpoint.starts_with("http://"),
                url: s3.endpoint.clone(),
                region: s3.region.clone(),
                access_key_id: env(&s3.access_key_id_env)?,
                secret_access_key: env(&s3.secret_access_key_env)?,
            });
        }
        let (logger, shutdown) = InvocationLogger::start(settings);
        let logs = Arc::new(InvocationLogs::load(data_dir, logger));
        Ok((Self { catalog, engine, logs }, shutdown))
    }
}

pub fn build_router(state: AppState) -> Router {
    Router::new()
        .route("/model/{model_id}/converse", post(runtime::converse::converse))
        .route("/model/{model_id}/converse-stream", post(runtime::converse::converse_stream))
        .route("/model/{model_id}/invoke", post(runtime::invoke::invoke))
        .route("/model/{model_id}/invoke-with-response-stream", post(runtime::invoke::invoke_stream))
        .route("/model/{model_id}/count-tokens", post(runtime::count_tokens::count_tokens))
        .route("/foundation-models", get(control::foundation_models::list))
        .route("/foundation-models/{model_identifier}", get(control::foundation_models::get))
        .route("/inference-profiles", get(control::inference_profiles::list))
        .route("/inference-profiles/{inference_profile_identifier}", get(control::inference_profiles::get))
        .route(
            "/logging/modelinvocations",
            get(control::logging::get).put(control::logging::put).delete(control::logging::delete),
        )
        .route("/health", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .fallback(unknown_operation)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(context::request_id))
        .with_state(state)
}

async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> impl axum::response::IntoResponse {
    ([("content-type", "text/plain; version=0.0.4")], crate::telemetry::render(&state))
}

async fn unknown_operation(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    BedrockError::new(ErrorCode::UnknownOperation, format!("No operation matches {method} {}", uri.path())).into()
}
