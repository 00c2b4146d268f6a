"""The AWS SDK for JavaScript v3 (@aws-sdk/client-bedrock-runtime and
@aws-sdk/client-bedrock, from npm: tests/e2e/js, installed by scripts/test.sh with
`npm ci`) against the real binary. Each scenario is a node script in tests/e2e/js that
asserts with node:assert and exits 1 on failure; this file starts the servers it needs
and checks what only this side can see (what a fake backend received, the cost report)."""

import json
import os
import pathlib
import shutil
import subprocess
import threading
from http.server import ThreadingHTTPServer

import pytest

from conftest import CONFIGS, ROOT, Server
from test_reasoning import CONFIG as REASONER_CONFIG
from test_reasoning import Reasoner
from test_structured_output import SCHEMA, SEEN as STRUCTURED_SEEN
from test_structured_output import FakeOpenAI

JS = pathlib.Path(__file__).resolve().parent / "js"


def node(script, scenario, url, **env):
    """Runs one scenario against the server at `url`: what it returned, as JSON."""
    if shutil.which("node") is None or not (JS / "node_modules" / "@aws-sdk" / "client-bedrock-runtime").is_dir():
        pytest.fail("the JavaScript SDK is not installed: run `npm ci` in tests/e2e/js (scripts/test.sh does)")
    env = dict(os.environ, SPILLWAY_URL=url, **env)
    # The SDK would otherwise prefer a Bedrock API key from the environment.
    env.pop("AWS_BEARER_TOKEN_BEDROCK", None)
    proc = subprocess.run(["node", str(JS / script), scenario], cwd=JS, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, f"{script} {scenario} failed:\n{proc.stderr}"
    return json.loads(proc.stdout)


@pytest.mark.parametrize("scenario", ["globalProfileFromParis", "profileOnlyByBareId", "invokeModel", "errors"])
def test_runtime(spillway, scenario):
    node("runtime.mjs", scenario, spillway.url)


def test_failures_are_the_modeled_exceptions(faults):
    node("runtime.mjs", "faults", faults.url)


def test_control_plane_from_paris(spillway):
    seen = node("control.mjs", "listings", spillway.url)
    assert seen["pages"] > 1


@pytest.mark.parametrize("scenario", ["sigv4", "apiKey"])
def test_authentication(start_server, scenario):
    server = start_server("--config", str(CONFIGS / "accounts.toml"))
    node("auth.mjs", scenario, server.url)


def test_authentication_over_tls(start_server):
    # HTTP/2 by ALPN this time; node trusts the development CA as a user would make it.
    server = start_server("--config", str(CONFIGS / "accounts.toml"), "--tls-self-signed")
    assert server.url.startswith("https://")
    node("auth.mjs", "sigv4", server.url, NODE_EXTRA_CA_CERTS=str(pathlib.Path(server.data_dir) / "tls" / "ca.pem"))


def test_cached_prefix_is_written_then_read_and_priced(start_server):
    server = start_server("--backend", "sim")
    usages = node("cache.mjs", "cachedPrefix", server.url)
    # Claude 3 Haiku: input $0.00025/1K, output $0.00125/1K; cache reads 0.1x and
    # 5-minute writes 1.25x the input price.
    expected = sum(
        (u["inputTokens"] * 0.00025 + u["outputTokens"] * 0.00125
         + u["cacheReadInputTokens"] * 0.000025 + u["cacheWriteInputTokens"] * 0.0003125) / 1000
        for u in usages
    )
    status, _, body = server.raw("GET", "/spillway/usage?by=model")
    assert status == 200, body
    row = next(r for r in json.loads(body)["rows"] if r["key"] == "anthropic.claude-3-haiku-20240307-v1:0")
    assert row["invocations"] == 3
    assert row["costUsd"] == pytest.approx(expected, abs=2e-6)


def fake_backend(handler):
    fake = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    fake.daemon_threads = True
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    return fake, f"http://127.0.0.1:{fake.server_address[1]}/v1"


@pytest.fixture(scope="module")
def reasoner(tmp_path_factory):
    fake, url = fake_backend(Reasoner)
    config = tmp_path_factory.mktemp("cfg") / "reasoner.toml"
    config.write_text(REASONER_CONFIG.format(url=url))
    server = Server(["--config", str(config)])
    yield server
    server.stop()
    fake.shutdown()


@pytest.mark.parametrize("scenario", ["replay", "stream"])
def test_reasoning(reasoner, scenario):
    node("reasoning.mjs", scenario, reasoner.url)


def test_json_schema_reaches_the_backend(tmp_path):
    fake, url = fake_backend(FakeOpenAI)
    config = tmp_path / "openai.toml"
    example = (ROOT / "examples" / "single-region-openai.toml").read_text()
    config.write_text(example.replace("http://127.0.0.1:8000/v1", url))
    server = Server(["--config", str(config)])
    try:
        STRUCTURED_SEEN.clear()
        node("structured.mjs", "jsonSchema", server.url)
        # The refused schema never reached the backend.
        assert len(STRUCTURED_SEEN) == 1
        assert STRUCTURED_SEEN[0]["response_format"] == {"type": "json_schema", "json_schema": {
            "name": "city", "description": "A city.", "schema": SCHEMA, "strict": True}}
    finally:
        server.stop()
        fake.shutdown()
