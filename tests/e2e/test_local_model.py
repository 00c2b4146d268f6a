"""The embedded local models (SmolLM2-135M-Instruct for text, Gemma 3 270M for
embeddings, in-process through llama.cpp) behind the built-in catalog, exactly as
`spillway serve` runs with no flags. These tests need the weights (`spillway fetch-model`, which scripts/test.sh runs first); they assert
structure, usage counts, stop reasons and determinism, never the wording of an answer.
"""

import concurrent.futures
import json
import math
import os
import pathlib

import pytest
from botocore.exceptions import ClientError

from conftest import Server, user

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET35 = "anthropic.claude-3-5-sonnet-20240620-v1:0"
SYSTEM = "あなたは AWS サービスの専門家であり、常に正確で簡潔な回答を提供します。"
QUESTION = "S3、EBS、EFS の違いを教えてください。日本語で回答してください。"
# A prompt the base model answers at length (it does not stop by itself).
CODE = "def fibonacci(n):"
GREEDY = {"temperature": 0}


def model_file():
    base = os.environ.get("SPILLWAY_MODEL_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "spillway"
    )
    return pathlib.Path(base) / "gemma-3-270m-q4_k_m.gguf"


def text_model_file():
    """The default text model, SmolLM2-135M-Instruct (`model_file()` is Gemma's)."""
    return model_file().parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def local():
    """The service on its built-in catalog: every model on the local engine."""
    for f in (model_file(), text_model_file()):
        if not f.is_file():
            pytest.fail(f"{f} is missing: run `target/debug/spillway fetch-model` first")
    server = Server([])
    yield server
    server.stop()


def text(response):
    return "".join(b.get("text", "") for b in response["output"]["message"]["content"])


def count_tokens(client, model_id, messages, system=None):
    converse = {"messages": messages}
    if system:
        converse["system"] = system
    return client.count_tokens(modelId=model_id, input={"converse": converse})["inputTokens"]


def converse(client, model_id=HAIKU, messages=None, **config):
    return client.converse(
        modelId=model_id,
        messages=messages or user(CODE),
        inferenceConfig={**GREEDY, **config},
    )


def test_seed_000_question_gets_real_text(local):
    client = local.client(region="us-east-1")
    response = client.converse(
        modelId="us." + SONNET35,
        system=[{"text": SYSTEM}],
        messages=user(QUESTION),
        inferenceConfig={"maxTokens": 48},
    )
    assert response["output"]["message"]["role"] == "assistant"
    assert text(response).strip()
    usage = response["usage"]
    assert usage["inputTokens"] == count_tokens(client, SONNET35, user(QUESTION), [{"text": SYSTEM}])
    assert 0 < usage["outputTokens"] <= 48
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert response["stopReason"] in ("end_turn", "max_tokens")
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-spillway-inference-region"] in (
        "us-east-1",
        "us-west-2",
    )


def test_usage_is_counted_by_the_models_tokenizer(local):
    client = local.client()
    messages = [
        {"role": "user", "content": [{"text": "Hello"}]},
        {"role": "assistant", "content": [{"text": "Hi! How can I help?"}]},
        {"role": "user", "content": [{"text": "日本語で答えてください。"}]},
    ]
    counted = count_tokens(client, HAIKU, messages, [{"text": "Be brief."}])
    response = client.converse(
        modelId=HAIKU,
        system=[{"text": "Be brief."}],
        messages=messages,
        inferenceConfig={"maxTokens": 4, "temperature": 0},
    )
    assert response["usage"]["inputTokens"] == counted
    # CountTokens of an InvokeModel body counts the same conversation the same way.
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 4,
        "system": "Be brief.",
        "messages": [{"role": m["role"], "content": m["content"][0]["text"]} for m in messages],
    }
    invoked = client.count_tokens(
        modelId=HAIKU, input={"invokeModel": {"body": json.dumps(body).encode()}}
    )["inputTokens"]
    assert invoked == counted
    # Different text, different count: the count is not a constant or an estimate.
    assert count_tokens(client, HAIKU, user("Hello there, how are you today?")) > count_tokens(
        client, HAIKU, user("Hello")
    )


def test_max_tokens_stops_exactly(local):
    response = converse(local.client(), maxTokens=7)
    assert response["stopReason"] == "max_tokens"
    assert response["usage"]["outputTokens"] == 7
    assert text(response)


