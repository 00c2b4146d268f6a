//! Just enough of the GGUF header to accept or refuse a file before it is handed to
//! llama.cpp: the magic, the version, the counts, and the metadata up to the keys an
//! imported model reports (`general.architecture`, whether a chat template exists).
//!
//! Why parse here rather than let llama.cpp fail: an import job must say what is wrong
//! with the file ("not a GGUF file", "truncated"), also in builds without llama.cpp,
//! and without loading gigabytes of tensors to find out.
//!
//! Layout (little-endian): `GGUF`, u32 version (2 or 3: version 1 used 32-bit counts and
//! is long gone), u64 tensor count, u64 metadata count, then each metadata entry as a
//! string key (u64 length + UTF-8), a u32 value type, and the value. Strings and arrays
//! carry u64 lengths; arrays carry their element type first.

use std::io::{self, Read};

/// What an import needs to know about a GGUF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufHeader {
    pub version: u32,
    pub tensor_count: u64,
    /// `general.architecture` (`gemma3`, `llama`, …).
    pub architecture: String,
    /// Whether `tokenizer.chat_template` is present: the model was tuned to follow
    /// instructions in some chat format.
    pub chat_template: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GgufError {
    #[error("the file is not a GGUF model (it does not start with the GGUF magic bytes)")]
    NotGguf,
    #[error("GGUF version {0} is not supported (versions 2 and 3 are)")]
    Version(u32),
    #[error("the GGUF file is truncated: it ends inside its header ({0})")]
    Truncated(String),
    #[error("the GGUF header is malformed: {0}")]
    Malformed(String),
    #[error("the GGUF header has no general.architecture key")]
    NoArchitecture,
    #[error("reading the file failed: {0}")]
    Io(String),
}

/// Longest metadata key or string value accepted (a chat template is a few KB; a key a
/// few dozen bytes). A larger length means a corrupt header, not a big model.
const MAX_STRING: u64 = 64 * 1024 * 1024;
/// Most metadata entries accepted (real files have a few dozen).
const MAX_ENTRIES: u64 = 1 << 20;

const ARCHITECTURE: &str = "general.architecture";
const CHAT_TEMPLATE: &str = "tokenizer.chat_template";

/// Reads the header from the start of `r` (buffer it: values are read a few bytes at a
/// time). Reads every metadata entry, so a file cut inside its metadata is caught.
pub fn read_header(r: impl Read) -> Result<GgufHeader, GgufError> {
    let mut r = Reader { inner: r, at: "the magic bytes" };
    let mut magic = [0u8; 4];
    r.exact(&mut magic).map_err(|e| if matches!(e, GgufError::Truncated(_)) { GgufError::NotGguf } else { e })?;
    if &magic != b"GGUF" {
        return Err(GgufError::NotGguf);
    }
    r.at = "the version";
    let version = r.u32()?;
    if !(2..=3).contains(&version) {
        return Err(GgufError::Version(version));
    }
    r.at = "the tensor count";
    let tensor_count = r.u64()?;
    r.at = "the metadata count";
    let entries = r.u64()?;
    if entries > MAX_ENTRIES {
        return Err(GgufError::Malformed(format!("{entries} metadata entries")));
    }
    let (mut architecture, mut chat_template) = (None, false);
    for i in 0..entries {
        r.at = "a metadata key";
        let key = r.string()?;
        r.at = "a metadata value";
        let kind = r.u32()?;
        match (key.as_str(), kind) {
            (ARCHITECTURE, STRING) => architecture = Some(r.string()?),
            (ARCHITECTURE, other) => {
                return Err(GgufError::Malformed(format!("{ARCHITECTURE} has value type {other}, not a string")))
            }
            (CHAT_TEMPLATE, _) => {
                chat_template = true;
                r.skip_value(kind)?;
            }
            _ => r.skip_value(kind).map_err(|e| match e {
                GgufError::Malformed(m) => GgufError::Malformed(format!("metadata entry {i} ({key}): {m}")),
                other => other,
            })?,
        }
    }
    let architecture = architecture.filter(|a| !a.is_empty()).ok_or(GgufError::NoArchitecture)?;
    Ok(GgufHeader { version, tensor_count, architecture, chat_template })
}

const STRING: u32 = 8;
const ARRAY: u32 = 9;

/// Size in bytes of a fixed-size value type.
fn fixed_size(kind: u32) -> Option<u64> {
    match kind {
        0 | 1 | 7 => Some(1), // u8, i8, bool
        2 | 3 => Some(2),     // u16, i16
        4..=6 => Some(4),     // u32, i32, f32
        10..=12 => Some(8),   // u64, i64, f64
        _ => None,
    }
}

struct Reader<R> {
    inner: R,
    /// What is being read, for the truncation message.
    at: &'static str,
}

