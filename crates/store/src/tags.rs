//! Tags for any taggable resource, keyed by ARN.
//!
//! The store does not know every resource kind (prompts, provisioned throughput, batch
//! jobs come later), so the API layer checks that the resource exists and validates
//! keys, values and the 200-tag limit. What the store does enforce is ownership: an
//! ARN whose account field is not the caller's is `NotFound`, so another account can
//! never tag, untag or read tags of a resource, even one that does not exist yet.

use crate::BeginWrite;
use crate::{arn_account, with_pool, Store, StoreError};

fn owned(account: &str, arn: &str) -> Result<(), StoreError> {
    match arn_account(arn) {
        Some(a) if a == account => Ok(()),
        _ => Err(StoreError::NotFound),
    }
}

impl Store {
    /// Adds tags, replacing the value of keys the resource already has. All or nothing.
    pub async fn tag_resource(&self, account: &str, arn: &str, tags: &[(String, String)]) -> Result<(), StoreError> {
        owned(account, arn)?;
        const SQL: &str = "INSERT INTO tags (account, arn, tag_key, tag_value) \
                           VALUES ($1, $2, $3, $4) \
                           ON CONFLICT (account, arn, tag_key) \
                           DO UPDATE SET tag_value = excluded.tag_value";
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for (key, value) in tags {
                sqlx::query(SQL).bind(account).bind(arn).bind(key).bind(value).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Removes these keys; keys the resource does not have are ignored (as Bedrock does).
    pub async fn untag_resource(&self, account: &str, arn: &str, keys: &[String]) -> Result<(), StoreError> {
        owned(account, arn)?;
        const SQL: &str = "DELETE FROM tags WHERE account = $1 AND arn = $2 AND tag_key = $3";
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for key in keys {
                sqlx::query(SQL).bind(account).bind(arn).bind(key).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The resource's tags as (key, value), ordered by key.
    pub async fn list_tags(&self, account: &str, arn: &str) -> Result<Vec<(String, String)>, StoreError> {
        owned(account, arn)?;
        const SQL: &str = "SELECT tag_key, tag_value FROM tags \
                           WHERE account = $1 AND arn = $2 ORDER BY tag_key";
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, (String, String)>(SQL).bind(account).bind(arn).fetch_all(pool).await?
        }))
    }

    /// Drops every tag of a resource (when the resource itself is deleted).
    pub async fn delete_tags(&self, account: &str, arn: &str) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM tags WHERE account = $1 AND arn = $2")
                .bind(account)
                .bind(arn)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Every resource of the account carrying tag `key`, as (arn, value) ordered by ARN:
    /// what the usage report groups by with `--by tag:KEY`.
    pub async fn resources_with_tag(&self, account: &str, key: &str) -> Result<Vec<(String, String)>, StoreError> {
        const SQL: &str = "SELECT arn, tag_value FROM tags \
                           WHERE account = $1 AND tag_key = $2 ORDER BY arn";
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, (String, String)>(SQL).bind(account).bind(key).fetch_all(pool).await?
        }))
    }
}
