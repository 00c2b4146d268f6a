//! LISTEN/NOTIFY: a write through one store handle (another instance) is announced to a
//! listener on the same database; SQLite has no listener.

use std::time::Duration;

use serde_json::json;
use spillway_store::{Change, Changes};

use crate::Harness;

async fn next(changes: &mut Changes) -> Change {
    tokio::time::timeout(Duration::from_secs(10), changes.next()).await.expect("a notification").unwrap()
}

pub async fn changes_are_announced_to_other_instances(h: &Harness) {
    let Some(mut changes) = h.store.changes().await.unwrap() else {
        assert_eq!(h.store.backend(), "sqlite");
        return;
    };
    let other = h.reopen().await;
    other.put_logging_config("123456789012", "us-east-1", &json!({"x": 1})).await.unwrap();
    assert_eq!(next(&mut changes).await, Change::Table("logging_configs".into()));
    other.delete_logging_config("123456789012", "us-east-1").await.unwrap();
    assert_eq!(next(&mut changes).await, Change::Table("logging_configs".into()));
    other.close().await;
}
