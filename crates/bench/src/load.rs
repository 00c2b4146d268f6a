//! An HTTP/1.1 keep-alive load driver on hyper's connection API.
//!
//! - **Fixed rate** (open loop): a pacer thread emits the intended send time of request
//!   `i` as `start + i / rate`; each request takes an idle connection (or opens one, up to
//!   `max_connections`, beyond which it waits). Latency is measured **from the intended
//!   send time**, so a server stall shows up in the tail instead of silently slowing the
//!   driver down (coordinated omission). The pacer's own lateness is reported as
//!   *send lag*.
//! - **Saturation** (closed loop): `connections` workers, each sending its next request
//!   as soon as the previous answer is read.
//!
//! Requests started during the warm-up are not recorded. Throughput counts successful
//! answers completed inside the measurement window. Streamed bodies (SSE or AWS
//! event-stream) are read as they arrive for time to first byte and events per second.

use std::collections::BTreeMap;
use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, HOST};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::frames::{EventCounter, StreamKind};
use crate::stats::{summarize, Summary};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Open loop at `rate` requests per second over at most `max_connections`.
    Rate { rate: f64, max_connections: usize },
    /// Closed loop over `connections` connections.
    Saturation { connections: usize },
}

#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub label: String,
    pub url: Uri,
    pub method: Method,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `{n}` in the body is replaced by the request's sequence number.
    pub body: Bytes,
    pub mode: Mode,
    pub duration: Duration,
    pub warmup: Duration,
    /// Stop issuing after this many requests (warm-up included).
    pub max_requests: Option<u64>,
    pub stream: Option<StreamKind>,
    pub expect_status: u16,
    /// Per request, headers and body.
    pub timeout: Duration,
    /// How long answers still in flight at the end are waited for.
    pub grace: Duration,
}

/// The result of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub label: String,
    pub method: String,
    pub url: String,
    pub mode: &'static str,
    pub target_rate: Option<f64>,
    pub connections: usize,
    pub duration_s: f64,
    pub warmup_s: f64,
    /// Requests started in the measurement window that finished (any outcome).
    pub requests: u64,
    pub ok: u64,
    pub bad_status: BTreeMap<u16, u64>,
    pub errors: BTreeMap<String, u64>,
    /// Streams whose events included a failure (exception frames, SSE error chunks).
    pub stream_failures: u64,
    /// Requests still unanswered when the driver stopped (all of them, warm-up included).
    pub unfinished: u64,
    /// Of those, the ones whose answer had begun (streams held open at the end).
    pub open_at_end: u64,
    pub throughput_rps: f64,
    /// From the intended send time to the end of the body (successful answers only).
    pub latency_us: Option<Summary>,
    /// From the intended send time to the first body byte.
    pub ttfb_us: Option<Summary>,
    /// Fixed rate only: how late the pacer handed requests to a connection.
    pub send_lag_us: Option<Summary>,
    pub events: u64,
    pub events_per_s: f64,
    pub events_per_response: f64,
    pub bytes_per_s: f64,
    pub connections_opened: u64,
}

impl Report {
    /// Whether every recorded request succeeded (and at least one did).
    pub fn clean(&self) -> bool {
        self.ok > 0 && self.bad_status.is_empty() && self.errors.is_empty() && self.stream_failures == 0
    }

