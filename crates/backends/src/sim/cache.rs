//! The simulator's prompt cache: prefixes closed by cache points, kept for their TTL
//! (refreshed on every hit), so tests see a cache write and then a read exactly as a
//! caching model reports them. Entries are keyed by model and prefix text.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use spillway_wire::options::CacheTtl;
use tokio::time::Instant;

use super::text;
use crate::prompt::count_tokens;

/// What the cache did for one request, in tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheUse {
    pub read: u32,
    pub write_5m: u32,
    pub write_1h: u32,
}

#[derive(Debug, Default)]
pub struct PrefixCache {
    /// Prefix key → when it expires.
    entries: Mutex<HashMap<u64, Instant>>,
}

fn lifetime(ttl: CacheTtl) -> Duration {
    match ttl {
        CacheTtl::FiveMinutes => Duration::from_secs(300),
        CacheTtl::OneHour => Duration::from_secs(3600),
    }
}

impl PrefixCache {
    /// Reads the longest live prefix, writes the longer ones after it. Cache points
    /// closing fewer than `min_tokens` tokens are ignored, as a model's minimum
    /// cacheable length makes Bedrock ignore them.
    pub fn apply(&self, model: &str, prefixes: &[(String, CacheTtl)], min_tokens: u32, now: Instant) -> CacheUse {
        let points: Vec<(u64, u32, CacheTtl)> = prefixes
            .iter()
            .map(|(p, ttl)| (text::hash(&[model.as_bytes(), p.as_bytes()]), count_tokens(p), *ttl))
            .filter(|(_, tokens, _)| *tokens >= min_tokens.max(1))
            .collect();
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.retain(|_, expires| *expires > now);
        let hit = points.iter().rposition(|(key, ..)| entries.contains_key(key));
        let mut used = CacheUse::default();
        let mut covered = 0;
        if let Some(i) = hit {
            let (key, tokens, ttl) = points[i];
            entries.insert(key, now + lifetime(ttl));
            used.read = tokens;
            covered = tokens;
        }
        for &(key, tokens, ttl) in points.iter().skip(hit.map_or(0, |i| i + 1)) {
            let written = tokens.saturating_sub(covered);
            match ttl {
                CacheTtl::FiveMinutes => used.write_5m += written,
                CacheTtl::OneHour => used.write_1h += written,
            }
            covered = tokens;
            entries.insert(key, now + lifetime(ttl));
        }
        used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(words: usize) -> String {
        " word".repeat(words)
    }

    #[test]
    fn write_then_read_then_expire() {
        let cache = PrefixCache::default();
        let now = Instant::now();
        let p = vec![(prefix(10), CacheTtl::FiveMinutes)];
        assert_eq!(cache.apply("m", &p, 5, now), CacheUse { read: 0, write_5m: 10, write_1h: 0 });
        assert_eq!(cache.apply("m", &p, 5, now + Duration::from_secs(60)).read, 10);
        // Another model shares nothing.
        assert_eq!(cache.apply("n", &p, 5, now).read, 0);
        // The hit refreshed the TTL; 5 minutes after it the entry is gone.
        assert_eq!(cache.apply("m", &p, 5, now + Duration::from_secs(361)).read, 0);
    }

    #[test]
    fn longer_prefix_writes_only_its_extension_and_short_ones_are_ignored() {
        let cache = PrefixCache::default();
        let now = Instant::now();
        cache.apply("m", &[(prefix(10), CacheTtl::OneHour)], 5, now);
        let both = vec![(prefix(10), CacheTtl::OneHour), (prefix(25), CacheTtl::FiveMinutes)];
        assert_eq!(cache.apply("m", &both, 5, now), CacheUse { read: 10, write_5m: 15, write_1h: 0 });
        assert_eq!(cache.apply("m", &[(prefix(3), CacheTtl::FiveMinutes)], 5, now), CacheUse::default());
    }
}
