//! `inputBodyJson` and `outputBodyJson`: JSON text written into the record as it is.
//!
//! A logged call already holds both bodies as bytes: the request as received (parsed once
//! by its handler) and the answer as sent to the client. Building a `serde_json::Value` of
//! each only to serialise it again cost a parse, an allocation per string and map node and
//! a second serialisation per record (bench/README.md, issue 13), so the record keeps the
//! text and the writer copies it into the line. Member order is the one on the wire, as in
//! the records Bedrock delivers (a `Value` sorted the members alphabetically).

use bytes::Bytes;
use serde::ser::{Error as _, SerializeStruct as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// serde_json's name for a raw value (the `raw_value` feature, enabled in Cargo.toml):
/// a struct of this name with one field of this name is written verbatim by its
/// serialiser, and parsed by `serde_json::to_value`. It is how `RawValue` serialises
/// itself; going through it directly spares `RawValue`'s validating parse of the text.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// One JSON document on one line: valid, compact (no whitespace outside strings, so it
/// cannot break a JSON-lines file) and UTF-8. Cheap to clone (shared bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct JsonBody(Bytes);

impl JsonBody {
    /// Text that serde_json wrote (`to_vec` and friends write valid, compact UTF-8 JSON),
    /// such as the body of an answer: kept as it is, without another check.
    pub fn from_serialised(text: impl Into<Bytes>) -> Self {
        Self(text.into())
    }

    /// A body received from a client that is known to be valid JSON (it was parsed):
    /// whitespace outside strings is dropped, everything else is kept byte for byte.
    /// `None` if it is not UTF-8 (serde_json does not check strings it skips).
    pub fn from_parsed(raw: &[u8]) -> Option<Self> {
        std::str::from_utf8(raw).ok()?;
        Some(Self(Bytes::from(compact(raw))))
    }

    pub fn as_str(&self) -> &str {
        // Every constructor keeps UTF-8; an empty body is never valid JSON anyway.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The text's bytes (UTF-8, as every constructor keeps it).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The body as a `serde_json::Value` (for tests and tools; not on the request path).
    pub fn to_value(&self) -> serde_json::Result<Value> {
        serde_json::from_slice(&self.0)
    }
}

impl From<&Value> for JsonBody {
    fn from(value: &Value) -> Self {
        Self(Bytes::from(serde_json::to_vec(value).unwrap_or_default()))
    }
}

impl From<Value> for JsonBody {
    fn from(value: Value) -> Self {
        Self::from(&value)
    }
}

impl std::fmt::Debug for JsonBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for JsonBody {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = std::str::from_utf8(&self.0).map_err(S::Error::custom)?;
        // No text (an answer whose serialisation failed) would break the line: `null`, as
        // the `Value` of such an answer was.
        if text.is_empty() {
            return serializer.serialize_unit();
        }
        let mut raw = serializer.serialize_struct(RAW_VALUE_TOKEN, 1)?;
        raw.serialize_field(RAW_VALUE_TOKEN, text)?;
        raw.end()
    }
}

impl<'de> Deserialize<'de> for JsonBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Ok(Self::from_parsed(raw.get().as_bytes()).unwrap_or_else(|| Self(Bytes::new())))
    }
}

/// `raw` without the whitespace outside its strings, copied in runs between the bytes
/// dropped. A string is skipped with searches for its closing `"` (or an escape), not a
/// byte at a time: most of a request body is the text of its strings (`memchr2`, which
/// scans a vector register at a time; a byte loop here was about 1,500 instructions a
/// logged call, issue 13). `raw` is valid JSON, so a string starts at an unescaped `"` and
/// ends at the next one.
fn compact(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let (mut start, mut i) = (0, 0);
    while let Some(&b) = raw.get(i) {
        match b {
            b'"' => {
                i += 1;
                loop {
                    let next = raw.get(i..).and_then(|rest| memchr::memchr2(b'"', b'\\', rest));
                    match next {
                        Some(k) if raw.get(i + k) == Some(&b'\\') => i += k + 2,
                        Some(k) => {
                            i += k + 1;
                            break;
                        }
                        None => {
                            i = raw.len();
                            break;
                        }
                    }
                }
            }
            b' ' | b'\t' | b'\n' | b'\r' => {
                out.extend_from_slice(&raw[start..i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    out.extend_from_slice(raw.get(start..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn compacts_outside_strings_only() {
        let raw = b" {\n \"a\" : [1, 2.50,\t\"x y\\\" \\\\\" ],\r\n\"b\":{ \"c\" : \"\\u00e9 \" } } ";
        let body = JsonBody::from_parsed(raw).unwrap();
        assert_eq!(body.as_str(), r#"{"a":[1,2.50,"x y\" \\"],"b":{"c":"\u00e9 "}}"#);
        assert_eq!(body.to_value().unwrap(), serde_json::from_slice::<Value>(raw).unwrap());
        assert_eq!(JsonBody::from_parsed(b"\"\\\\\"").unwrap().as_str(), r#""\\""#);
        assert_eq!(JsonBody::from_parsed(b" 12 ").unwrap().as_str(), "12");
        assert!(JsonBody::from_parsed(b"\"\xff\"").is_none());
        // Not JSON (callers check first): no panic on an unterminated string or escape.
        assert_eq!(JsonBody::from_parsed(b"[ \"a b\\").unwrap().as_str(), "[\"a b\\");
    }

    #[test]
    fn serialises_verbatim_and_parses_back() {
        #[derive(Serialize, Deserialize)]
        struct Record {
            body: JsonBody,
        }
        let record = Record { body: JsonBody::from_serialised(&br#"{"z":1,"a":[true,null]}"#[..]) };
        let line = serde_json::to_string(&record).unwrap();
        assert_eq!(line, r#"{"body":{"z":1,"a":[true,null]}}"#);
        assert_eq!(serde_json::to_value(&record).unwrap(), json!({"body": {"z": 1, "a": [true, null]}}));
        let back: Record = serde_json::from_str(r#"{"body": {"z": 1, "a": [true, null]}}"#).unwrap();
        assert_eq!(back.body, record.body);
        assert_eq!(JsonBody::from(json!({"b": 1, "a": "x"})).as_str(), r#"{"a":"x","b":1}"#);
        let empty = Record { body: JsonBody::from_serialised(Vec::new()) };
        assert_eq!(serde_json::to_string(&empty).unwrap(), r#"{"body":null}"#);
    }
}
