//! The records of a job's input files and the lines of its output, as pure functions.
//!
//! An input line is `{"recordId": "…", "modelInput": {…}}`; `recordId` may be left out
//! (one is made up from the record's position, the same after a restart). A line that is
//! not such an object is still a record: it gets an `error` line in the output, at its
//! place, and the job goes on (Bedrock's per-record errors). Blank lines are no records.

use serde_json::{json, Value};

/// One record of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Position in the job: input files in key order, then lines.
    pub seq: u64,
    /// Index of its input file in the job's file list.
    pub file: usize,
    pub record_id: String,
    pub input: Input,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A `modelInput` to run.
    Model(Value),
    /// A line that cannot run; the message says why and where.
    Bad { model_input: Option<Value>, message: String },
}

/// The records of one file's text; `first_seq` is the position of its first record.
pub fn parse_file(text: &str, file: usize, file_name: &str, first_seq: u64) -> Vec<Record> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let seq = first_seq + out.len() as u64;
        let at = format!("line {} of {file_name}", n + 1);
        let (record_id, input) = parse_line(line, &at);
        out.push(Record { seq, file, record_id: record_id.unwrap_or_else(|| made_up_id(seq)), input });
    }
    out
}

/// Non-blank lines of a file: its record count, checked against the quotas before
/// anything runs.
pub fn count_records(text: &str) -> u64 {
    text.lines().filter(|l| !l.trim().is_empty()).count() as u64
}

/// The id Bedrock adds to a record that has none: 11 characters, here the position.
fn made_up_id(seq: u64) -> String {
    format!("{:011}", seq + 1)
}

fn parse_line(line: &str, at: &str) -> (Option<String>, Input) {
    let bad = |model_input: Option<Value>, message: String| Input::Bad { model_input, message };
    let value: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return (None, bad(None, format!("The record at {at} is not valid JSON: {e}."))),
    };
    let Value::Object(mut fields) = value else {
        return (None, bad(None, format!("The record at {at} is not a JSON object.")));
    };
    let record_id = match fields.remove("recordId") {
        None => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(_) => {
            let input = fields.remove("modelInput");
            return (None, bad(input, format!("The recordId of the record at {at} must be a non-empty string.")));
        }
    };
    let input = fields.remove("modelInput");
    if let Some(unknown) = fields.keys().next() {
        let message =
            format!("The record at {at} has the unknown field {unknown}; a record has recordId and modelInput.");
        return (record_id, bad(input, message));
    }
    match input {
        Some(v @ Value::Object(_)) => (record_id, Input::Model(v)),
        Some(v) => (record_id, bad(Some(v), format!("The modelInput of the record at {at} must be a JSON object."))),
        None => (record_id, bad(None, format!("The record at {at} has no modelInput."))),
    }
}

/// The output line of a record that ran.
pub fn answered(record_id: &str, model_input: &Value, model_output: &Value) -> String {
    json!({ "recordId": record_id, "modelInput": model_input, "modelOutput": model_output }).to_string()
}

/// The output line of a record that failed: Bedrock's `{errorCode, errorMessage}` with
/// the HTTP status of the error as the code.
pub fn failed(record_id: &str, model_input: Option<&Value>, code: u16, message: &str) -> String {
    let error = json!({ "errorCode": code, "errorMessage": message });
    match model_input {
        Some(input) => json!({ "recordId": record_id, "modelInput": input, "error": error }).to_string(),
        None => json!({ "recordId": record_id, "error": error }).to_string(),
    }
}

/// `manifest.json.out`: the job's counts and token totals.
pub fn manifest(
    total: u64,
    processed: u64,
    success: u64,
    errors: u64,
    input_tokens: u64,
    output_tokens: u64,
) -> String {
    json!({
        "totalRecordCount": total,
        "processedRecordCount": processed,
        "successRecordCount": success,
        "errorRecordCount": errors,
        "inputTokenCount": input_tokens,
        "outputTokenCount": output_tokens,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_their_place_and_bad_lines_are_records() {
        let text = concat!(
            "{\"recordId\": \"ABC\", \"modelInput\": {\"prompt\": \"hi\"}}\n",
            "\n",
            "not json\n",
            "{\"modelInput\": {\"prompt\": \"no id\"}}\n",
            "{\"recordId\": \"X\", \"modelInput\": 3}\n",
            "{\"recordId\": \"Y\", \"modelInput\": {}, \"extra\": 1}\n",
            "[1]\n",
        );
        let records = parse_file(text, 0, "in.jsonl", 10);
        assert_eq!(records.len(), 6);
        assert_eq!(count_records(text), 6);
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![10, 11, 12, 13, 14, 15]);
        assert_eq!(records[0].record_id, "ABC");
        assert_eq!(records[0].input, Input::Model(json!({"prompt": "hi"})));
        let Input::Bad { message, .. } = &records[1].input else { panic!("not bad") };
        assert!(message.contains("line 3 of in.jsonl") && message.contains("not valid JSON"), "{message}");
        assert_eq!(records[2].record_id, "00000000013");
        assert!(matches!(records[2].input, Input::Model(_)));
        assert!(matches!(&records[3].input, Input::Bad { message, .. } if message.contains("must be a JSON object")));
        assert!(matches!(&records[4].input, Input::Bad { message, .. } if message.contains("unknown field extra")));
        assert!(matches!(&records[5].input, Input::Bad { message, .. } if message.contains("not a JSON object")));
    }

    #[test]
    fn output_lines_follow_bedrocks_shape() {
        let line = answered("A1", &json!({"p": 1}), &json!({"o": 2}));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v, json!({"recordId": "A1", "modelInput": {"p": 1}, "modelOutput": {"o": 2}}));
        let v: Value = serde_json::from_str(&failed("B", None, 400, "bad")).unwrap();
        assert_eq!(v, json!({"recordId": "B", "error": {"errorCode": 400, "errorMessage": "bad"}}));
        let m: Value = serde_json::from_str(&manifest(3, 3, 2, 1, 10, 20)).unwrap();
        assert_eq!(m["errorRecordCount"], 1);
        assert_eq!(m["outputTokenCount"], 20);
    }
}
