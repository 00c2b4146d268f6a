//! Signatures of reasoning blocks. Bedrock returns `reasoningText.signature` so a later
//! turn can send the reasoning back and the service can tell it is the model's own,
//! unaltered. spillway's signature is its own: HMAC-SHA256 over the reasoning text,
//! base64. The key is `SPILLWAY_REASONING_KEY` (set the same on every instance of a
//! cluster, so any instance accepts another's reasoning), else a random key per process.

use std::sync::OnceLock;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::converse::{ContentBlock, ConverseRequest, Role};
use crate::error::BedrockError;
use crate::options::ReasoningContentBlock;
use crate::surface::not_supported;

const BLOCK: usize = 64;

fn key() -> &'static [u8] {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(|| match std::env::var("SPILLWAY_REASONING_KEY") {
        Ok(k) if !k.is_empty() => k.into_bytes(),
        // std's RandomState keys SipHash from the OS's randomness; four draws give 256
        // bits no client can predict.
        _ => {
            use std::hash::{BuildHasher, Hasher};
            let mut out = Vec::with_capacity(32);
            for i in 0..4u8 {
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_u8(i);
                out.extend_from_slice(&h.finish().to_le_bytes());
            }
            out
        }
    })
}

/// HMAC-SHA256 (RFC 2104).
fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.map(|b| b ^ byte);
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

/// The signature of a reasoning text.
pub fn sign(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(hmac(key(), text.as_bytes()))
}

/// Whether `signature` is this service's for `text`, compared in constant time.
pub fn verify(text: &str, signature: &str) -> bool {
    let expected = sign(text);
    expected.len() == signature.len()
        && expected.bytes().zip(signature.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Reasoning sent back in a conversation: only in assistant turns, in clear, with the
/// signature spillway gave it. Refused as Bedrock refuses altered reasoning.
pub fn check_history(req: &ConverseRequest) -> Result<(), BedrockError> {
    for (i, m) in req.messages.iter().enumerate() {
        for (j, block) in m.content.iter().enumerate() {
            let ContentBlock::ReasoningContent(r) = block else { continue };
            let at = format!("messages[{i}].content[{j}].reasoningContent");
            if m.role != Role::Assistant {
                return Err(BedrockError::validation(format!(
                    "Reasoning content can only be in an assistant message: {at}"
                )));
            }
            match r {
                ReasoningContentBlock::ReasoningText(t) => match &t.signature {
                    Some(sig) if verify(&t.text, sig) => {}
                    Some(_) => {
                        return Err(BedrockError::validation(format!(
                            "The reasoning content was modified: its signature does not match its text. Send reasoning back unchanged: {at}.reasoningText.signature"
                        )))
                    }
                    None => {
                        return Err(BedrockError::validation(format!(
                            "Reasoning text needs the signature it was returned with: {at}.reasoningText.signature"
                        )))
                    }
                },
                ReasoningContentBlock::RedactedContent(_) => {
                    return Err(not_supported("Redacted reasoning", &format!("{at}.redactedContent")))
                }
                ReasoningContentBlock::Unknown(name) => {
                    return Err(not_supported(&format!("The member {name}"), &format!("{at}.{name}")))
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn signatures_verify_only_their_text() {
        let sig = sign("Let me think.");
        assert!(verify("Let me think.", &sig));
        assert!(!verify("Let me think!", &sig));
        assert!(!verify("Let me think.", &sig[1..]));
    }

    #[test]
    fn history_with_altered_or_unsigned_reasoning_is_refused() {
        let body = |sig: &str| {
            serde_json::json!({"messages": [
                {"role": "user", "content": [{"text": "q"}]},
                {"role": "assistant", "content": [{"reasoningContent": {"reasoningText": {"text": "think", "signature": sig}}}, {"text": "a"}]},
                {"role": "user", "content": [{"text": "q2"}]}
            ]})
        };
        let parse = |v: serde_json::Value| crate::parse::json::<ConverseRequest>(v.to_string().as_bytes()).unwrap();
        assert!(check_history(&parse(body(&sign("think")))).is_ok());
        let e = check_history(&parse(body(&sign("thinK")))).unwrap_err();
        assert!(
            e.message.ends_with("messages[1].content[0].reasoningContent.reasoningText.signature"),
            "{}",
            e.message
        );
    }
}
