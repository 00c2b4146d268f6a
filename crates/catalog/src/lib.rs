//! The catalog: regions, backends, models with their per-region availability and quotas,
//! system-defined inference profiles, prices and accounts.
//!
//! It is read from TOML in two stages, as the config should be: [`raw`] mirrors the file
//! (unknown keys are errors, and serde reports the key path), then [`load`] checks the
//! references between sections and builds the [`Catalog`] the rest of the service reads.

pub mod batch;
mod builtin;
pub mod cluster;
pub mod imported;
pub mod listing;
mod load;
mod local;
mod model;
pub mod provisioned;
pub mod raw;
pub mod server;
pub mod tiers;

pub use builtin::{builtin, BUILTIN_TOML};
pub use load::{from_toml, ConfigError};
pub use local::{
    default_model_path, model_dir, DEFAULT_MODEL_FILE, DEFAULT_SLOTS, GEMMA_MODEL_FILE, MAX_DEFAULT_THREADS,
};
pub use model::*;
pub use server::{parse_duration, ServerSettings};
pub use tiers::{ModelTiers, ReservedCapacity, ServiceTierType, TierSettings};
