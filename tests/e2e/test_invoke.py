"""InvokeModel and InvokeModelWithResponseStream with provider-native bodies, the
unmodeled token-count headers, embeddings and CountTokens."""

import base64
import json

import pytest
from botocore.exceptions import ClientError

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
TITAN = "amazon.titan-text-express-v1"


def anthropic_body(**extra):
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 64,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
    }
    body.update(extra)
    return json.dumps(body)


def chunks(response):
    return [json.loads(e["chunk"]["bytes"]) for e in response["body"]]


def test_invoke_anthropic_messages(spillway):
    r = spillway.client().invoke_model(modelId=HAIKU, body=anthropic_body())
    assert r["contentType"] == "application/json"
    out = json.loads(r["body"].read())
    assert out["type"] == "message" and out["role"] == "assistant"
    assert out["model"] == "claude-3-haiku-20240307"
    assert out["content"][0]["type"] == "text" and out["content"][0]["text"]
    assert out["stop_reason"] == "end_turn"
    headers = r["ResponseMetadata"]["HTTPHeaders"]
    assert int(headers["x-amzn-bedrock-input-token-count"]) == out["usage"]["input_tokens"]
    assert int(headers["x-amzn-bedrock-output-token-count"]) == out["usage"]["output_tokens"]
    assert "x-amzn-bedrock-invocation-latency" in headers


def test_invoke_stream_anthropic_messages(spillway):
    r = spillway.client().invoke_model_with_response_stream(modelId=HAIKU, body=anthropic_body())
    assert r["contentType"] == "application/json"
    parts = chunks(r)
    types = [p["type"] for p in parts]
    assert types[0] == "message_start"
    assert types[1] == "content_block_start"
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    metrics = parts[-1]["amazon-bedrock-invocationMetrics"]
    assert metrics["outputTokenCount"] == parts[-2]["usage"]["output_tokens"]
    text = "".join(p["delta"]["text"] for p in parts if p["type"] == "content_block_delta")
    plain = json.loads(spillway.client().invoke_model(modelId=HAIKU, body=anthropic_body())["body"].read())
    assert text == plain["content"][0]["text"]


def test_invoke_anthropic_max_tokens_stop(spillway):
    out = json.loads(spillway.client().invoke_model(modelId=HAIKU, body=anthropic_body(max_tokens=3))["body"].read())
    assert out["stop_reason"] == "max_tokens"
    assert out["usage"]["output_tokens"] == 3


def test_invoke_anthropic_missing_max_tokens(spillway):
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "messages": [{"role": "user", "content": "Hi"}]})
    with pytest.raises(ClientError) as e:
        spillway.client().invoke_model(modelId=HAIKU, body=body)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "max_tokens" in e.value.response["Error"]["Message"]


def test_invoke_claude_text_completion(spillway):
    body = json.dumps({"prompt": "\n\nHuman: Hello\n\nAssistant:", "max_tokens_to_sample": 50})
    out = json.loads(spillway.client().invoke_model(modelId="anthropic.claude-v2:1", body=body)["body"].read())
    assert out["completion"]
    assert out["stop_reason"] in ("stop_sequence", "max_tokens")


def test_invoke_titan_text(spillway):
    body = json.dumps({"inputText": "Explain S3.", "textGenerationConfig": {"maxTokenCount": 100, "temperature": 0}})
    out = json.loads(spillway.client().invoke_model(modelId=TITAN, body=body)["body"].read())
    assert out["inputTextTokenCount"] > 0
    result = out["results"][0]
    assert result["outputText"] and result["tokenCount"] > 0
    assert result["completionReason"] == "FINISH"


def test_invoke_stream_titan_text(spillway):
    body = json.dumps({"inputText": "Explain S3.", "textGenerationConfig": {"maxTokenCount": 5}})
    parts = chunks(spillway.client().invoke_model_with_response_stream(modelId=TITAN, body=body))
    assert all("outputText" in p for p in parts)
    assert parts[-1]["completionReason"] == "LENGTH"
    assert parts[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 5


def test_invoke_llama(spillway):
    body = json.dumps({"prompt": "Hello", "max_gen_len": 20})
    out = json.loads(spillway.client().invoke_model(modelId="meta.llama3-8b-instruct-v1:0", body=body)["body"].read())
    assert out["generation"] and out["prompt_token_count"] > 0
    assert out["stop_reason"] in ("stop", "length")


def test_titan_embeddings(spillway):
    client = spillway.client()
    body = json.dumps({"inputText": "hello world"})
    out = json.loads(client.invoke_model(modelId="amazon.titan-embed-text-v1", body=body)["body"].read())
    assert len(out["embedding"]) == 1536
    assert out["inputTextTokenCount"] > 0
    again = json.loads(client.invoke_model(modelId="amazon.titan-embed-text-v1", body=body)["body"].read())
    assert again["embedding"] == out["embedding"]


def test_cohere_embeddings(spillway):
    body = json.dumps({"texts": ["a", "b c"], "input_type": "search_document"})
    out = json.loads(spillway.client().invoke_model(modelId="cohere.embed-english-v3", body=body)["body"].read())
    assert out["response_type"] == "embeddings_floats"
    assert len(out["embeddings"]) == 2 and len(out["embeddings"][0]) == 1024


def test_embedding_model_does_not_stream(spillway):
    with pytest.raises(ClientError) as e:
        spillway.client().invoke_model_with_response_stream(
            modelId="amazon.titan-embed-text-v1", body=json.dumps({"inputText": "x"})
        )
    assert e.value.response["Error"]["Message"] == "The model is unsupported for streaming."


def test_count_tokens_matches_converse_usage(spillway):
    client = spillway.client()
    messages = [{"role": "user", "content": [{"text": "How many tokens is this sentence?"}]}]
    system = [{"text": "Be terse."}]
    counted = client.count_tokens(modelId=HAIKU, input={"converse": {"messages": messages, "system": system}})
    used = client.converse(modelId=HAIKU, messages=messages, system=system)["usage"]["inputTokens"]
    assert counted["inputTokens"] == used


def test_count_tokens_invoke_body(spillway):
    client = spillway.client()
    counted = client.count_tokens(modelId=HAIKU, input={"invokeModel": {"body": anthropic_body().encode()}})
    out = json.loads(client.invoke_model(modelId=HAIKU, body=anthropic_body())["body"].read())
    assert counted["inputTokens"] == out["usage"]["input_tokens"]


def test_count_tokens_raw_base64_body(spillway):
    body = {"input": {"invokeModel": {"body": base64.b64encode(anthropic_body().encode()).decode()}}}
    status, _, raw = spillway.raw("POST", f"/model/{HAIKU.replace(':', '%3A')}/count-tokens", body)
    assert status == 200 and json.loads(raw)["inputTokens"] > 0
