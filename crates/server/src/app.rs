//! The router and the state every handler shares.
//!
//! The request path, outermost first:
//! 1. `request_id`: an ID for the request and the `x-amzn-RequestId` header on every answer,
//!    the request's log span, and Bedrock shapes for the answers axum gives on its own
//!    (wrong method, body too large, extractor rejections: [`crate::rejections`]);
//! 2. with accounts configured, `authenticate` (SigV4 or API key);
//! 3. the body limit (InvokeModel bodies may be up to 25 MB);
//! 4. a model call (POST on `/model/{modelId}/…`) straight to its handler, anything else
//!    through the route table below ([`crate::lanes`]);
//! 5. a thin handler in [`crate::runtime`]: parse (wire) → resolve (route) → run with
//!    failover ([`crate::dispatch`]) → encode JSON or event-stream frames (wire).

use std::convert::Infallible;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use anyhow::Context;
use axum::extract::{DefaultBodyLimit, Request};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use spillway_backends::Backends;
use spillway_catalog::Catalog;
use spillway_invocation_log::{InvocationLogger, LogSettings, S3Endpoint, ShutdownHandle};
use spillway_wire::{BedrockError, ErrorCode};
use tower::{Layer, Service, ServiceExt};

use crate::dispatch::Dispatcher;
use crate::error::ApiError;
use crate::imported::job::Importer;
use crate::imported::source::Objects;
use crate::lanes::Lanes;
use crate::logging::InvocationLogs;
use crate::serve::Lifecycle;
use crate::usage::UsageLedger;
use crate::{context, control, runtime};
use spillway_auth::Keyring;
use spillway_store::Store;

/// Bedrock's limit on an InvokeModel body.
pub const MAX_BODY: usize = 25_000_000;

#[derive(Debug, Clone)]
pub struct AppState {
    pub catalog: Arc<Catalog>,
    pub dispatcher: Arc<Dispatcher>,
    pub logs: Arc<InvocationLogs>,
    pub store: Arc<Store>,
    /// modelId → plan: the catalog, the store and the dispatcher's registries.
    pub resolver: Arc<crate::resolve::Resolver>,
    pub usage: Arc<UsageLedger>,
    /// The accounts' keys; `None` in open mode (no accounts configured, loopback only).
    pub keyring: Option<Arc<Keyring>>,
    /// Runs model import jobs. Behind an `Arc` like the rest: the state is cloned a few
    /// times per request, and the importer's paths would be copied each time.
    pub importer: Arc<Importer>,
    /// Background tasks and the shutdown signals stream bodies listen to.
    pub lifecycle: Lifecycle,
    /// Runs batch inference jobs and async invocations on spare capacity.
    pub batch: Arc<crate::batch::Batch>,
    /// InvokeAgent sessions (conversation history, pending function calls).
    pub agent_sessions: Arc<spillway_agents::session::Sessions>,
}

/// What must run when the server stops: the background tasks end, then the invocation
/// logs and the usage ledger are flushed, so nothing accepted is lost.
pub struct Shutdown {
    logs: ShutdownHandle,
    usage: Arc<UsageLedger>,
    store: Arc<Store>,
    lifecycle: Lifecycle,
    /// Settlements are issued off the answer's path (cluster mode): the last ones are
    /// waited for, or their leases' TTL returns the reservations.
    quotas: Arc<spillway_quota::Quotas>,
}

/// How long the background tasks get to notice shutdown: a store write in flight.
const BACKGROUND_STOP: std::time::Duration = std::time::Duration::from_secs(10);
/// How long settlements still in flight get (one Redis round trip each).
const SETTLE_STOP: std::time::Duration = std::time::Duration::from_secs(5);

