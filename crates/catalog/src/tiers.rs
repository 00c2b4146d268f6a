//! Service tiers (`serviceTier`, `X-Amzn-Bedrock-Service-Tier`) and latency-optimized
//! inference in the configuration: which tiers each model offers, how much of a shared
//! bucket or backend each tier must leave to the tiers above it, and the reserved
//! capacity of accounts.
//!
//! ```toml
//! [[models]]
//! service_tiers = ["priority", "default", "flex"]   # default: ["default"]
//! latency_optimized = true                          # default: false
//!
//! [tiers]
//! default_floor_percent = 0    # default may not take the last 0% (priority keeps it)
//! flex_floor_percent = 20      # flex may not take the last 20%
//!
//! [[tiers.reserved]]
//! account = "123456789012"
//! model = "anthropic.claude-sonnet-4-5-20250929-v1:0"
//! requests_per_minute = 100
//! tokens_per_minute = 200000
//! ```

use serde::Deserialize;
pub use spillway_wire::options::ServiceTierType;

/// What a model offers: its service tiers and whether it has a latency-optimized version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelTiers {
    pub service_tiers: Vec<ServiceTierType>,
    pub latency_optimized: bool,
}

impl Default for ModelTiers {
    /// The standard tier only, at standard latency (a model the catalog marks nothing for).
    fn default() -> Self {
        Self { service_tiers: vec![ServiceTierType::Default], latency_optimized: false }
    }
}

impl ModelTiers {
    pub fn offers(&self, tier: ServiceTierType) -> bool {
        self.service_tiers.contains(&tier)
    }
}

/// `[tiers]`: the admission floors and the accounts' reserved capacity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierSettings {
    /// Share (percent) of every quota bucket and backend's on-demand slots that
    /// `default` requests leave to `priority` (and latency-optimized) ones.
    #[serde(default)]
    pub default_floor_percent: u8,
    /// Share that `flex` requests leave to every other tier; at least the default's.
    #[serde(default = "TierSettings::default_flex")]
    pub flex_floor_percent: u8,
    #[serde(default)]
    pub reserved: Vec<ReservedCapacity>,
}

impl TierSettings {
    fn default_flex() -> u8 {
        20
    }

    /// The reserved capacity of `account` for `model`, if it bought any.
    pub fn reservation(&self, account: &str, model: &str) -> Option<&ReservedCapacity> {
        self.reserved.iter().find(|r| r.account == account && r.model == model)
    }

    /// Checks the floors' order and range; `(key, message)` on error.
    pub fn check(&self) -> Result<(), (String, String)> {
        let (d, f) = (self.default_floor_percent, self.flex_floor_percent);
        if d > 100 || f > 100 {
            return Err(("tiers".into(), "floors are percentages: 0 to 100".into()));
        }
        if f < d {
            // Flex is throttled first: it never has a lower floor than default.
            return Err(("tiers.flex_floor_percent".into(), format!("must be at least default_floor_percent ({d})")));
        }
        Ok(())
    }
}

impl Default for TierSettings {
    fn default() -> Self {
        Self { default_floor_percent: 0, flex_floor_percent: Self::default_flex(), reserved: Vec::new() }
    }
}

/// Capacity one account reserved for one model (Bedrock's Reserved tier): its own RPM and
/// TPM buckets in every source region, used by `reserved` requests until they are full,
/// after which those requests spill over to the default tier.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReservedCapacity {
    pub account: String,
    /// A foundation model id (profiles of the model use it too).
    pub model: String,
    pub requests_per_minute: u32,
    pub tokens_per_minute: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_are_ordered_percentages() {
        let ok = TierSettings::default();
        assert_eq!(ok.check(), Ok(()));
        let inverted = TierSettings { default_floor_percent: 30, flex_floor_percent: 20, ..ok.clone() };
        assert_eq!(inverted.check().unwrap_err().0, "tiers.flex_floor_percent");
        let over = TierSettings { flex_floor_percent: 101, ..ok };
        assert!(over.check().is_err());
    }

    #[test]
    fn a_model_offers_the_default_tier_unless_told_otherwise() {
        let t = ModelTiers::default();
        assert!(t.offers(ServiceTierType::Default) && !t.offers(ServiceTierType::Flex) && !t.latency_optimized);
    }
}
