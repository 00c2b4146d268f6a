//! `spillway batch watch JOB`: follows a job through GetModelInvocationJob until it
//! ends. On a terminal, a progress bar (records processed of the total, the rate, the
//! time left); otherwise one line each time the numbers change, with the server's own
//! estimate (the job's `message`). Exits non-zero when the job ends Failed or Expired.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// The job's ID or ARN.
    pub job: String,
    /// The service to ask.
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "SPILLWAY_ENDPOINT")]
    pub endpoint: String,
    /// An API key of the job's account (open mode needs none).
    #[arg(long, env = "AWS_BEARER_TOKEN_BEDROCK")]
    pub api_key: Option<String>,
    /// The region the job was created in (open mode; a key answers for its own).
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// How often to ask, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub interval_ms: u64,
}

#[derive(Debug, clap::Subcommand)]
pub enum BatchCommand {
    /// Follow a batch inference job until it ends.
    Watch(WatchArgs),
}

pub async fn run(command: BatchCommand) -> anyhow::Result<()> {
    match command {
        BatchCommand::Watch(args) => watch(args).await,
    }
}

/// One look at the job.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub status: String,
    pub processed: u64,
    pub total: Option<u64>,
    pub errors: u64,
    pub message: Option<String>,
}

impl Progress {
    pub fn from_json(v: &Value) -> Self {
        Self {
            status: v["status"].as_str().unwrap_or("").to_owned(),
            processed: v["processedRecordCount"].as_u64().unwrap_or(0),
            total: v["totalRecordCount"].as_u64(),
            errors: v["errorRecordCount"].as_u64().unwrap_or(0),
            message: v["message"].as_str().map(str::to_owned),
        }
    }

    pub fn ended(&self) -> bool {
        matches!(self.status.as_str(), "Completed" | "PartiallyCompleted" | "Failed" | "Stopped" | "Expired")
    }

    /// The plain-text line for logs and pipes.
    pub fn line(&self) -> String {
        let total = self.total.map_or_else(|| "?".to_owned(), |t| t.to_string());
        let mut line = format!("{}: {} of {total} records, {} errors", self.status, self.processed, self.errors);
        if let Some(m) = &self.message {
            line.push_str(" — ");
            line.push_str(m);
        }
        line
    }
}

async fn fetch(client: &reqwest::Client, args: &WatchArgs) -> anyhow::Result<Progress> {
    let id = percent_encoding::utf8_percent_encode(&args.job, percent_encoding::NON_ALPHANUMERIC);
    let url = format!("{}/model-invocation-job/{id}", args.endpoint.trim_end_matches('/'));
    let mut req = client.get(&url);
    if let Some(key) = &args.api_key {
        req = req.bearer_auth(key);
    } else if let Some(region) = &args.region {
        // Open mode takes any credentials; the scope is what names the caller's region.
        req = req.header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=spillway/20240101/{region}/bedrock/aws4_request, SignedHeaders=host, Signature=0"),
        );
    }
    let resp = req.send().await.with_context(|| format!("asking {url}"))?;
    let status = resp.status();
    let body: Value = resp.json().await.context("reading the job")?;
    if !status.is_success() {
        bail!("{status}: {}", body["message"].as_str().unwrap_or("request failed"));
    }
    Ok(Progress::from_json(&body))
}

async fn watch(args: WatchArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let tty = std::io::stderr().is_terminal();
    let bar = if tty {
        let style = ProgressStyle::with_template("{msg:>18} [{bar:40}] {pos}/{len} records  {per_sec}  ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(style)
    } else {
        ProgressBar::hidden()
    };
    let mut last: Option<Progress> = None;
    loop {
        let now = fetch(&client, &args).await?;
        if let Some(total) = now.total {
            bar.set_length(total);
        }
        bar.set_position(now.processed);
        bar.set_message(now.status.clone());
        if !tty && last.as_ref() != Some(&now) {
            println!("{}", now.line());
        }
        if now.ended() {
            bar.finish();
            if tty {
                println!("{}", now.line());
            }
            if matches!(now.status.as_str(), "Failed" | "Expired") {
                bail!("the job ended {}", now.status);
            }
            return Ok(());
        }
        last = Some(now);
        tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_says_done_of_total() {
        let v = serde_json::json!({"status": "InProgress", "processedRecordCount": 5, "totalRecordCount": 10,
            "errorRecordCount": 1, "message": "5 of 10 records processed; about 3 s left."});
        let p = Progress::from_json(&v);
        assert!(!p.ended());
        assert_eq!(p.line(), "InProgress: 5 of 10 records, 1 errors — 5 of 10 records processed; about 3 s left.");
        let p = Progress::from_json(&serde_json::json!({"status": "Validating"}));
        assert_eq!(p.line(), "Validating: 0 of ? records, 0 errors");
        assert!(Progress::from_json(&serde_json::json!({"status": "Stopped"})).ended());
    }
}
