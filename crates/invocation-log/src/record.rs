//! The `ModelInvocationLog` record (schemaVersion 1.0) as Bedrock delivers it
//! to S3 and CloudWatch Logs. There is no formal schema; member names and
//! order follow delivered records (see bedrock-wire.md §8 and the seeds).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

use crate::body::JsonBody;
use crate::config::LoggingConfig;

/// The four runtime operations that Bedrock logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Operation {
    Converse,
    ConverseStream,
    InvokeModel,
    InvokeModelWithResponseStream,
}

/// One invocation log record. Build it with [`ModelInvocationLog::new`] and
/// fill in the optional members; bodies are stripped later according to the
/// logging config (see [`ModelInvocationLog::apply_delivery_flags`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInvocationLog {
    /// Always "ModelInvocationLog". (The constants of a record are borrowed: they were
    /// four of the allocations every logged call made; issue 13.)
    pub schema_type: Cow<'static, str>,
    /// Always "1.0".
    pub schema_version: Cow<'static, str>,
    /// Kept at full precision in memory (S3 object names use milliseconds)
    /// but serialised at second precision with `Z`, as Bedrock does.
    #[serde(serialize_with = "ser_timestamp", deserialize_with = "de_timestamp")]
    pub timestamp: OffsetDateTime,
    pub account_id: String,
    pub identity: Identity,
    /// The source Region: the one whose endpoint received the request.
    pub region: String,
    pub request_id: String,
    pub operation: Operation,
    /// The identifier exactly as the caller passed it (FM ID, profile ID, ARN).
    pub model_id: String,
    pub input: InvocationInput,
    pub output: InvocationOutput,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_metadata: Option<BTreeMap<String, String>>,
    /// The Region that ran the request. The caller decides whether to set it
    /// (always, or only when re-routed); this crate never invents it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performance_config: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub arn: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationInput {
    pub input_content_type: Cow<'static, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_body_json: Option<JsonBody>,
    pub input_token_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_token_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_input_token_count: Option<u64>,
    /// What the body contains; decides which `*DataDeliveryEnabled` flags
    /// must be on for it to be logged. Not part of the wire record.
    #[serde(skip)]
    pub data: DataKinds,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationOutput {
    pub output_content_type: Cow<'static, str>,
    /// For InvokeModelWithResponseStream: an array of the decoded chunks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_body_json: Option<JsonBody>,
    pub output_token_count: u64,
    /// See [`InvocationInput::data`].
    #[serde(skip)]
    pub data: DataKinds,
}

/// A small set of body modalities. A body is logged only when the flag of
/// *every* modality it contains is enabled, so e.g. a Converse request with
/// an image needs both text and image delivery (the safe reading: never
/// leak a modality the account did not opt into).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataKinds(u8);

impl DataKinds {
    pub const TEXT: Self = Self(1);
    pub const IMAGE: Self = Self(2);
    pub const EMBEDDING: Self = Self(4);
    pub const VIDEO: Self = Self(8);
    pub const AUDIO: Self = Self(16);

    #[must_use]
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether `config` allows delivering a body made of these modalities.
    /// An absent flag counts as disabled: the API shape has no default, and
    /// not logging a body is the privacy-preserving reading.
    pub fn allowed_by(self, config: &LoggingConfig) -> bool {
        let flags = [
            (Self::TEXT, config.text_data_delivery_enabled),
            (Self::IMAGE, config.image_data_delivery_enabled),
            (Self::EMBEDDING, config.embedding_data_delivery_enabled),
            (Self::VIDEO, config.video_data_delivery_enabled),
            (Self::AUDIO, config.audio_data_delivery_enabled),
        ];
        flags.iter().all(|(kind, flag)| !self.contains(*kind) || flag.unwrap_or(false))
    }
}

impl Default for DataKinds {
    /// Most bodies (Converse, text InvokeModel) are text.
    fn default() -> Self {
        Self::TEXT
    }
}

