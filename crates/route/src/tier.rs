//! Service tiers and latency-optimized inference: which a model offers, what each tier
//! may take of shared capacity, and the reserved tier's own buckets. Pure policy over the
//! catalog; admission and the candidate loop apply it (server `dispatch`).
//!
//! The rule, when capacity is short: every tier has a *floor*, the share of a quota bucket
//! and of a backend's on-demand slots it must leave behind. `priority` (and a request for
//! latency-optimized inference, or one served from its account's reservation) has none: it
//! may take the last token and the last slot. `default` leaves `default_floor_percent`
//! (0 unless configured), `flex` leaves `flex_floor_percent` (20): flex is throttled first,
//! then default, and priority is admitted as long as anything is left. A `reserved`
//! request runs on its account's reserved buckets while they have room, then spills over
//! to the default tier (and says so: the answer reports the tier that served it).

use std::sync::Arc;

use spillway_catalog::{Model, ServiceTierType, TierSettings};
use spillway_quota::{BucketKey, Debit, Floor, Limit};
use spillway_wire::converse::{ConverseRequest, ServedReport};
use spillway_wire::options::{Latency, PerformanceConfiguration, ServiceTier};
use spillway_wire::BedrockError;

use crate::Plan;

/// The tier and latency a request asked for (`None`: it did not say).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ask {
    pub tier: Option<ServiceTierType>,
    pub latency: Option<Latency>,
}

impl Ask {
    /// From Converse's `serviceTier` and `performanceConfig`.
    pub fn of(request: &ConverseRequest) -> Self {
        Self {
            tier: request.service_tier.map(|t| t.kind),
            latency: request.performance_config.as_ref().and_then(|p| p.latency),
        }
    }

    /// The tier it runs in when nothing spills: `default` when it named none.
    pub fn tier(self) -> ServiceTierType {
        self.tier.unwrap_or(ServiceTierType::Default)
    }

    fn optimized(self) -> bool {
        self.latency == Some(Latency::Optimized)
    }
}

/// What served a call, as the answer reports it: the tier it ran in (a `reserved` request
/// that spilled over ran in `default`), and the latency it asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    pub tier: ServiceTierType,
    pub latency: Option<Latency>,
}

impl Served {
    /// What a Converse answer reports: the tier that served it when the request named a
    /// tier, the latency mode when it named one.
    pub fn report(self, ask: Ask) -> ServedReport {
        ServedReport {
            service_tier: ask.tier.map(|_| ServiceTier { kind: self.tier }),
            performance_config: self.latency.map(|l| PerformanceConfiguration { latency: Some(l) }),
        }
    }

    /// The same as InvokeModel's response headers (botocore's `serviceTier` and
    /// `performanceConfigLatency` members of InvokeModel[WithResponseStream]Response).
    pub fn headers(self, ask: Ask) -> Vec<(&'static str, &'static str)> {
        let mut out = Vec::new();
        if ask.tier.is_some() {
            out.push(("x-amzn-bedrock-service-tier", self.tier.as_str()));
        }
        if let Some(l) = self.latency {
            out.push(("x-amzn-bedrock-performanceconfig-latency", l.as_str()));
        }
        out
    }
}

impl Default for Served {
    fn default() -> Self {
        Self { tier: ServiceTierType::Default, latency: None }
    }
}

/// Where the ask was written, so a refusal names what the client set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Converse / ConverseStream members.
    Body,
    /// InvokeModel's `X-Amzn-Bedrock-*` headers.
    Headers,
}

impl Via {
    fn tier_path(self) -> &'static str {
        match self {
            Via::Body => "serviceTier.type",
            Via::Headers => "X-Amzn-Bedrock-Service-Tier",
        }
    }

    fn latency_path(self) -> &'static str {
        match self {
            Via::Body => "performanceConfig.latency",
            Via::Headers => "X-Amzn-Bedrock-PerformanceConfig-Latency",
        }
    }
}

