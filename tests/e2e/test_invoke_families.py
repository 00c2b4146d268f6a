"""InvokeModel and InvokeModelWithResponseStream with the native bodies of today's
families (Amazon Nova, Mistral text and chat, DeepSeek, OpenAI gpt-oss, Cohere Command R)
through boto3: against the simulator, and against an OpenAI-compatible server (the fake
one, and one that reasons) so the answer's text and usage are known exactly."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import ClientError

import fake_openai
from conftest import Server

NOVA = "amazon.nova-micro-v1:0"
MISTRAL_7B = "mistral.mistral-7b-instruct-v0:2"
MISTRAL_LARGE = "mistral.mistral-large-2407-v1:0"
R1 = "us.deepseek.r1-v1:0"
GPT_OSS = "openai.gpt-oss-20b-1:0"
COMMAND_R = "cohere.command-r-v1:0"

# (model, region, body, path to the answer's text, stop-reason path)
FAMILIES = {
    "nova": (NOVA, "us-east-1",
             {"schemaVersion": "messages-v1", "system": [{"text": "Be brief."}],
              "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
              "inferenceConfig": {"max_new_tokens": 20, "temperature": 0.5, "top_k": 10}}),
    "mistral-text": (MISTRAL_7B, "us-east-1",
                     {"prompt": "<s>[INST] Hi [/INST] Hello</s>[INST] Bye [/INST]", "max_tokens": 20, "top_k": 5}),
    "mistral-chat": (MISTRAL_LARGE, "us-west-2",
                     {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                      "max_tokens": 20}),
    "deepseek": (R1, "us-east-1",
                 {"prompt": "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜><think>\n", "max_tokens": 20}),
    "gpt-oss": (GPT_OSS, "us-east-1",
                {"model": GPT_OSS, "messages": [{"role": "developer", "content": "Be brief."},
                                                {"role": "user", "content": "Hi"}],
                 "max_completion_tokens": 20}),
    "command-r": (COMMAND_R, "us-east-1",
                  {"message": "Hi", "preamble": "Be brief.", "max_tokens": 20,
                   "chat_history": [{"role": "USER", "message": "Hello"}, {"role": "CHATBOT", "message": "Hi!"}],
                   "documents": [{"title": "Manual", "snippet": "Spillways carry floods."}]}),
}


def text_of(family, answer):
    """The generated text of a native answer."""
    return {
        "nova": lambda a: "".join(b.get("text", "") for b in a["output"]["message"]["content"]),
        "mistral-text": lambda a: a["outputs"][0]["text"],
        "mistral-chat": lambda a: a["choices"][0]["message"]["content"],
        "deepseek": lambda a: a["choices"][0]["text"],
        "gpt-oss": lambda a: a["choices"][0]["message"]["content"],
        "command-r": lambda a: a["text"],
    }[family](answer)


def chunk_text(family, chunk):
    """The text a stream chunk adds."""
    return {
        "nova": lambda c: c.get("contentBlockDelta", {}).get("delta", {}).get("text", ""),
        "mistral-text": lambda c: c["outputs"][0]["text"],
        "mistral-chat": lambda c: c["choices"][0]["message"]["content"],
        "deepseek": lambda c: c["choices"][0]["text"],
        "gpt-oss": lambda c: c["choices"][0]["delta"].get("content", ""),
        "command-r": lambda c: c.get("text", "") if c["event_type"] == "text-generation" else "",
    }[family](chunk)


def invoke(server, family, body=None):
    model, region, default, *_ = FAMILIES[family]
    r = server.client(region=region).invoke_model(modelId=model, body=json.dumps(body or default))
    return json.loads(r["body"].read()), r["ResponseMetadata"]["HTTPHeaders"]


def stream(server, family, body=None):
    model, region, default, *_ = FAMILIES[family]
    r = server.client(region=region).invoke_model_with_response_stream(modelId=model, body=json.dumps(body or default))
    return [json.loads(e["chunk"]["bytes"]) for e in r["body"]]


def refused(server, family, body):
    model, region, *_ = FAMILIES[family]
    with pytest.raises(ClientError) as e:
        server.client(region=region).invoke_model(modelId=model, body=json.dumps(body))
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationException", err
    return err["Message"]


@pytest.mark.parametrize("family", FAMILIES)
def test_answer_and_usage_headers_on_the_simulator(spillway, family):
    answer, headers = invoke(spillway, family)
    assert text_of(family, answer)
    assert int(headers["x-amzn-bedrock-input-token-count"]) > 0
    assert int(headers["x-amzn-bedrock-output-token-count"]) > 0


@pytest.mark.parametrize("family", FAMILIES)
def test_stream_chunks_on_the_simulator(spillway, family):
    chunks = stream(spillway, family)
    assert "".join(chunk_text(family, c) for c in chunks)
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert metrics["inputTokenCount"] > 0 and metrics["outputTokenCount"] > 0
    assert all("amazon-bedrock-invocationMetrics" not in c for c in chunks[:-1])


def test_native_shapes(spillway):
    nova, _ = invoke(spillway, "nova")
    assert nova["stopReason"] in ("end_turn", "max_tokens") and nova["usage"]["totalTokens"] > 0
    mistral, _ = invoke(spillway, "mistral-text")
    assert mistral["outputs"][0]["stop_reason"] in ("stop", "length")
    oss, _ = invoke(spillway, "gpt-oss")
    assert oss["object"] == "chat.completion" and oss["model"] == GPT_OSS
    assert oss["usage"]["total_tokens"] == oss["usage"]["prompt_tokens"] + oss["usage"]["completion_tokens"]
    command, _ = invoke(spillway, "command-r")
    assert command["finish_reason"] in ("COMPLETE", "MAX_TOKENS")
    assert command["meta"]["billed_units"]["output_tokens"] > 0
    events = [c["event_type"] for c in stream(spillway, "command-r")]
    assert events[0] == "stream-start" and events[-1] == "stream-end"
    nova_events = [next(k for k in c if k != "amazon-bedrock-invocationMetrics") for c in stream(spillway, "nova")]
    assert nova_events[0] == "messageStart" and nova_events[-2:] == ["messageStop", "metadata"]


def test_nova_cache_points_read_and_write(spillway):
    manual = "You answer questions about the storage manual." + " volume" * 1200
    body = {"schemaVersion": "messages-v1", "system": [{"text": manual}, {"cachePoint": {"type": "default"}}],
            "messages": [{"role": "user", "content": [{"text": "What is a volume?"}]}]}
    first, _ = invoke(spillway, "nova", body)
    second, headers = invoke(spillway, "nova", body)
    assert first["usage"]["cacheWriteInputTokenCount"] > 1200
    assert second["usage"]["cacheReadInputTokenCount"] == first["usage"]["cacheWriteInputTokenCount"]
    assert int(headers["x-amzn-bedrock-cache-read-input-token-count"]) == second["usage"]["cacheReadInputTokenCount"]


@pytest.mark.parametrize("family,body,where", [
    ("nova", {"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": "x"}]}],
              "reasoningConfig": {"type": "enabled"}}, "#/reasoningConfig"),
    ("nova", {"messages": [{"role": "user", "content": [{"text": "x"}]}], "inferenceConfig": {"maxTokens": 5}},
     "extraneous key [maxTokens]"),
    ("mistral-text", {"prompt": "x", "seed": 1}, "extraneous key [seed]"),
    ("mistral-chat", {"messages": [{"role": "user", "content": "x"}], "tool_choice": "required"},
     "#/tool_choice: required is not a valid enum value"),
    ("deepseek", {"prompt": "x", "max_tokens": 40000}, "#/max_tokens"),
    ("gpt-oss", {"messages": [{"role": "user", "content": "x"}], "logprobs": True}, "endpoint: #/logprobs"),
    ("gpt-oss", {"messages": [{"role": "user", "content": "x"}], "stream": True}, "must be false for InvokeModel"),
    ("gpt-oss", {"model": "openai.gpt-oss-120b-1:0", "messages": [{"role": "user", "content": "x"}]},
     "does not match the model ID"),
    ("command-r", {"message": "x", "search_queries_only": True}, "endpoint: #/search_queries_only"),
    ("command-r", {"message": "x", "connectors": [{"id": "web"}]}, "extraneous key [connectors]"),
])
def test_unknown_or_unhonoured_members_are_refused_by_name(spillway, family, body, where):
    assert where in refused(spillway, family, body)


# --- behind an OpenAI-compatible server ---------------------------------------------


class Reasoner(BaseHTTPRequestHandler):
    """Reasons, then answers; streams the same when asked."""

    protocol_version = "HTTP/1.1"
    seen = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        Reasoner.seen.append(body)
        usage = {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30}
        if not body.get("stream"):
            raw = json.dumps({"choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "reasoning_content": "Think.", "content": "Answer."}}], "usage": usage}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        for d in [{"reasoning_content": "Thi"}, {"reasoning_content": "nk."}, {"content": "Answer."}]:
            self.wfile.write(f"data: {json.dumps({'choices': [{'index': 0, 'delta': d}]})}\n\n".encode())
        end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage}
        self.wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
        self.wfile.flush()
        self.close_connection = True


def catalog(fake_base, reasoner_base):
    lines = ['default_region = "us-east-1"', 'default_backend = "fake"',
             "[regions.us-east-1]\n[regions.us-west-2]",
             f'[backends.fake]\nkind = "openai"\nbase_url = "{fake_base}/east/v1"',
             f'[backends.reasoner]\nkind = "openai"\nbase_url = "{reasoner_base}/v1"']
    models = [(NOVA, "nova"), (MISTRAL_7B, "mistral"), (MISTRAL_LARGE, "mistral"), ("deepseek.r1-v1:0", "deepseek"),
              (GPT_OSS, "openai-chat"), (COMMAND_R, "cohere-command"),
              ("anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic")]
    for model, fmt in models:
        backend = "reasoner" if fmt in ("deepseek", "openai-chat", "anthropic") else "fake"
        lines.append(f'[[models]]\nid = "{model}"\nname = "{model}"\nprovider = "Test"\nbody_format = "{fmt}"\n'
                     f'backend = "{backend}"\nbackend_model = "ok"\n[models.regions]\n'
                     'us-east-1 = { rpm = 1000, tpm = 1000000 }\nus-west-2 = { rpm = 1000, tpm = 1000000 }')
    lines.append('[[profiles]]\nid = "us.deepseek.r1-v1:0"\nname = "US R1"\nmodel = "deepseek.r1-v1:0"\n'
                 'regions = ["us-east-1", "us-west-2"]')
    return "\n\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def backed(tmp_path_factory):
    fake, fake_base = fake_openai.start()
    reasoner = ThreadingHTTPServer(("127.0.0.1", 0), Reasoner)
    reasoner.daemon_threads = True
    threading.Thread(target=reasoner.serve_forever, daemon=True).start()
    path = tmp_path_factory.mktemp("cfg") / "families.toml"
    path.write_text(catalog(fake_base, f"http://127.0.0.1:{reasoner.server_address[1]}"))
    server = Server(["--config", str(path)])
    yield server
    server.stop()
    fake.shutdown()
    reasoner.shutdown()


@pytest.mark.parametrize("family", ["nova", "mistral-text", "mistral-chat", "command-r"])
def test_fake_server_answer_and_stream_exactly(backed, family):
    answer, headers = invoke(backed, family)
    assert text_of(family, answer) == "".join(fake_openai.WORDS)
    assert (headers["x-amzn-bedrock-input-token-count"], headers["x-amzn-bedrock-output-token-count"]) == ("11", "6")
    chunks = stream(backed, family)
    assert "".join(chunk_text(family, c) for c in chunks) == "".join(fake_openai.WORDS)
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert (metrics["inputTokenCount"], metrics["outputTokenCount"]) == (11, 6)


def test_deepseek_reasoning_precedes_think_close(backed):
    answer, headers = invoke(backed, "deepseek")
    assert answer == {"choices": [{"text": "Think.\n</think>\n\nAnswer.", "stop_reason": "stop"}]}
    assert headers["x-amzn-bedrock-output-token-count"] == "9"
    chunks = stream(backed, "deepseek")
    assert "".join(c["choices"][0]["text"] for c in chunks) == "Think.\n</think>\n\nAnswer."
    assert chunks[-1]["choices"][0]["stop_reason"] == "stop"


def test_gpt_oss_reasoning_tags_and_streamed_usage(backed):
    answer, _ = invoke(backed, "gpt-oss")
    assert answer["choices"][0]["message"]["content"] == "<reasoning>Think.</reasoning>Answer."
    assert answer["usage"] == {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30}
    body = dict(FAMILIES["gpt-oss"][2], stream=True, stream_options={"include_usage": True}, seed=7)
    chunks = stream(backed, "gpt-oss", body)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "<reasoning>Think.</reasoning>Answer."
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["usage"]["completion_tokens"] == 9
    # The sampling options without a Converse field reach the backend as given.
    assert Reasoner.seen[-1]["seed"] == 7 and Reasoner.seen[-1]["messages"][0]["role"] == "system"


# --- Converse additionalModelResponseFieldPaths -------------------------------------


def test_additional_model_response_fields_from_the_native_answer(backed):
    client = backed.client()
    paths = ["/usage/input_tokens", "/stop_reason", "/nope"]
    r = client.converse(modelId="anthropic.claude-sonnet-4-5-20250929-v1:0",
                        messages=[{"role": "user", "content": [{"text": "Hi"}]}],
                        additionalModelResponseFieldPaths=paths)
    assert r["additionalModelResponseFields"] == {"usage": {"input_tokens": 21}, "stop_reason": "end_turn"}
    events = list(client.converse_stream(modelId=COMMAND_R, messages=[{"role": "user", "content": [{"text": "Hi"}]}],
                                         additionalModelResponseFieldPaths=["/finish_reason", "/text"])["stream"])
    stop = next(e["messageStop"] for e in events if "messageStop" in e)
    assert stop["additionalModelResponseFields"] == {"finish_reason": "COMPLETE", "text": "".join(fake_openai.WORDS)}
    plain = client.converse(modelId=COMMAND_R, messages=[{"role": "user", "content": [{"text": "Hi"}]}])
    assert "additionalModelResponseFields" not in plain
    for bad in (["finish_reason"], ["/a~2"], ["/x"] * 11):
        with pytest.raises(ClientError) as e:
            client.converse(modelId=COMMAND_R, messages=[{"role": "user", "content": [{"text": "Hi"}]}],
                            additionalModelResponseFieldPaths=bad)
        assert "additionalModelResponseFieldPaths" in e.value.response["Error"]["Message"]
