//! `spillway usage`: ask a running service for its usage report and print it as a table.

use anyhow::{bail, Context};
use serde_json::Value;

use crate::cli::UsageArgs;

pub async fn print(args: UsageArgs) -> anyhow::Result<()> {
    let mut query = vec![("by", args.by.clone())];
    if let Some(since) = &args.since {
        // A bare date means from its first hour.
        let since = if since.len() == 10 { format!("{since}T00") } else { since.clone() };
        query.push(("since", since));
    }
    let qs: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)))
        .collect();
    let url = format!("{}/spillway/usage?{}", args.endpoint.trim_end_matches('/'), qs.join("&"));
    let mut req = reqwest::Client::new().get(&url);
    if let Some(key) = &args.api_key {
        req = req.bearer_auth(key);
    }
    let resp = req.send().await.with_context(|| format!("asking {url}"))?;
    let status = resp.status();
    let body: Value = resp.json().await.context("reading the report")?;
    if !status.is_success() {
        bail!("{status}: {}", body["message"].as_str().unwrap_or("request failed"));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    println!(
        "{:<64} {:>11} {:>12} {:>12} {:>9} {:>7} {:>12}",
        format!("by {}", args.by),
        "invocations",
        "input tok",
        "output tok",
        "throttles",
        "errors",
        "cost USD"
    );
    for row in body["rows"].as_array().into_iter().flatten() {
        println!(
            "{:<64} {:>11} {:>12} {:>12} {:>9} {:>7} {:>12.6}",
            row["key"].as_str().unwrap_or(""),
            row["invocations"],
            row["inputTokens"],
            row["outputTokens"],
            row["throttles"],
            row["errors"],
            row["costUsd"].as_f64().unwrap_or(0.0)
        );
    }
    Ok(())
}
