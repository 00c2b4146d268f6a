//! Where the embedded local model lives and how its settings resolve: what the config
//! leaves out comes from the environment, then from the machine.

use std::path::PathBuf;

use crate::raw::LocalBackend;

/// File name of the built-in text model, SmolLM2-135M-Instruct quantised to Q4_1.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// File name of the built-in embedding model (and a text model to choose in the
/// config), Gemma 3 270M (base) quantised to Q4_K_M.
pub const GEMMA_MODEL_FILE: &str = "gemma-3-270m-q4_k_m.gguf";

/// Directory of the model cache: `$SPILLWAY_MODEL_DIR`, else `$XDG_CACHE_HOME/spillway`,
/// else `~/.cache/spillway` (the current directory's `.cache/spillway` without a home).
pub fn model_dir() -> PathBuf {
    if let Some(dir) = env_path("SPILLWAY_MODEL_DIR") {
        return dir;
    }
    if let Some(cache) = env_path("XDG_CACHE_HOME") {
        return cache.join("spillway");
    }
    env_path("HOME").unwrap_or_default().join(".cache").join("spillway")
}

/// Where `spillway fetch-model` puts the built-in model, and where `local` backends look
/// for it when their config names no `model_file`.
pub fn default_model_path() -> PathBuf {
    model_dir().join(DEFAULT_MODEL_FILE)
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from)
}

fn env_u32(var: &str) -> Option<u32> {
    std::env::var(var).ok()?.trim().parse().ok().filter(|n| *n > 0)
}

/// Slots of an engine when neither the config nor `SPILLWAY_LOCAL_SLOTS` sets them.
pub const DEFAULT_SLOTS: u32 = 4;

/// Most threads an engine takes by default: a 270M model gains nothing from more.
pub const MAX_DEFAULT_THREADS: u32 = 4;

impl LocalBackend {
    /// The GGUF file this backend runs; a relative `model_file` is in the model cache.
    pub fn model_path(&self) -> PathBuf {
        match &self.model_file {
            Some(file) if file.is_relative() => model_dir().join(file),
            Some(file) => file.clone(),
            None => default_model_path(),
        }
    }

    /// Whether the model file is there (listings say "local (model not fetched)" if not).
    pub fn model_present(&self) -> bool {
        self.model_path().is_file()
    }

    /// Inference threads: the config, `SPILLWAY_LOCAL_THREADS`, else one per core, at
    /// most [`MAX_DEFAULT_THREADS`]. Decoding a small model is bound by memory bandwidth,
    /// which more threads share better; llama.cpp is built without OpenMP, whose spinning
    /// threads made decoding collapse when the request path took a core (ggml's own pool
    /// slows down instead: README, "The local model").
    pub fn resolved_threads(&self) -> u32 {
        self.threads.or_else(|| env_u32("SPILLWAY_LOCAL_THREADS")).unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            u32::try_from(cores).unwrap_or(1).clamp(1, MAX_DEFAULT_THREADS)
        })
    }

    /// Sequences generated in parallel: the config, `SPILLWAY_LOCAL_SLOTS`, else 4.
    pub fn resolved_slots(&self) -> u32 {
        self.slots.or_else(|| env_u32("SPILLWAY_LOCAL_SLOTS")).unwrap_or(DEFAULT_SLOTS)
    }

    /// The capacity slice of `region`'s instance.
    pub fn slice(&self, region: &str) -> u32 {
        self.regions.get(region).copied().or(self.region_slots).unwrap_or_else(|| self.resolved_slots())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_fall_back_to_the_engine_slots() {
        let mut b = LocalBackend { slots: Some(3), ..LocalBackend::default() };
        assert_eq!(b.slice("r1"), 3);
        b.region_slots = Some(2);
        assert_eq!(b.slice("r1"), 2);
        b.regions.insert("r1".into(), 5);
        assert_eq!(b.slice("r1"), 5);
        assert_eq!(b.slice("r2"), 2);
    }

    #[test]
    fn explicit_settings_win() {
        let b = LocalBackend { threads: Some(3), model_file: Some("/m.gguf".into()), ..LocalBackend::default() };
        assert_eq!(b.resolved_threads(), 3);
        assert_eq!(b.model_path(), PathBuf::from("/m.gguf"));
        assert!(!b.model_present());
        let cached = LocalBackend { model_file: Some(GEMMA_MODEL_FILE.into()), ..LocalBackend::default() };
        assert_eq!(cached.model_path(), model_dir().join(GEMMA_MODEL_FILE));
        assert!(LocalBackend::default().resolved_threads() >= 1);
    }
}
