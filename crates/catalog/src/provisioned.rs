//! Provisioned throughput in the catalog (DESIGN.md §1, §2 rule 6).
//!
//! A model unit is real capacity: per model, the catalog says what one unit is worth
//! (`tokens_per_minute` it may process, `concurrency` slots it holds in the backend pool
//! that serves the model in the region) and what it costs per hour, with and without a
//! commitment. The backends that provide it are the model's offers in the regions where
//! it can be bought. Custom models (a fine-tuned endpoint, say) are declared with the
//! same numbers plus the one region and backend that serve them; Bedrock runs a custom
//! model only through provisioned throughput, and so does spillway.
//!
//! ```toml
//! [provisioning]
//! delay_ms = 5000            # Creating → InService (and Updating → InService)
//!
//! [models.provisioned]       # inside a [[models]] entry
//! tokens_per_minute = 20000  # one unit's throughput
//! concurrency = 2            # one unit's concurrent requests
//! regions = ["us-east-1"]    # where it can be bought (default: everywhere it is offered)
//! variants = ["18k"]         # context-length variants accepted as modelId (`…:18k`)
//! hourly_price = { no_commitment = 39.6, one_month = 35.0, six_months = 22.0 }
//!
//! [[custom_models]]
//! id = "abcdef012345"        # the ARN's last part: custom-model/{base_model}/{id}
//! name = "support-bot"       # also accepted as modelId by CreateProvisionedModelThroughput
//! base_model = "anthropic.claude-3-haiku-20240307-v1:0"
//! region = "us-east-1"
//! backend = "vllm"           # default: the region's, then the file's default_backend
//! backend_model = "support-bot-ft"
//! tokens_per_minute = 10000
//! concurrency = 1
//! hourly_price = { one_month = 20.0 }
//! ```

use std::collections::BTreeMap;

use hashbrown::HashMap;

use serde::Deserialize;

use crate::load::ConfigError;
use crate::model::{Access, BackendSpec, Model, Offer};
use crate::raw;

// === Raw (as written) ===

/// `[provisioning]`: how long provisioning takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provisioning {
    /// Creating → InService and Updating → InService take this long.
    #[serde(default = "Provisioning::default_delay")]
    pub delay_ms: u64,
}

impl Provisioning {
    fn default_delay() -> u64 {
        5_000
    }
}

impl Default for Provisioning {
    fn default() -> Self {
        Self { delay_ms: Self::default_delay() }
    }
}

/// USD per model unit and hour. A commitment term with no price cannot be bought.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HourlyPrice {
    pub no_commitment: Option<f64>,
    pub one_month: Option<f64>,
    pub six_months: Option<f64>,
}

/// `[models.provisioned]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionedConfig {
    pub tokens_per_minute: u64,
    pub concurrency: u32,
    pub regions: Option<Vec<String>>,
    #[serde(default)]
    pub variants: Vec<String>,
    pub hourly_price: HourlyPrice,
}

/// `[[custom_models]]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomModelConfig {
    pub id: String,
    pub name: String,
    pub base_model: String,
    pub region: String,
    pub backend: Option<String>,
    pub backend_model: Option<String>,
    pub tokens_per_minute: u64,
    pub concurrency: u32,
    pub hourly_price: HourlyPrice,
}

// === Validated ===

/// The commitment terms of CreateProvisionedModelThroughput (none: hourly, no commitment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commitment {
    OneMonth,
    SixMonths,
}

impl Commitment {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "OneMonth" => Some(Self::OneMonth),
            "SixMonths" => Some(Self::SixMonths),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OneMonth => "OneMonth",
            Self::SixMonths => "SixMonths",
        }
    }

    /// Length of the term (a month counted as 30 days).
    pub fn days(self) -> i64 {
        match self {
            Self::OneMonth => 30,
            Self::SixMonths => 180,
        }
    }
}

impl HourlyPrice {
    pub fn for_term(&self, term: Option<Commitment>) -> Option<f64> {
        match term {
            None => self.no_commitment,
            Some(Commitment::OneMonth) => self.one_month,
            Some(Commitment::SixMonths) => self.six_months,
        }
    }
}

/// What one model unit is worth and costs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unit {
    pub tokens_per_minute: u64,
    pub concurrency: u32,
    pub hourly_price: HourlyPrice,
}

/// A foundation model's provisioned-throughput offer.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvisionedSpec {
    pub unit: Unit,
    /// Regions where units can be bought; each offers the model.
    pub regions: Vec<String>,
    pub variants: Vec<String>,
}

/// A custom model: served by one backend in one region, only through provisioned throughput.
#[derive(Debug, Clone)]
pub struct CustomModel {
    pub id: String,
    pub name: String,
    /// The foundation model it was customized from (its body format and limits apply).
    pub base_model: String,
    /// Where it runs (`rpm`/`tpm` are 0: it has no on-demand quota).
    pub offer: Offer,
    pub unit: Unit,
}

impl CustomModel {
    /// `arn:aws:bedrock:{region}:{account}:custom-model/{base}/{id}`, in the caller's account.
    pub fn arn(&self, account: &str) -> String {
        format!("arn:aws:bedrock:{}:{account}:custom-model/{}/{}", self.offer.region, self.base_model, self.id)
    }
}

// === Validation ===

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.into(), message: message.into() }
}

