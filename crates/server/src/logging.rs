//! Model invocation logging as Bedrock does it: one configuration per (account, source
//! region), set with PutModelInvocationLoggingConfiguration, and one `ModelInvocationLog`
//! record per runtime call while it is set. Records go to the delivery pipeline of
//! `spillway-invocation-log`, which batches and writes them off the request path.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use hashbrown::HashMap;
use serde_json::Value;
use spillway_invocation_log::{DataKinds, InvocationLogger, JsonBody, LoggingConfig, ModelInvocationLog, Operation};
use spillway_store::{Store, StoreError};
use spillway_wire::converse::TokenUsage;
use spillway_wire::BedrockError;

use crate::context::Caller;

mod input;
use input::Input;

/// Configurations by account, then source region: looked up with borrowed keys on every
/// call (a `(String, String)` key needed two allocations per look-up), hashed with
/// hashbrown's foldhash (the keys are the operator's, not a client's).
type Configs = HashMap<String, HashMap<String, Arc<LoggingConfig>>>;

/// The `errorCode` of a call whose client went away before the answer was complete.
/// Bedrock's records name no such outcome; spillway's own name makes it filterable.
pub const CLIENT_DISCONNECTED: &str = "ClientDisconnected";

/// The configurations live in the control-plane store; this is the copy the request path
/// reads, written through on every change here and reloaded when another instance sharing
/// the store changes one (crate::control_events).
pub struct InvocationLogs {
    configs: RwLock<Configs>,
    logger: InvocationLogger,
}

impl std::fmt::Debug for InvocationLogs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvocationLogs").finish_non_exhaustive()
    }
}

/// What one finished call leaves in the log.
pub struct Entry<'a> {
    pub caller: &'a Caller,
    pub operation: Operation,
    pub model_id: &'a str,
    pub input: &'a [u8],
    /// The answer as sent (serde_json's text), logged as it is.
    pub output: Option<JsonBody>,
    pub usage: TokenUsage,
    pub inference_region: Option<&'a str>,
    pub error: Option<&'a BedrockError>,
    /// The client went away before the answer was complete: the record keeps what was
    /// generated until then, with `errorCode` [`CLIENT_DISCONNECTED`].
    pub abandoned: bool,
    /// The members the record takes from `input`, when the handler parsed it (so it is
    /// JSON); `None`: `input` is read here.
    pub parsed: Option<ParsedInput>,
    /// The output is an embedding (logged only with embeddingDataDeliveryEnabled).
    pub embedding: bool,
}

/// What the record takes from a request body that its handler parsed into the typed
/// request (Converse, ConverseStream): the members as the type holds them, so the body
/// is not read a second time for the record (about 2,000 instructions a call, issue 13).
#[derive(Debug, Default, Clone)]
pub struct ParsedInput {
    pub request_metadata: Option<BTreeMap<String, String>>,
    /// `performanceConfig` as it served the call (the type's JSON).
    pub performance_config: Option<Value>,
}

impl InvocationLogs {
    pub async fn load(store: &Store, logger: InvocationLogger) -> Result<Self, StoreError> {
        let logs = Self { configs: RwLock::new(HashMap::new()), logger };
        logs.reload(store).await?;
        Ok(logs)
    }

    /// Replace the in-memory copy with the store's.
    pub async fn reload(&self, store: &Store) -> Result<(), StoreError> {
        let mut fresh = Configs::new();
        for (account, region, value) in store.all_logging_configs().await? {
            match serde_json::from_value::<LoggingConfig>(value) {
                Ok(cfg) => {
                    fresh.entry(account).or_default().insert(region, Arc::new(cfg));
                }
                Err(e) => tracing::error!(%account, %region, error = %e, "stored logging configuration unreadable"),
            }
        }
        *self.configs.write().unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        Ok(())
    }

    pub fn get(&self, account: &str, region: &str) -> Option<Arc<LoggingConfig>> {
        let configs = self.configs.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        configs.get(account).and_then(|by_region| by_region.get(region)).cloned()
    }

    /// Set (`Some`) or delete (`None`) the configuration of an account in a region.
    pub async fn put(
        &self,
        store: &Store,
        account: &str,
        region: &str,
        config: Option<LoggingConfig>,
    ) -> Result<(), StoreError> {
        match &config {
            Some(c) => {
                let value = serde_json::to_value(c).map_err(|e| StoreError::Database(e.to_string()))?;
                store.put_logging_config(account, region, &value).await?;
            }
            None => store.delete_logging_config(account, region).await?,
        }
        let mut configs = self.configs.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match config {
            Some(c) => {
                configs.entry(account.to_owned()).or_default().insert(region.to_owned(), Arc::new(c));
            }
            None => {
                if let Some(by_region) = configs.get_mut(account) {
                    by_region.remove(region);
                }
            }
        }
        Ok(())
    }

