//! Prometheus metrics at `GET /metrics`: Bedrock's CloudWatch metric names per model ID
//! (as the caller passed it, so a profile is its own series, as on CloudWatch) and
//! source region, plus what spillway adds: re-routes by source → inference region, quota
//! headroom, backend in-flight, and the service's own overhead.

use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use metrics::{counter, gauge, histogram, Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use spillway_wire::converse::TokenUsage;
use spillway_wire::{BedrockError, ErrorCode};

use spillway_dispatch::Dispatcher;

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
    /// The client went away before the answer was complete.
    pub abandoned: bool,
}

/// The CloudWatch-named series of one (ModelId, source region), registered once: looking
/// each one up in the recorder hashes its name and labels, seven times a call.
struct Series {
    invocations: Counter,
    latency: Histogram,
    input_tokens: Counter,
    output_tokens: Counter,
    throttles: Counter,
    server_errors: Counter,
    client_errors: Counter,
}

impl Series {
    fn register(model_id: &str, region: &str) -> Self {
        let labels = [("ModelId", model_id.to_owned()), ("region", region.to_owned())];
        Self {
            invocations: counter!("Invocations", &labels),
            latency: histogram!("InvocationLatency", &labels),
            input_tokens: counter!("InputTokenCount", &labels),
            output_tokens: counter!("OutputTokenCount", &labels),
            throttles: counter!("InvocationThrottles", &labels),
            server_errors: counter!("InvocationServerErrors", &labels),
            client_errors: counter!("InvocationClientErrors", &labels),
        }
    }
}

/// Source region → ModelId → series. Two levels so a lookup borrows the call's strings;
/// foldhash (hashbrown's default) rather than SipHash, as this runs on every call.
type SeriesMap = hashbrown::HashMap<String, hashbrown::HashMap<String, Arc<Series>>>;

fn series(model_id: &str, region: &str) -> Arc<Series> {
    static SERIES: OnceLock<RwLock<SeriesMap>> = OnceLock::new();
    let map = SERIES.get_or_init(RwLock::default);
    let found = map.read().unwrap_or_else(PoisonError::into_inner).get(region).and_then(|m| m.get(model_id)).cloned();
    if let Some(s) = found {
        return s;
    }
    let mut map = map.write().unwrap_or_else(PoisonError::into_inner);
    let by_model = map.entry(region.to_owned()).or_default();
    Arc::clone(by_model.entry(model_id.to_owned()).or_insert_with(|| Arc::new(Series::register(model_id, region))))
}

pub fn record(o: &Outcome<'_>) {
    let s = series(o.model_id, o.source_region);
    s.invocations.increment(1);
    s.latency.record(o.latency.as_secs_f64() * 1000.0);
    if o.usage.input_tokens > 0 {
        s.input_tokens.increment(u64::from(o.usage.input_tokens));
    }
    if o.usage.output_tokens > 0 {
        s.output_tokens.increment(u64::from(o.usage.output_tokens));
    }
    if let Some(e) = o.error {
        match e.code {
            ErrorCode::Throttling => s.throttles.increment(1),
            code if code.status(spillway_wire::error::Service::Runtime) >= 500 => s.server_errors.increment(1),
            _ => s.client_errors.increment(1),
        }
    }
    if o.abandoned {
        counter!(
            "spillway_client_disconnects_total",
            "ModelId" => o.model_id.to_owned(),
            "region" => o.source_region.to_owned()
        )
        .increment(1);
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
    static OVERHEAD: OnceLock<Histogram> = OnceLock::new();
    OVERHEAD.get_or_init(|| histogram!("spillway_overhead_seconds")).record(d.as_secs_f64());
}

/// Gauges read at scrape time: backend in-flight and health per region.
pub fn render(dispatcher: &Dispatcher) -> String {
    for pool in dispatcher.backends().iter() {
        let load = spillway_backends::ModelBackend::load(&pool.backend);
        let labels = [("region", pool.region.clone()), ("backend", pool.name.clone())];
        gauge!("spillway_backend_in_flight", &labels).set(f64::from(load.in_flight));
        gauge!("spillway_backend_limit", &labels).set(f64::from(load.limit));
        gauge!("spillway_backend_available", &labels).set(pool.available());
        gauge!("spillway_backend_reserved", &labels).set(f64::from(pool.reserved_slots()));
    }
    for (key, per_minute, headroom) in dispatcher.admission().headroom() {
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
