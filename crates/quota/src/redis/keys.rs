//! Where a request's buckets live in Redis. Pure string building, no I/O.
//!
//! Every key of one (account, source region) carries the same hash tag,
//! `{<prefix>:<account>:<region>}`, so on Redis Cluster they sit in one slot and a script
//! may touch all of them atomically. A request always has exactly one account and one
//! source region (quotas are per account and source region; admission debits the model's
//! or the profile's buckets, or a provisioned/imported model's, all under the caller's
//! account and source region), so whichever buckets it names share the tag. Three keys per
//! tag: the bucket states (one hash field per scope and limit), the lease expiries and the
//! lease contents. The price: one account's traffic from one region is served by one
//! shard, which is also what makes the all-or-nothing reserve a single round trip.

use crate::{BucketKey, Limit};

/// The three keys of one hash tag, in the order the scripts expect them (KEYS[1..3]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TagKeys {
    pub buckets: String,
    pub expiries: String,
    pub contents: String,
}

impl TagKeys {
    pub fn of(prefix: &str, key: &BucketKey) -> Self {
        let tag = format!("{{{prefix}:{}:{}}}", key.account, key.region);
        Self {
            buckets: format!("{tag}:buckets"),
            expiries: format!("{tag}:lease-expiry"),
            contents: format!("{tag}:lease"),
        }
    }
}

/// Two keys share a tag when they have the same account and source region.
pub(crate) fn same_tag(a: &BucketKey, b: &BucketKey) -> bool {
    a.account == b.account && a.region == b.region
}

/// The hash field of a bucket inside its tag's bucket-state hash.
pub(crate) fn field(key: &BucketKey) -> String {
    let limit = match key.limit {
        Limit::Requests => "rpm",
        Limit::Tokens => "tpm",
    };
    format!("{}|{limit}", key.scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(account: &str, region: &str, scope: &str, limit: Limit) -> BucketKey {
        BucketKey { account: account.into(), region: region.into(), scope: scope.into(), limit }
    }

    /// The slot Redis Cluster computes: the text between the first `{` and the next `}`.
    fn hash_tag(k: &str) -> &str {
        let open = k.find('{').map_or(0, |i| i + 1);
        let close = k[open..].find('}').map_or(k.len(), |i| open + i);
        &k[open..close]
    }

    #[test]
    fn one_requests_keys_share_one_hash_tag() {
        let model = key("111122223333", "ap-northeast-1", "anthropic.claude-3-5-sonnet-20240620-v1:0", Limit::Requests);
        let profile =
            key("111122223333", "ap-northeast-1", "apac.anthropic.claude-3-5-sonnet-20240620-v1:0", Limit::Tokens);
        let (a, b) = (TagKeys::of("spillway", &model), TagKeys::of("spillway", &profile));
        assert_eq!(a, b);
        for k in [&a.buckets, &a.expiries, &a.contents] {
            assert_eq!(hash_tag(k), "spillway:111122223333:ap-northeast-1");
        }
        assert!(same_tag(&model, &profile));
        // Another source region is another tag (and may be another shard).
        let other = key("111122223333", "us-east-1", "m", Limit::Requests);
        assert!(!same_tag(&model, &other));
        assert_ne!(TagKeys::of("spillway", &other), a);
    }

    #[test]
    fn fields_name_scope_and_limit() {
        let arn = "arn:aws:bedrock:us-east-1:1:provisioned-model/abc";
        assert_eq!(field(&key("1", "r", arn, Limit::Tokens)), format!("{arn}|tpm"));
        assert_eq!(field(&key("1", "r", "m", Limit::Requests)), "m|rpm");
    }
}
