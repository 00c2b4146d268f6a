//! Usage and cost attribution: every runtime call adds to an hourly row keyed by account,
//! model ID as passed (an application profile ARN stays itself, as on CloudWatch), the
//! foundation model, the application profile and the source region. Rows are summed in
//! memory and flushed to the store every few seconds and at shutdown, so the request path
//! never waits on the database.

use std::sync::Mutex;

use hashbrown::HashMap;

use spillway_catalog::Catalog;
use spillway_store::{Store, UsageRow};
use spillway_wire::converse::TokenUsage;

/// A row's key. The hour is kept as hours since the epoch: a call finds its row by
/// comparing numbers, and the `YYYY-MM-DDTHH` text is formatted once per new row.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    account: String,
    hour: u64,
    model_id: String,
    foundation_model: String,
    profile_arn: Option<String>,
    source_region: String,
}

/// [`Key`] borrowing the call's strings, so finding an existing row allocates nothing
/// (it used to build six `String`s and format the hour on every call). Its derived
/// `Hash` feeds the hasher exactly what `Key`'s does (`&str` hashes as `String`,
/// `Option<&str>` as `Option<String>`), as `Equivalent` requires.
#[derive(Hash)]
struct KeyRef<'a> {
    account: &'a str,
    hour: u64,
    model_id: &'a str,
    foundation_model: &'a str,
    profile_arn: Option<&'a str>,
    source_region: &'a str,
}

impl hashbrown::Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.hour == key.hour
            && self.account == key.account
            && self.model_id == key.model_id
            && self.foundation_model == key.foundation_model
            && self.profile_arn == key.profile_arn.as_deref()
            && self.source_region == key.source_region
    }
}

impl KeyRef<'_> {
    fn owned(&self) -> Key {
        Key {
            account: self.account.to_owned(),
            hour: self.hour,
            model_id: self.model_id.to_owned(),
            foundation_model: self.foundation_model.to_owned(),
            profile_arn: self.profile_arn.map(str::to_owned),
            source_region: self.source_region.to_owned(),
        }
    }
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

/// Hours since the Unix epoch (UTC), the row key's hour.
fn current_hour() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    since.as_secs() / 3600
}

/// An hour since the epoch as `YYYY-MM-DDTHH`.
fn hour_text(hour: u64) -> String {
    let secs = i64::try_from(hour.saturating_mul(3600)).unwrap_or(i64::MAX);
    let at = time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:04}-{:02}-{:02}T{:02}", at.year(), u8::from(at.month()), at.day(), at.hour())
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

/// An empty row for `key`, its hour as text.
fn new_row(key: &KeyRef<'_>) -> UsageRow {
    UsageRow {
        account: key.account.to_owned(),
        hour: hour_text(key.hour),
        model_id: key.model_id.to_owned(),
        foundation_model: key.foundation_model.to_owned(),
        profile_arn: key.profile_arn.map(str::to_owned),
        source_region: key.source_region.to_owned(),
        invocations: 0,
        input_tokens: 0,
        output_tokens: 0,
        throttles: 0,
        errors: 0,
        cost_micros_usd: 0,
    }
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
        let key = KeyRef {
            account: u.account,
            hour: current_hour(),
            model_id: u.model_id,
            foundation_model: u.foundation_model,
            profile_arn: u.profile_arn,
            source_region: u.source_region,
        };
        let mut rows = self.rows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let row = match rows.entry_ref(&key) {
            hashbrown::hash_map::EntryRef::Occupied(row) => row.into_mut(),
            hashbrown::hash_map::EntryRef::Vacant(vacant) => vacant.insert_with_key(key.owned(), new_row(&key)),
        };
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
