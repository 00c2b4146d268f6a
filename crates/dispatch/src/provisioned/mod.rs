//! Provisioned throughput on the request path and behind it (DESIGN.md §2 rule 6).
//!
//! - [`Registry`]: the provisioned models this instance serves now, each holding its
//!   [`Reserved`] share of the backend pool that serves its model (model units × the
//!   catalog's per-unit concurrency). While an entry lives, on-demand traffic in that
//!   pool has that much less room.
//! - [`served`]: what a `modelId` of CreateProvisionedModelThroughput (or a stored
//!   model ARN) names in the catalog: a foundation model sold as provisioned throughput in
//!   the region (optionally a context-length variant, `anthropic.claude-v2:1:18k`), or a
//!   custom model declared in the configuration.
//! - the server's `provisioned::driver`: the background task that moves statuses along,
//!   reserves capacity (again after a restart) and accrues the hourly charges.
//! - a provisioned-model ARN as a runtime `modelId` is resolved in
//!   [`crate::resolve`], with the other identifier kinds.

use std::sync::Arc;

use spillway_backends::Reserved;
use spillway_catalog::{Catalog, CustomModel, Model, Offer, Unit};
use spillway_wire::arn::{self, Arn};

use crate::live::Live;

/// A provisioned model in service on this instance.
#[derive(Debug)]
pub struct Active {
    pub arn: String,
    /// The foundation-model or custom-model ARN it serves.
    pub model_arn: String,
    /// The catalog id of the foundation model that runs (a custom model's base model).
    pub foundation_model: String,
    pub units: u32,
    /// Units × the unit's tokens per minute: its own TPM budget.
    pub tokens_per_minute: u64,
    pub reserved: Reserved,
}

/// The provisioned models this instance serves, by ARN. Dropping an entry (delete,
/// replace) gives its slots back once the calls still running on it end; a deleted ARN
/// never comes back (see [`Live`]).
#[derive(Debug, Default)]
pub struct Registry {
    live: Live<Active>,
}

impl Registry {
    pub fn get(&self, arn: &str) -> Option<Arc<Active>> {
        self.live.get(arn)
    }

    /// The foundation model behind a provisioned ARN, for usage attribution.
    pub fn foundation_model(&self, arn: &str) -> Option<String> {
        self.get(arn).map(|a| a.foundation_model.clone())
    }

    /// Serve `active`; refused (and its slots given back) if it was deleted here.
    pub fn insert(&self, active: Active) -> bool {
        let arn = active.arn.clone();
        self.live.insert(&arn, active)
    }

    /// The provisioned throughput was deleted: no call runs on it from now on.
    pub fn delete(&self, arn: &str) {
        self.live.delete(arn);
    }

    pub fn retain(&self, keep: impl Fn(&Active) -> bool) {
        self.live.retain(|_, a| keep(a));
    }
}

// === The model a provisioned throughput serves ===

/// A model that can be bought as provisioned throughput in a region.
#[derive(Debug, Clone)]
pub struct Served<'c> {
    /// As it is stored and reported (`modelArn`): a foundation-model ARN (with the
    /// variant the caller named, if any) or a custom-model ARN.
    pub model_arn: String,
    pub foundation_model_arn: String,
    /// The foundation model that runs: its body format, limits and burn-down apply.
    pub model: &'c Model,
    /// The backend that provides the units.
    pub offer: &'c Offer,
    pub unit: Unit,
    pub custom: Option<&'c CustomModel>,
}

/// What [`served`] refuses (the server's `error::from_not_served` gives it its shape).
#[derive(Debug, Clone, PartialEq)]
pub enum NotServed {
    Unknown,
    NotSold(String),
}

/// Resolve a foundation model ID or ARN (optionally with a variant), a custom-model ARN,
/// or a custom model's name or id, for `account` in `region`.
pub fn served<'c>(catalog: &'c Catalog, region: &str, account: &str, id: &str) -> Result<Served<'c>, NotServed> {
    let Some(parsed) = Arn::parse(id) else {
        if let Some(custom) = catalog.custom_model(id) {
            return custom_model(catalog, custom, region, account);
        }
        return foundation(catalog, region, id);
    };
    if parsed.service != "bedrock" || parsed.region != region {
        return Err(NotServed::Unknown);
    }
    match parsed.resource_type {
        "foundation-model" if parsed.account.is_empty() => foundation(catalog, region, parsed.resource),
        "custom-model" if parsed.account == account => {
            let (base, cid) = parsed.resource.rsplit_once('/').ok_or(NotServed::Unknown)?;
            match catalog.custom_model(cid) {
                Some(c) if c.id == cid && c.base_model == base => custom_model(catalog, c, region, account),
                _ => Err(NotServed::Unknown),
            }
        }
        _ => Err(NotServed::Unknown),
    }
}

fn foundation<'c>(catalog: &'c Catalog, region: &str, id: &str) -> Result<Served<'c>, NotServed> {
    let (model, variant) = match catalog.model(id) {
        Some(m) => (m, None),
        None => {
            let (base, variant) = id.rsplit_once(':').ok_or(NotServed::Unknown)?;
            (catalog.model(base).ok_or(NotServed::Unknown)?, Some(variant))
        }
    };
    let not_sold =
        || NotServed::NotSold(format!("Provisioned Throughput isn't supported for the model {id} in {region}."));
    let spec = model.provisioned.as_ref().ok_or_else(not_sold)?;
    if variant.is_some_and(|v| !spec.variants.iter().any(|s| s == v)) {
        return Err(NotServed::Unknown);
    }
    if !spec.regions.iter().any(|r| r == region) {
        return Err(not_sold());
    }
    let offer = model.offer(region).ok_or_else(not_sold)?;
    let model_arn = arn::foundation_model(region, id);
    Ok(Served { foundation_model_arn: model_arn.clone(), model_arn, model, offer, unit: spec.unit, custom: None })
}

fn custom_model<'c>(
    catalog: &'c Catalog,
    custom: &'c CustomModel,
    region: &str,
    account: &str,
) -> Result<Served<'c>, NotServed> {
    if custom.offer.region != region {
        return Err(NotServed::NotSold(format!(
            "The custom model {} is in {}; buy its Provisioned Throughput there.",
            custom.name, custom.offer.region
        )));
    }
    let model = catalog.model(&custom.base_model).ok_or(NotServed::Unknown)?;
    Ok(Served {
        model_arn: custom.arn(account),
        foundation_model_arn: arn::foundation_model(region, &model.id),
        model,
        offer: &custom.offer,
        unit: custom.unit,
        custom: Some(custom),
    })
}

/// `arn:aws:bedrock:{region}:{account}:provisioned-model/{id}`.
pub fn provisioned_arn(region: &str, account: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{region}:{account}:provisioned-model/{id}")
}

/// Whether `model_id` is a provisioned-model ARN (its calls are billed by the hour).
pub fn is_provisioned_arn(model_id: &str) -> bool {
    Arn::parse(model_id).is_some_and(|a| a.resource_type == "provisioned-model")
}

#[cfg(test)]
mod tests;
