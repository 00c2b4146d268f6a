//! The sessions of InvokeAgent, kept in memory by (account, region, agent, alias,
//! sessionId) for the agent's `idleSessionTTLInSeconds` after their last use.
//!
//! A turn leases its session ([`Sessions::lease`]): a second call on the same session
//! while one runs is a ConflictException, as on Bedrock. A lease dropped without being
//! committed (the client went away mid-turn) gives the session back as it was.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::check::AgentError;
use crate::turn::Session;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    pub account: String,
    pub region: String,
    pub agent_id: String,
    pub alias_id: String,
    pub session_id: String,
}

#[derive(Debug)]
enum Slot {
    Idle { session: Session, expires: Instant },
    Busy,
}

#[derive(Debug, Default)]
pub struct Sessions {
    slots: Mutex<HashMap<SessionKey, Slot>>,
}

/// A session taken for one turn.
#[derive(Debug)]
pub struct Lease {
    sessions: Arc<Sessions>,
    key: SessionKey,
    /// The session as it was, given back if the lease is dropped uncommitted.
    before: Option<Session>,
    pub session: Session,
    ttl: Duration,
}

impl Sessions {
    /// Takes the session (a fresh one if it does not exist or expired at `now`).
    pub fn lease(self: &Arc<Self>, key: SessionKey, ttl: Duration, now: Instant) -> Result<Lease, AgentError> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        // Forget expired sessions as we go: the map never holds more than live ones.
        slots.retain(|_, s| !matches!(s, Slot::Idle { expires, .. } if *expires <= now));
        let session = match slots.insert(key.clone(), Slot::Busy) {
            Some(Slot::Busy) => {
                return Err(AgentError::new(
                    spillway_wire::ErrorCode::Conflict,
                    format!(
                        "The session {} is processing another request. Try again when it has finished.",
                        key.session_id
                    ),
                ))
            }
            Some(Slot::Idle { session, .. }) => session,
            None => Session::default(),
        };
        Ok(Lease { sessions: Arc::clone(self), key, before: Some(session.clone()), session, ttl })
    }

    fn put(&self, key: &SessionKey, slot: Option<Slot>) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        match slot {
            Some(s) => slots.insert(key.clone(), s),
            None => slots.remove(key),
        };
    }

    /// Live sessions (for tests and metrics).
    pub fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Lease {
    /// Keeps the session as the turn left it (or ends it: `endSession`).
    pub fn commit(mut self, end: bool, now: Instant) {
        self.before = None;
        let session = std::mem::take(&mut self.session);
        let slot = (!end).then(|| Slot::Idle { session, expires: now + self.ttl });
        self.sessions.put(&self.key, slot);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(before) = self.before.take() {
            self.sessions.put(&self.key, Some(Slot::Idle { session: before, expires: Instant::now() + self.ttl }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> SessionKey {
        SessionKey {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            agent_id: "AGENT00001".into(),
            alias_id: "ALIAS00001".into(),
            session_id: id.into(),
        }
    }

    #[test]
    fn sessions_are_kept_leased_once_and_expire() {
        let sessions = Arc::new(Sessions::default());
        let now = Instant::now();
        let ttl = Duration::from_secs(600);
        let mut lease = sessions.lease(key("s1"), ttl, now).unwrap();
        assert!(sessions.lease(key("s1"), ttl, now).is_err(), "a second lease of a busy session");
        lease.session.session_attributes.insert("k".into(), "v".into());
        lease.commit(false, now);
        let again = sessions.lease(key("s1"), ttl, now).unwrap();
        assert_eq!(again.session.session_attributes["k"], "v");
        again.commit(false, now);
        // After the TTL the session is fresh.
        let later = sessions.lease(key("s1"), ttl, now + ttl).unwrap();
        assert!(later.session.session_attributes.is_empty());
        later.commit(true, now + ttl);
        assert!(sessions.is_empty(), "endSession forgets the session");
    }

    #[test]
    fn a_dropped_lease_gives_the_session_back_unchanged() {
        let sessions = Arc::new(Sessions::default());
        let now = Instant::now();
        let ttl = Duration::from_secs(60);
        let mut lease = sessions.lease(key("s1"), ttl, now).unwrap();
        lease.session.session_attributes.insert("k".into(), "v".into());
        lease.commit(false, now);
        let mut lease = sessions.lease(key("s1"), ttl, now).unwrap();
        lease.session.session_attributes.clear();
        drop(lease);
        let back = sessions.lease(key("s1"), ttl, now).unwrap();
        assert_eq!(back.session.session_attributes["k"], "v");
    }
}
