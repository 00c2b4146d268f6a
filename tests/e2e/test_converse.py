"""Converse and ConverseStream through boto3: seed 000's examples, unchanged but for
endpoint_url, plus the shape of answers, usage, stop reasons and tool use."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import text_of, user

SYSTEM = "あなたは AWS サービスの専門家であり、常に正確で簡潔な回答を提供します。"
QUESTION = "S3、EBS、EFS の違いを教えてください。日本語で回答してください。"
SONNET35 = "anthropic.claude-3-5-sonnet-20240620-v1:0"


def seed_converse(client, model_id):
    return client.converse(
        modelId=model_id,
        system=[{"text": SYSTEM}],
        messages=[{"role": "user", "content": [{"text": QUESTION}]}],
    )


def test_seed_000_converse_with_us_profile(spillway):
    client = spillway.client(region="us-east-1")
    response = seed_converse(client, "us." + SONNET35)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert response["ResponseMetadata"]["RequestId"]
    assert response["output"]["message"]["role"] == "assistant"
    assert text_of(response)
    assert response["stopReason"] == "end_turn"
    usage = response["usage"]
    assert usage["inputTokens"] > 0 and usage["outputTokens"] > 0
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert response["metrics"]["latencyMs"] >= 0


def test_seed_000_converse_stream_event_order(spillway):
    client = spillway.client(region="us-east-1")
    response = client.converse_stream(
        modelId="us." + SONNET35,
        system=[{"text": SYSTEM}],
        messages=[{"role": "user", "content": [{"text": QUESTION}]}],
    )
    events = list(response["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart"
    assert kinds[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    assert set(kinds[1:-3]) == {"contentBlockDelta"}
    streamed = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert all(e["contentBlockDelta"]["contentBlockIndex"] == 0 for e in events if "contentBlockDelta" in e)
    meta = events[-1]["metadata"]
    assert meta["usage"]["outputTokens"] > 0
    assert "latencyMs" in meta["metrics"]
    # The stream and the plain call answer the same text for the same input.
    plain = seed_converse(client, "us." + SONNET35)
    assert streamed == text_of(plain)
    assert meta["usage"] == plain["usage"]


def test_deterministic_at_temperature_zero(spillway):
    client = spillway.client()
    kwargs = dict(modelId=SONNET35, messages=user("Hello"), inferenceConfig={"temperature": 0})
    assert text_of(client.converse(**kwargs)) == text_of(client.converse(**kwargs))


def test_max_tokens_stop_reason(spillway):
    client = spillway.client()
    r = client.converse(modelId=SONNET35, messages=user("Hello"), inferenceConfig={"maxTokens": 2})
    assert r["stopReason"] == "max_tokens"
    assert r["usage"]["outputTokens"] == 2


def test_stop_sequence_stop_reason(spillway):
    client = spillway.client()
    first = text_of(client.converse(modelId=SONNET35, messages=user("Hello")))
    word = first.split(" ")[3].strip(".")
    r = client.converse(modelId=SONNET35, messages=user("Hello"), inferenceConfig={"stopSequences": [word]})
    assert r["stopReason"] == "stop_sequence"
    assert word not in text_of(r)


def test_tool_use_round_trip(spillway):
    client = spillway.client()
    tools = {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "Weather of a city",
                    "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
                }
            }
        ],
        "toolChoice": {"any": {}},
    }
    r = client.converse(modelId=SONNET35, messages=user("Weather in Paris?"), toolConfig=tools)
    assert r["stopReason"] == "tool_use"
    tool_use = r["output"]["message"]["content"][0]["toolUse"]
    assert tool_use["name"] == "get_weather"
    assert isinstance(tool_use["input"]["city"], str)
    messages = user("Weather in Paris?") + [
        r["output"]["message"],
        {
            "role": "user",
            "content": [{"toolResult": {"toolUseId": tool_use["toolUseId"], "content": [{"json": {"temp": 21}}]}}],
        },
    ]
    tools["toolChoice"] = {"auto": {}}
    r2 = client.converse(modelId=SONNET35, messages=messages, toolConfig=tools)
    assert r2["stopReason"] == "end_turn"
    assert text_of(r2)


def test_tool_use_streams_as_a_started_block(spillway):
    client = spillway.client()
    tools = {
        "tools": [{"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object", "properties": {"q": {"type": "string"}}}}}}],
        "toolChoice": {"tool": {"name": "lookup"}},
    }
    events = list(client.converse_stream(modelId=SONNET35, messages=user("find"), toolConfig=tools)["stream"])
    start = next(e["contentBlockStart"] for e in events if "contentBlockStart" in e)
    assert start["start"]["toolUse"]["name"] == "lookup"
    fragments = "".join(e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e)
    assert fragments.startswith("{")
    assert next(e for e in events if "messageStop" in e)["messageStop"]["stopReason"] == "tool_use"


def test_model_arn_as_model_id(spillway):
    client = spillway.client(region="us-west-2")
    arn = f"arn:aws:bedrock:us-west-2::foundation-model/{SONNET35}"
    assert text_of(client.converse(modelId=arn, messages=user("Hi")))


def test_invalid_parameter_names_the_field(spillway):
    client = spillway.client()
    with pytest.raises(ClientError) as e:
        client.converse(modelId=SONNET35, messages=user("Hi"), inferenceConfig={"temperature": 1.5})
    err = e.value.response
    assert err["Error"]["Code"] == "ValidationException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "inferenceConfig.temperature" in err["Error"]["Message"]


def test_conversation_must_start_with_user(spillway):
    client = spillway.client()
    with pytest.raises(ClientError) as e:
        client.converse(modelId=SONNET35, messages=[{"role": "assistant", "content": [{"text": "x"}]}])
    assert e.value.response["Error"]["Message"].startswith("A conversation must start with a user message")


def test_max_tokens_above_model_limit(spillway):
    client = spillway.client()
    with pytest.raises(ClientError) as e:
        client.converse(modelId=SONNET35, messages=user("Hi"), inferenceConfig={"maxTokens": 100000})
    assert "exceeds the model limit of 8192" in e.value.response["Error"]["Message"]


def test_converse_on_embedding_model(spillway):
    with pytest.raises(ClientError) as e:
        spillway.client().converse(modelId="amazon.titan-embed-text-v1", messages=user("Hi"))
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_malformed_json_and_wrong_types_over_raw_http(spillway):
    path = "/model/" + SONNET35.replace(":", "%3A") + "/converse"
    status, headers, body = spillway.raw("POST", path, b'{"messages": [', {"content-type": "application/json"})
    assert status == 400
    assert headers["x-amzn-ErrorType"] == "ValidationException"
    assert headers["x-amzn-RequestId"]
    assert b"Malformed input request" in body
    status, headers, body = spillway.raw(
        "POST", path, {"messages": [{"role": "user", "content": [{"text": "a", "image": {"format": "png", "source": {"bytes": "AA=="}}}]}]}
    )
    assert status == 400
    assert b"messages[0].content[0]" in body and b"exactly one member" in body
    status, _, body = spillway.raw("POST", path, {"messages": [{"role": "user", "content": [{"text": 5}]}]})
    assert status == 400 and b"messages[0].content[0].text" in body


def test_unknown_path_is_unknown_operation(spillway):
    status, headers, _ = spillway.raw("GET", "/nope")
    assert status == 404
    assert headers["x-amzn-ErrorType"] == "UnknownOperationException"


def test_bearer_token_auth(spillway):
    # botocore sends API keys only over HTTPS, so this is the request it would send.
    path = "/model/" + SONNET35.replace(":", "%3A") + "/converse"
    headers = {"authorization": "Bearer spillway-api-key", "content-type": "application/json"}
    status, headers, body = spillway.raw("POST", path, {"messages": user("Hi")}, headers)
    assert status == 200, body
    assert json.loads(body)["output"]["message"]["content"][0]["text"]
