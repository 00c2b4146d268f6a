//! From token bytes to the text a client sees: whole UTF-8 characters only (a token may
//! end in the middle of one), and never a byte of a stop sequence.
//!
//! Text that could be the start of a stop sequence is held back until the next tokens
//! show whether it is one: emitted if not, dropped (and generation stopped) if so. So a
//! streamed answer never shows the first half of a stop sequence it then ends on.

/// Bytes in, complete UTF-8 text out; an incomplete character waits for the next bytes.
#[derive(Debug, Default)]
pub struct Utf8Decoder {
    pending: Vec<u8>,
}

impl Utf8Decoder {
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        // Bytes that can never become a character: replace them and go on.
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                        // The start of a character whose other bytes are still to come.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                    }
                }
            }
        }
    }

    /// What is left when generation ends (an unfinished character becomes U+FFFD).
    pub fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

/// What to do with newly generated text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    /// Send this (possibly empty) text; generation goes on.
    Emit(String),
    /// A stop sequence appeared: send `text` (what came before it) and stop.
    Stop { text: String, sequence: String },
}

#[derive(Debug, Default)]
pub struct StopScanner {
    stops: Vec<String>,
    held: String,
}

impl StopScanner {
    pub fn new(stops: &[String]) -> Self {
        Self { stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(), held: String::new() }
    }

    pub fn push(&mut self, text: &str) -> Scan {
        if self.stops.is_empty() {
            return Scan::Emit(text.to_owned());
        }
        self.held.push_str(text);
        // Every earlier match would have been held back, so a match starts in `held`.
        // The earliest one wins; at the same place, the one listed first.
        let found =
            self.stops.iter().filter_map(|s| self.held.find(s.as_str()).map(|at| (at, s))).min_by_key(|(at, _)| *at);
        if let Some((at, sequence)) = found {
            let sequence = sequence.clone();
            let text = self.held[..at].to_owned();
            self.held.clear();
            return Scan::Stop { text, sequence };
        }
        // Keep the longest tail that is the start of some stop sequence.
        let keep_from = self
            .held
            .char_indices()
            .map(|(i, _)| i)
            .find(|&i| {
                let tail = &self.held[i..];
                self.stops.iter().any(|s| s.starts_with(tail))
            })
            .unwrap_or(self.held.len());
        let emit = self.held[..keep_from].to_owned();
        self.held.drain(..keep_from);
        Scan::Emit(emit)
    }

    /// The held-back text, when generation ends for another reason.
    pub fn flush(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanner(stops: &[&str]) -> StopScanner {
        StopScanner::new(&stops.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    fn emit(s: &str) -> Scan {
        Scan::Emit(s.to_owned())
    }

    #[test]
    fn decoder_waits_for_whole_characters() {
        let mut d = Utf8Decoder::default();
        let bytes = "日本".as_bytes();
        assert_eq!(d.push(&bytes[..2]), "");
        assert_eq!(d.push(&bytes[2..4]), "日");
        assert_eq!(d.push(&bytes[4..]), "本");
        assert_eq!(d.push(b"a\xffb"), "a\u{fffd}b");
        assert_eq!(d.push(&bytes[..1]), "");
        assert_eq!(d.finish(), "\u{fffd}");
    }

    #[test]
    fn without_stops_everything_passes() {
        let mut s = scanner(&[]);
        assert_eq!(s.push("Hello"), emit("Hello"));
        assert_eq!(s.flush(), "");
    }

    #[test]
    fn a_possible_stop_is_held_back_until_decided() {
        let mut s = scanner(&["\nUser:"]);
        assert_eq!(s.push("Hi there"), emit("Hi there"));
        assert_eq!(s.push(".\nU"), emit("."));
        assert_eq!(s.push("s"), emit(""));
        // Not the stop sequence after all: the held text comes out.
        assert_eq!(s.push("a"), emit("\nUsa"));
        assert_eq!(s.push("\nUser: more"), Scan::Stop { text: String::new(), sequence: "\nUser:".into() });
    }

    #[test]
    fn stop_inside_one_piece_cuts_it() {
        let mut s = scanner(&["END", "STOP"]);
        assert_eq!(s.push("abc STOP def END"), Scan::Stop { text: "abc ".into(), sequence: "STOP".into() });
    }

    #[test]
    fn stop_across_pieces() {
        let mut s = scanner(&["</answer>"]);
        assert_eq!(s.push("42</"), emit("42"));
        assert_eq!(s.push("ans"), emit(""));
        assert_eq!(s.push("wer> trailing"), Scan::Stop { text: String::new(), sequence: "</answer>".into() });
    }

    #[test]
    fn held_text_is_flushed_at_the_end() {
        let mut s = scanner(&["###"]);
        assert_eq!(s.push("done #"), emit("done "));
        assert_eq!(s.flush(), "#");
    }

    #[test]
    fn multibyte_text_is_cut_on_character_boundaries() {
        let mut s = scanner(&["。終"]);
        assert_eq!(s.push("日本。"), emit("日本"));
        assert_eq!(s.push("終わり"), Scan::Stop { text: String::new(), sequence: "。終".into() });
    }
}
