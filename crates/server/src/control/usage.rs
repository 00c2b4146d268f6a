//! The usage and cost report behind `spillway usage`: `GET /spillway/usage?by=…&since=…`
//! groups the caller's hourly usage rows by application profile, by model ID, or by the
//! value of one tag of the profiles (`tag:KEY`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use spillway_wire::BedrockError;

use super::{control_error, json_ok, store_error, ControlQuery};
use crate::context::Caller;
use crate::error::ApiError;
use crate::state::Control;
use crate::usage::UsageLedger;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    by: Option<String>,
    /// First hour to include, `YYYY-MM-DDTHH` (UTC); everything when absent.
    since: Option<String>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageLine {
    pub key: String,
    pub invocations: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub throttles: i64,
    pub errors: i64,
    pub cost_usd: f64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    pub account: String,
    pub by: String,
    pub since: String,
    pub rows: Vec<UsageLine>,
}

pub async fn report(
    State(state): State<Control>,
    State(usage): State<Arc<UsageLedger>>,
    caller: Caller,
    ControlQuery(q): ControlQuery<UsageQuery>,
) -> Result<Response, ApiError> {
    let by = q.by.unwrap_or_else(|| "model".to_owned());
    let since = q.since.unwrap_or_else(|| "0000-00-00T00".to_owned());
    // The report includes the calls of the last seconds too, and provisioned
    // throughput's hourly charges up to now.
    usage.flush(&state.store).await;
    crate::provisioned::driver::bill_all(&state.catalog, &state.store).await.map_err(|e| store_error(e, "usage"))?;
    let rows = state.store.usage_since(&caller.account, &since).await.map_err(|e| store_error(e, "usage"))?;
    let tag_values: HashMap<String, String> = match by.strip_prefix("tag:") {
        Some(key) => state
            .store
            .resources_with_tag(&caller.account, key)
            .await
            .map_err(|e| store_error(e, "tags"))?
            .into_iter()
            .collect(),
        None => HashMap::new(),
    };
    let mut groups: BTreeMap<String, UsageLine> = BTreeMap::new();
    for row in rows {
        let key = match by.as_str() {
            "profile" => row.profile_arn.clone().unwrap_or_else(|| "(no application profile)".to_owned()),
            "model" => row.model_id.clone(),
            "foundation-model" => row.foundation_model.clone(),
            b if b.starts_with("tag:") => row
                .profile_arn
                .as_ref()
                .and_then(|arn| tag_values.get(arn).cloned())
                .unwrap_or_else(|| "(untagged)".to_owned()),
            other => {
                return Err(control_error(BedrockError::validation(format!(
                    "by must be profile, model, foundation-model or tag:KEY, not {other}"
                ))))
            }
        };
        let line = groups.entry(key.clone()).or_insert_with(|| UsageLine { key, ..UsageLine::default() });
        line.invocations += row.invocations;
        line.input_tokens += row.input_tokens;
        line.output_tokens += row.output_tokens;
        line.throttles += row.throttles;
        line.errors += row.errors;
        line.cost_usd += row.cost_micros_usd as f64 / 1_000_000.0;
    }
    json_ok(&UsageReport { account: caller.account, by, since, rows: groups.into_values().collect() })
}