    /// Queue the record of one call, if the caller's account logs in its region.
    pub fn emit(&self, entry: Entry<'_>) {
        let Some(config) = self.get(&entry.caller.account, &entry.caller.source_region) else {
            return;
        };
        let caller = entry.caller;
        let mut record = ModelInvocationLog::new(
            time::OffsetDateTime::now_utc(),
            &caller.account,
            ["arn:aws:iam::", &caller.account, ":root"].concat(),
            &caller.source_region,
            &*caller.request_id,
            entry.operation,
            entry.model_id,
        );
        let (body, request_metadata, performance_member) = match entry.parsed {
            Some(parsed) => (JsonBody::from_parsed(entry.input), parsed.request_metadata, parsed.performance_config),
            None => {
                let input = Input::read(entry.input);
                (input.body, input.request_metadata.as_ref().and_then(Input::string_members), input.performance_config)
            }
        };
        record.input.input_body_json = body;
        record.input.input_token_count = u64::from(entry.usage.input_tokens);
        if entry.usage.uses_cache() {
            record.input.cache_read_input_token_count = Some(u64::from(entry.usage.cache_read_input_tokens));
            record.input.cache_write_input_token_count = Some(u64::from(entry.usage.cache_write_input_tokens()));
        }
        record.output.output_body_json = entry.output;
        record.output.output_token_count = u64::from(entry.usage.output_tokens);
        if entry.embedding {
            record.output.data = DataKinds::EMBEDDING;
        }
        record.inference_region = entry.inference_region.map(str::to_owned);
        record.error_code = match (entry.error, entry.abandoned) {
            (Some(e), _) => Some(e.code.shape_name().to_owned()),
            (None, true) => Some(CLIENT_DISCONNECTED.to_owned()),
            (None, false) => None,
        };
        if let Some(meta) = request_metadata {
            record.request_metadata = Some(meta);
        } else if let Some(meta) = &caller.header_metadata {
            // InvokeModel's travels in its header (native bodies have no such member).
            record.request_metadata = Some(meta.0.as_ref().clone());
        }
        record.performance_config =
            performance_config(entry.operation, performance_member, caller.header_latency.as_deref());
        self.logger.submit(config, record);
    }

    /// Whether calls of this caller are logged (to skip building outputs otherwise).
    pub fn enabled(&self, caller: &Caller) -> bool {
        self.get(&caller.account, &caller.source_region).is_some()
    }
}

/// The record's `performanceConfig`: what the call asked for, which is what served it (a
/// latency the model does not offer is refused before anything runs). Converse carries it
/// in its body; InvokeModel in its header (a native body has no such member).
fn performance_config(operation: Operation, member: Option<Value>, header: Option<&str>) -> Option<Value> {
    match operation {
        Operation::Converse | Operation::ConverseStream => member.filter(Value::is_object),
        Operation::InvokeModel | Operation::InvokeModelWithResponseStream => {
            header.map(|latency| serde_json::json!({ "latency": latency }))
        }
    }
}

#[cfg(test)]
mod performance_config_tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn converse_logs_its_member_and_invoke_its_header() {
        let body = br#"{"messages": [], "performanceConfig": {"latency": "optimized"}}"#;
        let member = Input::read(body).performance_config;
        let logged = performance_config(Operation::Converse, member, Some("standard"));
        assert_eq!(logged, Some(json!({"latency": "optimized"})));
        let member = Input::read(br#"{"messages": []}"#).performance_config;
        assert_eq!(performance_config(Operation::ConverseStream, member, None), None);
        let native = Input::read(br#"{"anthropic_version": "bedrock-2023-05-31"}"#).performance_config;
        let logged = performance_config(Operation::InvokeModel, native.clone(), Some("optimized"));
        assert_eq!(logged, Some(json!({"latency": "optimized"})));
        assert_eq!(performance_config(Operation::InvokeModelWithResponseStream, native, None), None);
        let not_an_object = Input::read(br#"{"performanceConfig": "optimized"}"#).performance_config;
        assert_eq!(performance_config(Operation::Converse, not_an_object, None), None);
    }
}