impl ModelInvocationLog {
    /// A record with the fixed schema members set and no optional members.
    /// Content types default to `application/json`, token counts to 0.
    pub fn new(
        timestamp: OffsetDateTime,
        account_id: impl Into<String>,
        identity_arn: impl Into<String>,
        region: impl Into<String>,
        request_id: impl Into<String>,
        operation: Operation,
        model_id: impl Into<String>,
    ) -> Self {
        Self {
            schema_type: Cow::Borrowed("ModelInvocationLog"),
            schema_version: Cow::Borrowed("1.0"),
            timestamp,
            account_id: account_id.into(),
            identity: Identity { arn: identity_arn.into() },
            region: region.into(),
            request_id: request_id.into(),
            operation,
            model_id: model_id.into(),
            input: InvocationInput {
                input_content_type: Cow::Borrowed("application/json"),
                ..InvocationInput::default()
            },
            output: InvocationOutput {
                output_content_type: Cow::Borrowed("application/json"),
                ..InvocationOutput::default()
            },
            request_metadata: None,
            inference_region: None,
            performance_config: None,
            error_code: None,
        }
    }

    /// Drops the input/output bodies whose modalities `config` does not
    /// enable. Metadata and token counts are always kept, as in Bedrock.
    pub fn apply_delivery_flags(&mut self, config: &LoggingConfig) {
        if !self.input.data.allowed_by(config) {
            self.input.input_body_json = None;
        }
        if !self.output.data.allowed_by(config) {
            self.output.output_body_json = None;
        }
    }

    /// The record with [`apply_delivery_flags`](Self::apply_delivery_flags)
    /// applied, for builder-style call sites.
    #[must_use]
    pub fn for_delivery(mut self, config: &LoggingConfig) -> Self {
        self.apply_delivery_flags(config);
        self
    }
}

/// `2024-09-01T05:46:20Z`: UTC, whole seconds, literal `Z`.
pub(crate) fn format_timestamp(ts: OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    ts.to_offset(time::UtcOffset::UTC).format(&fmt).unwrap_or_else(|_| ts.unix_timestamp().to_string())
}

/// [`format_timestamp`] digit by digit into a stack buffer, for years 0 to 9999: `time`'s
/// formatter and its `String` cost about 1,800 instructions a record (bench/README.md,
/// issue 13).
fn ser_timestamp<S: Serializer>(ts: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    match timestamp_digits(*ts) {
        Some(digits) => s.serialize_str(std::str::from_utf8(&digits).map_err(serde::ser::Error::custom)?),
        None => s.serialize_str(&format_timestamp(*ts)),
    }
}

/// [`format_timestamp`]'s text for years 0 to 9999 (`None` for the others).
pub(crate) fn timestamp_digits(ts: OffsetDateTime) -> Option<[u8; 20]> {
    let t = ts.to_offset(time::UtcOffset::UTC);
    let Ok(year @ 0..=9999) = u32::try_from(t.year()) else {
        return None;
    };
    let mut out = *b"0000-00-00T00:00:00Z";
    let fields = [
        (0, 4, year),
        (5, 2, u32::from(u8::from(t.month()))),
        (8, 2, u32::from(t.day())),
        (11, 2, u32::from(t.hour())),
        (14, 2, u32::from(t.minute())),
        (17, 2, u32::from(t.second())),
    ];
    for (at, width, mut n) in fields {
        for digit in out[at..at + width].iter_mut().rev() {
            *digit = b"0123456789"[(n % 10) as usize];
            n /= 10;
        }
    }
    Some(out)
}

fn de_timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
    let raw = String::deserialize(d)?;
    OffsetDateTime::parse(&raw, &Rfc3339).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod timestamp_tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn written_by_hand_as_time_formats_it() {
        for ts in [
            datetime!(2024-09-01 05:46:20.999 UTC),
            datetime!(2024-12-31 23:59:59.5 -01:00),
            datetime!(0999-01-02 03:04:05 UTC),
            datetime!(-0001-06-01 00:00:00 UTC),
        ] {
            let mut json = Vec::new();
            ser_timestamp(&ts, &mut serde_json::Serializer::new(&mut json)).unwrap();
            assert_eq!(json, format!("\"{}\"", format_timestamp(ts)).into_bytes(), "{ts}");
        }
    }
}
