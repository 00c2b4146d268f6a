//! The configuration file as written. Every struct denies unknown keys so a typo is an
//! error that names the key, never a silently ignored setting.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Region used when a request carries no SigV4 credential scope.
    pub default_region: String,
    /// Account that owns requests in open mode (no accounts configured).
    #[serde(default = "default_account")]
    pub default_account: String,
    /// Backend serving a model in a region when neither the model nor the region names one.
    pub default_backend: Option<String>,
    #[serde(default)]
    pub backends: BTreeMap<String, Backend>,
    #[serde(default)]
    pub regions: BTreeMap<String, Region>,
    #[serde(default)]
    pub models: Vec<Model>,
    #[serde(default)]
    pub profiles: Vec<Profile>,
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
    #[serde(default)]
    pub accounts: Vec<Account>,
    #[serde(default)]
    pub routing: Routing,
    #[serde(default)]
    pub quotas: QuotaSettings,
    #[serde(default)]
    pub invocation_logs: InvocationLogs,
    /// Custom models, callable only through provisioned throughput (crate::provisioned).
    #[serde(default)]
    pub custom_models: Vec<crate::provisioned::CustomModelConfig>,
    #[serde(default)]
    pub provisioning: crate::provisioned::Provisioning,
    /// What models imported by CreateModelImportJob run with (crate::imported).
    #[serde(default)]
    pub imported_models: crate::imported::ImportedModels,
    /// Batch inference: spare-capacity headroom, quotas, price (crate::batch).
    #[serde(default)]
    pub batch: crate::batch::BatchSettings,
    /// Control-plane store URL (`postgres://…`); a SQLite file in the data dir when absent.
    pub store: Option<String>,
    /// Listener limits, shutdown deadline and flush interval (crate::server).
    #[serde(default)]
    pub server: crate::server::ServerSettings,
    /// Shared quotas and capacity through Redis (crate::cluster).
    #[serde(default)]
    pub cluster: crate::cluster::Cluster,
    /// Service-tier admission floors and reserved capacity (crate::tiers).
    #[serde(default)]
    pub tiers: crate::tiers::TierSettings,
}

/// Where invocation-log buckets live: directories under the data dir by default, or a
/// real S3-compatible endpoint.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvocationLogs {
    pub s3: Option<S3Endpoint>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Endpoint {
    /// e.g. `http://127.0.0.1:9000` (MinIO) or `https://s3.eu-west-1.amazonaws.com`.
    pub endpoint: String,
    #[serde(default = "S3Endpoint::default_region")]
    pub region: String,
    /// Environment variables holding the credentials (never the secrets themselves).
    #[serde(default = "S3Endpoint::default_key_env")]
    pub access_key_id_env: String,
    #[serde(default = "S3Endpoint::default_secret_env")]
    pub secret_access_key_env: String,
}

impl S3Endpoint {
    fn default_region() -> String {
        "us-east-1".to_owned()
    }
    fn default_key_env() -> String {
        "SPILLWAY_S3_ACCESS_KEY_ID".to_owned()
    }
    fn default_secret_env() -> String {
        "SPILLWAY_S3_SECRET_ACCESS_KEY".to_owned()
    }
}

/// How routing treats failing backends.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    /// How long a backend that answered 429, 5xx or timed out is left alone.
    #[serde(default = "Routing::default_cooldown")]
    pub cooldown_ms: u64,
}

impl Routing {
    fn default_cooldown() -> u64 {
        5_000
    }
}

impl Default for Routing {
    fn default() -> Self {
        Self { cooldown_ms: Self::default_cooldown() }
    }
}

/// Quota admission settings (shared/reference/quotas.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSettings {
    /// Output tokens count this many times against TPM (a model may override it).
    #[serde(default = "one")]
    pub output_burndown: f64,
    /// Cross-region (profile) quota as a multiple of the source region's on-demand quota,
    /// for profiles that set none.
    #[serde(default = "two")]
    pub cross_region_multiplier: f64,
}

fn two() -> f64 {
    2.0
}

impl Default for QuotaSettings {
    fn default() -> Self {
        Self { output_burndown: 1.0, cross_region_multiplier: 2.0 }
    }
}

