//! Model backends: what actually generates tokens behind a region.
//!
//! [`ModelBackend`] is the interface; [`Backend`] is the closed set of kinds (`sim`,
//! `openai`, `local`) the catalog can name. Every backend produces the same
//! [`ModelEvent`] stream, so the server encodes Converse, ConverseStream and the native
//! InvokeModel shapes the same way whatever runs the model.

mod cluster_load;
mod error;
mod health;
pub mod local;
pub mod openai;
mod prompt;
mod reserve;
pub mod sim;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use spillway_catalog::{BackendSpec, Catalog};
use spillway_wire::converse::ConverseRequest;
use spillway_wire::invoke::{EmbedOutput, EmbedRequest};
use spillway_wire::stream::ModelEvent;

pub use error::{BackendError, RetryClass};
pub use health::Pool;
pub use prompt::{cache_prefixes, count_request_tokens, count_tokens, render_prompt};
pub use reserve::{Lane, ReserveError, Reserved};

/// The events of one generation, in order, ending with `ModelEvent::Finish` or an error.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<ModelEvent, BackendError>> + Send>>;

/// One chat generation, in spillway's Converse model.
#[derive(Debug, Clone, Copy)]
pub struct ChatCall<'a> {
    /// The model's name at this backend.
    pub model: &'a str,
    pub request: &'a ConverseRequest,
    /// maxTokens after defaults were applied.
    pub max_tokens: u32,
    /// Whether the caller streams (backends with two modes pick theirs).
    pub stream: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct EmbedCall<'a> {
    pub model: &'a str,
    pub request: &'a EmbedRequest,
    /// The model's vector size when the request names none.
    pub default_dimensions: u32,
}

/// How busy a backend is: what routing compares across regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    pub in_flight: u32,
    pub limit: u32,
}

/// What every backend kind does.
pub trait ModelBackend: Send + Sync {
    fn chat(&self, call: ChatCall<'_>) -> impl Future<Output = Result<EventStream, BackendError>> + Send;
    fn embed(&self, call: EmbedCall<'_>) -> impl Future<Output = Result<EmbedOutput, BackendError>> + Send;
    /// Input tokens of a conversation, as this backend's model counts them.
    fn count_tokens(
        &self,
        model: &str,
        request: &ConverseRequest,
    ) -> impl Future<Output = Result<u32, BackendError>> + Send;
    fn load(&self) -> Load;
}

/// The closed set of backend kinds.
#[derive(Debug)]
pub enum Backend {
    Sim(sim::SimBackend),
    OpenAi(openai::OpenAiBackend),
    Local(local::LocalBackend),
}

impl Backend {
    /// A backend of its own. `local` backends get an engine of their own here; a catalog's
    /// share one per model file ([`Backends::build`]).
    pub fn from_spec(spec: &BackendSpec) -> Result<Self, BackendError> {
        Ok(match spec {
            BackendSpec::Sim(cfg) => Self::Sim(sim::SimBackend::new(cfg.clone())),
            BackendSpec::OpenAi(cfg) => Self::OpenAi(openai::OpenAiBackend::new(cfg.clone())?),
            BackendSpec::Local(cfg) => Self::Local(local::LocalBackend::standalone(cfg)),
        })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sim(_) => "sim",
            Self::OpenAi(_) => "openai",
            Self::Local(_) => "local",
        }
    }
}

impl ModelBackend for Backend {
    async fn chat(&self, call: ChatCall<'_>) -> Result<EventStream, BackendError> {
        match self {
            Self::Sim(b) => b.chat(call).await,
            Self::OpenAi(b) => b.chat(call).await,
            Self::Local(b) => b.chat(call).await,
        }
    }

    async fn embed(&self, call: EmbedCall<'_>) -> Result<EmbedOutput, BackendError> {
        match self {
            Self::Sim(b) => b.embed(call).await,
            Self::OpenAi(b) => b.embed(call).await,
            Self::Local(b) => b.embed(call).await,
        }
    }

    async fn count_tokens(&self, model: &str, request: &ConverseRequest) -> Result<u32, BackendError> {
        match self {
            Self::Sim(b) => b.count_tokens(model, request).await,
            Self::OpenAi(b) => b.count_tokens(model, request).await,
            Self::Local(b) => b.count_tokens(model, request).await,
        }
    }

    fn load(&self) -> Load {
        match self {
            Self::Sim(b) => b.load(),
            Self::OpenAi(b) => b.load(),
            Self::Local(b) => b.load(),
        }
    }
}

/// Every backend of the catalog, one instance per (region, backend name): a region is a
/// pool of its own, so saturating one region's backend leaves the others' capacity alone.
/// `local` backends share one engine per model file; each region's instance is a slice
/// of its capacity.
#[derive(Debug, Clone, Default)]
pub struct Backends {
    /// region → backend name → instance: nested so that a lookup borrows both names (a
    /// tuple key had to be built of two new `String`s on every call).
    by_key: BTreeMap<String, BTreeMap<String, Arc<Pool>>>,
}

impl Backends {
    pub fn build(catalog: &Catalog) -> Result<Self, BackendError> {
        let cooldown = std::time::Duration::from_millis(catalog.routing.cooldown_ms);
        let mut by_key: BTreeMap<String, BTreeMap<String, Arc<Pool>>> = BTreeMap::new();
        let mut engines = local::Engines::default();
        // Custom models run only on provisioned throughput, but on pools of their own.
        let custom = catalog.custom_models.iter().map(|c| &c.offer);
        for offer in catalog.models.iter().flat_map(|m| m.offers.values()).chain(custom) {
            if by_key.get(&offer.region).is_some_and(|r| r.contains_key(&offer.backend)) {
                continue;
            }
            let spec = catalog
                .backends
                .get(&offer.backend)
                .ok_or_else(|| BackendError::Config(format!("backend `{}` is not defined", offer.backend)))?;
            let backend = match spec {
                BackendSpec::Local(cfg) => Backend::Local(engines.instance(&offer.backend, cfg, &offer.region)?),
                other => Backend::from_spec(other)?,
            };
            let pool = Pool::new(offer.region.clone(), offer.backend.clone(), backend, cooldown);
            by_key.entry(offer.region.clone()).or_default().insert(offer.backend.clone(), Arc::new(pool));
        }
        Ok(Self { by_key })
    }

    /// The instance of backend `name` serving `region`.
    pub fn get(&self, region: &str, name: &str) -> Option<&Arc<Pool>> {
        self.by_key.get(region)?.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Pool>> {
        self.by_key.values().flat_map(BTreeMap::values)
    }
}
