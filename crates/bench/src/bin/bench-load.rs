//! An HTTP/1.1 load driver for the benchmarks (see `spillway_bench::load`).
//!
//!     bench-load --url http://127.0.0.1:8080/model/ID/converse -H 'content-type: application/json' \
//!         --body '{"messages":[...]}' --rate 2000 --duration 10          # open loop, fixed rate
//!     bench-load --url ... --connections 32 --duration 10                  # saturation
//!     bench-load --url ... --stream event-stream --connections 8           # TTFB and events/s

use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Parser;
use http::header::{HeaderName, HeaderValue};
use http::{Method, Uri};
use spillway_bench::frames::StreamKind;
use spillway_bench::load::{run, LoadConfig, Mode};

#[derive(Debug, Parser)]
#[command(name = "bench-load", about = "Open-loop (fixed rate) and saturation HTTP/1.1 load driver")]
struct Args {
    /// Target URL (http only).
    #[arg(long)]
    url: Uri,
    #[arg(short = 'X', long, default_value = "POST")]
    method: Method,
    /// A request header, `name: value` (repeatable).
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Request body (`{n}` becomes the request's sequence number).
    #[arg(long, conflicts_with = "body_file")]
    body: Option<String>,
    /// Request body from a file.
    #[arg(long)]
    body_file: Option<std::path::PathBuf>,
    /// Fixed-rate (open-loop) mode: requests per second.
    #[arg(long, conflicts_with = "connections")]
    rate: Option<f64>,
    /// Saturation (closed-loop) mode: connections, each sending as fast as answers come.
    #[arg(long)]
    connections: Option<usize>,
    /// Fixed-rate mode: most connections open at once (requests beyond wait for one).
    #[arg(long, default_value_t = 512)]
    max_connections: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Stop issuing after this many requests (warm-up included).
    #[arg(long)]
    max_requests: Option<u64>,
    /// Read the body as a stream of events: `sse` or `event-stream`.
    #[arg(long)]
    stream: Option<StreamKind>,
    /// The status that counts as success.
    #[arg(long, default_value_t = 200)]
    expect_status: u16,
    /// Per-request timeout in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    timeout_ms: u64,
    /// How long answers in flight at the end are waited for, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    grace_ms: u64,
    /// Runtime worker threads (1: a single-threaded runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// A name for this run, repeated in the output.
    #[arg(long, default_value = "")]
    label: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Exit with status 1 unless every request succeeded.
    #[arg(long)]
    strict: bool,
}

fn header(raw: &str) -> anyhow::Result<(HeaderName, HeaderValue)> {
    let Some((name, value)) = raw.split_once(':') else { bail!("a header is `name: value`, got {raw:?}") };
    Ok((HeaderName::from_bytes(name.trim().as_bytes())?, HeaderValue::from_str(value.trim())?))
}

fn secs(s: f64, what: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s).with_context(|| format!("bad {what}: {s}"))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let body = match (&args.body, &args.body_file) {
        (Some(b), _) => Bytes::from(b.clone()),
        (None, Some(f)) => Bytes::from(std::fs::read(f).with_context(|| format!("reading {}", f.display()))?),
        (None, None) => Bytes::new(),
    };
    let mode = match (args.rate, args.connections) {
        (Some(rate), _) => Mode::Rate { rate, max_connections: args.max_connections },
        (None, c) => Mode::Saturation { connections: c.unwrap_or(1) },
    };
    let cfg = LoadConfig {
        label: args.label.clone(),
        url: args.url.clone(),
        method: args.method.clone(),
        headers: args.headers.iter().map(|h| header(h)).collect::<anyhow::Result<_>>()?,
        body,
        mode,
        duration: secs(args.duration, "--duration")?,
        warmup: secs(args.warmup, "--warmup")?,
        max_requests: args.max_requests,
        stream: args.stream,
        expect_status: args.expect_status,
        timeout: Duration::from_millis(args.timeout_ms),
        grace: Duration::from_millis(args.grace_ms),
    };
    let rt = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads).enable_all().build()?
    };
    let report = rt.block_on(run(cfg))?;
    // Connections still open are dropped with the runtime, without waiting for answers.
    rt.shutdown_background();
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.human());
    }
    if args.strict && !report.clean() {
        std::process::exit(1);
    }
    Ok(())
}
