//! The record's JSON shape and body stripping.

use serde_json::json;
use spillway_invocation_log::{DataKinds, LoggingConfig, ModelInvocationLog, Operation};
use time::macros::datetime;

fn seed_record() -> ModelInvocationLog {
    // The second record of seed 000 (a CRIS request re-routed to eu-central-1).
    let mut r = ModelInvocationLog::new(
        datetime!(2024-09-01 05:46:20.123 UTC),
        "123456789012",
        "arn:aws:sts::123456789012:assumed-role/takakuni/botocore-session-1725169573",
        "eu-west-3",
        "07785801-6f1a-4553-bd06-edccea61e20c",
        Operation::Converse,
        "eu.anthropic.claude-3-5-sonnet-20240620-v1:0",
    );
    r.input.input_body_json = Some(json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}).into());
    r.input.input_token_count = 65;
    r.output.output_body_json = Some(
        json!({"output": {"message": {"role": "assistant", "content": [{"text": "yo"}]}}, "stopReason": "end_turn"})
            .into(),
    );
    r.output.output_token_count = 344;
    r.inference_region = Some("eu-central-1".to_owned());
    r
}

fn text_on() -> LoggingConfig {
    LoggingConfig { text_data_delivery_enabled: Some(true), ..LoggingConfig::default() }
}

#[test]
fn serialises_like_a_delivered_record() {
    let line = serde_json::to_string(&seed_record()).unwrap();
    // Member order matches delivered records.
    assert!(line.starts_with(
        r#"{"schemaType":"ModelInvocationLog","schemaVersion":"1.0","timestamp":"2024-09-01T05:46:20Z","accountId":"123456789012","identity":{"arn":"arn:aws:sts::123456789012:assumed-role/takakuni/botocore-session-1725169573"},"region":"eu-west-3","requestId":"07785801-6f1a-4553-bd06-edccea61e20c","operation":"Converse","modelId":"eu.anthropic.claude-3-5-sonnet-20240620-v1:0","input":{"inputContentType":"application/json","inputBodyJson":"#
    ), "{line}");
    assert!(line.ends_with(r#""outputTokenCount":344},"inferenceRegion":"eu-central-1"}"#), "{line}");
    assert!(!line.contains("errorCode") && !line.contains("requestMetadata") && !line.contains("data"));
    // Parses back (at second precision).
    let back: ModelInvocationLog = serde_json::from_str(&line).unwrap();
    assert_eq!(back.timestamp, datetime!(2024-09-01 05:46:20 UTC));
    assert_eq!(back.inference_region.as_deref(), Some("eu-central-1"));
}

#[test]
fn offsets_are_normalised_to_utc() {
    let mut r = seed_record();
    r.timestamp = datetime!(2024-09-01 14:46:20.9 +09:00);
    assert_eq!(serde_json::to_value(&r).unwrap()["timestamp"], "2024-09-01T05:46:20Z");
}

#[test]
fn text_bodies_need_text_delivery() {
    let r = seed_record().for_delivery(&LoggingConfig::default());
    assert_eq!(r.input.input_body_json, None);
    assert_eq!(r.output.output_body_json, None);
    // Metadata and counts stay.
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["input"], json!({"inputContentType": "application/json", "inputTokenCount": 65}));
    assert_eq!(v["output"], json!({"outputContentType": "application/json", "outputTokenCount": 344}));

    let disabled = LoggingConfig { text_data_delivery_enabled: Some(false), ..text_on() };
    assert_eq!(seed_record().for_delivery(&disabled).input.input_body_json, None);

    let kept = seed_record().for_delivery(&text_on());
    assert!(kept.input.input_body_json.is_some() && kept.output.output_body_json.is_some());
}

#[test]
fn embedding_and_image_bodies_need_their_own_flags() {
    let mut r = seed_record();
    r.operation = Operation::InvokeModel;
    r.output.data = DataKinds::EMBEDDING;
    let text_only = r.clone().for_delivery(&text_on());
    assert!(text_only.input.input_body_json.is_some());
    assert_eq!(text_only.output.output_body_json, None);
    let both = LoggingConfig { embedding_data_delivery_enabled: Some(true), ..text_on() };
    assert!(r.clone().for_delivery(&both).output.output_body_json.is_some());

    // A text+image request needs both flags.
    let mut r = seed_record();
    r.input.data = DataKinds::TEXT.with(DataKinds::IMAGE);
    assert_eq!(r.clone().for_delivery(&text_on()).input.input_body_json, None);
    let both = LoggingConfig { image_data_delivery_enabled: Some(true), ..text_on() };
    assert!(r.for_delivery(&both).input.input_body_json.is_some());
}
