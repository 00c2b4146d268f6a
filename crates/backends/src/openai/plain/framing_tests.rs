use super::*;

fn head(text: &str) -> (Head, usize) {
    match parse_head(text.as_bytes()).unwrap() {
        Parsed::Head(h, n) => (h, n),
        other => panic!("not a final head: {other:?}"),
    }
}

/// The body of `wire` (the bytes after the head) fed to the decoder in pieces of `size`
/// bytes, as reads would deliver them; then the end of the connection if `close`.
fn body(framing: Framing, wire: &[u8], size: usize, close: bool) -> Result<(Vec<u8>, bool), Error> {
    let mut decoder = Decoder::new(framing);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut pieces = wire.chunks(size.max(1));
    loop {
        match decoder.step(&mut buf)? {
            Step::Data(d) => out.extend_from_slice(&d),
            Step::Done => return Ok((out, buf.is_empty())),
            Step::NeedMore => match pieces.next() {
                Some(p) => buf.extend_from_slice(p),
                None if close => {
                    decoder.eof()?;
                    return Ok((out, true));
                }
                None => panic!("decoder wants more than the wire has"),
            },
        }
    }
}

#[test]
fn a_head_with_a_length() {
    let text = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 12\r\n\r\n{\"a\":1}";
    let (h, n) = head(text);
    assert_eq!(h.status, StatusCode::OK);
    assert_eq!(h.framing, Framing::Length(12));
    assert!(h.keep_alive);
    assert_eq!(&text[n..], "{\"a\":1}");
}

#[test]
fn partial_heads_wait_and_oversized_ones_fail() {
    let text = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n";
    for cut in 0..text.len() {
        assert!(matches!(parse_head(&text.as_bytes()[..cut]).unwrap(), Parsed::Partial), "cut at {cut}");
    }
    let mut big = b"HTTP/1.1 200 OK\r\nx: ".to_vec();
    big.resize(MAX_HEAD, b'a');
    assert!(parse_head(&big).is_err());
    assert!(parse_head(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
}

#[test]
fn interim_responses_are_skipped_and_upgrades_refused() {
    let text = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n";
    assert!(matches!(parse_head(text.as_bytes()).unwrap(), Parsed::Interim(25)));
    assert!(parse_head(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: h2c\r\n\r\n").is_err());
}

#[test]
fn framing_and_persistence_follow_rfc_9112() {
    let framing = |t: &str| head(t).0.framing;
    assert_eq!(framing("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n"), Framing::Chunked);
    assert_eq!(framing("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n"), Framing::Chunked);
    assert_eq!(framing("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\n"), Framing::Close);
    assert_eq!(framing("HTTP/1.1 200 OK\r\n\r\n"), Framing::Close);
    assert_eq!(framing("HTTP/1.1 204 No Content\r\n\r\n"), Framing::Length(0));
    assert_eq!(framing("HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 3\r\n\r\n"), Framing::Length(3));
    assert!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\n").is_err());
    assert!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n").is_err());

    let keep = |t: &str| head(t).0.keep_alive;
    assert!(keep("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"));
    assert!(!keep("HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"));
    assert!(!keep("HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\ncontent-length: 0\r\n\r\n"));
    assert!(!keep("HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n"));
    assert!(keep("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n"));
    assert!(!keep("HTTP/1.1 200 OK\r\n\r\n"), "a body ended by the close ends the connection");
}

#[test]
fn length_bodies_in_every_split() {
    let wire = b"0123456789";
    for size in 1..=wire.len() {
        assert_eq!(body(Framing::Length(10), wire, size, false).unwrap(), (wire.to_vec(), true));
    }
    // Bytes past the length stay in the buffer (the connection is then not reused).
    assert_eq!(body(Framing::Length(4), wire, 10, false).unwrap(), (b"0123".to_vec(), false));
    // Closed early: an error, not a short answer.
    assert!(body(Framing::Length(20), wire, 3, true).is_err());
}

#[test]
fn chunked_bodies_in_every_split() {
    let wire = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\n";
    for size in 1..=wire.len() {
        let got = body(Framing::Chunked, wire, size, false).map_err(|e| format!("{size}: {e}")).unwrap();
        assert_eq!(got, (b"hello, world".to_vec(), true), "{size}");
    }
    // httparse wants CRLF after a chunk size; after the data a bare LF is taken.
    let bare_lf = b"5\r\nhello\n0\r\n\n";
    assert_eq!(body(Framing::Chunked, bare_lf, 3, false).unwrap().0, b"hello");
    assert!(body(Framing::Chunked, b"zz\r\n", 4, false).is_err());
    assert!(body(Framing::Chunked, b"2\r\nabc\r\n0\r\n\r\n", 16, false).is_err(), "data longer than its size");
    assert!(body(Framing::Chunked, b"5\r\nhel", 2, true).is_err(), "closed inside a chunk");
}

#[test]
fn close_delimited_bodies_end_with_the_connection() {
    let wire = b"data: 1\n\ndata: 2\n\n";
    for size in [1, 5, wire.len()] {
        assert_eq!(body(Framing::Close, wire, size, true).unwrap().0, wire.to_vec());
    }
}
