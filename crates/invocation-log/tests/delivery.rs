//! End-to-end delivery through `InvocationLogger` into a temp dir.

// Integration-test helpers are not `#[test]` functions, so clippy's in-test allowance
// does not reach them; a failing unwrap here is a failing test.
#![allow(clippy::unwrap_used)]

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use flate2::read::GzDecoder;
use serde_json::{json, Value};
use spillway_invocation_log::{
    build_s3_store, cloudwatch_log_path, local_bucket_dir, s3_object_key, CloudWatchConfig, InvocationLogger,
    LogSettings, LoggingConfig, ModelInvocationLog, Operation, S3Config, S3Endpoint,
};
use time::macros::datetime;
use time::OffsetDateTime;

const LOG_GROUP: &str = "/aws/bedrock/invocations";

fn record(n: usize, ts: OffsetDateTime, account: &str) -> ModelInvocationLog {
    let mut r = ModelInvocationLog::new(
        ts,
        account,
        format!("arn:aws:iam::{account}:user/tester"),
        "us-east-1",
        format!("req-{n:05}"),
        Operation::Converse,
        "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
    );
    r.input.input_body_json =
        Some(json!({"messages": [{"role": "user", "content": [{"text": format!("q{n}")}]}]}).into());
    r.input.input_token_count = 10;
    r.output.output_body_json =
        Some(json!({"output": {"message": {"role": "assistant", "content": [{"text": "a"}]}}}).into());
    r.output.output_token_count = 1;
    r.inference_region = Some("us-west-2".to_owned());
    r
}

fn config(prefix: Option<&str>, text: bool) -> Arc<LoggingConfig> {
    Arc::new(LoggingConfig {
        s3_config: Some(S3Config { bucket_name: "my-logs".to_owned(), key_prefix: prefix.map(str::to_owned) }),
        cloud_watch_config: Some(CloudWatchConfig {
            log_group_name: LOG_GROUP.to_owned(),
            role_arn: "arn:aws:iam::123456789012:role/logs".to_owned(),
            large_data_delivery_s3_config: None,
        }),
        text_data_delivery_enabled: Some(text),
        ..LoggingConfig::default()
    })
}

