//! Cohere Embed v3 (`texts`, `input_type`) and its answer, float or by type.

use serde_json::{json, Map, Value};

use super::body::{self, Obj};
use super::{EmbedOutput, EmbedRequest};
use crate::error::BedrockError;

const INPUT_TYPES: [&str; 4] = ["search_document", "search_query", "classification", "clustering"];
const TRUNCATE: [&str; 3] = ["NONE", "START", "END"];
const EMBEDDING_TYPES: [&str; 5] = ["float", "int8", "uint8", "binary", "ubinary"];
const MAX_TEXTS: usize = 96;

pub fn parse(body: &Value) -> Result<EmbedRequest, BedrockError> {
    let root = Obj::root(body)?;
    let texts = root.strings("texts")?.ok_or_else(|| root.missing("texts"))?;
    if texts.is_empty() {
        return Err(body::malformed("#/texts", "expected minimum item count: 1, found: 0"));
    }
    if texts.len() > MAX_TEXTS {
        return Err(body::malformed(
            "#/texts",
            format!("expected maximum item count: {MAX_TEXTS}, found: {}", texts.len()),
        ));
    }
    let input_type = root.enum_str("input_type", &INPUT_TYPES)?.ok_or_else(|| root.missing("input_type"))?;
    // Checked for the schema's sake; EmbedRequest has no truncate mode, so backends cut
    // over-long input to their own context either way.
    root.enum_str("truncate", &TRUNCATE)?;
    Ok(EmbedRequest {
        texts,
        dimensions: None,
        normalize: false,
        input_type: Some(input_type.to_owned()),
        embedding_types: root.enum_strings("embedding_types", &EMBEDDING_TYPES)?,
    })
}

pub fn response(request: &EmbedRequest, out: &EmbedOutput) -> Value {
    let r = |n| body::random_chars(n, b"0123456789abcdef");
    let id = format!("{}-{}-{}-{}-{}", r(8), r(4), r(4), r(4), r(12));
    let (embeddings, response_type) = match &request.embedding_types {
        None => (json!(out.embeddings), "embeddings_floats"),
        Some(types) => {
            let by_type: Map<String, Value> =
                types.iter().map(|kind| (kind.clone(), by_type(kind, &out.embeddings))).collect();
            (Value::Object(by_type), "embeddings_by_type")
        }
    };
    json!({"id": id, "texts": request.texts, "embeddings": embeddings, "response_type": response_type})
}

/// The vectors in one of Cohere's compressed forms.
///
/// Cohere calibrates int8/uint8 ranges per dimension over a corpus; lacking that, each
/// vector is scaled by its own largest magnitude, which keeps signs and proportions, so
/// dot-product ranking on the quantised vectors still follows the floats. The binary forms
/// pack one sign bit per dimension, first dimension in the high bit; `binary` is the
/// packed byte minus 128 (a signed int8), `ubinary` the byte itself.
fn by_type(kind: &str, embeddings: &[Vec<f32>]) -> Value {
    let vectors: Vec<Value> = embeddings
        .iter()
        .map(|e| {
            let max = e.iter().fold(0f32, |m, x| m.max(x.abs()));
            let scale = if max > 0.0 { 1.0 / max } else { 0.0 };
            let scaled = e.iter().map(move |x| x * scale);
            match kind {
                "int8" => json!(scaled.map(|x| (x * 127.0).round() as i8).collect::<Vec<_>>()),
                "uint8" => json!(scaled.map(|x| ((x + 1.0) * 127.5).round() as u8).collect::<Vec<_>>()),
                "binary" | "ubinary" => {
                    let offset = if kind == "binary" { 128 } else { 0 };
                    json!(pack_signs(e).into_iter().map(|b| i16::from(b) - offset).collect::<Vec<_>>())
                }
                _ => json!(e),
            }
        })
        .collect();
    Value::Array(vectors)
}

fn pack_signs(e: &[f32]) -> Vec<u8> {
    e.chunks(8)
        .map(|chunk| {
            chunk.iter().enumerate().fold(0u8, |byte, (i, &x)| if x > 0.0 { byte | (0x80 >> i) } else { byte })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_body() {
        let r = parse(&json!({"texts": ["a", "b"], "input_type": "search_query", "truncate": "END"})).unwrap();
        assert_eq!((r.texts.len(), r.input_type.as_deref(), r.embedding_types), (2, Some("search_query"), None));
        let e = parse(&json!({"texts": ["a"]})).unwrap_err();
        assert!(e.message.contains("#: required key [input_type] not found"), "{}", e.message);
        let e = parse(&json!({"texts": ["a"], "input_type": "x"})).unwrap_err();
        assert!(e.message.contains("#/input_type: x is not a valid enum value"), "{}", e.message);
        let e = parse(&json!({"texts": [], "input_type": "clustering"})).unwrap_err();
        assert!(e.message.contains("#/texts: expected minimum item count: 1"), "{}", e.message);
        let e = parse(&json!({"texts": ["a", 1], "input_type": "clustering"})).unwrap_err();
        assert!(e.message.contains("#/texts/1: expected type: String, found: Integer"), "{}", e.message);
        let e = parse(&json!({"texts": ["a"], "input_type": "clustering", "embedding_types": ["int4"]})).unwrap_err();
        assert!(e.message.contains("#/embedding_types/0: int4 is not a valid enum value"), "{}", e.message);
    }

    #[test]
    fn float_response_shape() {
        let req = parse(&json!({"texts": ["a"], "input_type": "search_document"})).unwrap();
        let v = response(&req, &EmbedOutput { embeddings: vec![vec![0.25, -1.0]], input_tokens: 1 });
        assert_eq!(v["response_type"], "embeddings_floats");
        assert_eq!(v["embeddings"], json!([[0.25, -1.0]]));
        assert_eq!(v["texts"], json!(["a"]));
        let id = v["id"].as_str().unwrap();
        assert_eq!(id.split('-').map(str::len).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
    }

    #[test]
    fn by_type_response_quantises() {
        let req = parse(&json!({"texts": ["a"], "input_type": "search_document",
            "embedding_types": ["float", "int8", "uint8", "binary", "ubinary"]}))
        .unwrap();
        let e = vec![1.0, -0.5, 0.0, 0.2, -1.0, 0.1, 0.1, 0.1, 0.3];
        let v = response(&req, &EmbedOutput { embeddings: vec![e], input_tokens: 1 });
        assert_eq!(v["response_type"], "embeddings_by_type");
        let by = &v["embeddings"];
        assert_eq!(by["int8"][0], json!([127, -64, 0, 25, -127, 13, 13, 13, 38]));
        assert_eq!(by["uint8"][0][0], 255);
        assert_eq!(by["uint8"][0][4], 0);
        // Signs 1,0,0,1,0,1,1,1 | 1 → 0b1001_0111, 0b1000_0000.
        assert_eq!(by["ubinary"][0], json!([151, 128]));
        assert_eq!(by["binary"][0], json!([23, 0]));
        assert_eq!(by["float"][0].as_array().map(Vec::len), Some(9));
    }
}