    pub fn human(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let how = match self.target_rate {
            Some(r) => format!("fixed rate {r}/s over up to {} connections", self.connections),
            None => format!("saturation over {} connections", self.connections),
        };
        let _ = writeln!(
            s,
            "{}{} {}: {how}, {:.1} s (+{:.1} s warm-up)",
            if self.label.is_empty() { String::new() } else { format!("[{}] ", self.label) },
            self.method,
            self.url,
            self.duration_s,
            self.warmup_s
        );
        let non_ok: u64 = self.bad_status.values().sum();
        let errors: u64 = self.errors.values().sum();
        let _ = writeln!(
            s,
            "  requests     {} ok, {non_ok} unexpected status {:?}, {errors} errors {:?}, {} unfinished ({} open)",
            self.ok, self.bad_status, self.errors, self.unfinished, self.open_at_end
        );
        let _ = writeln!(s, "  throughput   {:.1} ok/s, {:.2} MB/s", self.throughput_rps, self.bytes_per_s / 1e6);
        let line = |name: &str, v: &Option<Summary>| match v {
            Some(v) => format!(
                "  {name:<12} p50 {:>9.1} µs  p90 {:>9.1} µs  p99 {:>9.1} µs  max {:>10.1} µs  (n={})\n",
                v.p50, v.p90, v.p99, v.max, v.count
            ),
            None => String::new(),
        };
        s.push_str(&line("latency", &self.latency_us));
        s.push_str(&line("first byte", &self.ttfb_us));
        s.push_str(&line("send lag", &self.send_lag_us));
        if self.events > 0 || self.stream_failures > 0 {
            let _ = writeln!(
                s,
                "  events       {} ({:.1} per answer), {:.0} events/s, {} failure events",
                self.events, self.events_per_response, self.events_per_s, self.stream_failures
            );
        }
        let _ = writeln!(s, "  connections  {} opened", self.connections_opened);
        s
    }
}

/// What one request produced.
struct Sample {
    intended: Instant,
    sent: Instant,
    first_byte: Option<Instant>,
    done: Instant,
    outcome: Outcome,
    events: u64,
    stream_failures: u64,
    bytes: u64,
}

enum Outcome {
    Ok,
    Status(u16),
    Error(String),
}

#[derive(Default)]
struct Recorder {
    requests: u64,
    ok: u64,
    ok_in_window: u64,
    bad_status: BTreeMap<u16, u64>,
    errors: BTreeMap<String, u64>,
    stream_failures: u64,
    latency: Vec<u64>,
    ttfb: Vec<u64>,
    send_lag: Vec<u64>,
    events: u64,
    bytes: u64,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

struct Run {
    cfg: LoadConfig,
    host: HeaderValue,
    addr: std::net::SocketAddr,
    path: Uri,
    window_start: Instant,
    window_end: Instant,
    recorder: Mutex<Recorder>,
    issued: AtomicU64,
    finished: AtomicU64,
    opened: AtomicU64,
    /// Answers that have begun and not ended.
    open: AtomicU64,
    templated: bool,
}

impl Run {
    fn record(&self, s: Sample) {
        self.finished.fetch_add(1, Ordering::Relaxed);
        if s.intended < self.window_start {
            return;
        }
        let Ok(mut r) = self.recorder.lock() else { return };
        r.requests += 1;
        r.bytes += s.bytes;
        r.events += s.events;
        r.stream_failures += s.stream_failures;
        match s.outcome {
            Outcome::Ok => {
                r.ok += 1;
                if s.done <= self.window_end {
                    r.ok_in_window += 1;
                }
                r.latency.push(nanos(s.done.saturating_duration_since(s.intended)));
                if let Some(fb) = s.first_byte {
                    r.ttfb.push(nanos(fb.saturating_duration_since(s.intended)));
                }
                if matches!(self.cfg.mode, Mode::Rate { .. }) {
                    r.send_lag.push(nanos(s.sent.saturating_duration_since(s.intended)));
                }
            }
            Outcome::Status(code) => *r.bad_status.entry(code).or_default() += 1,
            Outcome::Error(e) => *r.errors.entry(e).or_default() += 1,
        }
    }

    fn request(&self, n: u64) -> anyhow::Result<Request<Full<Bytes>>> {
        let body = if self.templated {
            let text = String::from_utf8_lossy(&self.cfg.body).replace("{n}", &n.to_string());
            Bytes::from(text)
        } else {
            self.cfg.body.clone()
        };
        let mut b = Request::builder().method(self.cfg.method.clone()).uri(self.path.clone());
        if let Some(h) = b.headers_mut() {
            h.insert(HOST, self.host.clone());
            for (k, v) in &self.cfg.headers {
                h.append(k.clone(), v.clone());
            }
            if !body.is_empty() || self.cfg.method == Method::POST || self.cfg.method == Method::PUT {
                h.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
            }
        }
        Ok(b.body(Full::new(body))?)
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let stream = TcpStream::connect(self.addr).await.map_err(|e| format!("connect: {}", e.kind()))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.opened.fetch_add(1, Ordering::Relaxed);
        Ok(sender)
    }

