//! The embedded local models, measured through the backend the service uses:
//!
//!     cargo bench -p spillway-backends --bench local_model
//!
//! For the default text model (SmolLM2-135M-Instruct), prints the load time, time to
//! first token, decode tokens/s and RSS, for one sequence and for `BENCH_PARALLEL`
//! (default 4) parallel sequences, on a quiet machine and while another core is busy (a
//! spinning process, pinned with `taskset` to the last core when it is available): the
//! situation of a service answering traffic while it generates. For Gemma 3 270M, the
//! same on a quiet machine, one sequence. For both, the time to first token of a
//! question after a ~1,000-token system prompt, cold and with the prompt in the prefix
//! cache, and their ratio; and their answers to a handful of seed questions.
//!
//! On a shared machine absolute times move with the load (printed at the start and the
//! end); the ratios taken in one run hold better: cached against cold time to first
//! token, and the default thread count against one thread (`threads=1 baseline`).
//!
//! The weights must be fetched first (`spillway fetch-model`); `SPILLWAY_MODEL_DIR`,
//! `SPILLWAY_LOCAL_THREADS` and `BENCH_TOKENS` (default 128) apply.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use spillway_backends::local::LocalBackend;
use spillway_backends::{ChatCall, ModelBackend};
use spillway_catalog::{LocalBackend as LocalConfig, DEFAULT_MODEL_FILE, GEMMA_MODEL_FILE};
use spillway_wire::converse::{ConverseRequest, StopReason};
use spillway_wire::stream::ModelEvent;

const PROMPT: &str = r#"{"messages":[{"role":"user","content":[{"text":"Write a short story about a robot who learns to paint."}]}],
    "inferenceConfig":{"temperature":0}}"#;

struct Run {
    ttft: Duration,
    output_tokens: u32,
    /// Decode rate after the first token.
    decode_tps: f64,
    stop: StopReason,
    cache_read: u32,
    /// The whole prompt: the tokens read from the cache and the rest.
    input_tokens: u32,
}

async fn one(backend: &LocalBackend, request: &ConverseRequest, max_tokens: u32) -> Run {
    let start = Instant::now();
    let call = ChatCall { model: "bench", request, max_tokens, stream: true };
    let mut stream = backend.chat(call).await.unwrap();
    let (mut first, mut last) = (None, start);
    let mut finish = None;
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            ModelEvent::Text(_) => {
                let now = Instant::now();
                first.get_or_insert(now);
                last = now;
            }
            ModelEvent::Finish(f) => finish = Some(f),
            _ => {}
        }
    }
    let finish = finish.unwrap();
    let first = first.unwrap_or(last);
    let decoded = finish.usage.output_tokens.saturating_sub(1);
    let span = last.duration_since(first).as_secs_f64();
    Run {
        ttft: first.duration_since(start),
        output_tokens: finish.usage.output_tokens,
        decode_tps: if span > 0.0 { f64::from(decoded) / span } else { 0.0 },
        stop: finish.stop_reason,
        cache_read: finish.usage.cache_read_input_tokens,
        input_tokens: finish.usage.input_tokens + finish.usage.cache_read_input_tokens,
    }
}

async fn scenario(backend: &LocalBackend, parallel: usize, max_tokens: u32, label: &str) {
    let request: ConverseRequest = spillway_wire::parse::json(PROMPT.as_bytes()).unwrap();
    // Warm up once (first-use allocations), then measure.
    one(backend, &request, 8).await;
    let start = Instant::now();
    let runs = futures::future::join_all((0..parallel).map(|_| one(backend, &request, max_tokens))).await;
    let wall = start.elapsed().as_secs_f64();
    let tokens: u32 = runs.iter().map(|r| r.output_tokens).sum();
    let ttft = runs.iter().map(|r| r.ttft).max().unwrap_or_default();
    let per_seq = runs.iter().map(|r| r.decode_tps).sum::<f64>() / runs.len() as f64;
    let stops: Vec<_> = runs.iter().map(|r| format!("{:?}", r.stop)).collect();
    println!(
        "{label:<22} parallel={parallel:<2} ttft(max)={:>6.0} ms  decode/seq={per_seq:>6.1} tok/s  aggregate={:>6.1} tok/s  tokens={tokens:<4} rss={} MB  stop={}",
        ttft.as_secs_f64() * 1000.0,
        f64::from(tokens) / wall,
        rss_mb("VmRSS"),
        stops.join(",")
    );
}

fn rss_mb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

/// A process spinning on the last core, standing in for the request path.
fn busy_core() -> Child {
    let last = std::thread::available_parallelism().map_or(1, |n| n.get()) - 1;
    let spin = "while :; do :; done";
    let pinned = Command::new("taskset")
        .args(["-c", &last.to_string(), "sh", "-c", spin])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    pinned.unwrap_or_else(|_| Command::new("sh").args(["-c", spin]).spawn().unwrap())
}

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Seed 000's question (with its system prompt) and other everyday ones.
const QUESTIONS: &[(&str, &str)] = &[
    (
        "あなたは AWS サービスの専門家であり、常に正確で簡潔な回答を提供します。",
        "S3、EBS、EFS の違いを教えてください。日本語で回答してください。",
    ),
    ("", "What is the capital of France?"),
    ("", "Hello, how are you?"),
    ("", "Translate こんにちは into English."),
    ("", "What is 12 plus 7?"),
];