impl Shutdown {
    pub async fn run(self) {
        if !self.lifecycle.stop_background(BACKGROUND_STOP).await {
            tracing::warn!(running = self.lifecycle.running(), "background tasks still running at shutdown");
        }
        if tokio::time::timeout(SETTLE_STOP, self.quotas.settled()).await.is_err() {
            tracing::warn!("quota settlements still in flight at shutdown: their leases' TTL returns the reservations");
        }
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
        let quotas = Arc::new(crate::cluster::quotas(&catalog.cluster).await?);
        let dispatcher = Arc::new(Dispatcher::new(Arc::clone(&catalog), backends, quotas));
        let lifecycle = Lifecycle::default();
        crate::cluster::start_capacity_sync(&dispatcher, &lifecycle);
        // One interval bounds what `kill -9` can lose: usage rows and log batches alike.
        let flush_interval = catalog.server.flush_interval;
        let mut settings = LogSettings::new(data_dir);
        settings.batch_max_wait = flush_interval;
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
        // Usage sums reach the store every flush interval, off the request path; histogram
        // samples are folded into their buckets. (Logging configurations set through other
        // instances sharing the store arrive by notification: crate::control_events.)
        let (ledger, db) = (Arc::downgrade(&usage), Arc::downgrade(&store));
        let ticks = lifecycle.clone();
        lifecycle.spawn(async move {
            while ticks.tick(flush_interval).await {
                let (Some(ledger), Some(db)) = (ledger.upgrade(), db.upgrade()) else {
                    break;
                };
                ledger.flush(&db).await;
                crate::telemetry::upkeep();
            }
        });
        // Provisioned throughput: statuses, reserved capacity and hourly charges.
        crate::provisioned::driver::start(
            Arc::clone(&catalog),
            &store,
            dispatcher.backends().clone(),
            Arc::clone(dispatcher.provisioned()),
            &lifecycle,
        )
        .await;
        // Custom Model Import: unfinished jobs run again; deleted models lose their engine.
        let importer = Arc::new(Importer::new(
            Arc::clone(&catalog),
            Arc::clone(&store),
            Arc::clone(dispatcher.imported()),
            objects,
            data_dir.to_path_buf(),
            lifecycle.clone(),
        ));
        importer.start().await;
        let resolver = Arc::new(crate::resolve::Resolver::new(
            Arc::clone(&catalog),
            Arc::clone(&store),
            Arc::clone(dispatcher.provisioned()),
            Arc::clone(dispatcher.imported()),
            data_dir.to_path_buf(),
        ));
        crate::control_events::start(&store, resolver.apps(), &logs)
            .await
            .context("listening for control-plane changes")?;
        // Batch jobs and async invocations: the unfinished ones run again, here or on any
        // instance sharing the store.
        let batch = Arc::new(crate::batch::Batch::new(
            Arc::clone(&catalog),
            Arc::clone(&store),
            Arc::clone(&dispatcher),
            Arc::clone(&resolver),
            Arc::clone(&usage),
            batch_objects,
            lifecycle.clone(),
        ));
        batch.start();
        let shutdown = Shutdown {
            logs: shutdown,
            usage: Arc::clone(&usage),
            store: Arc::clone(&store),
            lifecycle: lifecycle.clone(),
            quotas: Arc::clone(dispatcher.admission().quotas()),
        };
        let keyring = (!catalog.accounts.is_empty()).then(|| Arc::new(Keyring::new(&catalog.accounts)));
        let agent_sessions = Arc::default();
        let state = Self {
            catalog,
            dispatcher,
            resolver,
            logs,
            store,
            usage,
            keyring,
            importer,
            lifecycle,
            batch,
            agent_sessions,
        };
        Ok((state, shutdown))
    }
}

/// The whole HTTP application: what [`context::request_id`] and [`context::authenticate`]
/// do for every request, around the body limit and the route table.
#[derive(Clone)]
pub struct App {
    routes: <DefaultBodyLimit as Layer<Lanes>>::Service,
    keyring: Option<Arc<Keyring>>,
}

impl App {
    pub async fn handle(&self, req: Request) -> Response {
        context::request_id(req, |req| async move {
            let req = match &self.keyring {
                Some(keyring) => match context::authenticate(keyring, req).await {
                    Ok(req) => req,
                    Err(refused) => return refused,
                },
                None => req,
            };
            self.routes.clone().oneshot(req).await.unwrap_or_else(|e| match e {})
        })
        .await
    }
}

/// [`App::handle`] as a tower service (in-process tests call the app this way).
impl Service<Request> for App {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let app = self.clone();
        Box::pin(async move { Ok(app.handle(req).await) })
    }
}

pub fn build_app(state: AppState) -> App {
    let router = Router::new()
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
        // Agents (bedrock-agent `/agents/…`) and InvokeAgent (bedrock-agent-runtime).
        .merge(crate::agents::routes())
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
        .with_state(state.clone());
    // Layers wrap the finished router once: `Router::layer` would wrap every route in a
    // boxed service of its own, cloned on every call.
    let keyring = state.keyring.clone();
    App { routes: DefaultBodyLimit::max(MAX_BODY).layer(Lanes::new(router, state)), keyring }
}

async fn metrics(
    axum::extract::State(dispatcher): axum::extract::State<Arc<Dispatcher>>,
) -> impl axum::response::IntoResponse {
    ([("content-type", "text/plain; version=0.0.4")], crate::telemetry::render(&dispatcher))
}

async fn unknown_operation(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    BedrockError::new(ErrorCode::UnknownOperation, format!("No operation matches {method} {}", uri.path())).into()
}