fn default_account() -> String {
    "123456789012".to_owned()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Backend {
    Sim(SimBackend),
    #[serde(rename = "openai")]
    OpenAi(OpenAiBackend),
    Local(LocalBackend),
}

/// The simulator: deterministic text at a configurable pace, with failure injection.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimBackend {
    #[serde(default = "SimBackend::default_ttft")]
    pub ttft_ms: u64,
    /// Generation pace; 0 means as fast as possible.
    #[serde(default = "SimBackend::default_tps")]
    pub tokens_per_second: u32,
    #[serde(default = "SimBackend::default_concurrency")]
    pub max_concurrency: u32,
    /// Length of a natural answer in tokens (before maxTokens cuts it).
    #[serde(default = "SimBackend::default_output")]
    pub output_tokens: u32,
    #[serde(default)]
    pub seed: u64,
    pub failure: Option<SimFailure>,
    /// Shortest prefix (in tokens) a cache point caches, as a model's minimum cacheable
    /// length; shorter checkpoints are ignored, as Bedrock ignores them.
    #[serde(default = "SimBackend::default_cache_min")]
    pub cache_min_tokens: u32,
}

impl SimBackend {
    fn default_cache_min() -> u32 {
        1024
    }
    fn default_ttft() -> u64 {
        20
    }
    fn default_tps() -> u32 {
        400
    }
    fn default_concurrency() -> u32 {
        64
    }
    fn default_output() -> u32 {
        48
    }
}