impl<R: Read> Reader<R> {
    fn exact(&mut self, buf: &mut [u8]) -> Result<(), GgufError> {
        self.inner.read_exact(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => GgufError::Truncated(format!("while reading {}", self.at)),
            _ => GgufError::Io(e.to_string()),
        })
    }

    fn u32(&mut self) -> Result<u32, GgufError> {
        let mut b = [0u8; 4];
        self.exact(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, GgufError> {
        let mut b = [0u8; 8];
        self.exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn length(&mut self) -> Result<u64, GgufError> {
        let n = self.u64()?;
        if n > MAX_STRING {
            return Err(GgufError::Malformed(format!("a string of {n} bytes")));
        }
        Ok(n)
    }

    fn string(&mut self) -> Result<String, GgufError> {
        let n = self.length()?;
        let mut buf = Vec::new();
        let read = (&mut self.inner).take(n).read_to_end(&mut buf).map_err(|e| GgufError::Io(e.to_string()))?;
        if read as u64 != n {
            return Err(GgufError::Truncated(format!("while reading {}", self.at)));
        }
        String::from_utf8(buf).map_err(|_| GgufError::Malformed("a string that is not UTF-8".into()))
    }

    fn skip(&mut self, n: u64) -> Result<(), GgufError> {
        let skipped =
            io::copy(&mut (&mut self.inner).take(n), &mut io::sink()).map_err(|e| GgufError::Io(e.to_string()))?;
        if skipped != n {
            return Err(GgufError::Truncated(format!("while reading {}", self.at)));
        }
        Ok(())
    }

    fn skip_value(&mut self, kind: u32) -> Result<(), GgufError> {
        if let Some(size) = fixed_size(kind) {
            return self.skip(size);
        }
        match kind {
            STRING => {
                let n = self.length()?;
                self.skip(n)
            }
            ARRAY => {
                let (element, count) = (self.u32()?, self.u64()?);
                if let Some(size) = fixed_size(element) {
                    let bytes = count.checked_mul(size).filter(|b| *b <= MAX_STRING * 16);
                    return self
                        .skip(bytes.ok_or_else(|| GgufError::Malformed(format!("an array of {count} values")))?);
                }
                if element == ARRAY {
                    return Err(GgufError::Malformed("an array of arrays".into()));
                }
                if count > MAX_STRING {
                    return Err(GgufError::Malformed(format!("an array of {count} values")));
                }
                (0..count).try_for_each(|_| self.skip_value(element))
            }
            other => Err(GgufError::Malformed(format!("unknown value type {other}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s.as_bytes());
    }

    /// A header with a u32 entry, a string array (a vocabulary), then the architecture.
    fn header(version: u32, architecture: Option<&str>, template: bool) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(version.to_le_bytes());
        out.extend(7u64.to_le_bytes());
        let entries = 2 + u64::from(architecture.is_some()) + u64::from(template);
        out.extend(entries.to_le_bytes());
        string(&mut out, "general.quantization_version");
        out.extend(4u32.to_le_bytes());
        out.extend(2u32.to_le_bytes());
        string(&mut out, "tokenizer.ggml.tokens");
        out.extend(ARRAY.to_le_bytes());
        out.extend(STRING.to_le_bytes());
        out.extend(2u64.to_le_bytes());
        string(&mut out, "<bos>");
        string(&mut out, "hello");
        if template {
            string(&mut out, CHAT_TEMPLATE);
            out.extend(STRING.to_le_bytes());
            string(&mut out, "{{ messages }}");
        }
        if let Some(a) = architecture {
            string(&mut out, ARCHITECTURE);
            out.extend(STRING.to_le_bytes());
            string(&mut out, a);
        }
        out
    }

    #[test]
    fn reads_the_architecture_after_other_entries() {
        let h = read_header(&header(3, Some("gemma3"), false)[..]).unwrap();
        assert_eq!(h, GgufHeader { version: 3, tensor_count: 7, architecture: "gemma3".into(), chat_template: false });
        let h = read_header(&header(2, Some("llama"), true)[..]).unwrap();
        assert_eq!((h.version, h.architecture.as_str(), h.chat_template), (2, "llama", true));
    }

    #[test]
    fn refuses_what_is_not_a_gguf() {
        assert_eq!(read_header(&b"{\"not\": \"a model\"}"[..]), Err(GgufError::NotGguf));
        assert_eq!(read_header(&b"GG"[..]), Err(GgufError::NotGguf));
        assert_eq!(read_header(&b""[..]), Err(GgufError::NotGguf));
        assert_eq!(read_header(&header(1, Some("llama"), false)[..]), Err(GgufError::Version(1)));
        assert_eq!(read_header(&header(3, None, false)[..]), Err(GgufError::NoArchitecture));
    }

    #[test]
    fn a_file_cut_anywhere_in_its_header_is_truncated() {
        let full = header(3, Some("gemma3"), true);
        for cut in 4..full.len() {
            match read_header(&full[..cut]) {
                Err(GgufError::Truncated(_)) => {}
                other => panic!("cut at {cut} of {}: {other:?}", full.len()),
            }
        }
    }

    #[test]
    fn corrupt_lengths_and_types_are_malformed() {
        let mut bad_type = header(3, Some("gemma3"), false);
        // The first entry's value type (after magic, version, two counts and its key).
        let at = 4 + 4 + 8 + 8 + 8 + "general.quantization_version".len();
        bad_type[at..at + 4].copy_from_slice(&99u32.to_le_bytes());
        assert!(
            matches!(read_header(&bad_type[..]), Err(GgufError::Malformed(m)) if m.contains("unknown value type 99"))
        );
        let mut huge = b"GGUF".to_vec();
        huge.extend(3u32.to_le_bytes());
        huge.extend(0u64.to_le_bytes());
        huge.extend(1u64.to_le_bytes());
        huge.extend(u64::MAX.to_le_bytes());
        assert!(matches!(read_header(&huge[..]), Err(GgufError::Malformed(_))));
    }
}
