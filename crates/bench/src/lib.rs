//! Benchmark tools for spillway, driven by `bench/run.sh`:
//!
//! - [`mock`]: a fast mock OpenAI-compatible backend (`bench-mock`): a canned ~1 KB chat
//!   completion, or the same answer as SSE in N chunks, after a fixed latency.
//! - [`load`]: an HTTP/1.1 load driver (`bench-load`) with an open-loop fixed-rate mode
//!   (latency from the intended send time, so a stall is not hidden by coordinated
//!   omission) and a closed-loop saturation mode, reading SSE and AWS event-stream bodies
//!   to report time to first byte and events per second.
//! - [`stats`] and [`frames`]: the percentiles and the stream-event counters they share.

pub mod frames;
pub mod load;
pub mod mock;
pub mod stats;
