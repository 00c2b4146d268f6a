use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::{json, Value};
use spillway_wire::converse::{StopReason, TokenUsage};
use spillway_wire::invoke::EmbedRequest;
use spillway_wire::parse::json as parse;
use spillway_wire::stream::{Collector, Finish};

use super::convert::{chat_body, chat_body_bytes, typed_body};
use super::response::stop_reason;
use super::sse::Assembler;
use super::*;

// === The fake server ===

/// One request the fake server received: the Authorization header and the JSON body.
type Received = (Option<String>, Value);

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Received>>>);

impl Seen {
    fn last(&self) -> Received {
        self.0.lock().unwrap().last().cloned().unwrap()
    }
}

async fn start() -> (String, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/embeddings", post(embeddings))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1"), seen)
}

fn sse(chunks: &[Value], done: bool) -> Response {
    let mut body: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    if done {
        body.push_str("data: [DONE]\n\n");
    }
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

fn delta(d: Value) -> Value {
    json!({"choices": [{"index": 0, "delta": d, "finish_reason": null}]})
}

fn end(reason: &str) -> Value {
    json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]})
}

fn usage_chunk() -> Value {
    json!({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}})
}

async fn chat(State(seen): State<Seen>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    seen.0.lock().unwrap().push((auth, body.clone()));
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let usage = json!({"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14});
    match model.as_str() {
        "throttle" => return (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response(),
        "boom" => return (StatusCode::INTERNAL_SERVER_ERROR, "internal oops").into_response(),
        "bad" => {
            let err = json!({"error": {"message": "max_tokens is too large", "type": "invalid_request_error"}});
            return (StatusCode::BAD_REQUEST, Json(err)).into_response();
        }
        "sleepy" => tokio::time::sleep(std::time::Duration::from_secs(3)).await,
        _ => {}
    }
    if body["stream"] != json!(true) {
        let (message, finish, stop) = match model.as_str() {
            "tools" => (
                json!({"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
                ]}),
                "tool_calls",
                Value::Null,
            ),
            "stopseq" => (json!({"role": "assistant", "content": "Hello"}), "stop", json!("END")),
            _ => (json!({"role": "assistant", "content": "Hello there."}), "stop", Value::Null),
        };
        let choice = json!({"index": 0, "message": message, "finish_reason": finish, "stop_reason": stop});
        return Json(json!({"id": "x", "object": "chat.completion", "choices": [choice], "usage": usage}))
            .into_response();
    }
    let text = |t: &str| delta(json!({"content": t}));
    match model.as_str() {
        "tools" => sse(
            &[
                delta(json!({"role": "assistant", "content": ""})),
                delta(
                    json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
                ),
                delta(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"ci"}}]})),
                delta(json!({"tool_calls": [{"index": 0, "function": {"arguments": "ty\": \"Paris\"}"}}]})),
                delta(
                    json!({"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]}),
                ),
                end("tool_calls"),
                usage_chunk(),
            ],
            true,
        ),
        "nousage" => sse(&[text("Hello"), text(" there."), end("stop")], true),
        "length" => sse(&[text("Hello"), end("length"), usage_chunk()], true),
        "truncated" => sse(&[text("Hello")], false),
        "broken" => {
            let first = format!("data: {}\n\n", text("Hello"));
            let parts: Vec<Result<String, std::io::Error>> = vec![Ok(first), Err(std::io::Error::other("cut"))];
            let stream = futures::stream::iter(parts).then(|p| async move {
                // Let the first chunk reach the client before the connection is cut.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                p
            });
            ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(stream)).into_response()
        }
        "drip" => {
            let mut parts: Vec<String> = (0..5).map(|_| format!("data: {}\n\n", text("tick"))).collect();
            parts.push(format!("data: {}\n\n", end("stop")));
            parts.push("data: [DONE]\n\n".to_owned());
            let stream = futures::stream::iter(parts).then(|p| async move {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                Ok::<_, std::io::Error>(p)
            });
            ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(stream)).into_response()
        }
        _ => sse(
            &[
                delta(json!({"role": "assistant"})),
                text("Hel"),
                text("lo"),
                text(" there."),
                end("stop"),
                usage_chunk(),
            ],
            true,
        ),
    }
}

