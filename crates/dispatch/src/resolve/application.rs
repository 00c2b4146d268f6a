//! Application inference profiles on the request path: an ARN used as modelId is looked
//! up in the store once and cached briefly, so invoking it costs no database round trip
//! per request. On a shared PostgreSQL store every change made through another instance
//! clears the cache as it commits (crate::control_events); the short lifetime is only a
//! backstop should a notification be lost.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use spillway_store::{AppProfile, Store, StoreError};

const TTL: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub struct AppProfiles {
    cache: RwLock<HashMap<String, (AppProfile, Instant)>>,
    /// Profiles deleted through this instance: a lookup that read the store just before
    /// the delete must not put them back in the cache (ARNs are never reused).
    deleted: RwLock<HashSet<String>>,
}

impl AppProfiles {
    /// The profile behind `arn`, if it exists and belongs to `account` in `region`.
    pub async fn lookup(
        &self,
        store: &Store,
        account: &str,
        region: &str,
        arn: &str,
    ) -> Result<Option<AppProfile>, StoreError> {
        if self.deleted.read().unwrap_or_else(std::sync::PoisonError::into_inner).contains(arn) {
            return Ok(None);
        }
        if let Some(app) = self.cached(arn) {
            return Ok((app.account == account && app.region == region).then_some(app));
        }
        let found = match store.get_app_profile(account, region, arn).await {
            Ok(app) => Some(app),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e),
        };
        if let Some(app) = &found {
            let deleted = self.deleted.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            if deleted.contains(arn) {
                return Ok(None);
            }
            let mut cache = self.cache.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            cache.insert(arn.to_owned(), (app.clone(), Instant::now()));
        }
        Ok(found)
    }

    /// A fresh cached entry, for attribution after the call.
    pub fn cached(&self, arn: &str) -> Option<AppProfile> {
        let cache = self.cache.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.get(arn).filter(|(_, at)| at.elapsed() < TTL).map(|(app, _)| app.clone())
    }

    /// Drops every entry: a profile or its tags changed through another instance
    /// (crate::control_events).
    pub fn clear(&self) {
        self.cache.write().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }

    /// The profile was deleted through this instance: it is gone for every later call.
    pub fn forget(&self, arn: &str) {
        self.deleted.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(arn.to_owned());
        let mut cache = self.cache.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.remove(arn);
    }
}
