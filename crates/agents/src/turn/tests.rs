use serde_json::json;

use super::*;
use crate::tools::GroupInput;

fn toolbox() -> Toolbox {
    let body = json!({"functionSchema": {"functions": [{"name": "get_forecast",
        "parameters": {"city": {"type": "string", "required": true}}}]}});
    Toolbox::build(&[GroupInput { name: "weather", body: &body }])
}

fn spec(tb: &Toolbox) -> AgentSpec<'_> {
    let metadata = BTreeMap::from([("agentAliasId".to_owned(), "ALIAS00001".to_owned())]);
    AgentSpec {
        instruction: "You tell people the weather forecast for their city.",
        toolbox: tb,
        metadata,
        max_tokens: 4096,
    }
}

fn ask(text: &str) -> InvokeAgentRequest {
    serde_json::from_value(json!({"inputText": text})).unwrap()
}

fn tool_use(id: &str, name: &str) -> Value {
    json!({"role": "assistant", "content": [{"text": "Let me check."},
        {"toolUse": {"toolUseId": id, "name": name, "input": {"city": "Tokyo"}}}]})
}

#[test]
fn a_plain_answer_ends_the_turn_and_joins_the_history() {
    let tb = toolbox();
    let mut s = Session::default();
    let mut turn = s.begin(&ask("Hello")).unwrap();
    let req = turn.request(&s, &spec(&tb));
    assert_eq!(req["messages"], json!([{"role": "user", "content": [{"text": "Hello"}]}]));
    assert_eq!(req["inferenceConfig"]["maxTokens"], 2048);
    assert_eq!(req["toolConfig"]["tools"][0]["toolSpec"]["name"], "weather__get_forecast");
    assert_eq!(req["requestMetadata"]["agentAliasId"], "ALIAS00001");
    assert!(req["system"][0]["text"].as_str().unwrap().contains("weather forecast"));
    let answer = json!({"role": "assistant", "content": [{"text": "Hi there."}]});
    let (step, _) = turn.absorb(&answer, &tb).unwrap();
    assert_eq!(step, Step::Final("Hi there.".into()));
    s.finish(turn);
    assert_eq!(s.history.len(), 2);
    // The next turn sees the history.
    let next = s.begin(&ask("And tomorrow?")).unwrap();
    assert_eq!(next.request(&s, &spec(&tb))["messages"].as_array().unwrap().len(), 3);
}

#[test]
fn tool_calls_return_control_and_results_continue_the_same_turn() {
    let tb = toolbox();
    let mut s = Session::default();
    let mut turn = s.begin(&ask("Weather in Tokyo? use weather__get_forecast")).unwrap();
    let (step, answered) = turn.absorb(&tool_use("t1", "weather__get_forecast"), &tb).unwrap();
    let Step::ReturnControl { calls, rationale } = step else { panic!("{step:?}") };
    assert_eq!((calls.len(), rationale.as_deref(), answered.len()), (1, Some("Let me check."), 0));
    s.suspend(turn, "inv-1".into(), &calls, answered);

    // A new question while results are awaited is refused; so are wrong results.
    assert!(s.begin(&ask("something else")).is_err());
    let wrong: InvokeAgentRequest = serde_json::from_value(json!({"sessionState": {"returnControlInvocationResults": [
        {"functionResult": {"actionGroup": "weather", "function": "other", "responseBody": {"TEXT": {"body": "x"}}}}]}}))
    .unwrap();
    assert!(s.begin(&wrong).is_err());
    assert!(s.pending.is_some(), "a refused result keeps the turn waiting");
    let stale: InvokeAgentRequest = serde_json::from_value(json!({"sessionState": {"invocationId": "other",
        "returnControlInvocationResults": [{"functionResult": {"actionGroup": "weather", "function": "get_forecast"}}]}}))
    .unwrap();
    assert!(s.begin(&stale).is_err());

    let results: InvokeAgentRequest = serde_json::from_value(json!({"sessionState": {"invocationId": "inv-1",
        "returnControlInvocationResults": [{"functionResult": {"actionGroup": "weather", "function": "get_forecast",
            "responseBody": {"TEXT": {"body": "sunny"}}}}]}}))
    .unwrap();
    let mut turn = s.begin(&results).unwrap();
    assert!(s.pending.is_none());
    assert_eq!(turn.observations, ["sunny"]);
    let req = turn.request(&s, &spec(&tb));
    let last = &req["messages"][2]["content"][0]["toolResult"];
    assert_eq!((last["toolUseId"].as_str(), last["content"][0]["text"].as_str()), (Some("t1"), Some("sunny")));
    let (step, _) = turn.absorb(&json!({"role": "assistant", "content": [{"text": "Sunny in Tokyo."}]}), &tb).unwrap();
    assert_eq!(step, Step::Final("Sunny in Tokyo.".into()));
    s.finish(turn);
    assert_eq!(s.history.len(), 4);
}

#[test]
fn unknown_tools_are_answered_and_retried_a_bounded_number_of_times() {
    let tb = toolbox();
    let mut s = Session::default();
    let mut turn = s.begin(&ask("hi")).unwrap();
    for _ in 1..MAX_STEPS {
        let (step, _) = turn.absorb(&tool_use("x", "nope"), &tb).unwrap();
        assert_eq!(step, Step::Retry);
    }
    assert!(turn.absorb(&tool_use("x", "nope"), &tb).is_err());
    let last = turn.messages.iter().rev().nth(1).unwrap();
    assert!(last["content"][0]["toolResult"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("no function named nope"));
}

#[test]
fn attributes_and_history_seed_the_session() {
    let tb = toolbox();
    let mut s = Session::default();
    let req: InvokeAgentRequest = serde_json::from_value(json!({"inputText": "hi", "sessionState": {
        "sessionAttributes": {"user": "u1"}, "promptSessionAttributes": {"city": "Osaka"},
        "conversationHistory": {"messages": [{"role": "user", "content": [{"text": "earlier"}]},
            {"role": "assistant", "content": [{"text": "reply"}]}]}}}))
    .unwrap();
    let turn = s.begin(&req).unwrap();
    assert_eq!(s.session_attributes["user"], "u1");
    let r = turn.request(&s, &spec(&tb));
    assert_eq!(r["messages"].as_array().unwrap().len(), 3);
    assert!(r["system"][0]["text"].as_str().unwrap().contains("city: Osaka"));
    assert!(s.begin(&ask("  ")).is_err());
}

#[test]
fn at_most_five_calls_wait_for_the_caller() {
    let tb = toolbox();
    let mut s = Session::default();
    let mut turn = s.begin(&ask("weather__get_forecast for 7 cities")).unwrap();
    let uses: Vec<Value> = (0..7)
        .map(|i| json!({"toolUse": {"toolUseId": format!("t{i}"), "name": "weather__get_forecast", "input": {"city": "x"}}}))
        .collect();
    let (step, answered) = turn.absorb(&json!({"role": "assistant", "content": uses}), &tb).unwrap();
    let Step::ReturnControl { calls, .. } = step else { panic!("{step:?}") };
    assert_eq!((calls.len(), answered.len()), (MAX_CALLS, 2));
    assert_eq!(answered[0]["toolResult"]["toolUseId"], "t5");
}