def test_greedy_answers_are_deterministic(local):
    client = local.client()
    first = converse(client, maxTokens=24)
    second = converse(client, maxTokens=24)
    assert text(first) == text(second)
    assert first["usage"] == second["usage"]
    # A stream of the same request yields the same text, delta by delta.
    stream = client.converse_stream(modelId=HAIKU, messages=user(CODE), inferenceConfig={**GREEDY, "maxTokens": 24})
    streamed = "".join(
        e["contentBlockDelta"]["delta"]["text"] for e in stream["stream"] if "contentBlockDelta" in e
    )
    assert streamed == text(first)


def test_converse_stream_structure(local):
    client = local.client(region="eu-west-3")
    response = client.converse_stream(
        modelId="eu." + SONNET35,
        system=[{"text": SYSTEM}],
        messages=user(QUESTION),
        inferenceConfig={"maxTokens": 20, "temperature": 0},
    )
    events = list(response["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and events[0]["messageStart"]["role"] == "assistant"
    assert kinds[-2:] == ["messageStop", "metadata"]
    deltas = [e["contentBlockDelta"] for e in events if "contentBlockDelta" in e]
    assert deltas and all(d["contentBlockIndex"] == 0 for d in deltas)
    assert "contentBlockStop" in kinds
    assert events[-2]["messageStop"]["stopReason"] == "max_tokens"
    usage = events[-1]["metadata"]["usage"]
    assert usage["outputTokens"] == 20
    assert usage["inputTokens"] == count_tokens(client, SONNET35, user(QUESTION), [{"text": SYSTEM}])


def test_stop_sequence_ends_the_answer_before_it(local):
    client = local.client()
    full = text(converse(client, maxTokens=40))
    # A later word of the greedy answer becomes the stop sequence.
    words = [w for w in full.split() if len(w) >= 2]
    stop = next(w for w in words if full.find(w) >= 4)
    response = converse(client, maxTokens=40, stopSequences=[stop])
    assert response["stopReason"] == "stop_sequence"
    assert text(response) == full[: full.find(stop)]
    assert response["usage"]["outputTokens"] < 40
    # The native Anthropic body reports which sequence it was.
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 40,
        "temperature": 0,
        "stop_sequences": [stop],
        "messages": [{"role": "user", "content": CODE}],
    }
    answer = json.loads(client.invoke_model(modelId=HAIKU, body=json.dumps(body))["body"].read())
    assert answer["stop_reason"] == "stop_sequence"
    assert answer["stop_sequence"] == stop
    assert answer["content"][0]["text"] == full[: full.find(stop)]


def test_end_of_sequence_is_end_turn(local):
    """The base model seldom ends its turn, so look for a seeded sample that does: after
    a closing tag, `<eos>` is among the three likeliest tokens."""
    client = local.client()
    messages = [
        {"role": "user", "content": [{"text": "Hi"}]},
        {"role": "assistant", "content": [{"text": "</rss>"}]},
    ]

    def ask(seed, max_tokens, stream=False):
        kwargs = dict(
            modelId=HAIKU,
            messages=messages,
            inferenceConfig={"maxTokens": max_tokens, "temperature": 1.0, "topP": 1.0},
            additionalModelRequestFields={"top_k": 3, "seed": seed},
        )
        return client.converse_stream(**kwargs) if stream else client.converse(**kwargs)

    seed = next((s for s in range(200) if ask(s, 1)["stopReason"] == "end_turn"), None)
    assert seed is not None, "no seed ended the turn"
    # Same seed, same sample: it ends there whatever maxTokens allows.
    again = ask(seed, 50)
    assert again["stopReason"] == "end_turn"
    assert again["usage"]["outputTokens"] < 50
    assert again["usage"]["inputTokens"] == count_tokens(client, HAIKU, messages)
    events = list(ask(seed, 50, stream=True)["stream"])
    stop = next(e["messageStop"] for e in events if "messageStop" in e)
    assert stop["stopReason"] == "end_turn"


def test_anthropic_invoke_model_body(local):
    client = local.client()
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 12,
        "temperature": 0,
        "system": "You answer briefly.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Name three AWS storage services."}]}],
    }
    response = client.invoke_model(modelId=HAIKU, body=json.dumps(body))
    answer = json.loads(response["body"].read())
    assert answer["type"] == "message" and answer["role"] == "assistant"
    assert answer["content"][0]["type"] == "text" and answer["content"][0]["text"]
    assert answer["stop_reason"] == "max_tokens"
    assert answer["usage"]["output_tokens"] == 12
    counted = client.count_tokens(modelId=HAIKU, input={"invokeModel": {"body": json.dumps(body).encode()}})
    assert answer["usage"]["input_tokens"] == counted["inputTokens"]
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert int(headers["x-amzn-bedrock-input-token-count"]) == counted["inputTokens"]
    assert int(headers["x-amzn-bedrock-output-token-count"]) == 12


