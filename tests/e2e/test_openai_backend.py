"""spillway in front of an OpenAI-compatible server (a fake one, started here), as the
single-region example config describes it."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import ROOT, text_of, user

SEEN = []


class FakeOpenAI(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        SEEN.append((self.path, body))
        if self.path.endswith("/embeddings"):
            data = [{"index": i, "embedding": [0.5, 0.5, 0.5, 0.5]} for i, _ in enumerate(body["input"])]
            return self.reply({"data": data, "usage": {"prompt_tokens": 4}})
        words = ["Hello", " from", " the", " fake", " server", "."]
        if not body.get("stream"):
            return self.reply({
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(words)}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 6, "total_tokens": 17},
            })
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        for w in words:
            self.wfile.write(f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': w}}]})}\n\n".encode())
        self.wfile.write(f"data: {json.dumps({'choices': [{'index': 0, 'delta': {}, 'finish_reason': 'stop'}]})}\n\n".encode())
        usage = {"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 6, "total_tokens": 17}}
        self.wfile.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())
        self.wfile.flush()
        self.close_connection = True

    def reply(self, obj):
        raw = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture(scope="module")
def fake_openai():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


@pytest.fixture(scope="module")
def behind_openai(fake_openai, tmp_path_factory):
    from conftest import Server

    example = (ROOT / "examples" / "single-region-openai.toml").read_text()
    config = tmp_path_factory.mktemp("cfg") / "openai.toml"
    config.write_text(example.replace("http://127.0.0.1:8000/v1", fake_openai))
    server = Server(["--config", str(config)])
    yield server
    server.stop()


def test_converse_through_openai_backend(behind_openai):
    SEEN.clear()
    r = behind_openai.client().converse(
        modelId="meta.llama3-8b-instruct-v1:0",
        system=[{"text": "Be brief."}],
        messages=user("Hi"),
        inferenceConfig={"maxTokens": 32, "temperature": 0.2, "stopSequences": ["END"]},
    )
    assert text_of(r) == "Hello from the fake server."
    assert r["usage"] == {"inputTokens": 11, "outputTokens": 6, "totalTokens": 17}
    path, sent = SEEN[-1]
    assert path == "/v1/chat/completions"
    assert sent["model"] == "llama3-8b"
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["max_tokens"] == 32 and sent["stop"] == ["END"]


def test_converse_stream_through_openai_backend(behind_openai):
    events = list(behind_openai.client().converse_stream(modelId="meta.llama3-8b-instruct-v1:0", messages=user("Hi"))["stream"])
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == "Hello from the fake server."
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 6


def test_invoke_llama_body_through_openai_backend(behind_openai):
    body = json.dumps({"prompt": "Hi", "max_gen_len": 16})
    out = json.loads(behind_openai.client().invoke_model(modelId="meta.llama3-8b-instruct-v1:0", body=body)["body"].read())
    assert out["generation"] == "Hello from the fake server."
    assert out["generation_token_count"] == 6
