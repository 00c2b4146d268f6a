//! Which quota buckets one request touches, and how much it reserves
//! (shared/reference/quotas.md): RPM and TPM of (account, source region, model) for a
//! direct call, or of (account, source region, profile) for a profile call. A call
//! through provisioned throughput touches no on-demand quota: only the provisioned
//! model's own token bucket (its units' tokens per minute), keyed by its ARN.

use std::sync::Arc;

use spillway_catalog::Catalog;
use spillway_quota::{BucketKey, Debit, Limit};
use spillway_wire::converse::TokenUsage;

use crate::resolve::{Plan, Target};

/// Tokens to reserve: the input estimate plus maxTokens at the burn-down rate.
pub fn reserved_tokens(input_estimate: u32, max_tokens: u32, burndown: f64) -> u64 {
    u64::from(input_estimate) + (f64::from(max_tokens) * burndown).ceil() as u64
}

/// What a finished call really cost: input and cache writes, plus output at the
/// burn-down rate. Cache reads do not count against TPM (Bedrock's quota formula:
/// input + cacheWrite + output x burndown).
pub fn used_tokens(usage: TokenUsage, burndown: f64) -> u64 {
    u64::from(usage.input_tokens)
        + u64::from(usage.cache_write_input_tokens())
        + (f64::from(usage.output_tokens) * burndown).ceil() as u64
}

/// The debits of one request: (requests, tokens) on demand, (tokens) on provisioned
/// throughput. Settle each at its kind: 1 request, the tokens used.
pub fn debits(catalog: &Catalog, plan: &Plan<'_>, account: &str, source_region: &str, tokens: u64) -> Vec<Debit> {
    if let Some(p) = &plan.provisioned {
        let key = BucketKey {
            account: account.into(),
            region: source_region.into(),
            scope: p.arn.as_str().into(),
            limit: Limit::Tokens,
        };
        // A bucket never admits more than its capacity: a maxTokens above the units'
        // minute would otherwise never pass. Settlement charges the real usage.
        let amount = tokens.min(p.tokens_per_minute);
        return vec![Debit { key, per_minute: p.tokens_per_minute, amount }];
    }
    let (scope, rpm, tpm) = match plan.target {
        Target::Foundation(model) => {
            let (rpm, tpm) = model.offer(source_region).map_or((0, 0), |o| (u64::from(o.rpm), u64::from(o.tpm)));
            (model.id.as_str(), rpm, tpm)
        }
        Target::SystemProfile(profile, model) => {
            let (rpm, tpm) = catalog.profile_quota(profile, model, source_region);
            (profile.id.as_str(), rpm, tpm)
        }
    };
    // Every imported model has a quota of its own (they share one model description).
    let scope = plan.imported.as_deref().unwrap_or(scope);
    let (account, region, scope): (Arc<str>, Arc<str>, Arc<str>) = (account.into(), source_region.into(), scope.into());
    let key = |limit| BucketKey {
        account: Arc::clone(&account),
        region: Arc::clone(&region),
        scope: Arc::clone(&scope),
        limit,
    };
    vec![
        Debit { key: key(Limit::Requests), per_minute: rpm, amount: 1 },
        Debit { key: key(Limit::Tokens), per_minute: tpm, amount: tokens },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve;

    #[test]
    fn cache_writes_count_against_tpm_and_reads_do_not() {
        // 1500 prompt tokens: 1000 read from the cache, 300 written to it, 200 plain.
        let u = TokenUsage::cached(1500, 10, 1000, 300, 0);
        assert_eq!(used_tokens(u, 5.0), 200 + 300 + 50);
    }

    #[test]
    fn direct_call_debits_the_source_regions_model_buckets() {
        let c = spillway_catalog::builtin().unwrap();
        let plan = resolve(&c, "anthropic.claude-3-5-sonnet-20240620-v1:0", "ap-northeast-1", "1").unwrap();
        let d = debits(&c, &plan, "1", "ap-northeast-1", 500);
        assert_eq!(d[0].per_minute, 20);
        assert_eq!(d[1].per_minute, 200_000);
        assert_eq!(d[1].amount, 500);
        assert_eq!(&*d[0].key.scope, "anthropic.claude-3-5-sonnet-20240620-v1:0");
    }

    #[test]
    fn profile_call_debits_the_profile_at_twice_the_quota() {
        let c = spillway_catalog::builtin().unwrap();
        let plan = resolve(&c, "apac.anthropic.claude-3-5-sonnet-20240620-v1:0", "ap-northeast-1", "1").unwrap();
        let d = debits(&c, &plan, "1", "ap-northeast-1", 10);
        assert_eq!(&*d[0].key.scope, "apac.anthropic.claude-3-5-sonnet-20240620-v1:0");
        assert_eq!((d[0].per_minute, d[1].per_minute), (40, 400_000));
        // From Paris the model is not offered: the first destination's quota is the base.
        let plan = resolve(&c, "eu.anthropic.claude-3-5-sonnet-20240620-v1:0", "eu-west-3", "1").unwrap();
        let d = debits(&c, &plan, "1", "eu-west-3", 10);
        assert_eq!(d[0].per_minute, 40);
    }

    #[test]
    fn provisioned_call_debits_only_its_own_token_bucket() {
        let c = spillway_catalog::builtin().unwrap();
        let mut plan = resolve(&c, "anthropic.claude-3-haiku-20240307-v1:0", "us-east-1", "1").unwrap();
        let arn = "arn:aws:bedrock:us-east-1:1:provisioned-model/abcdefghijkl".to_owned();
        plan.provisioned = Some(crate::Provisioned { arn: arn.clone(), tokens_per_minute: 1000 });
        let d = debits(&c, &plan, "1", "us-east-1", 4096);
        assert_eq!(d.len(), 1);
        assert_eq!((&*d[0].key.scope, d[0].key.limit), (arn.as_str(), Limit::Tokens));
        assert_eq!((d[0].per_minute, d[0].amount), (1000, 1000));
    }

    #[test]
    fn imported_call_debits_buckets_of_its_own_arn() {
        let c = spillway_catalog::builtin().unwrap();
        let mut plan = resolve(&c, "anthropic.claude-3-haiku-20240307-v1:0", "us-east-1", "1").unwrap();
        let arn = "arn:aws:bedrock:us-east-1:1:imported-model/abcdefghijkl".to_owned();
        plan.imported = Some(arn.clone());
        let d = debits(&c, &plan, "1", "us-east-1", 10);
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|d| *d.key.scope == *arn));
    }

    #[test]
    fn reservation_and_usage_arithmetic() {
        assert_eq!(reserved_tokens(100, 50, 1.0), 150);
        assert_eq!(reserved_tokens(100, 50, 5.0), 350);
        assert_eq!(used_tokens(TokenUsage::new(10, 3), 5.0), 25);
    }
}