def test_titan_text_invoke_model_streams(local):
    client = local.client()
    body = {"inputText": CODE, "textGenerationConfig": {"maxTokenCount": 10, "temperature": 0}}
    response = client.invoke_model_with_response_stream(modelId="amazon.titan-text-express-v1", body=json.dumps(body))
    chunks = [json.loads(e["chunk"]["bytes"]) for e in response["body"] if "chunk" in e]
    assert "".join(c.get("outputText", "") for c in chunks)
    assert chunks[-1]["completionReason"] == "LENGTH"
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert metrics["outputTokenCount"] == 10


def test_embeddings_from_the_same_engine(local):
    client = local.client()

    def titan(text):
        body = json.loads(
            client.invoke_model(modelId="amazon.titan-embed-text-v1", body=json.dumps({"inputText": text}))["body"].read()
        )
        return body["embedding"], body["inputTextTokenCount"]

    a, tokens = titan("The cat sat on the mat.")
    assert len(a) == 1536
    assert math.isclose(sum(x * x for x in a), 1.0, rel_tol=1e-4)
    assert tokens > 1
    assert titan("The cat sat on the mat.")[0] == a
    assert titan("Quarterly revenue grew by four percent.")[0] != a
    body = {"texts": ["hello world", "goodbye"], "input_type": "search_document"}
    cohere = json.loads(client.invoke_model(modelId="cohere.embed-english-v3", body=json.dumps(body))["body"].read())
    assert [len(v) for v in cohere["embeddings"]] == [1024, 1024]


def test_parallel_requests_share_the_engine(local):
    client = local.client()

    def stream(i):
        response = client.converse_stream(
            modelId=HAIKU, messages=user(f"{CODE} # {i}"), inferenceConfig={"maxTokens": 16, "temperature": 0}
        )
        events = list(response["stream"])
        return events[-2]["messageStop"]["stopReason"], events[-1]["metadata"]["usage"]["outputTokens"]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(stream, range(4)))
    assert results == [("max_tokens", 16)] * 4


def test_listings_name_the_local_backend(local):
    bedrock = local.client("bedrock")
    summary = bedrock.get_foundation_model(modelIdentifier=HAIKU)["modelDetails"]
    status, _, raw = local.raw("GET", f"/foundation-models/{HAIKU}", headers={"Authorization": "Bearer x"})
    assert status == 200
    assert json.loads(raw)["modelDetails"]["spillwayBackend"] == "local"
    assert summary["modelId"] == HAIKU


def test_without_weights_models_are_not_ready(tmp_path, monkeypatch):
    monkeypatch.setenv("SPILLWAY_MODEL_DIR", str(tmp_path))
    server = Server([])
    try:
        client = server.client()
        for model_id in (HAIKU, "us." + HAIKU):
            with pytest.raises(ClientError) as e:
                client.converse(modelId=model_id, messages=user("Hello"))
            error = e.value.response["Error"]
            assert error["Code"] == "ModelNotReadyException"
            assert "spillway fetch-model" in error["Message"]
            assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        with pytest.raises(ClientError) as e:
            client.count_tokens(modelId=HAIKU, input={"converse": {"messages": user("Hello")}})
        assert e.value.response["Error"]["Code"] == "ModelNotReadyException"
        status, _, raw = server.raw("GET", "/foundation-models", headers={"Authorization": "Bearer x"})
        assert status == 200
        labels = {m["spillwayBackend"] for m in json.loads(raw)["modelSummaries"]}
        assert labels == {"local (model not fetched)"}
    finally:
        server.stop()
