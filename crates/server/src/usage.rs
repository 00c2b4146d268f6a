//! Usage and cost attribution: every runtime call adds to an hourly row keyed by account,
//! model ID as passed (an application profile ARN stays itself, as on CloudWatch), the
//! foundation model, the application profile and the source region. Rows are summed in
//! memory and flushed to the store every few seconds and at shutdown, so the request path
//! never waits on the database.

use std::collections::HashMap;
use std::sync::Mutex;

use spillway_catalog::Catalog;
use spillway_store::{Store, UsageRow};
use spillway_wire::converse::TokenUsage;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    account: String,
    hour: String,
    model_id: String,
    foundation_model: String,
    profile_arn: Option<String>,
    source_region: String,
}

#[derive(Debug, Default)]
pub struct UsageLedger {
    rows: Mutex<HashMap<Key, UsageRow>>,
}

/// One call's contribution.
pub struct Usage<'a> {
    pub account: &'a str,
    pub model_id: &'a str,
    pub foundation_model: &'a str,
    pub profile_arn: Option<&'a str>,
    pub source_region: &'a str,
    pub usage: TokenUsage,
    pub throttled: bool,
    pub failed: bool,
}

/// The current hour as `YYYY-MM-DDTHH` (UTC).
pub fn hour_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!("{:04}-{:02}-{:02}T{:02}", now.year(), u8::from(now.month()), now.day(), now.hour())
}

/// USD cost in millionths, at the source region's price (as Bedrock bills).
pub fn cost_micros(catalog: &Catalog, model: &str, source_region: &str, usage: TokenUsage) -> i64 {
    catalog.price(model, source_region).map_or(0, |p| {
        let per_1k = |n: u32, price: f64| f64::from(n) / 1000.0 * price;
        // Cache reads and writes are billed apart from the input, at their own prices.
        let usd = per_1k(usage.input_tokens, p.input_per_1k)
            + per_1k(usage.output_tokens, p.output_per_1k)
            + per_1k(usage.cache_read_input_tokens, p.cache_read_per_1k)
            + per_1k(usage.cache_write_5m, p.cache_write_5m_per_1k)
            + per_1k(usage.cache_write_1h, p.cache_write_1h_per_1k);
        (usd * 1_000_000.0).round() as i64
    })
}

impl UsageLedger {
    pub fn add(&self, catalog: &Catalog, u: Usage<'_>) {
        // Provisioned throughput is paid by the hour (the status driver accrues it into
        // the same rows), not by the token.
        let cost = if crate::provisioned::is_provisioned_arn(u.model_id) {
            0
        } else {
            cost_micros(catalog, u.foundation_model, u.source_region, u.usage)
        };
        self.add_priced(u, cost);
    }

    /// A batch record or async invocation: billed at the batch price (`[batch]`).
    pub fn add_batch(&self, catalog: &Catalog, u: Usage<'_>) {
        let cost = catalog.batch_price(u.foundation_model, u.source_region).map_or(0, |p| {
            let usd = f64::from(u.usage.input_tokens) / 1000.0 * p.input_per_1k
                + f64::from(u.usage.output_tokens) / 1000.0 * p.output_per_1k;
            (usd * 1_000_000.0).round() as i64
        });
        self.add_priced(u, cost);
    }

    fn add_priced(&self, u: Usage<'_>, cost: i64) {
        let key = Key {
            account: u.account.to_owned(),
            hour: hour_now(),
            model_id: u.model_id.to_owned(),
            foundation_model: u.foundation_model.to_owned(),
            profile_arn: u.profile_arn.map(str::to_owned),
            source_region: u.source_region.to_owned(),
        };
        let mut rows = self.rows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let row = rows.entry(key.clone()).or_insert_with(|| UsageRow {
            account: key.account,
            hour: key.hour,
            model_id: key.model_id,
            foundation_model: key.foundation_model,
            profile_arn: key.profile_arn,
            source_region: key.source_region,
            invocations: 0,
            input_tokens: 0,
            output_tokens: 0,
            throttles: 0,
            errors: 0,
            cost_micros_usd: 0,
        });
        row.invocations += 1;
        row.input_tokens += i64::from(u.usage.input_tokens);
        row.output_tokens += i64::from(u.usage.output_tokens);
        row.throttles += i64::from(u.throttled);
        row.errors += i64::from(u.failed);
        row.cost_micros_usd += cost;
    }

    /// Write the sums to the store. Rows that fail to write are kept for the next flush.
    pub async fn flush(&self, store: &Store) {
        let rows: Vec<(Key, UsageRow)> = {
            let mut guard = self.rows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            guard.drain().collect()
        };
        for (key, row) in rows {
            if let Err(e) = store.record_usage(&row).await {
                tracing::error!(error = %e, "usage flush failed; keeping the row for the next flush");
                let mut guard = self.rows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                match guard.get_mut(&key) {
                    Some(existing) => {
                        existing.invocations += row.invocations;
                        existing.input_tokens += row.input_tokens;
                        existing.output_tokens += row.output_tokens;
                        existing.throttles += row.throttles;
                        existing.errors += row.errors;
                        existing.cost_micros_usd += row.cost_micros_usd;
                    }
                    None => {
                        guard.insert(key, row);
                    }
                }
            }
        }
    }
}