fn settings(dir: &Path) -> LogSettings {
    let mut s = LogSettings::new(dir);
    s.batch_max_wait = Duration::from_millis(50);
    s.retry_backoff = Duration::from_millis(10);
    s.write_attempts = 2;
    s
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn gz_lines(path: &Path) -> Vec<Value> {
    let mut text = String::new();
    GzDecoder::new(std::fs::File::open(path).unwrap()).read_to_string(&mut text).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn cw_lines(dir: &Path) -> Vec<Value> {
    match std::fs::read_to_string(cloudwatch_log_path(dir, LOG_GROUP)) {
        Ok(text) => text.lines().map(|l| serde_json::from_str(l).unwrap()).collect(),
        Err(_) => Vec::new(),
    }
}

fn s3_records(dir: &Path) -> Vec<Value> {
    files_under(&local_bucket_dir(dir, "my-logs")).iter().flat_map(|p| gz_lines(p)).collect()
}

async fn wait_for(mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(done(), "condition not reached in 5 s");
}

#[tokio::test]
async fn s3_objects_use_bedrock_key_layout_and_gzip_ndjson() {
    let tmp = tempfile::tempdir().unwrap();
    let (logger, handle) = InvocationLogger::start(settings(tmp.path()));
    let cfg = config(Some("logs/"), true);
    let sent = [
        record(1, datetime!(2024-09-01 05:46:20.123 UTC), "123456789012"),
        record(2, datetime!(2024-09-01 05:59:59.999 UTC), "123456789012"),
        record(3, datetime!(2024-09-01 06:00:00 UTC), "123456789012"),
        record(4, datetime!(2024-09-01 05:10:00 UTC), "210987654321"),
    ];
    for r in &sent {
        assert!(logger.submit(Arc::clone(&cfg), r.clone()));
    }
    let stats = handle.shutdown().await;
    assert_eq!((stats.accepted, stats.written, stats.failed, stats.dropped), (4, 8, 0, 0));

    let root = local_bucket_dir(tmp.path(), "my-logs");
    let keys: Vec<String> =
        files_under(&root).iter().map(|p| p.strip_prefix(&root).unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(keys.len(), 3, "{keys:?}"); // one object per (account, hour)
    let base = "logs/AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/2024/09/01";
    let first = keys.iter().find(|k| k.starts_with(&format!("{base}/05/"))).unwrap();
    let name = first.rsplit('/').next().unwrap();
    // {YYYYMMDDTHHMMSSmmmZ}_{16 hex}.json.gz, named after the earliest record.
    let (stamp, rest) = name.split_once('_').unwrap();
    assert_eq!(stamp, "20240901T054620123Z");
    let hex = rest.strip_suffix(".json.gz").unwrap();
    assert!(hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{hex}");
    assert!(keys.iter().any(|k| k.starts_with(&format!("{base}/06/20240901T060000000Z_"))));
    assert!(keys
        .iter()
        .any(|k| k.starts_with("logs/AWSLogs/210987654321/BedrockModelInvocationLogs/us-east-1/2024/09/01/05/")));

    // Content round-trips to exactly the submitted records.
    let got = gz_lines(&root.join(first));
    let want: Vec<Value> = sent[..2].iter().map(|r| serde_json::to_value(r).unwrap()).collect();
    assert_eq!(got, want);
    assert_eq!(got[0]["timestamp"], "2024-09-01T05:46:20Z");
    assert_eq!(got[0]["inferenceRegion"], "us-west-2");
}

#[tokio::test]
async fn cloudwatch_gets_one_json_line_per_record() {
    let tmp = tempfile::tempdir().unwrap();
    let (logger, handle) = InvocationLogger::start(settings(tmp.path()));
    let now = OffsetDateTime::now_utc();
    for n in 0..5 {
        logger.submit(config(None, true), record(n, now, "123456789012"));
    }
    // The timer flushes without shutdown.
    wait_for(|| logger.stats().written == 10).await;
    let path = cloudwatch_log_path(tmp.path(), LOG_GROUP);
    assert!(path.ends_with("cloudwatch/%2Faws%2Fbedrock%2Finvocations/aws/bedrock/modelinvocations.jsonl"), "{path:?}");
    let lines = cw_lines(tmp.path());
    let ids: Vec<&str> = lines.iter().map(|l| l["requestId"].as_str().unwrap()).collect();
    assert_eq!(ids, ["req-00000", "req-00001", "req-00002", "req-00003", "req-00004"]);
    assert_eq!(lines[0]["schemaType"], "ModelInvocationLog");
    // No keyPrefix: the key starts at AWSLogs/.
    assert!(files_under(&local_bucket_dir(tmp.path(), "my-logs"))[0]
        .strip_prefix(local_bucket_dir(tmp.path(), "my-logs"))
        .unwrap()
        .starts_with("AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/"));
    handle.shutdown().await;
}

#[tokio::test]
async fn text_delivery_disabled_strips_bodies_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let (logger, handle) = InvocationLogger::start(settings(tmp.path()));
    logger.submit(config(None, false), record(1, OffsetDateTime::now_utc(), "123456789012"));
    handle.shutdown().await;
    for line in s3_records(tmp.path()).into_iter().chain(cw_lines(tmp.path())) {
        assert_eq!(line["input"], json!({"inputContentType": "application/json", "inputTokenCount": 10}));
        assert_eq!(line["output"], json!({"outputContentType": "application/json", "outputTokenCount": 1}));
    }
    assert_eq!(cw_lines(tmp.path()).len(), 1);
}

#[tokio::test]
async fn shutdown_flushes_everything_submitted_just_before() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = settings(tmp.path());
    s.batch_max_wait = Duration::from_secs(3600); // only size and shutdown flush
    let (logger, handle) = InvocationLogger::start(s);
    let now = OffsetDateTime::now_utc();
    let cfg = config(None, true);
    for n in 0..1000 {
        assert!(logger.submit(Arc::clone(&cfg), record(n, now, "123456789012")));
    }
    let stats = handle.shutdown().await;
    assert_eq!((stats.accepted, stats.written, stats.dropped, stats.retained), (1000, 2000, 0, 0));
    let mut ids: Vec<String> =
        s3_records(tmp.path()).iter().map(|l| l["requestId"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1000);
    assert_eq!(cw_lines(tmp.path()).len(), 1000);
    // Intake is closed afterwards.
    assert!(!logger.submit(cfg, record(0, now, "123456789012")));
    assert_eq!(logger.stats().rejected, 1);
}

#[tokio::test]
async fn failed_writes_are_retained_and_retried_without_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    // A plain file where the cloudwatch directory should be: appends fail.
    let blocker = tmp.path().join("cloudwatch");
    std::fs::write(&blocker, b"").unwrap();
    let (logger, handle) = InvocationLogger::start(settings(tmp.path()));
    let now = OffsetDateTime::now_utc();
    for n in 0..3 {
        logger.submit(config(None, true), record(n, now, "123456789012"));
    }
    // `retained` is updated last in a flush, after `written`/`failed`.
    wait_for(|| logger.stats().retained == 3).await;
    let stats = logger.stats();
    assert!(stats.failed >= 3);
    assert_eq!(stats.written, 3); // S3 succeeded, CloudWatch kept
    std::fs::remove_file(&blocker).unwrap();
    wait_for(|| logger.stats().written == 6).await;
    let stats = handle.shutdown().await;
    assert_eq!((stats.retained, stats.dropped), (0, 0));
    assert_eq!(cw_lines(tmp.path()).len(), 3);
    assert_eq!(s3_records(tmp.path()).len(), 3, "S3 must not be re-sent");
}

#[tokio::test]
async fn still_failing_at_shutdown_is_dropped_loudly() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("cloudwatch"), b"").unwrap();
    let (logger, handle) = InvocationLogger::start(settings(tmp.path()));
    logger.submit(config(None, true), record(1, OffsetDateTime::now_utc(), "123456789012"));
    let stats = handle.shutdown().await;
    assert_eq!((stats.written, stats.dropped, stats.retained), (1, 1, 0));
}

