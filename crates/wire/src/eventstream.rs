//! AWS event-stream frames (`application/vnd.amazon.eventstream`), written with
//! `aws-smithy-eventstream` so the framing and CRCs are the SDKs' own.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;

pub const CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

fn frame(headers: [(&'static str, String); 3], payload: &[u8]) -> Bytes {
    let mut message = Message::new(Bytes::copy_from_slice(payload));
    for (name, value) in headers {
        message = message.add_header(Header::new(name, HeaderValue::String(value.into())));
    }
    let mut buf = Vec::with_capacity(payload.len() + 128);
    // Writing into a Vec only fails on oversized headers, which we never build.
    match write_message_to(&message, &mut buf) {
        Ok(()) => Bytes::from(buf),
        Err(_) => Bytes::new(),
    }
}

/// An `:message-type=event` frame whose payload is the JSON of the event structure.
pub fn event_frame(event_type: &str, payload: &[u8]) -> Bytes {
    frame(
        [
            (":event-type", event_type.to_owned()),
            (":content-type", "application/json".to_owned()),
            (":message-type", "event".to_owned()),
        ],
        payload,
    )
}

/// An `:message-type=exception` frame; `member` is the lowerCamel union member name.
pub fn exception_frame(member: &str, payload: &[u8]) -> Bytes {
    frame(
        [
            (":exception-type", member.to_owned()),
            (":content-type", "application/json".to_owned()),
            (":message-type", "exception".to_owned()),
        ],
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
