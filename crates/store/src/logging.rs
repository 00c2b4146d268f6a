//! Model invocation logging configuration (`PutModelInvocationLoggingConfiguration`),
//! one per account and region. Kept as the JSON object the API accepted, so the store
//! does not need to change when the invocation-log crate learns new fields.

use serde_json::Value;

use crate::{format_ts, with_pool, Store, StoreError};

fn decode(account: &str, region: &str, text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Database(format!("logging config of {account}/{region} is not JSON: {e}")))
}

impl Store {
    /// Sets (or replaces) the account's logging configuration in a region.
    pub async fn put_logging_config(&self, account: &str, region: &str, config: &Value) -> Result<(), StoreError> {
        let text = config.to_string();
        let now = format_ts(time::OffsetDateTime::now_utc())?;
        const SQL: &str = "INSERT INTO logging_configs (account, region, config, updated_at) \
                           VALUES ($1, $2, $3, $4) ON CONFLICT (account, region) \
                           DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at";
        with_pool!(self, |pool| {
            sqlx::query(SQL).bind(account).bind(region).bind(&text).bind(&now).execute(pool).await?;
        });
        Ok(())
    }

    /// The account's logging configuration in a region, if one was put.
    pub async fn get_logging_config(&self, account: &str, region: &str) -> Result<Option<Value>, StoreError> {
        const SQL: &str = "SELECT config FROM logging_configs WHERE account = $1 AND region = $2";
        let text: Option<String> =
            with_pool!(self, |pool| { sqlx::query_scalar(SQL).bind(account).bind(region).fetch_optional(pool).await? });
        text.map(|t| decode(account, region, &t)).transpose()
    }

    /// Removes it; deleting a configuration that does not exist succeeds, as in Bedrock.
    pub async fn delete_logging_config(&self, account: &str, region: &str) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM logging_configs WHERE account = $1 AND region = $2")
                .bind(account)
                .bind(region)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Every configuration as (account, region, config), loaded once at start so the
    /// request path reads them from memory.
    pub async fn all_logging_configs(&self) -> Result<Vec<(String, String, Value)>, StoreError> {
        const SQL: &str = "SELECT account, region, config FROM logging_configs \
                           ORDER BY account, region";
        let rows: Vec<(String, String, String)> =
            with_pool!(self, |pool| { sqlx::query_as(SQL).fetch_all(pool).await? });
        rows.into_iter()
            .map(|(a, r, t)| {
                let v = decode(&a, &r, &t)?;
                Ok((a, r, v))
            })
            .collect()
    }
}