#[test]
fn key_layout_without_and_with_prefix() {
    let ts = datetime!(2025-06-26 12:00:00.5 UTC);
    assert_eq!(
        s3_object_key(None, "123456789012", "us-east-1", ts, "0123456789abcdef"),
        "AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/2025/06/26/12/20250626T120000500Z_0123456789abcdef.json.gz"
    );
    assert_eq!(
        s3_object_key(Some("a/b/"), "1", "r", ts, "x"),
        "a/b/AWSLogs/1/BedrockModelInvocationLogs/r/2025/06/26/12/20250626T120000500Z_x.json.gz"
    );
    // A prefix cannot climb out of the bucket directory.
    assert!(!s3_object_key(Some("../.."), "1", "r", ts, "x").contains(".."));
    assert!(!local_bucket_dir(Path::new("/d"), "..").ends_with(".."));
}

#[test]
fn s3_store_builds_for_a_local_endpoint_without_connecting() {
    let endpoint = S3Endpoint {
        url: "http://127.0.0.1:9000".to_owned(),
        region: "us-east-1".to_owned(),
        access_key_id: "minio".to_owned(),
        secret_access_key: "minio-secret".to_owned(),
        allow_http: true,
    };
    let store = build_s3_store(&endpoint, "my-logs").unwrap();
    assert!(store.to_string().contains("my-logs"), "{store}");
    assert!(!format!("{endpoint:?}").contains("minio-secret"));
}
