//! `[imported_models]`: what every model brought in by CreateModelImportJob gets. An
//! imported model is a GGUF file run by the embedded local engine, on demand, in the
//! region its import job ran in; these settings give it a quota and an engine.

use serde::Deserialize;

use crate::model::{BackendSpec, Catalog};
use crate::raw::LocalBackend;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportedModels {
    /// On-demand requests per minute of one imported model, per account and region.
    #[serde(default = "ImportedModels::default_rpm")]
    pub rpm: u32,
    /// On-demand tokens per minute of one imported model, per account and region.
    #[serde(default = "ImportedModels::default_tpm")]
    pub tpm: u32,
    /// A `local` backend whose engine settings (threads, slots, context, seed, queue,
    /// default_max_tokens) imported models run with; the catalog's first `local`
    /// backend when absent, else the local defaults. Its `model_file` is not used.
    pub engine: Option<String>,
}

impl ImportedModels {
    fn default_rpm() -> u32 {
        600
    }

    fn default_tpm() -> u32 {
        600_000
    }

    /// The local-engine settings of an imported model whose weights are `model_file`.
    pub fn engine_config(&self, catalog: &Catalog, model_file: std::path::PathBuf) -> LocalBackend {
        let local = |name: &String| match catalog.backends.get(name) {
            Some(BackendSpec::Local(cfg)) => Some(cfg.clone()),
            _ => None,
        };
        let base = match &self.engine {
            Some(name) => local(name),
            None => catalog.backends.keys().find_map(local),
        };
        LocalBackend { model_file: Some(model_file), ..base.unwrap_or_default() }
    }
}

impl Default for ImportedModels {
    fn default() -> Self {
        Self { rpm: Self::default_rpm(), tpm: Self::default_tpm(), engine: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_settings_come_from_the_named_or_first_local_backend() {
        let mut catalog = crate::builtin().unwrap();
        let file = std::path::PathBuf::from("/data/imported-models/abc.gguf");
        let cfg = catalog.imported_models.engine_config(&catalog, file.clone());
        assert_eq!(cfg.model_file.as_ref(), Some(&file));
        let Some(BackendSpec::Local(builtin)) = catalog.backends.get("local") else { panic!("no local backend") };
        assert_eq!(cfg.context, builtin.context);
        // Without any local backend (`serve --backend sim`), the local defaults.
        catalog = catalog.with_sim_backends();
        let cfg = catalog.imported_models.engine_config(&catalog, file);
        assert_eq!(cfg.context, LocalBackend::default().context);
    }

    #[test]
    fn the_engine_must_be_a_local_backend() {
        let text = crate::BUILTIN_TOML.replace("[imported_models]\n", "[imported_models]\nengine = \"sim\"\n");
        let e = crate::from_toml(&text).unwrap_err().to_string();
        assert!(e.starts_with("imported_models.engine:") && e.contains("`sim`"), "{e}");
        let text = crate::BUILTIN_TOML.replace("[imported_models]\n", "[imported_models]\nengine = \"local\"\n");
        assert_eq!(crate::from_toml(&text).unwrap().imported_models.engine.as_deref(), Some("local"));
    }
}
