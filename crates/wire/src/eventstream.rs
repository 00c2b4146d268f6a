//! AWS event-stream frames (`application/vnd.amazon.eventstream`), written straight into
//! one buffer per frame: the prelude, three string headers, the payload (serialised in
//! place) and both CRC32s. The layout is the SDKs' own (`aws-smithy-eventstream`, which
//! the tests below check every byte against); building a `Message` first cost a dozen
//! allocations a frame (issue 13).

use bytes::Bytes;
use serde::Serialize;

pub const CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// Total length, headers length, prelude CRC.
const PRELUDE: usize = 12;
/// Header value type 7: a string with a 2-byte length.
const STRING: u8 = 7;

/// Writes one frame into `buf` (appending), with `payload` writing its bytes in place.
/// Header names and values are ours and short (the u8 and u16 lengths always hold).
fn write_frame(buf: &mut Vec<u8>, headers: [(&str, &str); 3], payload: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend_from_slice(&[0; PRELUDE]);
    for (name, value) in headers {
        buf.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
        buf.extend_from_slice(name.as_bytes());
        buf.push(STRING);
        buf.extend_from_slice(&u16::try_from(value.len()).unwrap_or(u16::MAX).to_be_bytes());
        buf.extend_from_slice(value.as_bytes());
    }
    let headers_len = buf.len() - start - PRELUDE;
    payload(buf);
    let total = buf.len() - start + 4;
    let total = u32::try_from(total).unwrap_or(u32::MAX);
    let headers_len = u32::try_from(headers_len).unwrap_or(u32::MAX);
    buf[start..start + 4].copy_from_slice(&total.to_be_bytes());
    buf[start + 4..start + 8].copy_from_slice(&headers_len.to_be_bytes());
    let prelude_crc = crc32fast::hash(&buf[start..start + 8]);
    buf[start + 8..start + 12].copy_from_slice(&prelude_crc.to_be_bytes());
    let message_crc = crc32fast::hash(&buf[start..]);
    buf.extend_from_slice(&message_crc.to_be_bytes());
}

fn event_headers(event_type: &str) -> [(&str, &str); 3] {
    [(":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")]
}

/// An `:message-type=event` frame whose payload is the JSON of the event structure.
pub fn event_frame(event_type: &str, payload: &[u8]) -> Bytes {
    let mut buf = Vec::with_capacity(payload.len() + 96 + event_type.len());
    write_frame(&mut buf, event_headers(event_type), |b| b.extend_from_slice(payload));
    Bytes::from(buf)
}

/// An event frame whose payload is `payload` serialised as JSON, written in place: no
/// intermediate buffer for the JSON. `size_hint` is the expected payload size.
pub fn json_event_frame<T: Serialize + ?Sized>(event_type: &str, payload: &T, size_hint: usize) -> Bytes {
    let mut buf = Vec::with_capacity(size_hint + 96 + event_type.len());
    write_json_event_frame(&mut buf, event_type, payload);
    Bytes::from(buf)
}

/// [`json_event_frame`] appended to `buf`: a stream writes the frames of all the events
/// that are ready into one buffer, one body chunk for all of them (issue 13).
pub fn write_json_event_frame<T: Serialize + ?Sized>(buf: &mut Vec<u8>, event_type: &str, payload: &T) {
    write_frame(buf, event_headers(event_type), |b| {
        // Serialising our own payload types into a Vec cannot fail.
        let _ = serde_json::to_writer(b, payload);
    });
}

/// An `:message-type=exception` frame; `member` is the lowerCamel union member name.
pub fn exception_frame(member: &str, payload: &[u8]) -> Bytes {
    let mut buf = Vec::with_capacity(payload.len() + 96 + member.len());
    let headers = [(":exception-type", member), (":content-type", "application/json"), (":message-type", "exception")];
    write_frame(&mut buf, headers, |b| b.extend_from_slice(payload));
    Bytes::from(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::{read_message_from, write_message_to};
    use aws_smithy_types::event_stream::{Header, HeaderValue, Message};

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// The empty-message vector of bedrock-wire.md §4.1.
    #[test]
    fn empty_frame_vector() {
        let mut buf = Vec::new();
        write_message_to(&Message::new(Bytes::new()), &mut buf).unwrap();
        assert_eq!(hex(&buf), "000000100000000005c248eb7d98c8ff");
    }

    /// The messageStart vector of bedrock-wire.md §4.1, byte for byte.
    #[test]
    fn message_start_vector() {
        let f = event_frame("messageStart", br#"{"role":"assistant"}"#);
        assert_eq!(f.len(), 118);
        assert_eq!(
            hex(&f),
            "000000760000005296d5fade0b3a6576656e742d7479706507000c6d65737361676553746172740d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b22726f6c65223a22617373697374616e74227d6fa8c599"
        );
    }

    /// The mid-stream throttle vector: total 178, headers 97, both CRCs.
    #[test]
    fn throttle_exception_vector() {
        let f = exception_frame(
            "throttlingException",
            br#"{"message":"Too many requests, please wait before trying again."}"#,
        );
        assert_eq!(f.len(), 178);
        assert_eq!(&f[0..4], &178u32.to_be_bytes());
        assert_eq!(&f[4..8], &97u32.to_be_bytes());
        assert_eq!(&f[8..12], &0x3590d5d3u32.to_be_bytes());
        assert_eq!(&f[f.len() - 4..], &0xe8ffb26au32.to_be_bytes());
    }

    /// The SDK's own encoder, for comparison.
    fn sdk_frame(headers: [(&str, &str); 3], payload: &[u8]) -> Vec<u8> {
        let mut message = Message::new(Bytes::copy_from_slice(payload));
        for (name, value) in headers {
            message = message.add_header(Header::new(name.to_owned(), HeaderValue::String(value.to_owned().into())));
        }
        let mut buf = Vec::new();
        write_message_to(&message, &mut buf).unwrap();
        buf
    }

    #[test]
    fn frames_match_the_sdk_encoder_byte_for_byte() {
        for (kind, payload) in
            [("contentBlockDelta", &br#"{"contentBlockIndex":0,"delta":{"text":"h\u00e9"}}"#[..]), ("metadata", b"")]
        {
            assert_eq!(event_frame(kind, payload).to_vec(), sdk_frame(event_headers(kind), payload));
        }
        let headers = [
            (":exception-type", "modelStreamErrorException"),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ];
        assert_eq!(exception_frame("modelStreamErrorException", b"{}").to_vec(), sdk_frame(headers, b"{}"));
        let direct = json_event_frame("messageStop", &serde_json::json!({"stopReason": "end_turn"}), 0);
        assert_eq!(direct, event_frame("messageStop", br#"{"stopReason":"end_turn"}"#));
        let mut bytes = &direct[..];
        let decoded = read_message_from(&mut bytes).unwrap();
        assert_eq!(&decoded.payload()[..], br#"{"stopReason":"end_turn"}"#);
    }
}
