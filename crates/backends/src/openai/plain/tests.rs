//! The plain client against a raw TCP server that answers what each test scripts, byte for
//! byte, and counts the connections it accepted.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::BodyExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use super::*;

/// What the server answers to a request: pieces written one after another (with a pause
/// between), and whether it closes the connection afterwards.
type Script = fn(usize) -> (Vec<&'static [u8]>, bool);

struct Server {
    uri: Uri,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

async fn server(script: Script) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (acc, reqs) = (Arc::clone(&accepted), Arc::clone(&requests));
    tokio::spawn(async move {
        loop {
            let (mut tcp, _) = listener.accept().await.unwrap();
            acc.fetch_add(1, Ordering::SeqCst);
            let reqs = Arc::clone(&reqs);
            tokio::spawn(async move {
                loop {
                    let Some(request) = read_request(&mut tcp).await else { return };
                    let n = {
                        let mut all = reqs.lock().unwrap();
                        all.push(request);
                        all.len()
                    };
                    let (pieces, close) = script(n);
                    for piece in pieces {
                        tcp.write_all(piece).await.unwrap();
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    if close {
                        return;
                    }
                }
            });
        }
    });
    let uri = format!("http://{addr}/v1/chat/completions").parse().unwrap();
    Server { uri, accepted, requests }
}

/// One request: its head and its content-length's worth of body; `None` at the end.
async fn read_request(tcp: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    loop {
        let mut fields = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut fields);
        if let Ok(httparse::Status::Complete(len)) = req.parse(&buf) {
            let length: usize = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .map_or(0, |h| std::str::from_utf8(h.value).unwrap().parse().unwrap());
            if buf.len() >= len + length {
                return Some(buf);
            }
        }
        let mut chunk = [0u8; 1024];
        match tcp.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn pool(uri: &Uri) -> Arc<Pool> {
    Pool::for_uri(uri, 8, Duration::from_secs(5)).unwrap()
}

async fn call(pool: &Arc<Pool>, uri: &Uri) -> Result<(u16, Vec<u8>), io::Error> {
    let response = pool.post(uri, None, b"{\"x\":1}").await.map_err(|f| f.error)?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes().to_vec();
    Ok((status, body))
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\nok";

#[tokio::test]
async fn the_request_is_one_well_formed_post() {
    let s = server(|_| (vec![OK], false)).await;
    let pool = pool(&s.uri);
    let auth = HeaderValue::from_static("Bearer sk-test");
    let response = pool.post(&s.uri, Some(&auth), b"{\"model\":\"m\"}").await.unwrap();
    assert_eq!(response.status(), 200);
    let request = String::from_utf8(s.requests.lock().unwrap()[0].clone()).unwrap();
    let host = s.uri.authority().unwrap().as_str();
    assert_eq!(
        request,
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n\
             authorization: Bearer sk-test\r\ncontent-length: 13\r\n\r\n{{\"model\":\"m\"}}"
        )
    );
}

#[tokio::test]
async fn a_kept_alive_connection_is_reused() {
    let s = server(|_| (vec![OK], false)).await;
    let pool = pool(&s.uri);
    for _ in 0..3 {
        assert_eq!(call(&pool, &s.uri).await.unwrap(), (200, b"ok".to_vec()));
    }
    assert_eq!(s.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_connection_the_server_closed_is_replaced() {
    // Keep-alive by the head, yet closed after every answer, as a server whose idle
    // timeout ran out would: every call still succeeds, each on a new connection.
    let s = server(|_| (vec![OK], true)).await;
    let pool = pool(&s.uri);
    for _ in 0..3 {
        assert_eq!(call(&pool, &s.uri).await.unwrap(), (200, b"ok".to_vec()));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(s.accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn connection_close_is_honoured() {
    const CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok";
    let s = server(|_| (vec![CLOSE], true)).await;
    let pool = pool(&s.uri);
    for _ in 0..2 {
        assert_eq!(call(&pool, &s.uri).await.unwrap(), (200, b"ok".to_vec()));
    }
    assert_eq!(s.accepted.load(Ordering::SeqCst), 2);
    assert!(pool.idle.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_chunked_stream_arrives_piece_by_piece_and_the_connection_is_reused() {
    let s = server(|_| {
        let pieces: Vec<&'static [u8]> = vec![
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
            b"f\r\ndata: {\"a\":1}\n\n\r\n",
            b"f\r\ndata: {\"b\":2}",
            b"\n\n\r\n",
            b"0\r\n\r\n",
        ];
        (pieces, false)
    })
    .await;
    let pool = pool(&s.uri);
    let response = pool.post(&s.uri, None, b"{}").await.unwrap();
    let mut body = response.into_body();
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        frames.push(frame.unwrap().into_data().unwrap());
    }
    let text: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
    assert_eq!(text, b"data: {\"a\":1}\n\ndata: {\"b\":2}\n\n");
    assert!(frames.len() >= 3, "the data came as it arrived: {frames:?}");
    assert_eq!(pool.idle.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_answer_cut_short_is_an_error() {
    const SHORT: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc";
    let s = server(|_| (vec![SHORT], true)).await;
    let error = call(&pool(&s.uri), &s.uri).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    let s = server(|_| (vec![b"HTTP/1.1 200"], true)).await;
    let failure = pool(&s.uri).post(&s.uri, None, b"{}").await.unwrap_err();
    assert!(!failure.connecting);
    assert!(failure.error.to_string().contains("before answering"), "{}", failure.error);
}

#[tokio::test]
async fn a_body_ended_by_the_close_and_an_unreachable_server() {
    let s = server(|_| (vec![b"HTTP/1.1 200 OK\r\n\r\ndata: 1\n\n", b"data: 2\n\n"], true)).await;
    assert_eq!(call(&pool(&s.uri), &s.uri).await.unwrap(), (200, b"data: 1\n\ndata: 2\n\n".to_vec()));

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let uri: Uri = format!("http://{}/v1", closed.local_addr().unwrap()).parse().unwrap();
    drop(closed);
    let failure = pool(&uri).post(&uri, None, b"{}").await.unwrap_err();
    assert!(failure.connecting);
}

#[test]
fn only_http_uris_get_a_pool_and_the_port_defaults_to_80() {
    let https: Uri = "https://api.openai.com/v1/chat/completions".parse().unwrap();
    assert!(Pool::for_uri(&https, 1, Duration::from_secs(1)).is_none());
    let http: Uri = "http://gpu-box/v1/chat/completions".parse().unwrap();
    let pool = Pool::for_uri(&http, 1, Duration::from_secs(1)).unwrap();
    assert_eq!((pool.address.as_str(), pool.host.as_str()), ("gpu-box:80", "gpu-box"));
}

#[tokio::test]
async fn a_body_dropped_at_its_last_event_still_frees_its_connection() {
    let s = server(|_| {
        let answer: &'static [u8] = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
            e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n";
        (vec![answer], false)
    })
    .await;
    let pool = pool(&s.uri);
    for _ in 0..3 {
        let mut body = pool.post(&s.uri, None, b"{}").await.unwrap().into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&first[..], b"data: [DONE]\n\n");
        // Dropped without reading the last chunk, as the SSE reader does after [DONE].
        drop(body);
    }
    assert_eq!(s.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_large_answer_is_read_whole() {
    // Larger than any one read: the buffer grows while reads come back full.
    static BIG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let big = BIG.get_or_init(|| {
        let body: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let mut wire = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
        wire.extend_from_slice(&body);
        wire
    });
    let s = server(|_| (vec![BIG.get().unwrap().as_slice()], false)).await;
    let (status, body) = call(&pool(&s.uri), &s.uri).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body.len(), 300_000);
    assert_eq!(&big[big.len() - body.len()..], &body[..]);
}

#[test]
fn reads_double_while_full_and_fall_back_when_not() {
    assert_eq!(next_read(READ_SIZE, READ_SIZE), 2 * READ_SIZE);
    assert_eq!(next_read(MAX_READ, MAX_READ), MAX_READ);
    assert_eq!(next_read(8 * READ_SIZE, 10), READ_SIZE);
}

#[tokio::test]
async fn a_request_the_server_read_is_never_sent_twice() {
    // The second request is read and the connection closed without an answer: that
    // call fails (its caller may fail over), and the server saw it once.
    let s = server(|n| if n == 1 { (vec![OK], false) } else { (vec![], true) }).await;
    let pool = pool(&s.uri);
    assert_eq!(call(&pool, &s.uri).await.unwrap(), (200, b"ok".to_vec()));
    let error = call(&pool, &s.uri).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(s.requests.lock().unwrap().len(), 2);
}
