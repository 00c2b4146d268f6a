//! Prometheus metrics at `GET /metrics`: Bedrock's CloudWatch metric names per model ID
//! (as the caller passed it, so a profile is its own series, as on CloudWatch) and
//! source region, plus what spillway adds: re-routes by source → inference region, quota
//! headroom, backend in-flight, and the service's own overhead.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use spillway_wire::converse::TokenUsage;
use spillway_wire::{BedrockError, ErrorCode};

use crate::app::AppState;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Install the process-wide recorder once (in-process tests build many routers).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("InvocationLatency".into()),
                    &[5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0, 60000.0],
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("spillway_overhead_seconds".into()),
                        &[5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2],
                    )
                });
            match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// One finished runtime call.
pub struct Outcome<'a> {
    pub model_id: &'a str,
    pub source_region: &'a str,
    pub inference_region: Option<&'a str>,
    pub usage: TokenUsage,
    pub latency: Duration,
    pub error: Option<&'a BedrockError>,
}

pub fn record(o: &Outcome<'_>) {
    let labels = [("ModelId", o.model_id.to_owned()), ("region", o.source_region.to_owned())];
    counter!("Invocations", &labels).increment(1);
    histogram!("InvocationLatency", &labels).record(o.latency.as_secs_f64() * 1000.0);
    if o.usage.input_tokens > 0 {
        counter!("InputTokenCount", &labels).increment(u64::from(o.usage.input_tokens));
    }
    if o.usage.output_tokens > 0 {
        counter!("OutputTokenCount", &labels).increment(u64::from(o.usage.output_tokens));
    }
    if let Some(e) = o.error {
        match e.code {
            ErrorCode::Throttling => counter!("InvocationThrottles", &labels).increment(1),
            code if code.status(spillway_wire::error::Service::Runtime) >= 500 => {
                counter!("InvocationServerErrors", &labels).increment(1);
            }
            _ => counter!("InvocationClientErrors", &labels).increment(1),
        }
    }
    if let Some(inference) = o.inference_region {
        if inference != o.source_region {
            counter!(
                "spillway_reroutes_total",
                "source_region" => o.source_region.to_owned(),
                "inference_region" => inference.to_owned(),
                "ModelId" => o.model_id.to_owned()
            )
            .increment(1);
        }
    }
}

/// Fold the histogram samples recorded since the last call into their buckets. The
/// recorder keeps every sample until then (`install_recorder` starts no upkeep of its
/// own), so without this a service nobody scrapes grows by 16 bytes a request.
pub fn upkeep() {
    if let Some(h) = handle() {
        h.run_upkeep();
    }
}

/// Time spent outside the backend call.
pub fn overhead(d: Duration) {
    histogram!("spillway_overhead_seconds").record(d.as_secs_f64());
}

/// Gauges read at scrape time: backend in-flight and health per region.
pub fn render(state: &AppState) -> String {
    for pool in state.engine.backends().iter() {
        let load = spillway_backends::ModelBackend::load(&pool.backend);
        let labels = [("region", pool.region.clone()), ("backend", pool.name.clone())];
        gauge!("spillway_backend_in_flight", &labels).set(f64::from(load.in_flight));
        gauge!("spillway_backend_limit", &labels).set(f64::from(load.limit));
        gauge!("spillway_backend_available", &labels).set(pool.available());
        gauge!("spillway_backend_reserved", &labels).set(f64::from(pool.reserved_slots()));
    }
    for (key, per_minute, headroom) in state.engine.quota_headroom() {
        gauge!(
            "spillway_quota_headroom",
            "account" => key.account,
            "region" => key.region,
            "scope" => key.scope,
            "limit" => match key.limit { spillway_quota::Limit::Requests => "rpm", spillway_quota::Limit::Tokens => "tpm" },
            "per_minute" => per_minute.to_string()
        )
        .set(headroom);
    }
    handle().map(PrometheusHandle::render).unwrap_or_default()
}
