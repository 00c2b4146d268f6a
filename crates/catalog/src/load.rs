//! Raw config → validated [`Catalog`]: every cross-reference is checked here, and every
//! error names the key it is about.

use std::collections::{BTreeMap, HashSet};

use hashbrown::HashMap;

use crate::model::{AccessKey, Account, BackendSpec, Catalog, Model, Offer, Price, Profile, Region};
use crate::{provisioned, raw};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// TOML syntax, a wrong type or an unknown key; `key` is the path to it.
    #[error("{key}: {message}")]
    Parse { key: String, message: String },
    /// A value that parses but does not fit with the rest of the file.
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.into(), message: message.into() }
}

/// Parse and validate a TOML configuration.
pub fn from_toml(text: &str) -> Result<Catalog, ConfigError> {
    let de = toml::Deserializer::parse(text)
        .map_err(|e| ConfigError::Parse { key: "(syntax)".into(), message: e.message().to_owned() })?;
    let raw: raw::Config = serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let message = e.into_inner().message().to_owned();
        ConfigError::Parse { key: if key == "." { "(root)".into() } else { key }, message }
    })?;
    build(raw)
}

fn build(raw: raw::Config) -> Result<Catalog, ConfigError> {
    if raw.regions.is_empty() {
        return Err(invalid("regions", "at least one region is required"));
    }
    if let Err((key, message)) = raw.server.check() {
        return Err(invalid(key, message));
    }
    if raw.quotas.output_burndown < 1.0 || raw.quotas.cross_region_multiplier <= 0.0 {
        return Err(invalid("quotas", "output_burndown must be at least 1 and cross_region_multiplier above 0"));
    }
    if !raw.regions.contains_key(&raw.default_region) {
        return Err(invalid(
            "default_region",
            format!("region `{}` is not defined under [regions]", raw.default_region),
        ));
    }
    let backends: BTreeMap<String, BackendSpec> = raw
        .backends
        .into_iter()
        .map(|(name, b)| {
            let spec = match b {
                raw::Backend::Sim(s) => BackendSpec::Sim(s),
                raw::Backend::OpenAi(o) => BackendSpec::OpenAi(o),
                raw::Backend::Local(l) => BackendSpec::Local(l),
            };
            (name, spec)
        })
        .collect();
    for (name, spec) in &backends {
        check_backend(name, spec)?;
    }
    let known_backend = |key: &str, name: &str| -> Result<(), ConfigError> {
        if backends.contains_key(name) {
            Ok(())
        } else {
            Err(invalid(key, format!("backend `{name}` is not defined under [backends]")))
        }
    };
    if let Some(b) = &raw.default_backend {
        known_backend("default_backend", b)?;
    }
    for (name, region) in &raw.regions {
        if let Some(b) = &region.default_backend {
            known_backend(&format!("regions.{name}.default_backend"), b)?;
        }
    }
    for (name, spec) in &backends {
        if let BackendSpec::Local(l) = spec {
            if let Some(r) = l.regions.keys().find(|r| !raw.regions.contains_key(*r)) {
                let message = format!("region `{r}` is not defined under [regions]");
                return Err(invalid(format!("backends.{name}.regions.{r}"), message));
            }
        }
    }

    let mut models = Vec::with_capacity(raw.models.len());
    let mut model_index = HashMap::new();
    for (i, m) in raw.models.into_iter().enumerate() {
        let key = format!("models[{i}]");
        if model_index.insert(m.id.clone(), i).is_some() {
            return Err(invalid(format!("{key}.id"), format!("model `{}` is defined twice", m.id)));
        }
        let mut offers = BTreeMap::new();
        for (region, offer) in m.regions {
            let okey = format!("{key}.regions.{region}");
            let Some(region_cfg) = raw.regions.get(&region) else {
                return Err(invalid(okey, format!("region `{region}` is not defined under [regions]")));
            };
            let backend = offer
                .backend
                .clone()
                .or_else(|| m.backend.clone())
                .or_else(|| region_cfg.default_backend.clone())
                .or_else(|| raw.default_backend.clone())
                .ok_or_else(|| {
                    invalid(format!("{okey}.backend"), "no backend: set one here, in the region, or default_backend")
                })?;
            known_backend(&format!("{okey}.backend"), &backend)?;
            let backend_model = offer.backend_model.or_else(|| m.backend_model.clone()).unwrap_or_else(|| m.id.clone());
            offers.insert(
                region.clone(),
                Offer { region, access: offer.access, backend, backend_model, rpm: offer.rpm, tpm: offer.tpm },
            );
        }
        if m.default_max_tokens == 0 {
            return Err(invalid(format!("{key}.default_max_tokens"), "must be at least 1"));
        }
        let provisioned = m.provisioned.map(|p| provisioned::spec(&key, p, &offers)).transpose()?;
        let tiers = match m.service_tiers {
            Some(list) if list.is_empty() => {
                return Err(invalid(format!("{key}.service_tiers"), "lists at least one tier"));
            }
            Some(list) => crate::tiers::ModelTiers { service_tiers: list, latency_optimized: m.latency_optimized },
            None => crate::tiers::ModelTiers { latency_optimized: m.latency_optimized, ..Default::default() },
        };
        models.push(Model {
            id: m.id,
            name: m.name,
            provider: m.provider,
            body_format: m.body_format,
            input_modalities: m.input_modalities,
            output_modalities: m.output_modalities,
            streaming: m.streaming,
            lifecycle: m.lifecycle,
            default_max_tokens: m.default_max_tokens,
            max_tokens_limit: m.max_tokens_limit,
            dimensions: m.dimensions,
            customizations: m.customizations,
            output_burndown: m.output_burndown.unwrap_or(raw.quotas.output_burndown),
            offers,
            provisioned,
            tiers,
        });
    }

    let mut profiles = Vec::with_capacity(raw.profiles.len());
    let mut profile_index = HashMap::new();
    for (i, p) in raw.profiles.into_iter().enumerate() {
        let key = format!("profiles[{i}]");
        if profile_index.insert(p.id.clone(), i).is_some() || model_index.contains_key(&p.id) {
            return Err(invalid(format!("{key}.id"), format!("identifier `{}` is already used", p.id)));
        }
        let Some(&mi) = model_index.get(&p.model) else {
            return Err(invalid(
                format!("{key}.model"),
                format!("model `{}` is not defined under [[models]]", p.model),
            ));
        };
        let regions = match p.regions {
            crate::raw::ProfileRegions::Listed(list) => list,
            crate::raw::ProfileRegions::Keyword(k) if k == "all" => raw.regions.keys().cloned().collect(),
            crate::raw::ProfileRegions::Keyword(k) => {
                return Err(invalid(format!("{key}.regions"), format!("`{k}`: expected a list of regions or \"all\"")))
            }
        };
        if regions.is_empty() {
            return Err(invalid(format!("{key}.regions"), "a profile needs at least one region"));
        }
        let mut seen = HashSet::new();
        for (j, r) in regions.iter().enumerate() {
            if !raw.regions.contains_key(r) {
                return Err(invalid(
                    format!("{key}.regions[{j}]"),
                    format!("region `{r}` is not defined under [regions]"),
                ));
            }
            if !seen.insert(r) {
                return Err(invalid(format!("{key}.regions[{j}]"), format!("region `{r}` is listed twice")));
            }
        }
        if !regions.iter().any(|r| models[mi].offers.contains_key(r)) {
            return Err(invalid(
                format!("{key}.regions"),
                format!("model `{}` is offered in none of these regions, so the profile could never run", p.model),
            ));
        }
        let description = p
            .description
            .unwrap_or_else(|| format!("Routes requests to {} in {}.", models[mi].name, regions.join(", ")));
        profiles.push(Profile { id: p.id, name: p.name, description, model: p.model, regions, rpm: p.rpm, tpm: p.tpm });
    }

    let taken = |id: &str| model_index.contains_key(id) || profile_index.contains_key(id);
    let custom_models = provisioned::custom_models(
        raw.custom_models,
        &provisioned::Context {
            regions: &raw.regions,
            default_backend: raw.default_backend.as_deref(),
            backends: &backends,
            models: &models,
            model_index: &model_index,
            taken: &taken,
        },
    )?;

    if let Some(name) = &raw.imported_models.engine {
        if !matches!(backends.get(name), Some(BackendSpec::Local(_))) {
            return Err(invalid("imported_models.engine", format!("`{name}` is not a backend of kind \"local\"")));
        }
    }

    if let Err((key, message)) = raw.batch.check() {
        return Err(invalid(key, message));
    }
    let mut prices = HashMap::new();
    for (model, price) in raw.prices {
        if !model_index.contains_key(&model) {
            return Err(invalid(format!("prices.{model}"), format!("model `{model}` is not defined under [[models]]")));
        }
        let mut by_region = HashMap::new();
        for (region, rp) in price.regions {
            if !raw.regions.contains_key(&region) {
                return Err(invalid(
                    format!("prices.{model}.regions.{region}"),
                    format!("region `{region}` is not defined"),
                ));
            }
            by_region.insert(region, Price::new(rp.input_per_1k, rp.output_per_1k, None, None));
        }
        prices.insert(
            model,
            (
                Price::new(price.input_per_1k, price.output_per_1k, price.cache_read_per_1k, price.cache_write_per_1k),
                by_region,
            ),
        );
    }

    let mut account_ids = HashSet::new();
    // A key must name one account, or authentication would depend on file order.
    let mut keys_seen = HashSet::new();
    for (i, a) in raw.accounts.iter().enumerate() {
        for (j, k) in a.access_keys.iter().enumerate() {
            if !keys_seen.insert(k.id.clone()) {
                return Err(invalid(
                    format!("accounts[{i}].access_keys[{j}].id"),
                    format!("access key `{}` is listed twice", k.id),
                ));
            }
        }
        for (j, k) in a.api_keys.iter().enumerate() {
            if !keys_seen.insert(k.clone()) {
                return Err(invalid(format!("accounts[{i}].api_keys[{j}]"), "this API key is listed twice"));
            }
        }
    }
    let mut accounts = Vec::with_capacity(raw.accounts.len());
    for (i, a) in raw.accounts.into_iter().enumerate() {
        if a.id.len() != 12 || !a.id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(format!("accounts[{i}].id"), "an account id is 12 digits"));
        }
        if !account_ids.insert(a.id.clone()) {
            return Err(invalid(format!("accounts[{i}].id"), format!("account `{}` is defined twice", a.id)));
        }
        accounts.push(Account {
            id: a.id,
            access_keys: a
                .access_keys
                .into_iter()
                .map(|k| AccessKey { id: k.id, secret: k.secret, session_tokens: k.session_tokens })
                .collect(),
            api_keys: a.api_keys,
        });
    }

    raw.cluster.check()?;
    check_tiers(&raw.tiers, &models, &model_index)?;
    let regions = raw.regions.into_iter().map(|(name, r)| Region { name, description: r.description }).collect();
    Ok(Catalog {
        default_region: raw.default_region,
        default_account: raw.default_account,
        backends,
        regions,
        models,
        profiles,
        accounts,
        routing: raw.routing,
        quotas: raw.quotas,
        invocation_logs: raw.invocation_logs,
        store: raw.store,
        cluster: raw.cluster,
        tiers: raw.tiers,
        custom_models,
        provisioning: raw.provisioning,
        imported_models: raw.imported_models,
        server: raw.server,
        batch: raw.batch,
        prices,
        model_index,
        profile_index,
    })
}

