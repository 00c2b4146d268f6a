//! The validated catalog the service reads at run time.

use std::collections::BTreeMap;

use hashbrown::HashMap;

pub use crate::imported::ImportedModels;
pub use crate::provisioned::{CustomModel, HourlyPrice, ProvisionedSpec, Provisioning, Unit};
pub use crate::raw::{
    Access, InvocationLogs, LocalBackend, OpenAiBackend, QuotaSettings, Routing, S3Endpoint, SimBackend, SimFailure,
    SimFailureKind,
};
pub use spillway_wire::invoke::BodyFormat;

/// A backend definition, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendSpec {
    Sim(SimBackend),
    OpenAi(OpenAiBackend),
    Local(LocalBackend),
}

impl BackendSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sim(_) => "sim",
            Self::OpenAi(_) => "openai",
            Self::Local(_) => "local",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Region {
    pub name: String,
    pub description: Option<String>,
}

/// A model offered in one region.
#[derive(Debug, Clone)]
pub struct Offer {
    pub region: String,
    pub access: Access,
    /// Name of the backend serving it there.
    pub backend: String,
    /// The model's name at that backend.
    pub backend_model: String,
    pub rpm: u32,
    pub tpm: u32,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub body_format: BodyFormat,
    pub input_modalities: Vec<String>,
    pub output_modalities: Vec<String>,
    pub streaming: bool,
    pub lifecycle: String,
    pub default_max_tokens: u32,
    pub max_tokens_limit: Option<u32>,
    pub dimensions: Option<u32>,
    pub customizations: Vec<String>,
    /// Output tokens count this many times against TPM.
    pub output_burndown: f64,
    /// Offers keyed by region name.
    pub offers: BTreeMap<String, Offer>,
    /// Provisioned throughput for it, where it can be bought.
    pub provisioned: Option<ProvisionedSpec>,
    /// Its service tiers and latency-optimized version (crate::tiers).
    pub tiers: crate::tiers::ModelTiers,
}

impl Model {
    pub fn offer(&self, region: &str) -> Option<&Offer> {
        self.offers.get(region)
    }

    pub fn is_embedding(&self) -> bool {
        self.body_format.is_embedding()
    }
}

/// A system-defined (cross-region) inference profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub id: String,
    pub name: String,
    pub description: String,
    pub model: String,
    /// Source regions that may call it, which are also its possible destinations.
    pub regions: Vec<String>,
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
}

impl Profile {
    /// A `global.` profile: it may route to any commercial region of the catalog.
    pub fn is_global(&self) -> bool {
        self.id.starts_with("global.")
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input_per_1k: f64,
    pub output_per_1k: f64,
    pub cache_read_per_1k: f64,
    pub cache_write_5m_per_1k: f64,
    pub cache_write_1h_per_1k: f64,
}

impl Price {
    /// Input and output prices, with the prompt cache priced as Bedrock prices Claude's
    /// (reads 0.1x, 5-minute writes 1.25x, 1-hour writes 2x the input price) unless
    /// `cache_read` / `cache_write` (5 minutes) say otherwise.
    pub fn new(input_per_1k: f64, output_per_1k: f64, cache_read: Option<f64>, cache_write: Option<f64>) -> Self {
        let write_5m = cache_write.unwrap_or(input_per_1k * 1.25);
        Self {
            input_per_1k,
            output_per_1k,
            cache_read_per_1k: cache_read.unwrap_or(input_per_1k * 0.1),
            cache_write_5m_per_1k: write_5m,
            cache_write_1h_per_1k: write_5m * 1.6,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
    pub session_tokens: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub access_keys: Vec<AccessKey>,
    pub api_keys: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Catalog {
    pub default_region: String,
    pub default_account: String,
    pub backends: BTreeMap<String, BackendSpec>,
    pub regions: Vec<Region>,
    pub models: Vec<Model>,
    pub profiles: Vec<Profile>,
    pub accounts: Vec<Account>,
    pub routing: Routing,
    pub quotas: QuotaSettings,
    pub invocation_logs: InvocationLogs,
    pub store: Option<String>,
    pub cluster: crate::cluster::Cluster,
    pub tiers: crate::tiers::TierSettings,
    pub custom_models: Vec<CustomModel>,
    pub provisioning: Provisioning,
    pub imported_models: ImportedModels,
    pub server: crate::server::ServerSettings,
    pub batch: crate::batch::BatchSettings,
    /// (model id, region) → price; `None` region key is the model's default price.
    pub(crate) prices: HashMap<String, (Price, HashMap<String, Price>)>,
    pub(crate) model_index: HashMap<String, usize>,
    pub(crate) profile_index: HashMap<String, usize>,
}

impl Catalog {
    pub fn model(&self, id: &str) -> Option<&Model> {
        self.model_index.get(id).map(|&i| &self.models[i])
    }

    /// A custom model by its id or name.
    pub fn custom_model(&self, id_or_name: &str) -> Option<&CustomModel> {
        self.custom_models.iter().find(|c| c.id == id_or_name || c.name == id_or_name)
    }

    pub fn profile(&self, id: &str) -> Option<&Profile> {
        self.profile_index.get(id).map(|&i| &self.profiles[i])
    }

    /// The cross-region quota (rpm, tpm) of `profile` for callers in `source_region`:
    /// the profile's own numbers, else the multiple of the source region's on-demand
    /// quota. A source region that does not offer the model (Paris for Claude 3.5 Sonnet)
    /// takes the quota of the profile's first region that does.
    pub fn profile_quota(&self, profile: &Profile, model: &Model, source_region: &str) -> (u64, u64) {
        let base = model
            .offer(source_region)
            .or_else(|| profile.regions.iter().find_map(|r| model.offer(r)))
            .map_or((0, 0), |o| (u64::from(o.rpm), u64::from(o.tpm)));
        let scale = |n: u64| (n as f64 * self.quotas.cross_region_multiplier).round() as u64;
        (profile.rpm.map_or_else(|| scale(base.0), u64::from), profile.tpm.map_or_else(|| scale(base.1), u64::from))
    }

    pub fn region(&self, name: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.name == name)
    }

    /// Price of `model` billed in `region` (the source region, as Bedrock bills).
    pub fn price(&self, model: &str, region: &str) -> Option<Price> {
        let (default, by_region) = self.prices.get(model)?;
        Some(by_region.get(region).copied().unwrap_or(*default))
    }

    /// Replace every backend with the simulator (`serve --backend sim`), keeping names so
    /// every reference still resolves. Backends that already are simulators keep their
    /// settings.
    pub fn with_sim_backends(mut self) -> Self {
        for spec in self.backends.values_mut() {
            if !matches!(spec, BackendSpec::Sim(_)) {
                *spec = BackendSpec::Sim(SimBackend::default());
            }
        }
        self
    }

    /// Backend kinds in use, for banners and listings ("sim" says it is a simulator).
    pub fn backend_kinds(&self) -> Vec<&'static str> {
        let mut kinds: Vec<_> = self.backends.values().map(BackendSpec::kind).collect();
        kinds.sort_unstable();
        kinds.dedup();
        kinds
    }
}
