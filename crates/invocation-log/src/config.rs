//! The control-plane logging configuration, exactly as it travels on the wire
//! in `PUT/GET /logging/modelinvocations` (`loggingConfig`, camelCase members).
//!
//! The shapes mirror botocore's `LoggingConfig`, `CloudWatchConfig` and
//! `S3Config`. Absent optional members stay absent when re-serialised, so a
//! GET echoes back what the caller PUT.

use serde::{Deserialize, Serialize};

/// `LoggingConfig`: where invocation logs go and which bodies they carry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggingConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_watch_config: Option<CloudWatchConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_config: Option<S3Config>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_data_delivery_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_data_delivery_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_data_delivery_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_data_delivery_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_data_delivery_enabled: Option<bool>,
}

/// `CloudWatchConfig`: log group (stream `aws/bedrock/modelinvocations`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudWatchConfig {
    pub log_group_name: String,
    pub role_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub large_data_delivery_s3_config: Option<S3Config>,
}

/// `S3Config`: bucket plus optional key prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Config {
    pub bucket_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
}

impl LoggingConfig {
    /// True when at least one destination is configured; a config without
    /// one delivers nothing.
    pub fn has_destination(&self) -> bool {
        self.s3_config.is_some() || self.cloud_watch_config.is_some()
    }
}

/// The `pattern` of botocore's `RoleArn` shape, quoted verbatim in messages.
const ROLE_ARN_PATTERN: &str = "arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+";

/// Validates a `loggingConfig` the way Bedrock's front end does.
///
/// Constraint violations (lengths, the role-ARN pattern) are collected and
/// reported together in the AWS "N validation error(s) detected: ..." form,
/// naming each member by its path from `loggingConfig`. Only if the members
/// are individually valid do we check that a destination exists: real
/// Bedrock rejects a config with neither `s3Config` nor `cloudWatchConfig`,
/// but its exact wording is unverified, so the message below is our own.
pub fn validate(config: &LoggingConfig) -> Result<(), String> {
    let mut errors = Vec::new();
    if let Some(cw) = &config.cloud_watch_config {
        let at = "loggingConfig.cloudWatchConfig";
        length(&mut errors, &cw.log_group_name, &format!("{at}.logGroupName"), 1, 512);
        length(&mut errors, &cw.role_arn, &format!("{at}.roleArn"), 0, 2048);
        if !role_arn_matches(&cw.role_arn) {
            errors.push(format!(
                "Value '{}' at '{at}.roleArn' failed to satisfy constraint: \
                 Member must satisfy regular expression pattern: {ROLE_ARN_PATTERN}",
                cw.role_arn
            ));
        }
        if let Some(s3) = &cw.large_data_delivery_s3_config {
            s3_config(&mut errors, s3, &format!("{at}.largeDataDeliveryS3Config"));
        }
    }
    if let Some(s3) = &config.s3_config {
        s3_config(&mut errors, s3, "loggingConfig.s3Config");
    }
    match errors.len() {
        0 if !config.has_destination() => {
            Err("1 validation error detected: Value null at 'loggingConfig' failed to satisfy \
             constraint: At least one of s3Config or cloudWatchConfig must be specified"
                .to_owned())
        }
        0 => Ok(()),
        1 => Err(format!("1 validation error detected: {}", errors[0])),
        n => Err(format!("{n} validation errors detected: {}", errors.join("; "))),
    }
}

fn s3_config(errors: &mut Vec<String>, s3: &S3Config, at: &str) {
    length(errors, &s3.bucket_name, &format!("{at}.bucketName"), 3, 63);
    if let Some(prefix) = &s3.key_prefix {
        length(errors, prefix, &format!("{at}.keyPrefix"), 0, 1024);
    }
}

/// Smithy string lengths count Unicode scalar values, not bytes.
fn length(errors: &mut Vec<String>, value: &str, at: &str, min: usize, max: usize) {
    let len = value.chars().count();
    if len < min {
        errors.push(format!(
            "Value '{value}' at '{at}' failed to satisfy constraint: \
             Member must have length greater than or equal to {min}"
        ));
    } else if len > max {
        errors.push(format!(
            "Value '{value}' at '{at}' failed to satisfy constraint: \
             Member must have length less than or equal to {max}"
        ));
    }
}

/// Hand-rolled match of `arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+` (the
/// whole string, as Smithy patterns are anchored by the services), so this
/// crate does not need a regex engine for one pattern.
fn role_arn_matches(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:aws") else {
        return false;
    };
    // Optional partition suffix such as "-cn" or "-us-gov": '-' then 1+ non-':'.
    let rest = match rest.strip_prefix('-') {
        Some(tail) => match tail.find(':') {
            Some(0) | None => return false,
            Some(i) => &tail[i..],
        },
        None => rest,
    };
    let Some(rest) = rest.strip_prefix(":iam::") else {
        return false;
    };
    // Optional 12-digit account.
    let rest = match rest.get(..12) {
        Some(acct) if acct.bytes().all(|b| b.is_ascii_digit()) => &rest[12..],
        _ => rest,
    };
    // `.` does not match line terminators in Java-style regexes.
    rest.strip_prefix(":role/").is_some_and(|name| !name.is_empty() && !name.contains(['\n', '\r']))
}
