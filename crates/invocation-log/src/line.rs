//! A record as its JSON line, written member by member into the line's buffer.
//!
//! Every logged call's record is serialised once, on the writer task; through serde_json
//! that cost about 10,000 instructions a record (issue 13): each of two dozen short strings
//! escaped a byte at a time through a table, three nested structs, every key escaped
//! again although it is a constant. Here the keys are written as the constants they are,
//! the strings go through the word-at-a-time escaper of the answers
//! ([`spillway_wire::json_text`]), and the bodies are copied as they are, so the line is the
//! same bytes serde_json writes for the record (tested), in a fifth of the work.

use std::collections::BTreeMap;

use spillway_wire::json_text::write_quoted;

use crate::body::JsonBody;
use crate::record::{format_timestamp, timestamp_digits, ModelInvocationLog, Operation};

impl ModelInvocationLog {
    /// Appends the record's JSON (what `serde_json::to_writer` writes for it) to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        text(out, b"{\"schemaType\":", &self.schema_type);
        text(out, b",\"schemaVersion\":", &self.schema_version);
        out.extend_from_slice(b",\"timestamp\":");
        match timestamp_digits(self.timestamp) {
            Some(digits) => {
                out.push(b'"');
                out.extend_from_slice(&digits);
                out.push(b'"');
            }
            None => write_quoted(out, &format_timestamp(self.timestamp)),
        }
        text(out, b",\"accountId\":", &self.account_id);
        text(out, b",\"identity\":{\"arn\":", &self.identity.arn);
        text(out, b"},\"region\":", &self.region);
        text(out, b",\"requestId\":", &self.request_id);
        text(out, b",\"operation\":", operation_name(self.operation));
        text(out, b",\"modelId\":", &self.model_id);

        let input = &self.input;
        text(out, b",\"input\":{\"inputContentType\":", &input.input_content_type);
        body(out, b",\"inputBodyJson\":", input.input_body_json.as_ref());
        number(out, b",\"inputTokenCount\":", Some(input.input_token_count));
        number(out, b",\"cacheReadInputTokenCount\":", input.cache_read_input_token_count);
        number(out, b",\"cacheWriteInputTokenCount\":", input.cache_write_input_token_count);

        let output = &self.output;
        text(out, b"},\"output\":{\"outputContentType\":", &output.output_content_type);
        body(out, b",\"outputBodyJson\":", output.output_body_json.as_ref());
        number(out, b",\"outputTokenCount\":", Some(output.output_token_count));
        out.push(b'}');

        if let Some(metadata) = &self.request_metadata {
            out.extend_from_slice(b",\"requestMetadata\":");
            write_map(out, metadata);
        }
        if let Some(region) = &self.inference_region {
            text(out, b",\"inferenceRegion\":", region);
        }
        if let Some(config) = &self.performance_config {
            out.extend_from_slice(b",\"performanceConfig\":");
            serde_json::to_writer(&mut *out, config)?;
        }
        if let Some(code) = &self.error_code {
            text(out, b",\"errorCode\":", code);
        }
        out.push(b'}');
        Ok(())
    }
}

/// `key` (the member's name with what comes before it), then `value` as a JSON string.
fn text(out: &mut Vec<u8>, key: &[u8], value: &str) {
    out.extend_from_slice(key);
    write_quoted(out, value);
}

/// `key` and the number, when there is one.
fn number(out: &mut Vec<u8>, key: &[u8], n: Option<u64>) {
    if let Some(n) = n {
        out.extend_from_slice(key);
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }
}

/// `key` and a body's JSON text as it is, when there is a body; no text at all is `null`,
/// as [`JsonBody`] serialises it.
fn body(out: &mut Vec<u8>, key: &[u8], body: Option<&JsonBody>) {
    if let Some(body) = body {
        out.extend_from_slice(key);
        match body.as_bytes() {
            [] => out.extend_from_slice(b"null"),
            text => out.extend_from_slice(text),
        }
    }
}

/// The operation as its serde name (the variant's).
fn operation_name(operation: Operation) -> &'static str {
    match operation {
        Operation::Converse => "Converse",
        Operation::ConverseStream => "ConverseStream",
        Operation::InvokeModel => "InvokeModel",
        Operation::InvokeModelWithResponseStream => "InvokeModelWithResponseStream",
    }
}

fn write_map(out: &mut Vec<u8>, map: &BTreeMap<String, String>) {
    out.push(b'{');
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_quoted(out, key);
        out.push(b':');
        write_quoted(out, value);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    fn check(record: &ModelInvocationLog) {
        let mut line = Vec::new();
        record.write_json(&mut line).unwrap();
        let serde = serde_json::to_vec(record).unwrap();
        assert_eq!(String::from_utf8(line).unwrap(), String::from_utf8(serde).unwrap());
    }

    /// Texts with everything an escaper can get wrong: quotes, backslashes, every control
    /// character, multi-byte UTF-8, and lengths around a word.
    fn texts() -> Vec<String> {
        let mut texts: Vec<String> = ["", "a", "us-east-1", "say \"hi\"\\", "tab\there\nnew", "naïve ✓ 日本"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        texts.push((0u8..32).map(char::from).collect());
        texts.extend((0..20).map(|n| "x".repeat(n) + "\u{7f}\"" + &"y".repeat(n)));
        texts
    }

    #[test]
    fn the_line_is_what_serde_json_writes() {
        let operations = [
            Operation::Converse,
            Operation::ConverseStream,
            Operation::InvokeModel,
            Operation::InvokeModelWithResponseStream,
        ];
        let times = [datetime!(2024-09-01 05:46:20.5 UTC), datetime!(-0001-06-01 00:00:00 UTC)];
        for (i, text) in texts().iter().enumerate() {
            let mut r = ModelInvocationLog::new(
                times[i % 2],
                text.as_str(),
                format!("arn:aws:iam::{text}:root"),
                text.as_str(),
                text.as_str(),
                operations[i % 4],
                text.as_str(),
            );
            check(&r);
            r.input.input_body_json = Some(JsonBody::from(json!({"messages": [{"role": "user", "text": text}]})));
            r.output.output_body_json = Some(JsonBody::from_serialised(""));
            r.input.input_token_count = u64::MAX - i as u64;
            r.output.output_token_count = i as u64;
            check(&r);
            r.input.cache_read_input_token_count = Some(7);
            r.input.cache_write_input_token_count = Some(0);
            r.output.output_body_json = Some(JsonBody::from(json!({"output": text, "n": 1.5})));
            r.request_metadata = Some([(text.clone(), text.clone()), ("k".into(), String::new())].into());
            r.inference_region = Some(text.clone());
            r.performance_config = Some(json!({"latency": text}));
            r.error_code = Some(text.clone());
            r.schema_version = text.clone().into();
            check(&r);
            r.request_metadata = Some(BTreeMap::new());
            check(&r);
        }
    }
}
