//! Hourly usage per account, model, application profile and source region: what the
//! usage/cost report (`spillway usage --by tag:KEY|profile|model`) aggregates.
//!
//! Writers flush counters off the request path and ADD them to the row of the hour
//! (an upsert with `x = x + excluded.x`, which SQLite and PostgreSQL both run as one
//! atomic statement), so several instances sharing a PostgreSQL store can all write.

use crate::BeginWrite;
use crate::{with_pool, Store, StoreError};

/// One hour of usage for one key. Counters are i64 because that is what both dialects
/// store natively; they never go negative.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageRow {
    pub account: String,
    /// `YYYY-MM-DDTHH` in UTC; text order is time order.
    pub hour: String,
    /// The modelId as the caller passed it (foundation model, system or application
    /// profile ARN, …): CloudWatch reports by it.
    pub model_id: String,
    /// The foundation model that actually ran (its price applies).
    pub foundation_model: String,
    /// The application profile the call was attributed to, if any. Stored as '' for
    /// None: the column is part of the primary key, which PostgreSQL keeps non-NULL.
    pub profile_arn: Option<String>,
    /// Billing and logs stay in the source region, so usage is keyed by it.
    pub source_region: String,
    pub invocations: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub throttles: i64,
    pub errors: i64,
    /// Cost at the source region's price, in millionths of a US dollar.
    pub cost_micros_usd: i64,
}

/// The columns in SELECT order; both dialects decode them as these types.
type Columns = (String, String, String, String, String, String, i64, i64, i64, i64, i64, i64);

fn from_columns(c: Columns) -> UsageRow {
    let (account, hour, model_id, foundation_model, profile_arn, source_region) = (c.0, c.1, c.2, c.3, c.4, c.5);
    UsageRow {
        account,
        hour,
        model_id,
        foundation_model,
        profile_arn: Some(profile_arn).filter(|a| !a.is_empty()),
        source_region,
        invocations: c.6,
        input_tokens: c.7,
        output_tokens: c.8,
        throttles: c.9,
        errors: c.10,
        cost_micros_usd: c.11,
    }
}

pub(crate) const UPSERT: &str = "INSERT INTO usage_hourly (account, hour, model_id, foundation_model, \
     profile_arn, source_region, invocations, input_tokens, output_tokens, throttles, errors, \
     cost_micros_usd) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
     ON CONFLICT (account, hour, model_id, foundation_model, profile_arn, source_region) \
     DO UPDATE SET invocations = usage_hourly.invocations + excluded.invocations, \
     input_tokens = usage_hourly.input_tokens + excluded.input_tokens, \
     output_tokens = usage_hourly.output_tokens + excluded.output_tokens, \
     throttles = usage_hourly.throttles + excluded.throttles, \
     errors = usage_hourly.errors + excluded.errors, \
     cost_micros_usd = usage_hourly.cost_micros_usd + excluded.cost_micros_usd";

impl Store {
    /// Adds one row's counters to the stored row with the same key (creating it).
    pub async fn record_usage(&self, row: &UsageRow) -> Result<(), StoreError> {
        self.record_usages(std::slice::from_ref(row)).await
    }

    /// Adds several rows in one transaction: a periodic flush is one commit.
    pub async fn record_usages(&self, rows: &[UsageRow]) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for r in rows {
                sqlx::query(UPSERT)
                    .bind(&r.account)
                    .bind(&r.hour)
                    .bind(&r.model_id)
                    .bind(&r.foundation_model)
                    .bind(r.profile_arn.as_deref().unwrap_or(""))
                    .bind(&r.source_region)
                    .bind(r.invocations)
                    .bind(r.input_tokens)
                    .bind(r.output_tokens)
                    .bind(r.throttles)
                    .bind(r.errors)
                    .bind(r.cost_micros_usd)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The account's rows from `since_hour` (inclusive, `YYYY-MM-DDTHH`) on, ordered by
    /// hour then key.
    pub async fn usage_since(&self, account: &str, since_hour: &str) -> Result<Vec<UsageRow>, StoreError> {
        const SQL: &str = "SELECT account, hour, model_id, foundation_model, profile_arn, \
             source_region, invocations, input_tokens, output_tokens, throttles, errors, \
             cost_micros_usd FROM usage_hourly WHERE account = $1 AND hour >= $2 \
             ORDER BY hour, model_id, foundation_model, profile_arn, source_region";
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, Columns>(SQL).bind(account).bind(since_hour).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(from_columns).collect())
    }
}
