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

use crate::apps::AppProfiles;
use crate::engine::Engine;
use crate::error::ApiError;
use crate::imported::job::Importer;
use crate::imported::source::Objects;
use crate::logging::InvocationLogs;
use crate::usage::UsageLedger;
use crate::{context, control, runtime};
use spillway_auth::Keyring;
use spillway_store::Store;

/// Bedrock's limit on an InvokeModel body.
pub const MAX_BODY: usize = 25_000_000;

#[derive(Debug, Clone)]
pub struct AppState {
    pub catalog: Arc<Catalog>,
    pub engine: Arc<Engine>,
    pub logs: Arc<InvocationLogs>,
    pub store: Arc<Store>,
    pub apps: Arc<AppProfiles>,
    pub usage: Arc<UsageLedger>,
    /// The accounts' keys; `None` in open mode (no accounts configured, loopback only).
    pub keyring: Option<Arc<Keyring>>,
    /// Runs model import jobs. Behind an `Arc` like the rest: the state is cloned a few
    /// times per request, and the importer's paths would be copied each time.
    pub importer: Arc<Importer>,
    /// Runs batch inference jobs and async invocations on spare capacity.
    pub batch: Arc<crate::batch::Batch>,
}

/// What must run when the server stops: the invocation logs and the usage ledger are
/// flushed, so nothing accepted is lost.
pub struct Shutdown {
    logs: ShutdownHandle,
    usage: Arc<UsageLedger>,
    store: Arc<Store>,
}

impl Shutdown {
    pub async fn run(self) {
        self.usage.flush(&self.store).await;
        let stats = self.logs.shutdown().await;
        tracing::info!(?stats, "invocation logs flushed");
    }
}

impl AppState {
    /// Build the state and start the invocation-log writer (inside a Tokio runtime). The
    /// returned handle flushes the logs on shutdown: call it after the server stopped.
    pub async fn new(
        catalog: Arc<Catalog>,
        data_dir: &Path,
        store_url: Option<&str>,
    ) -> anyhow::Result<(Self, Shutdown)> {
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
        // Import jobs read model data through the same buckets as invocation logs.
        let objects = Objects::new(data_dir.to_path_buf(), settings.s3_endpoint.clone());
        let batch_objects = objects.clone();
        let (logger, shutdown) = InvocationLogger::start(settings);
        let store = Arc::new(Store::open(store_url, data_dir).await.context("opening the control-plane store")?);
        let logs = Arc::new(InvocationLogs::load(&store, logger).await.context("loading logging configurations")?);
        let usage = Arc::new(UsageLedger::default());
        // Usage sums reach the store every few seconds, off the request path; logging
        // configurations set through other instances sharing the store are picked up;
        // histogram samples are folded into their buckets.
        let (ledger, db, configs) = (Arc::downgrade(&usage), Arc::downgrade(&store), Arc::downgrade(&logs));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                let (Some(ledger), Some(db), Some(configs)) = (ledger.upgrade(), db.upgrade(), configs.upgrade())
                else {
                    break;
                };
                ledger.flush(&db).await;
                crate::telemetry::upkeep();
                if let Err(e) = configs.reload(&db).await {
                    tracing::warn!(error = %e, "reloading logging configurations failed");
                }
            }
        });
        // Provisioned throughput: statuses, reserved capacity and hourly charges.
        crate::provisioned::driver::start(Arc::clone(&catalog), &store, &engine).await;
        // Custom Model Import: unfinished jobs run again; deleted models lose their engine.
        let importer = Arc::new(Importer::new(
            Arc::clone(&catalog),
            Arc::clone(&store),
            Arc::clone(&engine),
            objects,
            data_dir.to_path_buf(),
        ));
        importer.start().await;
        let apps = Arc::new(AppProfiles::default());
        // Batch jobs and async invocations: the unfinished ones run again, here or on any
        // instance sharing the store.
        let batch = Arc::new(crate::batch::Batch::new(
            Arc::clone(&catalog),
            Arc::clone(&store),
            Arc::clone(&engine),
            Arc::clone(&apps),
            Arc::clone(&usage),
            batch_objects,
        ));
        batch.start();
        let shutdown = Shutdown { logs: shutdown, usage: Arc::clone(&usage), store: Arc::clone(&store) };
        let keyring = (!catalog.accounts.is_empty()).then(|| Arc::new(Keyring::new(&catalog.accounts)));
        Ok((Self { catalog, engine, logs, store, apps, usage, keyring, importer, batch }, shutdown))
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
        .route("/inference-profiles", get(control::inference_profiles::list).post(control::app_profiles::create))
        .route(
            "/inference-profiles/{inference_profile_identifier}",
            get(control::inference_profiles::get).delete(control::app_profiles::delete),
        )
        .route("/tagResource", post(control::tags::tag))
        .route("/untagResource", post(control::tags::untag))
        .route("/listTagsForResource", post(control::tags::list))
        .route("/spillway/usage", get(control::usage::report))
        // bedrock-agent Prompt management and its tagging (`/prompts/…`, `/tags/…`).
        .merge(control::prompts::routes())
        .route("/provisioned-model-throughput", post(control::provisioned::create))
        .route("/provisioned-model-throughputs", get(control::provisioned::list))
        .route(
            "/provisioned-model-throughput/{provisioned_model_id}",
            get(control::provisioned::get).patch(control::provisioned::update).delete(control::provisioned::delete),
        )
        .route("/model-import-jobs", post(control::imports::create).get(control::imports::list_jobs))
        .route("/model-import-jobs/{job_identifier}", get(control::imports::get_job))
        .route("/imported-models", get(control::imports::list_models))
        .route(
            "/imported-models/{model_identifier}",
            get(control::imports::get_model).delete(control::imports::delete_model),
        )
        .route("/model-invocation-job", post(control::batch::create))
        .route("/model-invocation-jobs", get(control::batch::list))
        .route("/model-invocation-job/{job_identifier}", get(control::batch::get))
        .route("/model-invocation-job/{job_identifier}/stop", post(control::batch::stop))
        .route("/async-invoke", post(runtime::async_invoke::start).get(runtime::async_invoke::list))
        .route("/async-invoke/{invocation_arn}", get(runtime::async_invoke::get))
        .route(
            "/logging/modelinvocations",
            get(control::logging::get).put(control::logging::put).delete(control::logging::delete),
        )
        .route("/health", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .fallback(unknown_operation)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(state.clone(), context::authenticate))
        .layer(axum::middleware::from_fn(context::request_id))
        .with_state(state)
}

async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> impl axum::response::IntoResponse {
    ([("content-type", "text/plain; version=0.0.4")], crate::telemetry::render(&state))
}

async fn unknown_operation(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    BedrockError::new(ErrorCode::UnknownOperation, format!("No operation matches {method} {}", uri.path())).into()
}
