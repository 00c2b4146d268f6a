//! A fast mock OpenAI-compatible backend for the benchmarks (see `spillway_bench::mock`).
//!
//!     bench-mock --listen 127.0.0.1:0 --latency-ms 0 --chunks 16
//!
//! The first line on stdout is `bench-mock listening on http://ADDR`.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use spillway_bench::mock::{bind, MockConfig};

#[derive(Debug, Parser)]
#[command(name = "bench-mock", about = "A fast mock OpenAI-compatible chat-completions server")]
struct Args {
    /// Address to listen on; port 0 picks a free one (printed on the first stdout line).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Delay before every answer's headers, in milliseconds.
    #[arg(long, default_value_t = 0.0)]
    latency_ms: f64,
    /// Content chunks of a streamed answer (a finish chunk, a usage chunk and [DONE] follow).
    #[arg(long, default_value_t = 16)]
    chunks: usize,
    /// Pause between streamed chunks, in milliseconds (0: the whole stream in one write).
    #[arg(long, default_value_t = 0.0)]
    chunk_interval_ms: f64,
    /// Length of the completion text in bytes (the JSON answer is ~300 bytes more).
    #[arg(long, default_value_t = 720)]
    content_bytes: usize,
    /// Requests for this model get a stream that never ends.
    #[arg(long, default_value = "bench-hold")]
    hold_model: String,
    /// Pause between the chunks of a held stream, in milliseconds.
    #[arg(long, default_value_t = 1000.0)]
    hold_interval_ms: f64,
    /// Runtime worker threads (1: a single-threaded runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn millis(ms: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(ms / 1000.0).map_err(|e| anyhow::anyhow!("bad duration {ms} ms: {e}"))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cfg = MockConfig {
        latency: millis(args.latency_ms)?,
        chunks: args.chunks,
        chunk_interval: millis(args.chunk_interval_ms)?,
        content_bytes: args.content_bytes,
        hold_model: args.hold_model,
        hold_interval: millis(args.hold_interval_ms)?.max(Duration::from_millis(1)),
    };
    let rt = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads).enable_all().build()?
    };
    rt.block_on(async move {
        let (addr, serve) = bind(args.listen, cfg).await?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "bench-mock listening on http://{addr}")?;
        out.flush()?;
        drop(out);
        serve.await;
        Ok(())
    })
}