async fn embeddings(State(seen): State<Seen>, Json(body): Json<Value>) -> Response {
    seen.0.lock().unwrap().push((None, body.clone()));
    let n = body["input"].as_array().map_or(0, Vec::len);
    // Out of order on purpose: clients must sort by index.
    let data: Vec<Value> = (0..n)
        .rev()
        .map(|i| {
            let k = (i + 1) as f32;
            json!({"object": "embedding", "index": i, "embedding": [3.0 * k, 4.0 * k]})
        })
        .collect();
    let mut out = json!({"object": "list", "data": data});
    if body["model"] != "nousage" {
        out["usage"] = json!({"prompt_tokens": 7, "total_tokens": 7});
    }
    Json(out).into_response()
}

// === Helpers ===

fn config(base_url: &str) -> OpenAiConfig {
    OpenAiConfig {
        base_url: base_url.to_owned(),
        // Cargo sets it for every test run, so no test has to change the environment.
        api_key_env: Some("CARGO_MANIFEST_DIR".into()),
        timeout_ms: 5_000,
        max_concurrency: 4,
        tools: true,
    }
}

fn request(body: &str) -> ConverseRequest {
    parse(body.as_bytes()).unwrap()
}

const HELLO: &str = r#"{"messages":[{"role":"user","content":[{"text":"hello there"}]}]}"#;

