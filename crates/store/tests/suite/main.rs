//! The store test suite, written once (`cases.rs`) and run against every backend:
//! SQLite in a temporary directory (always) and PostgreSQL when
//! `SPILLWAY_TEST_POSTGRES` holds a server URL (scripts/test.sh starts one and sets
//! it). Each PostgreSQL test works in a fresh schema, dropped afterwards, so runs and
//! parallel tests never see each other's rows.

// Clippy's test allowance covers #[test] fns only, not these helpers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use spillway_store::Store;
use sqlx::Connection;

mod agents;
mod batch;
mod cases;
mod changes;
mod imports;
mod prompts;
mod provisioned;

/// Where a test's store lives, so that it can be closed and opened again.
pub struct Harness {
    pub store: Store,
    url: Option<String>,
    dir: tempfile::TempDir,
}

impl Harness {
    /// Opens the same store again, as a restarted server would.
    pub async fn reopen(&self) -> Store {
        Store::open(self.url.as_deref(), self.dir.path()).await.expect("reopen store")
    }
}

async fn on_sqlite(case: impl AsyncFnOnce(&Harness)) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(None, dir.path()).await.expect("open sqlite");
    assert_eq!(store.backend(), "sqlite");
    let h = Harness { store, url: None, dir };
    case(&h).await;
    h.store.close().await;
}

async fn on_postgres(case: impl AsyncFnOnce(&Harness)) {
    let Ok(base) = std::env::var("SPILLWAY_TEST_POSTGRES") else {
        eprintln!("note: SPILLWAY_TEST_POSTGRES is unset; PostgreSQL variant skipped");
        return;
    };
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&base).await.expect("connect to SPILLWAY_TEST_POSTGRES");
    // The name is ours (t_ + hex), nothing to inject.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .expect("create schema");
    // Every pooled connection starts with search_path = the test schema, so the
    // migrations and all queries run there.
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options[search_path]={schema}");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(Some(&url), dir.path()).await.expect("open pg");
    assert_eq!(store.backend(), "postgres");
    let h = Harness { store, url: Some(url), dir };
    // Drop the schema whatever the case did, then re-raise its failure.
    let outcome = AssertUnwindSafe(case(&h)).catch_unwind().await;
    h.store.close().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut admin)
        .await
        .expect("drop schema");
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure);
    }
}

/// One #[tokio::test] per case and backend: `sqlite::<case>` and `postgres::<case>`.
macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $case() {
                super::on_sqlite(super::cases::$case).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $case() {
                super::on_postgres(super::cases::$case).await
            })*
        }
    };
}

suite!(
    profile_create_get_list_delete,
    profile_create_is_idempotent_on_token,
    profile_duplicate_name_conflicts,
    accounts_are_isolated,
    tags_upsert_untag_list,
    logging_config_put_get_delete,
    usage_upserts_add_up,
    restart_keeps_every_resource,
    prompt_create_get_list_update,
    prompt_create_is_idempotent_and_names_are_unique,
    prompt_versions_are_immutable_snapshots,
    prompt_delete_takes_versions_and_tags,
    prompt_restart_keeps_drafts_and_versions,
    provisioned_create_get_list_delete,
    provisioned_idempotent_and_unique,
    provisioned_transitions_and_updates,
    provisioned_billing_is_exactly_once,
    provisioned_restart_keeps_status,
    import_job_lifecycle,
    import_names_conflict_and_tokens_are_idempotent,
    imported_models_list_delete_and_survive_restart,
    changes_are_announced_to_other_instances,
    batch_job_create_get_list_stop,
    batch_job_lease_records_and_takeover,
    async_invoke_lifecycle,
    agent_create_get_list_update_delete,
    agent_versions_snapshot_the_draft_and_its_groups,
    agent_aliases_are_unique_idempotent_and_survive_restart,
);