fn check_unit(key: &str, tokens_per_minute: u64, concurrency: u32, price: &HourlyPrice) -> Result<Unit, ConfigError> {
    if tokens_per_minute == 0 {
        return Err(invalid(format!("{key}.tokens_per_minute"), "must be at least 1"));
    }
    if concurrency == 0 {
        return Err(invalid(format!("{key}.concurrency"), "must be at least 1"));
    }
    let terms =
        [("no_commitment", price.no_commitment), ("one_month", price.one_month), ("six_months", price.six_months)];
    if let Some((term, _)) = terms.iter().find(|(_, p)| p.is_some_and(|p| !p.is_finite() || p < 0.0)) {
        return Err(invalid(format!("{key}.hourly_price.{term}"), "must be a price of 0 or more"));
    }
    if terms.iter().all(|(_, p)| p.is_none()) {
        return Err(invalid(format!("{key}.hourly_price"), "set a price for at least one term"));
    }
    Ok(Unit { tokens_per_minute, concurrency, hourly_price: *price })
}

/// `models[i].provisioned`, given the model's validated offers.
pub(crate) fn spec(
    key: &str,
    raw: ProvisionedConfig,
    offers: &BTreeMap<String, Offer>,
) -> Result<ProvisionedSpec, ConfigError> {
    let key = format!("{key}.provisioned");
    let unit = check_unit(&key, raw.tokens_per_minute, raw.concurrency, &raw.hourly_price)?;
    let regions = match raw.regions {
        None => offers.keys().cloned().collect(),
        Some(regions) => {
            for (j, r) in regions.iter().enumerate() {
                if !offers.contains_key(r) {
                    let message = format!("the model is not offered in `{r}`, so no backend there can provide units");
                    return Err(invalid(format!("{key}.regions[{j}]"), message));
                }
            }
            regions
        }
    };
    for (j, v) in raw.variants.iter().enumerate() {
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(invalid(format!("{key}.variants[{j}]"), "a variant is lowercase letters, digits and `-`"));
        }
    }
    Ok(ProvisionedSpec { unit, regions, variants: raw.variants })
}

/// What `[[custom_models]]` is checked against.
pub(crate) struct Context<'a> {
    pub regions: &'a BTreeMap<String, raw::Region>,
    pub default_backend: Option<&'a str>,
    pub backends: &'a BTreeMap<String, BackendSpec>,
    pub models: &'a [Model],
    pub model_index: &'a HashMap<String, usize>,
    /// Identifiers already taken (models and system profiles).
    pub taken: &'a dyn Fn(&str) -> bool,
}

pub(crate) fn custom_models(raw: Vec<CustomModelConfig>, cx: &Context<'_>) -> Result<Vec<CustomModel>, ConfigError> {
    let mut out: Vec<CustomModel> = Vec::with_capacity(raw.len());
    for (i, c) in raw.into_iter().enumerate() {
        let key = format!("custom_models[{i}]");
        if c.id.len() != 12 || !c.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
            return Err(invalid(format!("{key}.id"), "a custom model id is 12 lowercase letters and digits"));
        }
        if c.name.is_empty() || c.name.len() > 63 || !is_model_name(&c.name) {
            return Err(invalid(format!("{key}.name"), "a name matches ([0-9a-zA-Z][_-]?)+, at most 63 characters"));
        }
        if out.iter().any(|o| o.id == c.id) {
            return Err(invalid(format!("{key}.id"), format!("custom model `{}` is defined twice", c.id)));
        }
        if out.iter().any(|o| o.name == c.name) || (cx.taken)(&c.name) {
            return Err(invalid(format!("{key}.name"), format!("identifier `{}` is already used", c.name)));
        }
        let Some(&mi) = cx.model_index.get(&c.base_model) else {
            let message = format!("model `{}` is not defined under [[models]]", c.base_model);
            return Err(invalid(format!("{key}.base_model"), message));
        };
        if cx.models[mi].is_embedding() {
            return Err(invalid(format!("{key}.base_model"), "custom models are text models"));
        }
        let Some(region) = cx.regions.get(&c.region) else {
            return Err(invalid(
                format!("{key}.region"),
                format!("region `{}` is not defined under [regions]", c.region),
            ));
        };
        let backend = c
            .backend
            .clone()
            .or_else(|| region.default_backend.clone())
            .or_else(|| cx.default_backend.map(str::to_owned))
            .ok_or_else(|| {
                invalid(format!("{key}.backend"), "no backend: set one here, in the region, or default_backend")
            })?;
        if !cx.backends.contains_key(&backend) {
            return Err(invalid(
                format!("{key}.backend"),
                format!("backend `{backend}` is not defined under [backends]"),
            ));
        }
        let unit = check_unit(&key, c.tokens_per_minute, c.concurrency, &c.hourly_price)?;
        let offer = Offer {
            region: c.region.clone(),
            access: Access::OnDemand,
            backend,
            backend_model: c.backend_model.unwrap_or_else(|| c.name.clone()),
            rpm: 0,
            tpm: 0,
        };
        out.push(CustomModel { id: c.id, name: c.name, base_model: c.base_model, offer, unit });
    }
    Ok(out)
}

/// `([0-9a-zA-Z][_-]?)+`: the name pattern of provisioned and custom models.
pub fn is_model_name(s: &str) -> bool {
    let mut prev_sep = true;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            prev_sep = false;
        } else if matches!(c, '_' | '-') && !prev_sep {
            prev_sep = true;
        } else {
            return false;
        }
    }
    !s.is_empty()
}

#[cfg(test)]
mod tests;
