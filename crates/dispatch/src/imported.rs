//! Imported models (Custom Model Import) on the request path and behind it.
//!
//! - [`Registry`]: the imported models this instance has an engine for, each a local
//!   llama.cpp engine over its own copy of the GGUF, behind a [`Pool`] of its own in the
//!   model's region. Engines are started when a job registers the model, or on the first
//!   call after a restart, and dropped when the model is deleted (here or, within a tick,
//!   through another instance sharing the store).
//! - the server's `imported::source` (the `s3://bucket/key` of a job, read through the
//!   object-store layout of invocation logs) and `imported::job` (the runner that copies,
//!   checks and registers, and the background driver).
//! - an imported-model ARN as a runtime `modelId` is resolved in [`crate::resolve`].
//!
//! Every imported model shares one model description ([`Registry::model`]): Meta Llama
//! native bodies for InvokeModel (what Bedrock uses for imported Llama-family models),
//! streaming, text in and out, offered on demand in every region with the
//! `[imported_models]` quota. The plan of a call names the ARN, so its quota buckets and
//! its engine are its own; that the model runs only in its job's region is checked when
//! the ARN is resolved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use spillway_backends::local::{Engine as LocalEngine, LocalBackend, Settings};
use spillway_backends::{Backend, Pool};
use spillway_catalog::{Access, BodyFormat, Catalog, Model, Offer};

use crate::live::Live;

/// The backend name imported models' pools and offers carry (it is no catalog backend).
pub const BACKEND: &str = "imported";

/// One imported model this instance can run.
#[derive(Debug)]
pub struct Serving {
    pub arn: String,
    pub region: String,
    pub pool: Arc<Pool>,
}

/// The imported models with an engine on this instance, by ARN.
#[derive(Debug)]
pub struct Registry {
    live: Live<Serving>,
    model: Model,
    cooldown: Duration,
}

impl Registry {
    pub fn new(catalog: &Catalog) -> Self {
        Self {
            live: Live::default(),
            model: description(catalog),
            cooldown: Duration::from_millis(catalog.routing.cooldown_ms),
        }
    }

    /// What every imported model is, for the request path (body format, limits, the
    /// quota of its offer in each region).
    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn get(&self, arn: &str) -> Option<Arc<Serving>> {
        self.live.get(arn)
    }

    /// The model's engine, started (loading in the background) if this instance has
    /// none yet; `None` once the model was deleted here. Two calls racing here get the
    /// same engine.
    pub fn serve(&self, catalog: &Catalog, arn: &str, region: &str, file: &Path) -> Option<Arc<Serving>> {
        self.live.get_or_insert_with(arn, || {
            let cfg = catalog.imported_models.engine_config(catalog, file.to_path_buf());
            let engine = LocalEngine::new(Settings::from_config(&cfg));
            engine.start();
            let backend = Backend::Local(LocalBackend::new(engine, &cfg, region));
            let pool = Arc::new(Pool::new(region.to_owned(), BACKEND.to_owned(), backend, self.cooldown));
            tracing::info!(arn, file = %file.display(), "imported model engine started");
            Serving { arn: arn.to_owned(), region: region.to_owned(), pool }
        })
    }

    /// The model was deleted: its engine goes now (its memory is freed when the calls
    /// running on it end) and is never started again.
    pub fn delete(&self, arn: &str) {
        self.live.delete(arn);
    }

    /// Drops the engine of a job that did not complete (the job may run again).
    pub fn evict(&self, arn: &str) {
        self.live.evict(arn);
    }

    /// Keeps only the engines of models that still exist.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.live.retain(|arn, _| keep(arn));
    }
}

/// The description every imported model shares.
fn description(catalog: &Catalog) -> Model {
    let settings = &catalog.imported_models;
    let engine = settings.engine_config(catalog, PathBuf::new());
    let offers: BTreeMap<String, Offer> = catalog
        .regions
        .iter()
        .map(|r| {
            let offer = Offer {
                region: r.name.clone(),
                access: Access::OnDemand,
                backend: BACKEND.to_owned(),
                backend_model: BACKEND.to_owned(),
                rpm: settings.rpm,
                tpm: settings.tpm,
            };
            (r.name.clone(), offer)
        })
        .collect();
    Model {
        id: "imported-model".to_owned(),
        name: "Imported model".to_owned(),
        provider: "Custom Model Import".to_owned(),
        body_format: BodyFormat::Llama,
        input_modalities: vec!["TEXT".to_owned()],
        output_modalities: vec!["TEXT".to_owned()],
        streaming: true,
        lifecycle: "ACTIVE".to_owned(),
        // The engine's own default answer length; its context window is the limit.
        default_max_tokens: engine.default_max_tokens,
        max_tokens_limit: Some(engine.context),
        dimensions: None,
        customizations: Vec::new(),
        output_burndown: catalog.quotas.output_burndown,
        offers,
        tiers: spillway_catalog::ModelTiers::default(),
        provisioned: None,
    }
}

/// `arn:aws:bedrock:{region}:{account}:model-import-job/{id}`.
pub fn job_arn(region: &str, account: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{region}:{account}:model-import-job/{id}")
}

/// `arn:aws:bedrock:{region}:{account}:imported-model/{id}`.
pub fn model_arn(region: &str, account: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{region}:{account}:imported-model/{id}")
}

/// 12 lowercase alphanumerics, as Bedrock's job and model ids.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// Where the weights of imported model `id` live, relative to the data directory (as
/// the store keeps it, so the data directory may move): `imported-models/{id}.gguf`.
pub fn weights_file(id: &str) -> PathBuf {
    Path::new("imported-models").join(format!("{id}.gguf"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_description_offered_everywhere_with_the_configured_quota() {
        let catalog = spillway_catalog::builtin().unwrap();
        let registry = Registry::new(&catalog);
        let m = registry.model();
        assert_eq!(m.body_format, BodyFormat::Llama);
        assert_eq!(m.offers.len(), catalog.regions.len());
        let offer = m.offer("eu-west-3").unwrap();
        assert_eq!((offer.rpm, offer.tpm), (catalog.imported_models.rpm, catalog.imported_models.tpm));
        assert_eq!(offer.access, Access::OnDemand);
        assert!(registry.get("arn:aws:bedrock:us-east-1:1:imported-model/abcdefghijkl").is_none());
    }

    #[test]
    fn ids_and_arns_follow_bedrock() {
        let id = new_id();
        assert!(id.len() == 12 && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        assert_eq!(job_arn("us-east-1", "1", "abc"), "arn:aws:bedrock:us-east-1:1:model-import-job/abc");
        assert_eq!(model_arn("us-east-1", "1", "abc"), "arn:aws:bedrock:us-east-1:1:imported-model/abc");
        assert_eq!(weights_file("abc"), Path::new("imported-models/abc.gguf"));
    }
}
