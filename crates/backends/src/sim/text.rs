//! The simulator's output: deterministic text, tool inputs and embeddings from a seed.

use serde_json::{json, Map, Value};

/// A small, fast, seedable generator (xorshift64*). Quality is irrelevant; determinism
/// is the point.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// FNV-1a, to turn prompts into seeds without a dependency.
pub fn hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// One token each under the simulator's tokenizer (ASCII, at most eight letters).
const WORDS: &[&str] = &[
    "region", "model", "quota", "request", "token", "stream", "profile", "capacity", "route", "answer", "simple",
    "local", "cluster", "latency", "storage", "object", "block", "file", "service", "data", "query", "result", "cache",
    "limit", "minute", "second", "value", "system", "user", "account", "metric", "billing", "source", "target",
    "backend", "gateway", "batch", "record", "prompt", "version", "network", "secure", "fast", "stable", "shared",
    "default", "bucket", "volume", "instance", "replica", "primary", "failover", "health", "usage", "cost", "tag",
    "log", "event", "frame", "header", "payload", "signal", "window", "burst",
];

/// The pieces of a generated answer, each exactly one token: the first word
/// capitalised, later words with a leading space, sentences ending in ".".
pub fn pieces(rng: &mut Rng, count: u32) -> Vec<String> {
    let mut out = Vec::with_capacity(count as usize);
    let mut sentence_left = 0u64;
    while out.len() < count as usize {
        let word = WORDS[rng.below(WORDS.len() as u64) as usize];
        if sentence_left == 0 {
            sentence_left = 6 + rng.below(9);
            let mut cap = word.to_owned();
            if let Some(first) = cap.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            out.push(if out.is_empty() { cap } else { format!(" {cap}") });
        } else {
            out.push(format!(" {word}"));
        }
        sentence_left -= 1;
        if sentence_left == 0 && out.len() < count as usize {
            out.push(".".to_owned());
        }
    }
    out
}

/// A value that fits a JSON schema well enough for a tool call.
pub fn value_for_schema(rng: &mut Rng, schema: &Value) -> Value {
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let mut map = Map::new();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (name, sub) in props {
                    map.insert(name.clone(), value_for_schema(rng, sub));
                }
            }
            Value::Object(map)
        }
        Some("array") => {
            let item = schema.get("items").cloned().unwrap_or(json!({"type": "string"}));
            Value::Array((0..1 + rng.below(2)).map(|_| value_for_schema(rng, &item)).collect())
        }
        Some("integer") => json!(rng.below(100)),
        Some("number") => json!(rng.below(10_000) as f64 / 100.0),
        Some("boolean") => json!(rng.below(2) == 1),
        _ => match schema.get("enum").and_then(Value::as_array) {
            Some(choices) if !choices.is_empty() => choices[rng.below(choices.len() as u64) as usize].clone(),
            _ => json!(WORDS[rng.below(WORDS.len() as u64) as usize]),
        },
    }
}

/// A unit vector of `dims` seeded by the text, so equal texts embed equally.
pub fn embedding(seed: u64, text: &str, dims: u32, normalize: bool) -> Vec<f32> {
    let mut rng = Rng::new(hash(&[&seed.to_le_bytes(), text.as_bytes()]));
    let mut v: Vec<f32> = (0..dims).map(|_| (rng.unit() * 2.0 - 1.0) as f32).collect();
    if normalize {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::count_tokens;

    #[test]
    fn pieces_are_one_token_each() {
        let mut rng = Rng::new(42);
        let p = pieces(&mut rng, 200);
        assert_eq!(p.len(), 200);
        for piece in &p {
            assert_eq!(count_tokens(piece), 1, "{piece:?}");
        }
        assert_eq!(count_tokens(&p.concat()), 200);
    }

    #[test]
    fn same_seed_same_text() {
        assert_eq!(pieces(&mut Rng::new(7), 30), pieces(&mut Rng::new(7), 30));
        assert_ne!(pieces(&mut Rng::new(7), 30), pieces(&mut Rng::new(8), 30));
    }

    #[test]
    fn embeddings_are_deterministic_unit_vectors() {
        let a = embedding(1, "hello", 16, true);
        assert_eq!(a, embedding(1, "hello", 16, true));
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
    }

    #[test]
    fn schema_values_follow_types() {
        let mut rng = Rng::new(3);
        let v = value_for_schema(
            &mut rng,
            &json!({"type":"object","properties":{"n":{"type":"integer"},"s":{"type":"string"},"b":{"type":"boolean"}}}),
        );
        assert!(v["n"].is_u64() && v["s"].is_string() && v["b"].is_boolean());
    }
}
