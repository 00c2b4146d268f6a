//! LISTEN/NOTIFY: a write through one store handle (another instance) is announced to a
//! listener on the same database (a write that is never announced times the test out);
//! SQLite has no listener.

use std::time::Duration;

use serde_json::json;
use spillway_store::{Change, Changes};

use crate::Harness;

/// Waits for a change to `table`. The channel is database-wide, so tests running in other
/// schemas at the same time announce their writes too: those are skipped.
async fn changed(changes: &mut Changes, table: &str) {
    let wanted = Change::Table(table.to_owned());
    let wait = async { while changes.next().await.unwrap() != wanted {} };
    tokio::time::timeout(Duration::from_secs(10), wait).await.expect("a notification");
}

pub async fn changes_are_announced_to_other_instances(h: &Harness) {
    let Some(mut changes) = h.store.changes().await.unwrap() else {
        assert_eq!(h.store.backend(), "sqlite");
        return;
    };
    let other = h.reopen().await;
    other.put_logging_config("123456789012", "us-east-1", &json!({"x": 1})).await.unwrap();
    changed(&mut changes, "logging_configs").await;
    other.delete_logging_config("123456789012", "us-east-1").await.unwrap();
    changed(&mut changes, "logging_configs").await;
    other.close().await;
}
