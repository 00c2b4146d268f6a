//! Control-plane change notifications (PostgreSQL `LISTEN/NOTIFY`): migration 0006 makes
//! every write to a shared table send `NOTIFY spillway_control '<table>'` at commit, and
//! each instance listens, so a change made through one instance reaches the others in
//! milliseconds, without polling. The SQLite store serves one instance and has none.

use sqlx::postgres::PgListener;

use crate::{Store, StoreError};

/// The channel migration 0006's trigger notifies on.
pub const CHANNEL: &str = "spillway_control";

/// What an instance learns from the listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A write to this table committed.
    Table(String),
    /// The listening connection was lost (and is being re-established): notifications
    /// may have been missed, so everything cached must be refreshed.
    Missed,
}

pub struct Changes(PgListener);

impl std::fmt::Debug for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Changes")
    }
}

impl Changes {
    /// The next change; reconnects by itself after a lost connection (reporting
    /// [`Change::Missed`] once per loss).
    pub async fn next(&mut self) -> Result<Change, StoreError> {
        match self.0.try_recv().await? {
            Some(n) => Ok(Change::Table(n.payload().to_owned())),
            None => Ok(Change::Missed),
        }
    }
}

impl Store {
    /// Listens for control-plane changes; `None` on SQLite (nothing else shares it).
    pub async fn changes(&self) -> Result<Option<Changes>, StoreError> {
        match self {
            Store::Sqlite(_) => Ok(None),
            Store::Postgres(pool) => {
                let mut listener = PgListener::connect_with(pool).await?;
                listener.listen(CHANNEL).await?;
                Ok(Some(Changes(listener)))
            }
        }
    }
}