/// The floors' range, and every reservation names a model that offers the reserved tier.
fn check_tiers(
    tiers: &crate::tiers::TierSettings,
    models: &[Model],
    model_index: &HashMap<String, usize>,
) -> Result<(), ConfigError> {
    tiers.check().map_err(|(key, message)| invalid(key, message))?;
    for (i, r) in tiers.reserved.iter().enumerate() {
        let key = format!("tiers.reserved[{i}].model");
        let Some(&mi) = model_index.get(&r.model) else {
            return Err(invalid(key, format!("model `{}` is not defined under [[models]]", r.model)));
        };
        if !models[mi].tiers.offers(crate::tiers::ServiceTierType::Reserved) {
            return Err(invalid(key, format!("model `{}` does not offer the reserved tier (service_tiers)", r.model)));
        }
    }
    Ok(())
}

fn check_backend(name: &str, spec: &BackendSpec) -> Result<(), ConfigError> {
    let key = format!("backends.{name}");
    match spec {
        BackendSpec::Sim(s) => {
            if s.max_concurrency == 0 {
                return Err(invalid(format!("{key}.max_concurrency"), "must be at least 1"));
            }
            if let Some(f) = &s.failure {
                if !(0.0..=1.0).contains(&f.rate) {
                    return Err(invalid(format!("{key}.failure.rate"), "must be between 0.0 and 1.0"));
                }
            }
        }
        BackendSpec::OpenAi(o) => {
            if !(o.base_url.starts_with("http://") || o.base_url.starts_with("https://")) {
                return Err(invalid(format!("{key}.base_url"), "must start with http:// or https://"));
            }
            if o.max_concurrency == 0 {
                return Err(invalid(format!("{key}.max_concurrency"), "must be at least 1"));
            }
        }
        BackendSpec::Local(l) => check_local(&key, l)?,
    }
    Ok(())
}

