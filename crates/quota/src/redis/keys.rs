//! Where a request's buckets and leases live in Redis. Pure string building, no I/O.
//!
//! Every key of one (account, source region) carries the same hash tag,
//! `{<prefix>:<account>:<region>}`, so on Redis Cluster they sit in one slot and a script
//! may touch all of them atomically. A request always has exactly one account and one
//! source region (quotas are per account and source region; admission debits the model's
//! or the profile's buckets, or a provisioned/imported model's, all under the caller's
//! account and source region), so whichever buckets it names share the tag. Per tag: one
//! sorted set of lease records (`…:leases`) and one small string key per bucket
//! (`…:bucket:<scope>|rpm`), so each bucket can expire on its own once it has refilled
//! (a hash would keep the fields of deleted models and profiles as long as the account is
//! active). The price of one tag per account and region: one account's traffic from one
//! region is served by one shard, which is also what makes the all-or-nothing reserve a
//! single round trip.

use std::fmt::Write as _;

use crate::{BucketKey, Debit, Limit};

/// The keys of one hash tag: the lease set (KEYS[1] of every script) and the start of its
/// bucket keys (the scripts derive a reaped lease's bucket keys the same way).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TagKeys {
    pub leases: String,
    bucket_base: String,
}

impl TagKeys {
    pub fn of(prefix: &str, key: &BucketKey) -> Self {
        let tag = format!("{{{prefix}:{}:{}}}", key.account, key.region);
        Self { leases: format!("{tag}:leases"), bucket_base: format!("{tag}:bucket:") }
    }

    /// The key of one bucket, written into `buf` (reused across a request's debits).
    pub fn bucket<'a>(&self, key: &BucketKey, buf: &'a mut String) -> &'a str {
        buf.clear();
        buf.push_str(&self.bucket_base);
        push_field(buf, key);
        buf
    }
}

/// Two keys share a tag when they have the same account and source region.
pub(crate) fn same_tag(a: &BucketKey, b: &BucketKey) -> bool {
    a.account == b.account && a.region == b.region
}

/// A bucket's name inside its tag: `<scope>|rpm` or `<scope>|tpm`.
fn push_field(buf: &mut String, key: &BucketKey) {
    buf.push_str(&key.scope);
    buf.push_str(match key.limit {
        Limit::Requests => "|rpm",
        Limit::Tokens => "|tpm",
    });
}

/// A lease as stored in the tag's sorted set: `<id>\n`, then `<field>\t<per_minute>\t
/// <amount>\n` per debit. The member carries everything a reaper needs to give the
/// reservation back, so no second key holds lease contents; the client keeps the string
/// to settle (`ZREM`) and renew (`ZADD XX`) the same member.
pub(crate) fn lease_record(id: &str, debits: &[Debit]) -> String {
    let mut out = String::with_capacity(id.len() + 1 + debits.len() * 64);
    out.push_str(id);
    out.push('\n');
    for d in debits {
        push_field(&mut out, &d.key);
        // Writing into a String cannot fail.
        let _ = writeln!(out, "\t{}\t{}", d.per_minute, d.amount);
    }
    out
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
        let mut buf = String::new();
        for k in [a.leases.clone(), a.bucket(&model, &mut buf).to_owned(), a.bucket(&profile, &mut buf).to_owned()] {
            assert_eq!(hash_tag(&k), "spillway:111122223333:ap-northeast-1");
        }
        assert!(same_tag(&model, &profile));
        // Another source region is another tag (and may be another shard).
        let other = key("111122223333", "us-east-1", "m", Limit::Requests);
        assert!(!same_tag(&model, &other));
        assert_ne!(TagKeys::of("spillway", &other), a);
    }

    #[test]
    fn bucket_keys_name_scope_and_limit_under_the_tag() {
        let arn = "arn:aws:bedrock:us-east-1:1:provisioned-model/abc";
        let keys = TagKeys::of("p", &key("1", "r", arn, Limit::Tokens));
        let mut buf = String::new();
        assert_eq!(keys.bucket(&key("1", "r", arn, Limit::Tokens), &mut buf), format!("{{p:1:r}}:bucket:{arn}|tpm"));
        assert_eq!(keys.bucket(&key("1", "r", "m", Limit::Requests), &mut buf), "{p:1:r}:bucket:m|rpm");
        // The scripts derive bucket keys from the lease set's name: "…:leases" → "…:bucket:".
        assert_eq!(keys.leases, "{p:1:r}:leases");
    }

    #[test]
    fn a_lease_record_lists_every_debit() {
        let debits = [
            Debit { key: key("1", "r", "m", Limit::Requests), per_minute: 20, amount: 1 },
            Debit { key: key("1", "r", "m", Limit::Tokens), per_minute: 1_000, amount: 650 },
        ];
        assert_eq!(lease_record("abc-7", &debits), "abc-7\nm|rpm\t20\t1\nm|tpm\t1000\t650\n");
    }
}
