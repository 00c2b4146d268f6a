//! What this instance serves now, by ARN (provisioned models in service, imported models
//! with an engine), with every ARN deleted here remembered. A delete must be visible to
//! the request path when DeleteProvisionedModelThroughput or DeleteImportedModel returns,
//! even if a background pass that read the store just before the delete, or a call that
//! looked the model up just before it, tries to put the entry back a moment later. ARNs
//! carry random IDs and are never reused, so a tombstone never hides a new resource.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock};

#[derive(Debug)]
pub struct Live<T> {
    inner: RwLock<Inner<T>>,
}

#[derive(Debug)]
struct Inner<T> {
    live: HashMap<String, Arc<T>>,
    deleted: HashSet<String>,
}

impl<T> Default for Live<T> {
    fn default() -> Self {
        Self { inner: RwLock::new(Inner { live: HashMap::new(), deleted: HashSet::new() }) }
    }
}

impl<T> Live<T> {
    pub fn get(&self, arn: &str) -> Option<Arc<T>> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner).live.get(arn).cloned()
    }

    /// Puts (or replaces) the entry; refused (`false`) for an ARN deleted here.
    pub fn insert(&self, arn: &str, value: T) -> bool {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if inner.deleted.contains(arn) {
            return false;
        }
        inner.live.insert(arn.to_owned(), Arc::new(value));
        true
    }

    /// The entry, made by `make` if there is none; `None` for an ARN deleted here. Two
    /// callers racing here get the same entry.
    pub fn get_or_insert_with(&self, arn: &str, make: impl FnOnce() -> T) -> Option<Arc<T>> {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if inner.deleted.contains(arn) {
            return None;
        }
        if let Some(v) = inner.live.get(arn) {
            return Some(Arc::clone(v));
        }
        let v = Arc::new(make());
        inner.live.insert(arn.to_owned(), Arc::clone(&v));
        Some(v)
    }

    /// The resource was deleted: its entry goes now and can never come back.
    pub fn delete(&self, arn: &str) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.live.remove(arn);
        inner.deleted.insert(arn.to_owned());
    }

    /// Drops the entry without a tombstone (it may be served again later).
    pub fn evict(&self, arn: &str) {
        self.inner.write().unwrap_or_else(PoisonError::into_inner).live.remove(arn);
    }

    /// Keeps only the entries `keep` accepts (a background pass's view of the store).
    pub fn retain(&self, keep: impl Fn(&str, &T) -> bool) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.live.retain(|arn, v| keep(arn, v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deleted_arn_cannot_come_back() {
        let live = Live::default();
        assert!(live.insert("a", 1));
        live.delete("a");
        assert!(live.get("a").is_none());
        // A background pass that read the store before the delete.
        assert!(!live.insert("a", 2));
        // A call that looked it up before the delete.
        assert!(live.get_or_insert_with("a", || 3).is_none());
        assert!(live.get("a").is_none());
    }

    #[test]
    fn evicted_entries_may_return_and_racers_share_one() {
        let live = Live::default();
        let first = live.get_or_insert_with("b", || 1).unwrap();
        let second = live.get_or_insert_with("b", || 2).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        live.evict("b");
        assert!(live.insert("b", 4));
        live.retain(|_, v| *v != 4);
        assert!(live.get("b").is_none());
    }
}
