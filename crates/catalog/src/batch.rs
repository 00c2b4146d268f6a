//! `[batch]`: batch inference (CreateModelInvocationJob, StartAsyncInvoke) runs on the
//! capacity on-demand traffic leaves free, has quotas of its own and is billed at its
//! own price. The defaults are Bedrock's documented quotas and its batch discount
//! (half the on-demand price).

use serde::Deserialize;

use crate::model::{Catalog, Price};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSettings {
    /// Batch price as a share of the on-demand price of the same model and region.
    #[serde(default = "BatchSettings::default_price_factor")]
    pub price_factor: f64,
    /// Share of each backend's concurrency batch work leaves free for on-demand traffic
    /// (at least one slot): a batch call starts only while more than this is free.
    #[serde(default = "BatchSettings::default_headroom")]
    pub headroom: f64,
    /// Unfinished jobs (Submitted … Stopping) per account, model and region.
    #[serde(default = "BatchSettings::default_max_active_jobs")]
    pub max_active_jobs: u32,
    /// Records a job must have at least, and may have at most (also per input file).
    #[serde(default = "BatchSettings::default_min_records")]
    pub min_records: u32,
    #[serde(default = "BatchSettings::default_max_records")]
    pub max_records: u32,
    /// Size limits of one input file and of a job's input, in bytes.
    #[serde(default = "BatchSettings::default_max_file_bytes")]
    pub max_file_bytes: u64,
    #[serde(default = "BatchSettings::default_max_job_bytes")]
    pub max_job_bytes: u64,
}

impl BatchSettings {
    fn default_price_factor() -> f64 {
        0.5
    }
    fn default_headroom() -> f64 {
        0.25
    }
    fn default_max_active_jobs() -> u32 {
        20
    }
    fn default_min_records() -> u32 {
        100
    }
    fn default_max_records() -> u32 {
        50_000
    }
    fn default_max_file_bytes() -> u64 {
        1 << 30
    }
    fn default_max_job_bytes() -> u64 {
        5 << 30
    }

    /// The key and the reason of the first setting out of range.
    pub(crate) fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if !(self.price_factor >= 0.0 && self.price_factor <= 1.0) {
            return Err(("batch.price_factor", "must be between 0 and 1"));
        }
        if !(self.headroom >= 0.0 && self.headroom < 1.0) {
            return Err(("batch.headroom", "must be at least 0 and below 1"));
        }
        if self.min_records > self.max_records {
            return Err(("batch.min_records", "must not exceed batch.max_records"));
        }
        if self.max_file_bytes > self.max_job_bytes {
            return Err(("batch.max_file_bytes", "must not exceed batch.max_job_bytes"));
        }
        Ok(())
    }
}

impl Default for BatchSettings {
    fn default() -> Self {
        Self {
            price_factor: Self::default_price_factor(),
            headroom: Self::default_headroom(),
            max_active_jobs: Self::default_max_active_jobs(),
            min_records: Self::default_min_records(),
            max_records: Self::default_max_records(),
            max_file_bytes: Self::default_max_file_bytes(),
            max_job_bytes: Self::default_max_job_bytes(),
        }
    }
}

impl Catalog {
    /// What batch usage of `model` costs when billed in `region`: the on-demand price
    /// there times `[batch].price_factor`.
    pub fn batch_price(&self, model: &str, region: &str) -> Option<Price> {
        let f = self.batch.price_factor;
        self.price(model, region).map(|p| Price {
            input_per_1k: p.input_per_1k * f,
            output_per_1k: p.output_per_1k * f,
            cache_read_per_1k: p.cache_read_per_1k * f,
            cache_write_5m_per_1k: p.cache_write_5m_per_1k * f,
            cache_write_1h_per_1k: p.cache_write_1h_per_1k * f,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_costs_half_by_default_and_settings_are_checked() {
        let catalog = crate::builtin().unwrap();
        let model = &catalog.models[0].id;
        let region = &catalog.default_region;
        if let (Some(on_demand), Some(batch)) = (catalog.price(model, region), catalog.batch_price(model, region)) {
            assert_eq!(batch.input_per_1k * 2.0, on_demand.input_per_1k);
        }
        assert!(BatchSettings::default().check().is_ok());
        let bad = BatchSettings { headroom: 1.0, ..BatchSettings::default() };
        assert_eq!(bad.check().unwrap_err().0, "batch.headroom");
        let cfg = format!("{}\n[batch]\nprice_factor = 2.0\n", crate::BUILTIN_TOML);
        assert!(crate::from_toml(&cfg).unwrap_err().to_string().contains("batch.price_factor"));
        let cfg = format!("{}\n[batch]\nprice_factor = 0.4\nheadroom = 0.5\n", crate::BUILTIN_TOML);
        assert_eq!(crate::from_toml(&cfg).unwrap().batch.headroom, 0.5);
    }
}
