//! Control-plane changes made through other instances, applied here as they commit
//! (PostgreSQL `LISTEN/NOTIFY`, see spillway_store::Changes): what this instance holds
//! in memory is refreshed within milliseconds of the write, not at the next poll.
//!
//! | table                         | what is refreshed                                   |
//! |-------------------------------|-----------------------------------------------------|
//! | app_profiles, tags            | the application-profile cache (crate::apps)         |
//! | logging_configs               | the logging configurations (crate::logging)         |
//! | provisioned_models            | the provisioned-throughput driver runs a pass now   |
//! | imported_models, …_jobs       | the imported-model registry is reconciled now       |
//! | prompts, prompt_versions      | nothing: prompts are read from the store per call   |
//!
//! A lost listening connection (reconnected by sqlx) may have missed notifications, so
//! it refreshes everything.

use std::sync::Arc;
use std::time::Duration;

use spillway_store::{Change, Store};
use tokio::sync::Notify;

use crate::logging::InvocationLogs;
use crate::resolve::application::AppProfiles;

/// Wakes the provisioned-throughput driver before its next tick.
pub static PROVISIONED: Notify = Notify::const_new();
/// Wakes the imported-model reconciliation before its next tick.
pub static IMPORTED: Notify = Notify::const_new();

/// Sleeps `tick`, or less when `wake` is notified: the background loops' pause.
pub async fn pause(tick: Duration, wake: &Notify) {
    tokio::select! {
        () = tokio::time::sleep(tick) => {}
        () = wake.notified() => {}
    }
}

/// Starts listening when the store is shared (PostgreSQL); a no-op on SQLite.
pub async fn start(store: &Arc<Store>, apps: &Arc<AppProfiles>, logs: &Arc<InvocationLogs>) -> anyhow::Result<()> {
    let Some(mut changes) = store.changes().await? else { return Ok(()) };
    let (store, apps, logs) = (Arc::downgrade(store), Arc::downgrade(apps), Arc::downgrade(logs));
    tokio::spawn(async move {
        loop {
            let change = changes.next().await;
            let (Some(store), Some(apps), Some(logs)) = (store.upgrade(), apps.upgrade(), logs.upgrade()) else {
                break;
            };
            match change {
                Ok(change) => apply(&change, &store, &apps, &logs).await,
                Err(e) => {
                    tracing::warn!(error = %e, "control-plane notifications: listener failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    });
    Ok(())
}

async fn apply(change: &Change, store: &Store, apps: &AppProfiles, logs: &InvocationLogs) {
    let table = match change {
        Change::Table(t) => Some(t.as_str()),
        Change::Missed => {
            tracing::info!("control-plane notifications: reconnected; refreshing everything");
            None
        }
    };
    let touches = |names: &[&str]| table.is_none_or(|t| names.contains(&t));
    if touches(&["app_profiles", "tags"]) {
        apps.clear();
    }
    if touches(&["logging_configs"]) {
        if let Err(e) = logs.reload(store).await {
            tracing::warn!(error = %e, "reloading logging configurations failed");
        }
    }
    if touches(&["provisioned_models"]) {
        PROVISIONED.notify_one();
    }
    if touches(&["imported_models", "model_import_jobs"]) {
        IMPORTED.notify_one();
    }
}
