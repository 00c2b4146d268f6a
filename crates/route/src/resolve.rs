//! `modelId` → [`Plan`] (DESIGN.md §2, rules 1–3).

use spillway_catalog::{Access, Catalog, Model, Offer, Profile};
use spillway_wire::arn::Arn;
use spillway_wire::{BedrockError, ErrorCode};

/// What a model identifier named.
#[derive(Debug, Clone, Copy)]
pub enum Target<'c> {
    /// A foundation model, called directly: it may run only in the source region.
    Foundation(&'c Model),
    /// A system-defined profile: any of its regions that serve the model.
    SystemProfile(&'c Profile, &'c Model),
}

/// Where a request may run, best first.
#[derive(Debug, Clone)]
pub struct Plan<'c> {
    pub target: Target<'c>,
    pub model: &'c Model,
    /// Destination offers in the order to try them. Never empty.
    pub candidates: Vec<&'c Offer>,
    /// The application inference profile the call came through, for attribution; it
    /// routes exactly as what it copies (`target`).
    pub application: Option<String>,
    /// Set when the modelId was a provisioned-model ARN: the call runs only on that
    /// model's reserved capacity, within its own token budget, not on-demand quotas.
    pub provisioned: Option<Provisioned>,
    /// Set when the modelId was an imported-model ARN (this ARN): the call runs on that
    /// model's own engine, and its quota buckets are the ARN's, not the model's.
    pub imported: Option<String>,
}

/// The provisioned throughput a call runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    pub arn: String,
    /// Model units × what one unit processes per minute.
    pub tokens_per_minute: u64,
}

/// Whose usage and cost a call is: the foundation model that ran it (an imported model
/// is its own) and the application profile it came through. The plan carries it, so
/// recording a call never resolves its identifier again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    pub foundation_model: String,
    pub profile_arn: Option<String>,
}

impl Plan<'_> {
    pub fn attribution(&self) -> Attribution {
        Attribution {
            foundation_model: self.imported.clone().unwrap_or_else(|| self.model.id.clone()),
            profile_arn: self.application.clone(),
        }
    }

    pub fn profile(&self) -> Option<&Profile> {
        match self.target {
            Target::SystemProfile(p, _) => Some(p),
            Target::Foundation(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("The provided model identifier is invalid.")]
    InvalidIdentifier,
    /// Offered in the source region only through an inference profile.
    #[error("Invocation of model ID {0} with on-demand throughput isn\u{2019}t supported. Retry your request with the ID or ARN of an inference profile that contains this model.")]
    NeedsProfile(String),
    /// Not offered in the source region at all.
    #[error("The provided model doesn't support on-demand throughput.")]
    NotOnDemand,
}

impl From<RouteError> for BedrockError {
    fn from(e: RouteError) -> Self {
        BedrockError::new(ErrorCode::Validation, e.to_string())
    }
}

/// Resolve `model_id` (already percent-decoded) for a caller in `source_region` whose
/// account is `account`.
pub fn resolve<'c>(
    catalog: &'c Catalog,
    model_id: &str,
    source_region: &str,
    account: &str,
) -> Result<Plan<'c>, RouteError> {
    let target = target(catalog, model_id, source_region, account)?;
    match target {
        Target::Foundation(model) => match model.offer(source_region) {
            Some(offer) if offer.access == Access::OnDemand => Ok(Plan {
                target,
                model,
                candidates: vec![offer],
                application: None,
                provisioned: None,
                imported: None,
            }),
            Some(_) => Err(RouteError::NeedsProfile(model.id.clone())),
            None => Err(RouteError::NotOnDemand),
        },
        Target::SystemProfile(profile, model) => {
            // A profile is callable only from the regions of its set.
            if !profile.regions.iter().any(|r| r == source_region) {
                return Err(RouteError::InvalidIdentifier);
            }
            let candidates = destinations(profile, model, source_region);
            if candidates.is_empty() {
                return Err(RouteError::InvalidIdentifier);
            }
            Ok(Plan { target, model, candidates, application: None, provisioned: None, imported: None })
        }
    }
}

/// The profile's regions that serve the model: the source region first (Bedrock checks
/// it first), then the rest in the profile's order. Capacity-aware ordering of the rest
/// is the router's job at admission time.
fn destinations<'c>(profile: &'c Profile, model: &'c Model, source_region: &str) -> Vec<&'c Offer> {
    let mut out: Vec<&Offer> = Vec::with_capacity(profile.regions.len());
    if let Some(o) = model.offer(source_region) {
        out.push(o);
    }
    out.extend(profile.regions.iter().filter(|r| *r != source_region).filter_map(|r| model.offer(r)));
    out
}

