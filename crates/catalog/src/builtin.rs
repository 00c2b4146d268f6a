//! The built-in catalog, shipped as TOML and read through the same loader as any
//! operator's file, so it can never drift from what `check-config` accepts.

use crate::load::{from_toml, ConfigError};
use crate::model::Catalog;

pub const BUILTIN_TOML: &str = include_str!("../builtin.toml");

pub fn builtin() -> Result<Catalog, ConfigError> {
    from_toml(BUILTIN_TOML)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Access;

    #[test]
    fn builtin_catalog_loads() {
        let c = builtin().unwrap();
        assert_eq!(c.default_region, "us-east-1");
        assert!(c.regions.len() >= 7);
        assert_eq!(c.backend_kinds(), ["local", "sim"]);
        // Text on SmolLM2 (`local`), embeddings on Gemma (`gemma`).
        for m in &c.models {
            let embeds = m.output_modalities.iter().any(|o| o == "EMBEDDING");
            let expected = if embeds { "gemma" } else { "local" };
            assert!(m.offers.values().all(|o| o.backend == expected), "{}", m.id);
        }
        assert_eq!(c.with_sim_backends().backend_kinds(), ["sim"]);
    }

    #[test]
    fn availability_follows_the_seeds() {
        let c = builtin().unwrap();
        let sonnet35 = c.model("anthropic.claude-3-5-sonnet-20240620-v1:0").unwrap();
        assert!(sonnet35.offer("eu-central-1").is_some());
        assert!(sonnet35.offer("eu-west-1").is_none());
        assert!(sonnet35.offer("eu-west-3").is_none());
        let sonnet3 = c.model("anthropic.claude-3-sonnet-20240229-v1:0").unwrap();
        assert_eq!(sonnet3.offer("ap-northeast-1").unwrap().access, Access::ProfileOnly);
        // Seed 000's quota table.
        let q = sonnet35.offer("us-west-2").unwrap();
        assert_eq!((q.rpm, q.tpm), (250, 2_000_000));
        let q = sonnet35.offer("ap-northeast-1").unwrap();
        assert_eq!((q.rpm, q.tpm), (20, 200_000));
        let haiku = c.model("anthropic.claude-3-haiku-20240307-v1:0").unwrap();
        assert_eq!(haiku.offer("us-east-1").unwrap().rpm, 1000);
        assert_eq!(haiku.offer("eu-west-3").unwrap().tpm, 300_000);
        let eu = c.profile("eu.anthropic.claude-3-5-sonnet-20240620-v1:0").unwrap();
        assert_eq!(eu.regions, ["eu-central-1", "eu-west-1", "eu-west-3"]);
    }
}