const TOOLS: &str = r#"{
    "system": [{"text": "Be brief."}, {"text": "Use tools."}],
    "messages": [
        {"role": "user", "content": [{"text": "weather in Paris?"}]},
        {"role": "assistant", "content": [{"text": "Checking."}, {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris"}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"json": {"temp": 21}}]}}, {"text": "and tomorrow?"}]}
    ],
    "inferenceConfig": {"temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]},
    "toolConfig": {
        "tools": [{"toolSpec": {"name": "get_weather", "description": "Weather by city", "inputSchema": {"json": {"type": "object"}}}}],
        "toolChoice": {"tool": {"name": "get_weather"}}
    },
    "additionalModelRequestFields": {"top_k": 40, "stream": true}
}"#;

async fn run(
    b: &OpenAiBackend,
    model: &str,
    req: &ConverseRequest,
    stream: bool,
) -> Vec<Result<ModelEvent, BackendError>> {
    let call = ChatCall { model, request: req, max_tokens: 256, stream };
    b.chat(call).await.unwrap().collect().await
}

fn finish(events: &[Result<ModelEvent, BackendError>]) -> Finish {
    match events.last() {
        Some(Ok(ModelEvent::Finish(f))) => f.clone(),
        other => panic!("no finish: {other:?}"),
    }
}

fn collect(events: Vec<Result<ModelEvent, BackendError>>) -> Collector {
    let mut c = Collector::default();
    for e in events {
        c.push(e.unwrap());
    }
    c
}

// === Pure conversions ===

#[test]
fn translates_a_tool_conversation() {
    let body = chat_body("m", &request(TOOLS), 100, false, true).unwrap();
    assert_eq!(body["model"], "m");
    assert_eq!(body["max_tokens"], 100);
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(body["top_p"], 0.9);
    assert_eq!(body["stop"], json!(["END"]));
    assert_eq!(body["top_k"], 40);
    // A passthrough field cannot switch the response framing.
    assert!(body.get("stream").is_none());
    let msgs = body["messages"].as_array().unwrap();
    assert_eq!(msgs[0], json!({"role": "system", "content": "Be brief.\n\nUse tools."}));
    assert_eq!(msgs[1], json!({"role": "user", "content": "weather in Paris?"}));
    assert_eq!(msgs[2]["content"], "Checking.");
    assert_eq!(
        msgs[2]["tool_calls"],
        json!([{"id": "t1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}])
    );
    assert_eq!(msgs[3], json!({"role": "tool", "tool_call_id": "t1", "content": "{\"temp\":21}"}));
    assert_eq!(msgs[4], json!({"role": "user", "content": "and tomorrow?"}));
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather by city", "parameters": {"type": "object"}}}])
    );
    assert_eq!(body["tool_choice"], json!({"type": "function", "function": {"name": "get_weather"}}));
}

/// The body sent is written from typed members; it must be the bytes the `Value` it
/// replaced wrote (members in sorted order), whatever the request holds.
#[test]
fn typed_body_bytes_are_the_value_bytes() {
    let without_passthrough = TOOLS.replace(
        r#""additionalModelRequestFields": {"top_k": 40, "stream": true}"#,
        r#""additionalModelRequestFields": {"stream": true}"#,
    );
    let images = r#"{"system":[{"text":"s"}],"messages":[{"role":"user","content":[{"text":"a\"b"},{"image":{"format":"png","source":{"bytes":"iVBO"}}}]},{"role":"assistant","content":[{"text":"x"}]},{"role":"user","content":[{"text":"one"},{"text":"two"}]}],"inferenceConfig":{"temperature":0.7,"maxTokens":5}}"#;
    for body in [HELLO, TOOLS, without_passthrough.as_str(), images] {
        let r = request(body);
        for stream in [false, true] {
            let bytes = chat_body_bytes("m", &r, 10, stream, true).unwrap();
            let value = serde_json::to_vec(&chat_body("m", &r, 10, stream, true).unwrap()).unwrap();
            assert_eq!(String::from_utf8(bytes).unwrap(), String::from_utf8(value).unwrap());
        }
    }
    assert_eq!(
        chat_body_bytes("m", &request(HELLO), 10, false, true).unwrap(),
        br#"{"max_tokens":10,"messages":[{"content":"hello there","role":"user"}],"model":"m"}"#
    );
}

/// The hand-written body against serde_json's bytes for the same typed body, with texts
/// an escaper can get wrong (controls, quotes, multi-byte, long clean runs).
#[test]
fn written_body_is_what_serde_json_writes() {
    let texts = ["", "tab\there \"q\" \\ back", "naïve ✓ 日本 \u{1}", &"x".repeat(100), &"long \n".repeat(40)];
    for text in texts {
        let text = serde_json::to_string(text).unwrap();
        let body = format!(
            r#"{{"system":[{{"text":{text}}}],"messages":[{{"role":"user","content":[{{"text":{text}}}]}},{{"role":"assistant","content":[{{"text":"ok"}}]}},{{"role":"user","content":[{{"text":{text}}}]}}],"inferenceConfig":{{"temperature":1.0,"topP":0.25,"maxTokens":7,"stopSequences":[{text}]}}}}"#
        );
        let r = request(&body);
        for stream in [false, true] {
            let model = format!("m{}", text.trim_matches('"'));
            let typed = typed_body(&model, &r, u32::MAX, stream, true).unwrap();
            let mut written = Vec::new();
            typed.write_json(&mut written).unwrap();
            assert_eq!(String::from_utf8(written).unwrap(), serde_json::to_string(&typed).unwrap());
        }
    }
}

#[test]
fn streaming_body_asks_for_usage() {
    let body = chat_body("m", &request(HELLO), 10, true, true).unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["messages"], json!([{"role": "user", "content": "hello there"}]));
}

#[test]
fn tool_choice_auto_and_any() {
    let with = |choice: &str| {
        let r = format!(
            r#"{{"messages":[{{"role":"user","content":[{{"text":"x"}}]}}],
                "toolConfig":{{"tools":[{{"toolSpec":{{"name":"f","inputSchema":{{"json":{{}}}}}}}}],"toolChoice":{{"{choice}":{{}}}}}}}}"#
        );
        chat_body("m", &request(&r), 10, false, true).unwrap()["tool_choice"].clone()
    };
    assert_eq!(with("auto"), "auto");
    assert_eq!(with("any"), "required");
}

#[test]
fn images_become_data_urls() {
    let r = request(
        r#"{"messages":[{"role":"user","content":[{"text":"what is it?"},{"image":{"format":"png","source":{"bytes":"iVBO"}}}]}]}"#,
    );
    let body = chat_body("m", &r, 10, false, true).unwrap();
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            {"type": "text", "text": "what is it?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}}
        ])
    );
}