impl Default for SimBackend {
    fn default() -> Self {
        Self {
            ttft_ms: Self::default_ttft(),
            tokens_per_second: Self::default_tps(),
            max_concurrency: Self::default_concurrency(),
            output_tokens: Self::default_output(),
            seed: 0,
            failure: None,
            cache_min_tokens: Self::default_cache_min(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SimFailureKind {
    /// The backend answers 429 before generating.
    Throttle,
    /// The backend answers 500 before generating.
    Error,
    /// The backend never answers within its timeout.
    Timeout,
    /// The backend fails after `after_tokens` tokens of a stream.
    MidStream,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimFailure {
    pub kind: SimFailureKind,
    /// Share of requests that fail, 0.0–1.0 (decided by a seeded generator).
    #[serde(default = "one")]
    pub rate: f64,
    #[serde(default)]
    pub after_tokens: u32,
}

fn one() -> f64 {
    1.0
}

/// Any OpenAI-compatible chat-completions server (vLLM, llama.cpp, Ollama, TGI).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiBackend {
    /// Base URL up to and including `/v1`.
    pub base_url: String,
    /// Name of the environment variable holding the API key, if the server needs one.
    pub api_key_env: Option<String>,
    #[serde(default = "OpenAiBackend::default_timeout")]
    pub timeout_ms: u64,
    #[serde(default = "OpenAiBackend::default_concurrency")]
    pub max_concurrency: u32,
    /// Whether the server accepts `tools` (toolConfig is refused otherwise).
    #[serde(default = "yes")]
    pub tools: bool,
}

impl OpenAiBackend {
    fn default_timeout() -> u64 {
        120_000
    }
    fn default_concurrency() -> u32 {
        64
    }
}

fn yes() -> bool {
    true
}

/// The embedded local model: a GGUF file run in-process by llama.cpp (see
/// `spillway fetch-model`). One engine serves every region that names the backend; each
/// region's instance is a slice of its capacity.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalBackend {
    /// The GGUF file; [`crate::default_model_path`] when absent. A relative path is in
    /// the model cache ([`crate::model_dir`]), where `spillway fetch-model` puts files.
    pub model_file: Option<std::path::PathBuf>,
    /// Inference threads; `SPILLWAY_LOCAL_THREADS`, else one per core (at most 4) when
    /// absent.
    pub threads: Option<u32>,
    /// Sequences the engine generates in parallel; `SPILLWAY_LOCAL_SLOTS`, else 4.
    pub slots: Option<u32>,
    /// Context window of each sequence, in tokens (prompt and answer together).
    #[serde(default = "LocalBackend::default_context")]
    pub context: u32,
    /// Requests each region's instance runs at once (its capacity slice, what routing
    /// compares); the engine's slots when absent.
    pub region_slots: Option<u32>,
    /// Slice sizes of particular regions, overriding `region_slots`.
    #[serde(default)]
    pub regions: BTreeMap<String, u32>,
    /// Requests that may wait for a full slice before it answers ThrottlingException.
    #[serde(default = "LocalBackend::default_queue")]
    pub queue: u32,
    /// Seed of the sampler at temperatures above 0 (same request, same answer).
    #[serde(default)]
    pub seed: u32,
    /// Longest answer of a request that sets no maxTokens. A small base model seldom
    /// ends its turn by itself; the model's `default_max_tokens` (4096 for Claude) would
    /// keep a client waiting for minutes.
    #[serde(default = "LocalBackend::default_answer_tokens")]
    pub default_max_tokens: u32,
}

impl LocalBackend {
    fn default_context() -> u32 {
        4096
    }
    fn default_queue() -> u32 {
        64
    }
    fn default_answer_tokens() -> u32 {
        256
    }
}

impl Default for LocalBackend {
    fn default() -> Self {
        Self {
            model_file: None,
            threads: None,
            slots: None,
            context: Self::default_context(),
            region_slots: None,
            regions: BTreeMap::new(),
            queue: Self::default_queue(),
            seed: 0,
            default_max_tokens: Self::default_answer_tokens(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub description: Option<String>,
    /// Backend for models in this region that name none.
    pub default_backend: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub body_format: spillway_wire::invoke::BodyFormat,
    #[serde(default = "text_only")]
    pub input_modalities: Vec<String>,
    #[serde(default = "text_only")]
    pub output_modalities: Vec<String>,
    #[serde(default = "yes")]
    pub streaming: bool,
    #[serde(default = "active")]
    pub lifecycle: String,
    /// maxTokens when a request sets none (what quota admission reserves).
    #[serde(default = "default_max_tokens")]
    pub default_max_tokens: u32,
    /// Largest maxTokens a request may ask for.
    pub max_tokens_limit: Option<u32>,
    /// The model's name at its backends (an OpenAI `model`); defaults to `id`.
    pub backend_model: Option<String>,
    /// The backend of the model's regions that name none (before the region's and the
    /// catalog's default): the built-in embedding models run on the Gemma engine.
    pub backend: Option<String>,
    /// Embedding vector size, for embedding models.
    pub dimensions: Option<u32>,
    /// Output-token burn-down factor for TPM; the `[quotas]` default when absent.
    pub output_burndown: Option<f64>,
    #[serde(default)]
    pub customizations: Vec<String>,
    /// Where the model is offered, keyed by region.
    #[serde(default)]
    pub regions: BTreeMap<String, Offer>,
    /// What a model unit of provisioned throughput is worth and costs, where it is sold.
    pub provisioned: Option<crate::provisioned::ProvisionedConfig>,
    /// The service tiers it is offered in (crate::tiers); `["default"]` when absent.
    pub service_tiers: Option<Vec<spillway_wire::options::ServiceTierType>>,
    /// Whether `performanceConfig.latency = "optimized"` is offered for it.
    #[serde(default)]
    pub latency_optimized: bool,
}

fn text_only() -> Vec<String> {
    vec!["TEXT".to_owned()]
}

fn active() -> String {
    "ACTIVE".to_owned()
}

fn default_max_tokens() -> u32 {
    4096
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Callable directly in the region, and a destination of the profiles that list it.
    #[default]
    OnDemand,
    /// Served in the region, but only through an inference profile.
    ProfileOnly,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    #[serde(default)]
    pub access: Access,
    pub backend: Option<String>,
    pub backend_model: Option<String>,
    /// On-demand requests per minute for (account, this region, model).
    pub rpm: u32,
    /// On-demand tokens per minute for (account, this region, model).
    pub tpm: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub model: String,
    pub regions: ProfileRegions,
    /// Cross-region quota per source region; default twice the on-demand quota there.
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
}

/// A profile's regions: listed, or `"all"`, every region of the catalog (a `global.`
/// profile routes to any commercial region).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ProfileRegions {
    Listed(Vec<String>),
    Keyword(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// USD per 1,000 input tokens.
    pub input_per_1k: f64,
    /// USD per 1,000 output tokens.
    pub output_per_1k: f64,
    /// USD per 1,000 prompt-cache tokens read; default a tenth of the input price.
    pub cache_read_per_1k: Option<f64>,
    /// USD per 1,000 tokens written to the cache with the 5-minute TTL; default 1.25x
    /// the input price (the 1-hour TTL costs 2x the input price, or 1.6x this value).
    pub cache_write_per_1k: Option<f64>,
    /// Region-specific prices, keyed by region.
    #[serde(default)]
    pub regions: BTreeMap<String, RegionPrice>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionPrice {
    pub input_per_1k: f64,
    pub output_per_1k: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub id: String,
    #[serde(default)]
    pub access_keys: Vec<AccessKey>,
    #[serde(default)]
    pub api_keys: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
    #[serde(default)]
    pub session_tokens: Vec<String>,
}
