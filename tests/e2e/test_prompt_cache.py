"""Prompt caching: cache points in system, messages and tools; the simulator's prefix
cache reports a write and then a read (with their TTLs), in Converse, ConverseStream
metadata and the invocation of an OpenAI-compatible server that reports cached tokens;
the cost report prices reads and writes at their own prices."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import ClientError

from conftest import ROOT, Server, user

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
# Long enough for the simulator's minimum cacheable prefix (1024 tokens): one token a word.
MANUAL = "You answer questions about the storage manual." + " volume" * 1200


def system(ttl=None, text=MANUAL):
    point = {"type": "default", **({"ttl": ttl} if ttl else {})}
    return [{"text": text}, {"cachePoint": point}]


def test_cached_prefix_is_written_then_read_and_priced(start_server):
    server = start_server("--backend", "sim")
    client = server.client()
    first = client.converse(modelId=HAIKU, system=system(), messages=user("What is a volume?"))["usage"]
    assert first["cacheReadInputTokens"] == 0 and first["cacheWriteInputTokens"] > 1200
    assert first["cacheDetails"] == [{"ttl": "5m", "inputTokens": first["cacheWriteInputTokens"]}]
    second = client.converse(modelId=HAIKU, system=system(), messages=user("And a bucket?"))["usage"]
    assert second["cacheReadInputTokens"] == first["cacheWriteInputTokens"]
    assert second["cacheWriteInputTokens"] == 0 and "cacheDetails" not in second
    assert second["inputTokens"] < 50  # only the uncached question
    assert second["totalTokens"] == second["inputTokens"] + second["outputTokens"] + second["cacheReadInputTokens"]
    # ConverseStream's metadata reports the read too.
    events = list(client.converse_stream(modelId=HAIKU, system=system(), messages=user("Hi"))["stream"])
    assert events[-1]["metadata"]["usage"]["cacheReadInputTokens"] == first["cacheWriteInputTokens"]
    third = events[-1]["metadata"]["usage"]
    # Claude 3 Haiku: input $0.00025/1K, output $0.00125/1K; cache reads 0.1x and
    # 5-minute writes 1.25x the input price.
    per_1k = lambda n, price: n / 1000 * price  # noqa: E731
    expected = sum(
        per_1k(u["inputTokens"], 0.00025) + per_1k(u["outputTokens"], 0.00125)
        + per_1k(u["cacheReadInputTokens"], 0.000025) + per_1k(u["cacheWriteInputTokens"], 0.0003125)
        for u in (first, second, third)
    )
    uncached = sum(per_1k(u["inputTokens"] + u["cacheReadInputTokens"] + u["cacheWriteInputTokens"], 0.00025)
                   + per_1k(u["outputTokens"], 0.00125) for u in (first, second, third))
    status, _, body = server.raw("GET", "/spillway/usage?by=model")
    assert status == 200, body
    row = next(r for r in json.loads(body)["rows"] if r["key"] == HAIKU)
    assert row["invocations"] == 3
    assert row["costUsd"] == pytest.approx(expected, abs=2e-6)
    assert row["costUsd"] != pytest.approx(uncached, abs=2e-6)


def test_one_hour_points_tools_and_messages(spillway):
    client = spillway.client()
    tools = {"tools": [{"toolSpec": {"name": "lookup", "description": "Look up" + " manual" * 1100,
                                     "inputSchema": {"json": {"type": "object"}}}},
                       {"cachePoint": {"type": "default", "ttl": "1h"}}]}
    first = client.converse(modelId=HAIKU, toolConfig=tools, messages=user("Hi there"))["usage"]
    assert first["cacheDetails"] == [{"ttl": "1h", "inputTokens": first["cacheWriteInputTokens"]}]
    assert client.converse(modelId=HAIKU, toolConfig=tools, messages=user("Hi again"))["usage"]["cacheReadInputTokens"] > 0
    # A cache point inside the conversation caches everything before it.
    doc = [{"role": "user", "content": [{"text": "Read this:" + " block" * 1100}, {"cachePoint": {"type": "default"}},
                                        {"text": "Summarise."}]}]
    assert client.converse(modelId=HAIKU, messages=doc)["usage"]["cacheWriteInputTokens"] > 1100
    assert client.converse(modelId=HAIKU, messages=doc)["usage"]["cacheReadInputTokens"] > 1100


def test_short_prefixes_are_not_cached_and_bad_points_are_refused(spillway):
    client = spillway.client()
    usage = client.converse(modelId=HAIKU, system=system(text="Be brief."), messages=user("Hi"))["usage"]
    assert "cacheReadInputTokens" not in usage and "cacheWriteInputTokens" not in usage
    bad = [{"text": "a"}, {"cachePoint": {"type": "default"}}, {"text": "b"},
           {"cachePoint": {"type": "default", "ttl": "1h"}}]
    with pytest.raises(ClientError) as e:
        client.converse(modelId=HAIKU, system=bad, messages=user("Hi"))
    assert e.value.response["Error"]["Message"].endswith("system[3].cachePoint")


class CachingServer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers["content-length"]))
        raw = json.dumps({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Cached."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1500, "completion_tokens": 2, "total_tokens": 1502,
                      "prompt_tokens_details": {"cached_tokens": 1024}},
        }).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def test_openai_backend_maps_the_servers_cached_tokens(tmp_path):
    fake = ThreadingHTTPServer(("127.0.0.1", 0), CachingServer)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    config = tmp_path / "openai.toml"
    example = (ROOT / "examples" / "single-region-openai.toml").read_text()
    config.write_text(example.replace("http://127.0.0.1:8000/v1", f"http://127.0.0.1:{fake.server_address[1]}/v1"))
    server = Server(["--config", str(config)])
    try:
        usage = server.client().converse(modelId="meta.llama3-8b-instruct-v1:0", system=system(),
                                         messages=user("Hi"))["usage"]
        assert usage == {"inputTokens": 476, "outputTokens": 2, "totalTokens": 1502,
                         "cacheReadInputTokens": 1024, "cacheWriteInputTokens": 0}
    finally:
        server.stop()
        fake.shutdown()
