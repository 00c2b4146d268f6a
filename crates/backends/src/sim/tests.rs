use futures::StreamExt;
use spillway_catalog::SimFailure;
use spillway_wire::parse::json;

use super::*;

fn request(body: &str) -> ConverseRequest {
    json(body.as_bytes()).unwrap()
}

fn fast() -> SimConfig {
    SimConfig { ttft_ms: 0, tokens_per_second: 0, ..SimConfig::default() }
}

async fn run(b: &SimBackend, req: &ConverseRequest, max_tokens: u32) -> Vec<Result<ModelEvent, BackendError>> {
    let call = ChatCall { model: "m", request: req, max_tokens, stream: true };
    b.chat(call).await.unwrap().collect().await
}

fn finish(events: &[Result<ModelEvent, BackendError>]) -> Finish {
    match events.last() {
        Some(Ok(ModelEvent::Finish(f))) => f.clone(),
        other => panic!("no finish: {other:?}"),
    }
}

const HELLO: &str = r#"{"messages":[{"role":"user","content":[{"text":"hello there"}]}]}"#;

#[tokio::test]
async fn deterministic_and_honest_usage() {
    let b = SimBackend::new(fast());
    let req = request(HELLO);
    let a = run(&b, &req, 1000).await;
    assert_eq!(a, run(&b, &req, 1000).await);
    let text: String = a
        .iter()
        .filter_map(|e| match e {
            Ok(ModelEvent::Text(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    let f = finish(&a);
    assert_eq!(f.stop_reason, StopReason::EndTurn);
    assert_eq!(f.usage.output_tokens, count_tokens(&text));
    assert_eq!(f.usage.input_tokens, count_request_tokens(&req));
}

#[tokio::test]
async fn max_tokens_cuts_the_answer() {
    let b = SimBackend::new(fast());
    let events = run(&b, &request(HELLO), 3).await;
    let f = finish(&events);
    assert_eq!(f.stop_reason, StopReason::MaxTokens);
    assert_eq!(f.usage.output_tokens, 3);
}

#[tokio::test]
async fn stop_sequence_ends_generation() {
    let b = SimBackend::new(fast());
    let events = run(&b, &request(HELLO), 1000).await;
    let text: String =
        events.iter().filter_map(|e| if let Ok(ModelEvent::Text(t)) = e { Some(t.clone()) } else { None }).collect();
    // Use the third word of the natural answer as a stop sequence.
    let word = text.split(' ').nth(2).unwrap().trim_matches('.').to_owned();
    let body = format!(
        r#"{{"messages":[{{"role":"user","content":[{{"text":"hello there"}}]}}],"inferenceConfig":{{"stopSequences":["{word}"]}}}}"#
    );
    let req = request(&body);
    let events = run(&b, &req, 1000).await;
    let f = finish(&events);
    assert_eq!(f.stop_reason, StopReason::StopSequence);
    assert_eq!(f.stop_sequence.as_deref(), Some(word.as_str()));
}

#[tokio::test]
async fn forced_tool_use() {
    let b = SimBackend::new(fast());
    let req = request(
        r#"{"messages":[{"role":"user","content":[{"text":"weather?"}]}],
            "toolConfig":{"tools":[{"toolSpec":{"name":"get_weather","inputSchema":{"json":{"type":"object","properties":{"city":{"type":"string"}}}}}}],
                          "toolChoice":{"any":{}}}}"#,
    );
    let events = run(&b, &req, 100).await;
    assert!(matches!(&events[1], Ok(ModelEvent::ToolUseStart { name, .. }) if name == "get_weather"));
    assert_eq!(finish(&events).stop_reason, StopReason::ToolUse);
}

#[tokio::test]
async fn concurrency_limit_throttles() {
    let b = SimBackend::new(SimConfig { max_concurrency: 1, ..fast() });
    let req = request(HELLO);
    let call = ChatCall { model: "m", request: &req, max_tokens: 10, stream: true };
    let held = b.chat(call).await.unwrap();
    assert_eq!(b.load(), Load { in_flight: 1, limit: 1 });
    assert!(matches!(b.chat(call).await, Err(BackendError::Busy)));
    drop(held);
    assert!(b.chat(call).await.is_ok());
}

#[tokio::test]
async fn mid_stream_failure_after_n_tokens() {
    let failure = SimFailure { kind: SimFailureKind::MidStream, rate: 1.0, after_tokens: 2 };
    let b = SimBackend::new(SimConfig { failure: Some(failure), ..fast() });
    let events = run(&b, &request(HELLO), 100).await;
    let texts = events.iter().filter(|e| matches!(e, Ok(ModelEvent::Text(_)))).count();
    assert_eq!(texts, 2);
    assert!(matches!(events.last(), Some(Err(BackendError::Stream(_)))));
}

#[tokio::test]
async fn injected_throttle() {
    let failure = SimFailure { kind: SimFailureKind::Throttle, rate: 1.0, after_tokens: 0 };
    let b = SimBackend::new(SimConfig { failure: Some(failure), ..fast() });
    let req = request(HELLO);
    let call = ChatCall { model: "m", request: &req, max_tokens: 10, stream: false };
    assert!(matches!(b.chat(call).await, Err(BackendError::Throttled)));
}

#[tokio::test]
async fn thinking_reasons_first_within_its_budget_and_keeps_the_answer() {
    let b = SimBackend::new(fast());
    let plain = run(&b, &request(HELLO), 1000).await;
    let thinking = r#"{"messages":[{"role":"user","content":[{"text":"hello there"}]}],
        "additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}}}"#;
    let events = run(&b, &request(thinking), 1000).await;
    let reasoning = events
        .iter()
        .take_while(|e| !matches!(e, Ok(ModelEvent::Text(_))))
        .filter(|e| matches!(e, Ok(ModelEvent::Reasoning(_))))
        .count();
    assert!(reasoning > 0 && reasoning <= 1024);
    let texts = |ev: &[Result<ModelEvent, BackendError>]| -> Vec<String> {
        ev.iter()
            .filter_map(|e| match e {
                Ok(ModelEvent::Text(t)) => Some(t.clone()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(texts(&events), texts(&plain));
    assert_eq!(finish(&events).usage.output_tokens, finish(&plain).usage.output_tokens + reasoning as u32);
}