#[test]
fn untranslatable_blocks_are_refused_by_position() {
    let r = request(r#"{"messages":[{"role":"user","content":[{"text":"x"},{"video":{"format":"mp4"}}]}]}"#);
    let e = chat_body("m", &r, 10, false, true).unwrap_err();
    assert_eq!(
        e,
        BackendError::Unsupported("messages[0].content[1]: content type 'video' is not supported by this model".into())
    );
    let r = request(
        r#"{"messages":[{"role":"user","content":[{"document":{"format":"pdf","name":"d","source":{"bytes":"JVBE"}}}]}]}"#,
    );
    let e = chat_body("m", &r, 10, false, true).unwrap_err().to_string();
    assert!(e.starts_with("messages[0].content[0]: document"), "{e}");
}

#[test]
fn tools_refused_when_the_server_has_none() {
    let e = chat_body("m", &request(TOOLS), 10, false, false).unwrap_err();
    assert_eq!(e, BackendError::Unsupported("This model doesn't support tool use.".into()));
}

#[test]
fn finish_reasons_map_to_stop_reasons() {
    assert_eq!(stop_reason("stop", None, false), (StopReason::EndTurn, None));
    assert_eq!(stop_reason("stop", Some(&json!(128001)), false), (StopReason::EndTurn, None));
    assert_eq!(stop_reason("stop", Some(&json!("END")), false), (StopReason::StopSequence, Some("END".into())));
    assert_eq!(stop_reason("length", None, false), (StopReason::MaxTokens, None));
    assert_eq!(stop_reason("tool_calls", None, true), (StopReason::ToolUse, None));
    assert_eq!(stop_reason("function_call", None, true), (StopReason::ToolUse, None));
    assert_eq!(stop_reason("content_filter", None, false), (StopReason::ContentFiltered, None));
    // Some servers say "stop" after tool calls; the client still has to run the tools.
    assert_eq!(stop_reason("stop", None, true), (StopReason::ToolUse, None));
}

#[test]
fn error_messages_from_openai_and_vllm_bodies() {
    assert_eq!(response::error_message(r#"{"error":{"message":"nope"}}"#), "nope");
    assert_eq!(response::error_message(r#"{"object":"error","message":"vllm says no"}"#), "vllm says no");
    assert_eq!(response::error_message("plain text"), "plain text");
}

#[test]
fn assembler_joins_tool_fragments_and_waits_for_the_name() {
    let mut a = Assembler::new(5);
    let mut events = Vec::new();
    // The id and arguments arrive before the name.
    events.extend(
        a.push(r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"arguments":"{\"a\""}}]}}]}"#)
            .unwrap(),
    );
    assert!(events.is_empty());
    events.extend(
        a.push(r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"f","arguments":":1}"}}]}}]}"#)
            .unwrap(),
    );
    events.extend(a.push(r#"{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}"#).unwrap());
    assert_eq!(
        events,
        vec![
            ModelEvent::ToolUseStart { id: "c1".into(), name: "f".into() },
            // What waited for the name goes out in one piece with the fragment that named it.
            ModelEvent::ToolUseInput("{\"a\":1}".into()),
        ]
    );
    let ModelEvent::Finish(f) = a.finish().unwrap() else { panic!("not a finish") };
    assert_eq!(f.stop_reason, StopReason::ToolUse);
    // No usage from the server: the estimate stands in.
    assert_eq!(f.usage.input_tokens, 5);
    assert!(f.usage.output_tokens > 0);
}

#[test]
fn assembler_reports_errors_and_missing_finish() {
    let mut a = Assembler::new(0);
    assert!(matches!(a.push(r#"{"error":{"message":"oom"}}"#), Err(BackendError::Stream(m)) if m == "oom"));
    assert!(matches!(a.push("not json"), Err(BackendError::Stream(_))));
    a.push(r#"{"choices":[{"delta":{"content":"hi"}}]}"#).unwrap();
    assert!(matches!(a.finish(), Err(BackendError::Stream(_))));
}

// === Against the fake server ===

#[tokio::test]
async fn non_streaming_text_usage_and_request() {
    let (base, seen) = start().await;
    let b = OpenAiBackend::new(config(&base)).unwrap();
    let events = run(&b, "plain", &request(TOOLS), false).await;
    assert_eq!(events[0], Ok(ModelEvent::InputTokens(11)));
    assert_eq!(events[1], Ok(ModelEvent::Text("Hello there.".into())));
    let f = finish(&events);
    assert_eq!(f.stop_reason, StopReason::EndTurn);
    assert_eq!(f.usage, TokenUsage::new(11, 3));
    let (auth, body) = seen.last();
    assert_eq!(auth.as_deref(), Some(concat!("Bearer ", env!("CARGO_MANIFEST_DIR"))));
    assert_eq!(body["max_tokens"], 256);
    assert_eq!(body["stop"], json!(["END"]));
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][3]["role"], "tool");
    assert_eq!(body["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(body["tool_choice"]["function"]["name"], "get_weather");
    assert!(body.get("stream").is_none());
}

#[tokio::test]
async fn non_streaming_tool_call_and_stop_sequence() {
    let (base, _) = start().await;
    let b = OpenAiBackend::new(config(&base)).unwrap();
    let c = collect(run(&b, "tools", &request(HELLO), false).await);
    let v = serde_json::to_value(c.content()).unwrap();
    assert_eq!(v, json!([{"toolUse": {"toolUseId": "call_a", "name": "get_weather", "input": {"city": "Paris"}}}]));
    assert_eq!(c.finish().unwrap().stop_reason, StopReason::ToolUse);

    let f = finish(&run(&b, "stopseq", &request(HELLO), false).await);
    assert_eq!(f.stop_reason, StopReason::StopSequence);
    assert_eq!(f.stop_sequence.as_deref(), Some("END"));
}

#[tokio::test]
async fn streaming_text_and_usage() {
    let (base, seen) = start().await;
    let b = OpenAiBackend::new(config(&base)).unwrap();
    let events = run(&b, "plain", &request(HELLO), true).await;
    let texts: Vec<_> =
        events.iter().filter_map(|e| if let Ok(ModelEvent::Text(t)) = e { Some(t.as_str()) } else { None }).collect();
    assert_eq!(texts, ["Hel", "lo", " there."]);
    let f = finish(&events);
    assert_eq!(f.stop_reason, StopReason::EndTurn);
    assert_eq!(f.usage, TokenUsage::new(11, 3));
    let (_, body) = seen.last();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);

    let f = finish(&run(&b, "length", &request(HELLO), true).await);
    assert_eq!(f.stop_reason, StopReason::MaxTokens);
}

#[tokio::test]
async fn streaming_tool_calls_are_assembled() {
    let (base, _) = start().await;
    let b = OpenAiBackend::new(config(&base)).unwrap();
    let c = collect(run(&b, "tools", &request(HELLO), true).await);
    let v = serde_json::to_value(c.content()).unwrap();
    assert_eq!(
        v,
        json!([
            {"toolUse": {"toolUseId": "call_a", "name": "get_weather", "input": {"city": "Paris"}}},
            {"toolUse": {"toolUseId": "call_b", "name": "get_time", "input": {}}}
        ])
    );
    assert_eq!(c.finish().unwrap().stop_reason, StopReason::ToolUse);
    assert_eq!(c.usage(), TokenUsage::new(11, 3));
}

#[tokio::test]
async fn streaming_without_usage_is_estimated() {
    let (base, _) = start().await;
    let b = OpenAiBackend::new(config(&base)).unwrap();
    let req = request(HELLO);
    let f = finish(&run(&b, "nousage", &req, true).await);
    assert_eq!(f.usage, TokenUsage::new(count_request_tokens(&req), count_tokens("Hello there.")));
}

#[tokio::test]
async fn streams_that_stop_early_fail() {
    let (base, _) = start().await;
    let b = OpenAiBackend::new(config(&base)).unwrap();
    for model in ["truncated", "broken"] {
        let events = run(&b, model, &request(HELLO), true).await;
        assert!(matches!(events.last(), Some(Err(BackendError::Stream(_)))), "{model}: {events:?}");
        assert_eq!(events[0], Ok(ModelEvent::Text("Hello".into())), "{model}");
    }
}

#[tokio::test]
async fn http_errors_map_to_backend_errors() {
    let (base, _) = start().await;
    let b = OpenAiBackend::new(config(&base)).unwrap();
    let req = request(HELLO);
    for stream in [false, true] {
        let call = |model| ChatCall { model, request: &req, max_tokens: 10, stream };
        assert_eq!(b.chat(call("throttle")).await.err(), Some(BackendError::Throttled));
        let e = b.chat(call("boom")).await.err();
        assert!(
            matches!(&e, Some(BackendError::Unavailable(m)) if m.contains("500") && m.contains("internal oops")),
            "{e:?}"
        );
        let e = b.chat(call("bad")).await.err();
        assert_eq!(e, Some(BackendError::Rejected { status: 400, message: "max_tokens is too large".into() }));
    }
    // A failed request gives its slot back.
    assert_eq!(b.load(), Load { in_flight: 0, limit: 4 });
}

#[tokio::test]
async fn timeouts_and_unreachable_servers() {
    let (base, _) = start().await;
    let b = OpenAiBackend::new(OpenAiConfig { timeout_ms: 200, ..config(&base) }).unwrap();
    let req = request(HELLO);
    for stream in [false, true] {
        let call = ChatCall { model: "sleepy", request: &req, max_tokens: 10, stream };
        assert_eq!(b.chat(call).await.err(), Some(BackendError::Timeout), "stream: {stream}");
    }
    let call = ChatCall { model: "sleepy", request: &req, max_tokens: 10, stream: false };

    // Nothing listens on a port just released.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let b = OpenAiBackend::new(config(&format!("http://{addr}/v1"))).unwrap();
    assert!(matches!(b.chat(call).await, Err(BackendError::Unavailable(_))));
}

#[tokio::test]
async fn a_stream_may_outlast_the_timeout_while_tokens_flow() {
    let (base, _) = start().await;
    let b = OpenAiBackend::new(OpenAiConfig { timeout_ms: 300, ..config(&base) }).unwrap();
    let events = run(&b, "drip", &request(HELLO), true).await;
    assert_eq!(events.iter().filter(|e| matches!(e, Ok(ModelEvent::Text(_)))).count(), 5);
    assert_eq!(finish(&events).stop_reason, StopReason::EndTurn);
}

#[tokio::test]
async fn concurrency_limit_throttles_for_the_life_of_the_stream() {
    let (base, _) = start().await;
    let b = OpenAiBackend::new(OpenAiConfig { max_concurrency: 1, ..config(&base) }).unwrap();
    let req = request(HELLO);
    for stream in [false, true] {
        let call = ChatCall { model: "plain", request: &req, max_tokens: 10, stream };
        let held = b.chat(call).await.unwrap();
        assert_eq!(b.load(), Load { in_flight: 1, limit: 1 });
        assert_eq!(b.chat(call).await.err(), Some(BackendError::Busy));
        drop(held);
        assert_eq!(b.load(), Load { in_flight: 0, limit: 1 });
        assert!(b.chat(call).await.is_ok());
    }
}

#[tokio::test]
async fn embeddings_sorted_normalized_and_counted() {
    let (base, seen) = start().await;
    let b = OpenAiBackend::new(config(&base)).unwrap();
    let mut request =
        EmbedRequest { texts: vec!["a".into(), "b c".into()], dimensions: Some(2), ..EmbedRequest::default() };
    let call = EmbedCall { model: "emb", request: &request, default_dimensions: 2 };
    let out = b.embed(call).await.unwrap();
    assert_eq!(out.embeddings, vec![vec![3.0, 4.0], vec![6.0, 8.0]]);
    assert_eq!(out.input_tokens, 7);
    let (_, body) = seen.last();
    assert_eq!(body, json!({"model": "emb", "input": ["a", "b c"], "dimensions": 2}));

    request.normalize = true;
    request.dimensions = None;
    let call = EmbedCall { model: "nousage", request: &request, default_dimensions: 2 };
    let out = b.embed(call).await.unwrap();
    for v in &out.embeddings {
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6, "{v:?}");
    }
    assert_eq!(out.input_tokens, count_tokens("a") + count_tokens("b c"));
    assert!(seen.last().1.get("dimensions").is_none());
}

#[tokio::test]
async fn count_tokens_is_the_local_estimate() {
    let b = OpenAiBackend::new(config("http://127.0.0.1:9/v1")).unwrap();
    let req = request(HELLO);
    assert_eq!(b.count_tokens("m", &req).await, Ok(count_request_tokens(&req)));
}

#[test]
fn a_missing_key_variable_is_a_config_error() {
    let cfg = OpenAiConfig { api_key_env: Some("SPILLWAY_TEST_NO_SUCH_VARIABLE".into()), ..config("http://x/v1") };
    assert!(matches!(OpenAiBackend::new(cfg), Err(BackendError::Config(_))));
}

#[test]
fn debug_output_hides_the_key() {
    let b = OpenAiBackend::new(config("http://x/v1")).unwrap();
    let shown = format!("{b:?}");
    assert!(shown.contains("<redacted>"));
    assert!(!shown.contains(env!("CARGO_MANIFEST_DIR")));
}