/// A tier or latency the model does not offer is a ValidationException naming the member.
pub fn check(model: &Model, ask: Ask, via: Via) -> Result<(), BedrockError> {
    if let Some(tier) = ask.tier {
        if !model.tiers.offers(tier) {
            let offered: Vec<&str> = model.tiers.service_tiers.iter().map(|t| t.as_str()).collect();
            return Err(BedrockError::validation(format!(
                "The {} service tier is not offered for the model {} (it offers {}): {}",
                tier.as_str(),
                model.id,
                offered.join(", "),
                via.tier_path()
            )));
        }
    }
    if ask.optimized() && !model.tiers.latency_optimized {
        return Err(BedrockError::validation(format!(
            "Latency-optimized inference is not offered for the model {}: {}",
            model.id,
            via.latency_path()
        )));
    }
    Ok(())
}

/// The share a request must leave of every quota bucket and backend slot pool it uses,
/// when it runs in `tier` (the tier that serves it, after any spill-over).
pub fn floor(settings: &TierSettings, tier: ServiceTierType, ask: Ask) -> Floor {
    match tier {
        ServiceTierType::Priority | ServiceTierType::Reserved => Floor::NONE,
        // Flex is flex, however fast the model variant.
        ServiceTierType::Flex => Floor(settings.flex_floor_percent),
        ServiceTierType::Default if ask.optimized() => Floor::NONE,
        ServiceTierType::Default => Floor(settings.default_floor_percent),
    }
}

/// The scope of an account's reserved buckets for a model.
pub fn reserved_scope(model: &str) -> String {
    format!("reserved/{model}")
}

/// The debits of a `reserved` request on its account's reservation for the plan's model
/// (RPM and TPM, in the caller's source region), or `None` when it has none: a call
/// through provisioned throughput or an imported model, or an account that reserved
/// nothing, spills over at once.
pub fn reserved_debits(
    settings: &TierSettings,
    plan: &Plan<'_>,
    account: &str,
    source_region: &str,
    tokens: u64,
) -> Option<Vec<Debit>> {
    if plan.provisioned.is_some() || plan.imported.is_some() {
        return None;
    }
    let r = settings.reservation(account, &plan.model.id)?;
    let (account, region): (Arc<str>, Arc<str>) = (account.into(), source_region.into());
    let scope: Arc<str> = reserved_scope(&plan.model.id).into();
    let key = |limit| BucketKey {
        account: Arc::clone(&account),
        region: Arc::clone(&region),
        scope: Arc::clone(&scope),
        limit,
    };
    let tpm = u64::from(r.tokens_per_minute);
    Some(vec![
        Debit { key: key(Limit::Requests), per_minute: u64::from(r.requests_per_minute), amount: 1 },
        // Never more than the minute (it could never pass); settlement charges the real use.
        Debit { key: key(Limit::Tokens), per_minute: tpm, amount: tokens.min(tpm) },
    ])
}

#[cfg(test)]
mod tests {
    use spillway_catalog::ReservedCapacity;

    use super::*;
    use crate::resolve;

    const NOVA: &str = "amazon.nova-pro-v1:0";
    const SONNET: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
    const HAIKU3: &str = "anthropic.claude-3-haiku-20240307-v1:0";

    fn ask(tier: Option<ServiceTierType>, latency: Option<Latency>) -> Ask {
        Ask { tier, latency }
    }