    /// Sends one request on `sender` and reads the whole answer. `Err` means the
    /// connection is unusable afterwards.
    async fn exchange(
        &self,
        sender: &mut SendRequest<Full<Bytes>>,
        req: Request<Full<Bytes>>,
        intended: Instant,
        sent: Instant,
    ) -> (Sample, bool) {
        let mut sample = Sample {
            intended,
            sent,
            first_byte: None,
            done: sent,
            outcome: Outcome::Ok,
            events: 0,
            stream_failures: 0,
            bytes: 0,
        };
        let work = async {
            let resp = sender.send_request(req).await.map_err(|e| classify(&e))?;
            let status = resp.status().as_u16();
            let mut body = resp.into_body();
            let mut counter = self.cfg.stream.map(EventCounter::new);
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| classify(&e))?;
                if let Ok(data) = frame.into_data() {
                    if data.is_empty() {
                        continue;
                    }
                    if sample.first_byte.is_none() {
                        sample.first_byte = Some(Instant::now());
                        self.open.fetch_add(1, Ordering::Relaxed);
                    }
                    sample.bytes += data.len() as u64;
                    if let Some(c) = counter.as_mut() {
                        c.push(&data);
                    }
                }
            }
            if let Some(mut c) = counter {
                c.finish();
                sample.events = c.events;
                sample.stream_failures = c.failures;
                if let Some(m) = c.malformed {
                    return Err(format!("malformed stream: {m}"));
                }
            }
            Ok::<u16, String>(status)
        };
        let result = tokio::time::timeout(self.cfg.timeout, work).await;
        if sample.first_byte.is_some() {
            self.open.fetch_sub(1, Ordering::Relaxed);
        }
        let (outcome, healthy) = match result {
            Ok(Ok(status)) if status == self.cfg.expect_status => (Outcome::Ok, true),
            Ok(Ok(status)) => (Outcome::Status(status), true),
            Ok(Err(e)) => (Outcome::Error(e), false),
            Err(_) => (Outcome::Error("timeout".to_owned()), false),
        };
        if matches!(outcome, Outcome::Ok) && sample.stream_failures > 0 {
            sample.outcome = Outcome::Error("failure event in stream".to_owned());
        } else {
            sample.outcome = outcome;
        }
        sample.done = Instant::now();
        (sample, healthy)
    }
}

fn classify(e: &hyper::Error) -> String {
    if e.is_incomplete_message() {
        "connection closed mid-answer".to_owned()
    } else if e.is_canceled() || e.is_closed() {
        "connection closed".to_owned()
    } else if e.is_parse() {
        "invalid HTTP answer".to_owned()
    } else {
        format!("http: {e}")
    }
}