/// Each question's greedy answer, on one line.
async fn answers(backend: &LocalBackend) {
    for (system, question) in QUESTIONS {
        let mut body = serde_json::json!({
            "messages": [{"role": "user", "content": [{"text": question}]}],
            "inferenceConfig": {"temperature": 0},
        });
        if !system.is_empty() {
            body["system"] = serde_json::json!([{"text": system}]);
        }
        let request = spillway_wire::parse::json::<ConverseRequest>(body.to_string().as_bytes()).unwrap();
        let call = ChatCall { model: "bench", request: &request, max_tokens: 64, stream: true };
        let mut stream = backend.chat(call).await.unwrap();
        let (mut text, mut stop) = (String::new(), None);
        while let Some(event) = stream.next().await {
            match event.unwrap() {
                ModelEvent::Text(t) => text.push_str(&t),
                ModelEvent::Finish(f) => stop = Some((f.stop_reason, f.usage.output_tokens)),
                _ => {}
            }
        }
        let (reason, tokens) = stop.unwrap();
        let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(150).collect();
        println!("answer  {question:<34} -> {line} [{reason:?}, {tokens} tokens]");
    }
}

/// Time to first token after a long system prompt: cold, then with the prompt cached,
/// in three rounds with three prompts, so each pair is measured under the same load.
async fn prefix_cache(backend: &LocalBackend) {
    let mut ratios = Vec::new();
    for round in 0..3 {
        let rules: Vec<String> =
            (0..90).map(|i| format!("Rule {round}.{i}: answer politely, briefly and accurately.")).collect();
        let system = rules.join(" ");
        let ask = |question: &str| {
            let body = serde_json::json!({
                "system": [{"text": system}],
                "messages": [{"role": "user", "content": [{"text": question}]}],
                "inferenceConfig": {"temperature": 0},
            });
            spillway_wire::parse::json::<ConverseRequest>(body.to_string().as_bytes()).unwrap()
        };
        let cold = one(backend, &ask("What is two plus two?"), 4).await;
        let cached = one(backend, &ask("What is the capital of Japan?"), 4).await;
        let ratio = cold.ttft.as_secs_f64() / cached.ttft.as_secs_f64().max(1e-9);
        ratios.push(ratio);
        println!(
            "prefix cache           ttft cold={:>6.0} ms  cached={:>6.0} ms  ratio={ratio:>5.1}x  cache read={} of {} tokens",
            cold.ttft.as_secs_f64() * 1000.0,
            cached.ttft.as_secs_f64() * 1000.0,
            cached.cache_read,
            cached.input_tokens,
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!("prefix cache           median ratio {:.1}x", ratios[ratios.len() / 2]);
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let parallel = env_u32("BENCH_PARALLEL", 4).max(1);
    let max_tokens = env_u32("BENCH_TOKENS", 128);
    println!("load average at the start: {}", load_average());
    for (i, file) in [DEFAULT_MODEL_FILE, GEMMA_MODEL_FILE].into_iter().enumerate() {
        let cfg = LocalConfig { slots: Some(parallel), model_file: Some(file.into()), ..LocalConfig::default() };
        let path = cfg.model_path();
        if !path.is_file() {
            eprintln!("{} is missing: run `cargo run --release --bin spillway -- fetch-model` first", path.display());
            std::process::exit(1);
        }
        let backend = LocalBackend::standalone(&cfg);
        let load = backend.load_time().await.unwrap();
        println!(
            "local model {} | threads={} slots={parallel} cores={} | load {:.2} s, rss after load {} MB",
            path.display(),
            cfg.resolved_threads(),
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            load.as_secs_f64(),
            rss_mb("VmRSS")
        );
        // The same model on one thread, measured right after the default thread count:
        // the baseline it is compared with, under the same load.
        let single = if cfg.resolved_threads() > 1 {
            let one = LocalConfig { threads: Some(1), slots: Some(1), ..cfg.clone() };
            let single = LocalBackend::standalone(&one);
            single.load_time().await.unwrap();
            Some(single)
        } else {
            None
        };
        // The default model in full; the other one sequence on a quiet machine.
        let cases: &[(&str, bool)] =
            if i == 0 { &[("quiet", false), ("other core busy", true)] } else { &[("quiet", false)] };
        for &(label, busy) in cases {
            let mut spinner = busy.then(busy_core);
            if busy {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            scenario(&backend, 1, max_tokens, label).await;
            if let Some(single) = single.as_ref().filter(|_| !busy) {
                scenario(single, 1, max_tokens, "threads=1 baseline").await;
            }
            if parallel > 1 && i == 0 {
                scenario(&backend, parallel as usize, max_tokens, label).await;
            }
            if let Some(child) = spinner.as_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        prefix_cache(&backend).await;
        answers(&backend).await;
    }
    println!("load average at the end: {}", load_average());
    println!("peak rss {} MB", rss_mb("VmHWM"));
}
