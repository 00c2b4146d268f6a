//! Wire shape and validation of `loggingConfig`.

use serde_json::json;
use spillway_invocation_log::{validate, CloudWatchConfig, LoggingConfig, S3Config};

fn s3_only(bucket: &str) -> LoggingConfig {
    LoggingConfig {
        s3_config: Some(S3Config { bucket_name: bucket.to_owned(), key_prefix: None }),
        ..LoggingConfig::default()
    }
}

fn cw(log_group: &str, role: &str) -> LoggingConfig {
    LoggingConfig {
        cloud_watch_config: Some(CloudWatchConfig {
            log_group_name: log_group.to_owned(),
            role_arn: role.to_owned(),
            large_data_delivery_s3_config: None,
        }),
        ..LoggingConfig::default()
    }
}

const ROLE: &str = "arn:aws:iam::123456789012:role/BedrockLogging";

#[test]
fn round_trips_the_wire_shape_and_skips_absent_members() {
    let wire = json!({
        "cloudWatchConfig": {
            "logGroupName": "/aws/bedrock/invocations",
            "roleArn": ROLE,
            "largeDataDeliveryS3Config": {"bucketName": "big-bodies", "keyPrefix": "large"}
        },
        "s3Config": {"bucketName": "my-logs"},
        "textDataDeliveryEnabled": true,
        "embeddingDataDeliveryEnabled": false
    });
    let config: LoggingConfig = serde_json::from_value(wire.clone()).unwrap();
    assert_eq!(config.text_data_delivery_enabled, Some(true));
    assert_eq!(config.image_data_delivery_enabled, None);
    assert_eq!(serde_json::to_value(&config).unwrap(), wire);
    assert_eq!(serde_json::to_value(LoggingConfig::default()).unwrap(), json!({}));
    assert_eq!(validate(&config), Ok(()));
}

#[test]
fn short_bucket_name_is_rejected_with_the_member_path() {
    assert_eq!(
        validate(&s3_only("ab")).unwrap_err(),
        "1 validation error detected: Value 'ab' at 'loggingConfig.s3Config.bucketName' \
         failed to satisfy constraint: Member must have length greater than or equal to 3"
    );
    let long = "b".repeat(64);
    assert_eq!(
        validate(&s3_only(&long)).unwrap_err(),
        format!(
            "1 validation error detected: Value '{long}' at 'loggingConfig.s3Config.bucketName' \
             failed to satisfy constraint: Member must have length less than or equal to 63"
        )
    );
    assert_eq!(validate(&s3_only("abc")), Ok(()));
    assert_eq!(validate(&s3_only(&"b".repeat(63))), Ok(()));
}

#[test]
fn cloudwatch_members_are_checked() {
    assert_eq!(validate(&cw("g", ROLE)), Ok(()));
    assert_eq!(validate(&cw("g", "arn:aws-cn:iam:::role/x")), Ok(()));
    let err = validate(&cw("", ROLE)).unwrap_err();
    assert_eq!(
        err,
        "1 validation error detected: Value '' at 'loggingConfig.cloudWatchConfig.logGroupName' \
         failed to satisfy constraint: Member must have length greater than or equal to 1"
    );
    let err = validate(&cw(&"g".repeat(513), ROLE)).unwrap_err();
    assert!(err.contains("Member must have length less than or equal to 512"), "{err}");

    let err = validate(&cw("g", "arn:aws:iam::12:role/x")).unwrap_err();
    assert_eq!(
        err,
        "1 validation error detected: Value 'arn:aws:iam::12:role/x' at \
         'loggingConfig.cloudWatchConfig.roleArn' failed to satisfy constraint: Member must \
         satisfy regular expression pattern: arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+"
    );
    for bad in
        ["", "arn:aws:iam::123456789012:role/", "arn:aws-:iam::123456789012:role/x", "arn:aws:iam::123456789012:user/x"]
    {
        assert!(validate(&cw("g", bad)).is_err(), "{bad} should be rejected");
    }
}

#[test]
fn several_errors_are_counted_and_joined() {
    let mut config = cw("", "nope");
    config.s3_config = Some(S3Config { bucket_name: "x".to_owned(), key_prefix: Some("p".repeat(1025)) });
    config.cloud_watch_config.as_mut().unwrap().large_data_delivery_s3_config =
        Some(S3Config { bucket_name: "y".to_owned(), key_prefix: None });
    let err = validate(&config).unwrap_err();
    assert!(
        err.starts_with("5 validation errors detected: Value '' at 'loggingConfig.cloudWatchConfig.logGroupName'"),
        "{err}"
    );
    assert!(
        err.contains("; Value 'y' at 'loggingConfig.cloudWatchConfig.largeDataDeliveryS3Config.bucketName'"),
        "{err}"
    );
    assert!(err.contains("at 'loggingConfig.s3Config.keyPrefix' failed to satisfy constraint: Member must have length less than or equal to 1024"), "{err}");
}

#[test]
fn a_destination_is_required() {
    let config = LoggingConfig { text_data_delivery_enabled: Some(true), ..LoggingConfig::default() };
    let err = validate(&config).unwrap_err();
    assert!(err.starts_with("1 validation error detected:"), "{err}");
    assert!(err.contains("s3Config") && err.contains("cloudWatchConfig"), "{err}");
}