fn target<'c>(
    catalog: &'c Catalog,
    model_id: &str,
    source_region: &str,
    account: &str,
) -> Result<Target<'c>, RouteError> {
    let bare = match Arn::parse(model_id) {
        None => model_id,
        Some(arn) => {
            if arn.service != "bedrock" {
                return Err(RouteError::InvalidIdentifier);
            }
            match arn.resource_type {
                // Foundation-model ARNs carry no account; they name a region's model.
                "foundation-model" if arn.region == source_region && arn.account.is_empty() => {
                    return catalog.model(arn.resource).map(Target::Foundation).ok_or(RouteError::InvalidIdentifier);
                }
                // Profile ARNs are scoped to the caller's region and account.
                "inference-profile" if arn.region == source_region && arn.account == account => arn.resource,
                _ => return Err(RouteError::InvalidIdentifier),
            }
        }
    };
    if let Some(model) = catalog.model(bare) {
        return Ok(Target::Foundation(model));
    }
    if let Some(profile) = catalog.profile(bare) {
        let model = catalog.model(&profile.model).ok_or(RouteError::InvalidIdentifier)?;
        return Ok(Target::SystemProfile(profile, model));
    }
    Err(RouteError::InvalidIdentifier)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SONNET35: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";
    const SONNET3: &str = "anthropic.claude-3-sonnet-20240229-v1:0";
    const ACCOUNT: &str = "123456789012";

    fn catalog() -> Catalog {
        spillway_catalog::builtin().unwrap()
    }

    fn regions(plan: &Plan<'_>) -> Vec<String> {
        plan.candidates.iter().map(|o| o.region.clone()).collect()
    }

    #[test]
    fn direct_call_runs_in_the_source_region_only() {
        let c = catalog();
        let plan = resolve(&c, SONNET35, "eu-central-1", ACCOUNT).unwrap();
        assert_eq!(regions(&plan), ["eu-central-1"]);
    }

    /// Seed 000: Claude 3.5 Sonnet called directly from Paris.
    #[test]
    fn not_offered_in_source_region() {
        let c = catalog();
        let e = resolve(&c, SONNET35, "eu-west-3", ACCOUNT).unwrap_err();
        assert_eq!(e.to_string(), "The provided model doesn't support on-demand throughput.");
    }

    /// Seed 003: Claude 3 Sonnet called directly from Tokyo.
    #[test]
    fn profile_only_in_source_region() {
        let c = catalog();
        let e = resolve(&c, SONNET3, "ap-northeast-1", ACCOUNT).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invocation of model ID anthropic.claude-3-sonnet-20240229-v1:0 with on-demand throughput isn\u{2019}t supported. Retry your request with the ID or ARN of an inference profile that contains this model."
        );
    }

    #[test]
    fn unknown_identifier() {
        let c = catalog();
        let e = resolve(&c, "anthropic.claude-9", "us-east-1", ACCOUNT).unwrap_err();
        assert_eq!(e.to_string(), "The provided model identifier is invalid.");
    }

    /// Seed 000: from Paris, the eu. profile runs where the model is offered.
    #[test]
    fn profile_from_a_region_without_the_model() {
        let c = catalog();
        let plan = resolve(&c, "eu.anthropic.claude-3-5-sonnet-20240620-v1:0", "eu-west-3", ACCOUNT).unwrap();
        assert_eq!(regions(&plan), ["eu-central-1"]);
    }

    #[test]
    fn profile_tries_source_region_first() {
        let c = catalog();
        let plan = resolve(&c, "us.anthropic.claude-3-5-sonnet-20240620-v1:0", "us-west-2", ACCOUNT).unwrap();
        assert_eq!(regions(&plan), ["us-west-2", "us-east-1"]);
        let plan = resolve(&c, "apac.anthropic.claude-3-sonnet-20240229-v1:0", "ap-northeast-1", ACCOUNT).unwrap();
        assert_eq!(plan.candidates[0].region, "ap-northeast-1");
        assert_eq!(plan.candidates.len(), 5);
    }

    #[test]
    fn profile_outside_its_region_set_is_invalid() {
        let c = catalog();
        let e = resolve(&c, "us.anthropic.claude-3-5-sonnet-20240620-v1:0", "eu-west-3", ACCOUNT).unwrap_err();
        assert_eq!(e, RouteError::InvalidIdentifier);
    }

    #[test]
    fn arns_resolve_like_ids() {
        let c = catalog();
        let fm = format!("arn:aws:bedrock:us-west-2::foundation-model/{SONNET35}");
        assert_eq!(regions(&resolve(&c, &fm, "us-west-2", ACCOUNT).unwrap()), ["us-west-2"]);
        // A foundation-model ARN of another region is not the caller's model.
        assert!(resolve(&c, &fm, "us-east-1", ACCOUNT).is_err());
        let ip = format!("arn:aws:bedrock:eu-west-3:{ACCOUNT}:inference-profile/eu.{SONNET35}");
        assert_eq!(regions(&resolve(&c, &ip, "eu-west-3", ACCOUNT).unwrap()), ["eu-central-1"]);
        let other_account = format!("arn:aws:bedrock:eu-west-3:999999999999:inference-profile/eu.{SONNET35}");
        assert!(resolve(&c, &other_account, "eu-west-3", ACCOUNT).is_err());
    }
}