fn check_local(key: &str, l: &crate::model::LocalBackend) -> Result<(), ConfigError> {
    let at_least_one = [("threads", l.threads), ("slots", l.slots), ("region_slots", l.region_slots)];
    for (name, value) in at_least_one {
        if value == Some(0) {
            return Err(invalid(format!("{key}.{name}"), "must be at least 1"));
        }
    }
    if let Some((region, _)) = l.regions.iter().find(|(_, n)| **n == 0) {
        return Err(invalid(format!("{key}.regions.{region}"), "must be at least 1"));
    }
    if l.default_max_tokens == 0 {
        return Err(invalid(format!("{key}.default_max_tokens"), "must be at least 1"));
    }
    if !(256..=131_072).contains(&l.context) {
        return Err(invalid(format!("{key}.context"), "must be between 256 and 131072 tokens"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
default_region = "r1"
default_backend = "s"
[backends.s]
kind = "sim"
[regions.r1]
[[models]]
id = "m.one-v1"
name = "One"
provider = "Acme"
body_format = "anthropic"
[models.regions]
r1 = { rpm = 10, tpm = 1000 }
"#;

    #[test]
    fn minimal_config_loads() {
        let c = from_toml(MINIMAL).unwrap();
        let offer = c.model("m.one-v1").unwrap().offer("r1").unwrap();
        assert_eq!(offer.backend, "s");
        assert_eq!(offer.backend_model, "m.one-v1");
    }

    #[test]
    fn unknown_key_is_named_with_its_path() {
        let text = MINIMAL.replace("r1 = { rpm = 10", "r1 = { rmp = 5, rpm = 10");
        let e = from_toml(&text).unwrap_err().to_string();
        assert!(e.contains("models[0].regions.r1"), "{e}");
        assert!(e.contains("rmp"), "{e}");
    }

    #[test]
    fn unknown_top_level_key_is_named() {
        let e = from_toml(&format!("colour = 1\n{MINIMAL}")).unwrap_err().to_string();
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn dangling_references_are_named() {
        let e = from_toml(&MINIMAL.replace("default_backend = \"s\"", "default_backend = \"nope\"")).unwrap_err();
        assert!(e.to_string().starts_with("default_backend:"), "{e}");
        let text = format!("{MINIMAL}\n[[profiles]]\nid = \"x.m.one-v1\"\nname = \"X\"\nmodel = \"m.one-v1\"\nregions = [\"r1\", \"r9\"]\n");
        let e = from_toml(&text).unwrap_err().to_string();
        assert!(e.starts_with("profiles[0].regions[1]:"), "{e}");
    }

    #[test]
    fn wrong_type_is_named() {
        let e = from_toml(&MINIMAL.replace("rpm = 10", "rpm = \"ten\"")).unwrap_err().to_string();
        assert!(e.contains("models[0].regions.r1.rpm"), "{e}");
    }
}
