//! Built without the `local-llm` feature: there is no llama.cpp, so every `local` backend
//! answers ModelNotReadyException saying so.

use std::sync::Arc;
use std::time::Duration;

use super::calls::CallStyle;
use super::template::ChatFormat;
use super::tools::Constraint;
use super::{Job, Segment, Settings};
use crate::BackendError;

/// Never constructed: nothing loads without llama.cpp.
#[derive(Debug)]
pub enum Loaded {}

impl Loaded {
    pub fn load_time(&self) -> Duration {
        match *self {}
    }

    pub fn context(&self) -> u32 {
        match *self {}
    }

    pub fn format(&self) -> &ChatFormat {
        match *self {}
    }

    pub fn tokenize(&self, _segments: &[Segment]) -> Vec<i32> {
        match *self {}
    }

    pub fn tokenize_text(&self, _text: &str) -> Vec<i32> {
        match *self {}
    }

    pub fn markers(&self, _style: CallStyle) -> Vec<i32> {
        match *self {}
    }

    pub fn submit(&self, _job: Job) -> Result<(), BackendError> {
        match *self {}
    }
}

/// Grammars come from llama.cpp, which this build does not have.
pub fn grammar(_constraint: &Constraint, _style: CallStyle) -> Result<String, BackendError> {
    Err(BackendError::NotReady("this build of spillway has no embedded model engine".into()))
}

pub fn spawn(
    _settings: Settings,
    publish: impl FnOnce(Result<Arc<Loaded>, String>) + Send + 'static,
) -> std::io::Result<()> {
    publish(Err(
        "this build of spillway has no embedded model engine (it was built without the `local-llm` feature)".into()
    ));
    Ok(())
}