    #[test]
    fn ask_reads_the_converse_members() {
        let mut r: ConverseRequest = serde_json::from_str(r#"{"messages": []}"#).unwrap();
        assert_eq!(Ask::of(&r), Ask::default());
        assert_eq!(Ask::of(&r).tier(), ServiceTierType::Default);
        r.service_tier = Some(ServiceTier { kind: ServiceTierType::Flex });
        r.performance_config = Some(PerformanceConfiguration { latency: Some(Latency::Optimized) });
        assert_eq!(Ask::of(&r), ask(Some(ServiceTierType::Flex), Some(Latency::Optimized)));
    }

    #[test]
    fn only_what_the_catalog_offers_passes() {
        use ServiceTierType::*;
        let c = spillway_catalog::builtin().unwrap();
        let (nova, haiku3) = (c.model(NOVA).unwrap(), c.model(HAIKU3).unwrap());
        for t in [Priority, Default, Flex] {
            assert_eq!(check(nova, ask(Some(t), Some(Latency::Optimized)), Via::Body), Ok(()), "{t:?}");
        }
        let e = check(nova, ask(Some(Reserved), None), Via::Body).unwrap_err();
        assert!(e.message.ends_with(": serviceTier.type"), "{}", e.message);
        assert!(e.message.contains("it offers priority, default, flex"), "{}", e.message);
        let e = check(haiku3, ask(Some(Flex), None), Via::Headers).unwrap_err();
        assert!(e.message.ends_with(": X-Amzn-Bedrock-Service-Tier"), "{}", e.message);
        let e = check(haiku3, ask(None, Some(Latency::Optimized)), Via::Body).unwrap_err();
        assert!(e.message.ends_with(": performanceConfig.latency"), "{}", e.message);
        assert_eq!(check(haiku3, ask(Some(Default), Some(Latency::Standard)), Via::Headers), Ok(()));
    }

    #[test]
    fn floors_order_the_tiers() {
        use ServiceTierType::*;
        let s = TierSettings { default_floor_percent: 10, flex_floor_percent: 30, reserved: Vec::new() };
        let none = Ask::default();
        assert_eq!(floor(&s, Priority, none), Floor::NONE);
        assert_eq!(floor(&s, Reserved, none), Floor::NONE);
        assert_eq!(floor(&s, Default, none), Floor(10));
        assert_eq!(floor(&s, Flex, none), Floor(30));
        // Latency-optimized inference goes first among default requests, never among flex.
        let fast = ask(None, Some(Latency::Optimized));
        assert_eq!(floor(&s, Default, fast), Floor::NONE);
        assert_eq!(floor(&s, Flex, fast), Floor(30));
        // Out of the box: flex leaves 20%, default nothing.
        let d = TierSettings::default();
        assert_eq!((floor(&d, Default, none), floor(&d, Flex, none)), (Floor::NONE, Floor(20)));
    }

    #[test]
    fn the_answer_reports_what_was_named() {
        use ServiceTierType::*;
        let spilled = Served { tier: Default, latency: None };
        let r = spilled.report(ask(Some(Reserved), None));
        assert_eq!(r.service_tier, Some(ServiceTier { kind: Default }));
        assert_eq!(r.performance_config, None);
        assert_eq!(spilled.headers(ask(Some(Reserved), None)), vec![("x-amzn-bedrock-service-tier", "default")]);
        // Nothing named, nothing reported.
        assert!(Served::default().report(Ask::default()).is_empty());
        assert!(Served::default().headers(Ask::default()).is_empty());
        let fast = Served { tier: Priority, latency: Some(Latency::Optimized) };
        let h = fast.headers(ask(Some(Priority), Some(Latency::Optimized)));
        assert_eq!(h[1], ("x-amzn-bedrock-performanceconfig-latency", "optimized"));
    }

    #[test]
    fn reserved_debits_use_the_accounts_own_buckets() {
        let c = spillway_catalog::builtin().unwrap();
        let reservation = ReservedCapacity {
            account: "1".into(),
            model: SONNET.into(),
            requests_per_minute: 10,
            tokens_per_minute: 1_000,
        };
        let s = TierSettings { reserved: vec![reservation], ..TierSettings::default() };
        let plan = resolve(&c, &format!("us.{SONNET}"), "us-east-1", "1").unwrap();
        let d = reserved_debits(&s, &plan, "1", "us-east-1", 5_000).unwrap();
        assert_eq!(*d[0].key.scope, *format!("reserved/{SONNET}"));
        assert_eq!((d[0].key.limit, d[0].per_minute, d[0].amount), (Limit::Requests, 10, 1));
        assert_eq!((d[1].key.limit, d[1].per_minute, d[1].amount), (Limit::Tokens, 1_000, 1_000));
        // Another account reserved nothing: it spills over at once.
        assert!(reserved_debits(&s, &plan, "2", "us-east-1", 10).is_none());
    }
}
