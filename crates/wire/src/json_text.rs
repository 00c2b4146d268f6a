//! A long text (an answer's) as a JSON string, escaped a word at a time.
//!
//! serde_json escapes a string a byte at a time through a lookup table, about seven
//! instructions a byte: for the answer text of a Converse or InvokeModel call that was
//! the biggest single cost left in the call (issue 13). Here eight bytes are tested at
//! once for a byte that needs escaping (`"`, `\` or a control character), the runs between
//! them are copied whole, and the finished literal goes to serde_json as a raw value (its
//! `raw_value` feature: a struct of the token's name is written verbatim, and parsed by
//! `serde_json::to_value`). The escapes are serde_json's own, byte for byte (tested).

use serde::ser::{SerializeStruct, Serializer};

/// serde_json's name for a raw value; see the module comment.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Texts shorter than this go to serde_json as they are: the raw value's extra buffer
/// costs more than the scan saves.
const SHORT: usize = 64;

const LOW: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Non-zero when one of the eight bytes of `w` is `"`, `\` or below 0x20. Exact for the
/// word as a whole (the usual zero-byte test; which byte, it does not say).
fn special(w: u64) -> u64 {
    let zero = |v: u64| v.wrapping_sub(LOW) & !v & HIGH;
    let below_space = w.wrapping_sub(LOW * 0x20) & !w & HIGH;
    below_space | zero(w ^ (LOW * u64::from(b'"'))) | zero(w ^ (LOW * u64::from(b'\\')))
}

fn has_special(w: u64) -> bool {
    special(w) != 0
}

/// How many bytes from the start of `bytes` are clean in whole blocks of 32 (four words
/// tested together, one branch per block: a word at a time, the loop's own bookkeeping
/// cost as much as the test, issue 13).
fn clean_blocks(bytes: &[u8]) -> usize {
    let mut n = 0;
    while let Some(block) = bytes.get(n..).and_then(<[u8]>::first_chunk::<32>) {
        if block.chunks_exact(8).fold(0, |m, w| m | special(word(w))) != 0 {
            break;
        }
        n += 32;
    }
    n
}

/// Eight bytes as one word (`w` is one of `chunks_exact(8)`).
fn word(w: &[u8]) -> u64 {
    u64::from_le_bytes(w.try_into().unwrap_or([0; 8]))
}

/// serde_json's escape for `b`, or `None` when `b` is written as it is.
fn escape(b: u8) -> Option<&'static [u8]> {
    Some(match b {
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        b'\n' => b"\\n",
        b'\r' => b"\\r",
        b'\t' => b"\\t",
        0x08 => b"\\b",
        0x0c => b"\\f",
        0x00..=0x1f => return Some(&CONTROL[usize::from(b)]),
        _ => return None,
    })
}

/// `\u00XX` for every control character, lower-case hex as serde_json writes it.
const CONTROL: [[u8; 6]; 32] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0u8; 6]; 32];
    let mut i = 0;
    while i < 32 {
        table[i] = [b'\\', b'u', b'0', b'0', HEX[i >> 4], HEX[i & 0xf]];
        i += 1;
    }
    table
};

/// `text` as a JSON string literal, quotes included, appended to `out`.
pub fn write_quoted(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let (mut run, mut i) = (0, 0);
    while i < bytes.len() {
        // Whole blocks, then words, with nothing to escape are skipped; they are copied
        // with their run.
        i += clean_blocks(&bytes[i..]);
        let clean = bytes[i..].chunks_exact(8).take_while(|w| !has_special(word(w))).count();
        i += clean * 8;
        // A tail shorter than a word is tested as one, padded with a byte that needs no
        // escape: most short texts (regions, IDs, names) end here without a byte loop.
        if let Some(tail) = bytes.get(i..).filter(|t| t.len() < 8) {
            let mut padded = [b'a'; 8];
            padded[..tail.len()].copy_from_slice(tail);
            if !has_special(u64::from_le_bytes(padded)) {
                break;
            }
        }
        // A word with something to escape (or the tail): byte by byte.
        let end = (i + 8).min(bytes.len());
        while i < end {
            if let Some(escaped) = escape(bytes[i]) {
                out.extend_from_slice(&bytes[run..i]);
                out.extend_from_slice(escaped);
                run = i + 1;
            }
            i += 1;
        }
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

/// `serialize_with` for a text member: what serde_json writes for the string, faster.
pub fn serialize<T: AsRef<str> + ?Sized, S: Serializer>(text: &T, serializer: S) -> Result<S::Ok, S::Error> {
    let text = text.as_ref();
    if text.len() < SHORT {
        return serializer.serialize_str(text);
    }
    let mut quoted = Vec::with_capacity(text.len() + text.len() / 16 + 2);
    write_quoted(&mut quoted, text);
    // Only ASCII escapes were added to UTF-8 text, and runs were cut at ASCII bytes.
    let quoted = String::from_utf8(quoted).map_err(serde::ser::Error::custom)?;
    let mut raw = serializer.serialize_struct(RAW_VALUE_TOKEN, 1)?;
    raw.serialize_field(RAW_VALUE_TOKEN, &quoted)?;
    raw.end()
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    use super::*;

    #[derive(Serialize)]
    struct Text<'a>(#[serde(serialize_with = "serialize")] &'a str);

    fn check(text: &str) {
        assert_eq!(serde_json::to_string(&Text(text)).unwrap(), serde_json::to_string(text).unwrap(), "{text:?}");
        assert_eq!(serde_json::to_value(Text(text)).unwrap(), serde_json::Value::String(text.to_owned()));
        let mut out = Vec::new();
        write_quoted(&mut out, text);
        assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(text).unwrap(), "{text:?}");
    }

    #[test]
    fn every_byte_is_written_as_serde_json_writes_it() {
        let all: String = (0u8..=0x7f).map(char::from).collect();
        for text in [
            "",
            "plain",
            "say \"hi\"\\ now",
            "line\nbreak\ttab\r\u{8}\u{c}\u{1}\u{1f}\u{7f}",
            "é漢字🙂 with \"quotes\" and\nnewlines",
            all.as_str(),
        ] {
            check(text);
            // Long enough for the raw path, with the special bytes at every offset.
            for pad in 0..9 {
                check(&format!("{}{text}{}", "x".repeat(pad + SHORT), "y".repeat(pad)));
            }
        }
        // Pseudo-random texts of ASCII, controls and multi-byte characters.
        let alphabet: Vec<char> = "ab \"\\\n\t\u{0}\u{1f}é漢🙂".chars().collect();
        let mut seed: u64 = 7;
        for len in 0..300 {
            let text: String = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    alphabet[(seed >> 33) as usize % alphabet.len()]
                })
                .collect();
            check(&text);
        }
    }

    #[test]
    fn a_special_byte_is_found_at_every_place_of_a_long_clean_run() {
        for len in 1..100 {
            for at in 0..len {
                for special in ['"', '\n', '\u{0}'] {
                    let mut text: Vec<char> = vec!['x'; len];
                    text[at] = special;
                    check(&text.into_iter().collect::<String>());
                }
            }
        }
    }

    #[test]
    fn the_word_test_finds_each_special_byte_at_each_place() {
        for special in [b'"', b'\\', 0, 0x1f, b'\n'] {
            for at in 0..8 {
                let mut w = *b"abcdefgh";
                w[at] = special;
                assert!(has_special(u64::from_le_bytes(w)), "{special} at {at}");
            }
        }
        for w in [*b"abcdefgh", *b"        ", [0x7f, 0x80, 0xff, b'!', b'#', b'[', b']', b'~']] {
            assert!(!has_special(u64::from_le_bytes(w)), "{w:?}");
        }
    }
}