/// Runs the load described by `cfg` on the current runtime.
pub async fn run(cfg: LoadConfig) -> anyhow::Result<Report> {
    if cfg.url.scheme_str() != Some("http") {
        bail!("only http:// URLs are supported: {}", cfg.url);
    }
    let authority = cfg.url.authority().ok_or_else(|| anyhow!("the URL has no host: {}", cfg.url))?.clone();
    let port = authority.port_u16().unwrap_or(80);
    let addr = (authority.host(), port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {authority}"))?
        .next()
        .ok_or_else(|| anyhow!("{authority} resolves to nothing"))?;
    let path: Uri = cfg.url.path_and_query().map_or("/", |p| p.as_str()).parse()?;
    let host = HeaderValue::from_str(authority.as_str())?;
    let start = Instant::now();
    let templated = cfg.body.windows(3).any(|w| w == b"{n}");
    let run = Arc::new(Run {
        host,
        addr,
        path,
        window_start: start + cfg.warmup,
        window_end: start + cfg.warmup + cfg.duration,
        recorder: Mutex::new(Recorder::default()),
        issued: AtomicU64::new(0),
        finished: AtomicU64::new(0),
        opened: AtomicU64::new(0),
        open: AtomicU64::new(0),
        templated,
        cfg,
    });
    let connections = match run.cfg.mode {
        Mode::Rate { rate, max_connections } => {
            if !(rate > 0.0 && rate.is_finite()) {
                bail!("--rate must be positive");
            }
            fixed_rate(&run, start, rate, max_connections).await?;
            max_connections
        }
        Mode::Saturation { connections } => {
            saturate(&run, connections).await;
            connections
        }
    };
    Ok(report(&run, connections))
}

fn report(run: &Run, connections: usize) -> Report {
    let cfg = &run.cfg;
    let mut r = run.recorder.lock().map(|mut r| std::mem::take(&mut *r)).unwrap_or_default();
    let secs = cfg.duration.as_secs_f64().max(1e-9);
    let issued = run.issued.load(Ordering::Relaxed);
    let finished = run.finished.load(Ordering::Relaxed);
    Report {
        label: cfg.label.clone(),
        method: cfg.method.to_string(),
        url: cfg.url.to_string(),
        mode: match cfg.mode {
            Mode::Rate { .. } => "rate",
            Mode::Saturation { .. } => "saturation",
        },
        target_rate: match cfg.mode {
            Mode::Rate { rate, .. } => Some(rate),
            Mode::Saturation { .. } => None,
        },
        connections,
        duration_s: cfg.duration.as_secs_f64(),
        warmup_s: cfg.warmup.as_secs_f64(),
        requests: r.requests,
        ok: r.ok,
        bad_status: r.bad_status,
        errors: r.errors,
        stream_failures: r.stream_failures,
        unfinished: issued.saturating_sub(finished),
        open_at_end: run.open.load(Ordering::Relaxed),
        throughput_rps: r.ok_in_window as f64 / secs,
        latency_us: summarize(&mut r.latency),
        ttfb_us: summarize(&mut r.ttfb),
        send_lag_us: summarize(&mut r.send_lag),
        events: r.events,
        events_per_s: r.events as f64 / secs,
        events_per_response: if r.ok > 0 { r.events as f64 / r.requests.max(1) as f64 } else { 0.0 },
        bytes_per_s: r.bytes as f64 / secs,
        connections_opened: run.opened.load(Ordering::Relaxed),
    }
}

async fn saturate(run: &Arc<Run>, connections: usize) {
    let deadline = run.window_end;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..connections.max(1) {
        let run = Arc::clone(run);
        workers.spawn(async move {
            let mut conn: Option<SendRequest<Full<Bytes>>> = None;
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                let n = run.issued.fetch_add(1, Ordering::Relaxed);
                if run.cfg.max_requests.is_some_and(|max| n >= max) {
                    run.issued.fetch_sub(1, Ordering::Relaxed);
                    break;
                }
                let intended = Instant::now();
                // A connection the server closed is replaced, not counted as an error.
                if let Some(s) = conn.as_mut() {
                    if s.ready().await.is_err() {
                        conn = None;
                    }
                }
                let mut sender = match conn.take() {
                    Some(s) => s,
                    None => match run.connect().await {
                        Ok(s) => s,
                        Err(e) => {
                            let now = Instant::now();
                            run.record(error_sample(intended, now, e));
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    },
                };
                let req = match run.request(n) {
                    Ok(r) => r,
                    Err(e) => {
                        run.record(error_sample(intended, Instant::now(), format!("request: {e}")));
                        break;
                    }
                };
                let sent = Instant::now();
                let (sample, healthy) = run.exchange(&mut sender, req, intended, sent).await;
                run.record(sample);
                if healthy {
                    conn = Some(sender);
                }
            }
        });
    }
    drain(&mut workers, deadline + run.cfg.grace).await;
}

fn error_sample(intended: Instant, now: Instant, e: String) -> Sample {
    Sample {
        intended,
        sent: now,
        first_byte: None,
        done: now,
        outcome: Outcome::Error(e),
        events: 0,
        stream_failures: 0,
        bytes: 0,
    }
}

/// Waits for the tasks until `until`, then cancels the rest (their requests count as
/// unfinished).
async fn drain(tasks: &mut tokio::task::JoinSet<()>, until: Instant) {
    let all = async { while tasks.join_next().await.is_some() {} };
    let _ = tokio::time::timeout_at(until.into(), all).await;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}

/// Idle connections, most recently used last (so a few hot ones carry the load).
struct Pool {
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    slots: Semaphore,
}

impl Pool {
    fn pop(&self) -> Option<SendRequest<Full<Bytes>>> {
        self.idle.lock().ok().and_then(|mut idle| idle.pop())
    }
}

/// How early the pacer wakes before a send time and spins.
const PACER_SPIN: Duration = Duration::from_micros(40);

async fn fixed_rate(run: &Arc<Run>, start: Instant, rate: f64, max_connections: usize) -> anyhow::Result<()> {
    let deadline = run.window_end;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
    let stop = Arc::new(AtomicBool::new(false));
    let max_requests = run.cfg.max_requests;
    let pacer_stop = Arc::clone(&stop);
    // A tighter timer slack makes the pacer's sleeps end closer to their target (Linux's
    // default is 50 µs). Set on the process before the pacer starts, which inherits it;
    // best effort.
    let _ = std::fs::write("/proc/self/timerslack_ns", "1");
    let pacer = std::thread::Builder::new().name("bench-pacer".into()).spawn(move || {
        let mut i: u64 = 0;
        loop {
            if pacer_stop.load(Ordering::Relaxed) || max_requests.is_some_and(|m| i >= m) {
                break;
            }
            let Some(offset) = interval.checked_mul(u32::try_from(i).unwrap_or(u32::MAX)) else { break };
            let intended = start + offset;
            if intended >= deadline {
                break;
            }
            // Sleep to just before the send time, then spin the last stretch: a sleep
            // overshoots by tens of µs here, a short spin costs little CPU.
            let now = Instant::now();
            if intended > now + PACER_SPIN {
                std::thread::sleep(intended - now - PACER_SPIN);
            }
            while Instant::now() < intended {
                std::hint::spin_loop();
            }
            if tx.send((i, intended)).is_err() {
                break;
            }
            i += 1;
        }
    })?;
    let pool = Arc::new(Pool { idle: Mutex::new(Vec::new()), slots: Semaphore::new(max_connections.max(1)) });
    let mut tasks = tokio::task::JoinSet::new();
    while let Some((n, intended)) = rx.recv().await {
        while tasks.try_join_next().is_some() {}
        run.issued.fetch_add(1, Ordering::Relaxed);
        let run = Arc::clone(run);
        let pool = Arc::clone(&pool);
        tasks.spawn(async move {
            let Ok(_slot) = pool.slots.acquire().await else { return };
            let mut sender = None;
            while let Some(mut s) = pool.pop() {
                // A connection the server closed while idle is dropped, not an error.
                if s.ready().await.is_ok() {
                    sender = Some(s);
                    break;
                }
            }
            let mut sender = match sender {
                Some(s) => s,
                None => match run.connect().await {
                    Ok(s) => s,
                    Err(e) => {
                        run.record(error_sample(intended, Instant::now(), e));
                        return;
                    }
                },
            };
            let req = match run.request(n) {
                Ok(r) => r,
                Err(e) => {
                    run.record(error_sample(intended, Instant::now(), format!("request: {e}")));
                    return;
                }
            };
            let sent = Instant::now();
            let (sample, healthy) = run.exchange(&mut sender, req, intended, sent).await;
            run.record(sample);
            if healthy {
                if let Ok(mut idle) = pool.idle.lock() {
                    idle.push(sender);
                }
            }
        });
    }
    stop.store(true, Ordering::Relaxed);
    let _ = pacer.join();
    drain(&mut tasks, deadline.max(Instant::now()) + run.cfg.grace).await;
    Ok(())
}
