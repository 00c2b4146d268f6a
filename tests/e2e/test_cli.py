"""The AWS CLI against spillway, and `spillway check-config`."""

import json
import os
import pathlib
import subprocess
import sys

from conftest import BINARY, CONFIGS, ROOT

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


def aws(server, *args, region="us-east-1"):
    # The CLI installed next to this interpreter (the test venv), not whatever is on PATH.
    exe = pathlib.Path(sys.executable).with_name("aws")
    cmd = [str(exe) if exe.exists() else "aws", "--endpoint-url", server.url, "--region", region, "--output", "json", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, AWS_MAX_ATTEMPTS="1"))


def test_cli_converse(spillway):
    out = aws(spillway, "bedrock-runtime", "converse", "--model-id", HAIKU,
              "--messages", json.dumps([{"role": "user", "content": [{"text": "Hello"}]}]))
    assert out.returncode == 0, out.stderr
    response = json.loads(out.stdout)
    assert response["output"]["message"]["content"][0]["text"]
    assert response["stopReason"] == "end_turn"


def test_cli_invoke_model(spillway, tmp_path):
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 20,
                       "messages": [{"role": "user", "content": "Hello"}]})
    outfile = tmp_path / "out.json"
    out = aws(spillway, "bedrock-runtime", "invoke-model", "--model-id", HAIKU, "--body", body,
              str(outfile))
    assert out.returncode == 0, out.stderr
    assert json.loads(outfile.read_text())["type"] == "message"


def test_cli_availability_error_text(spillway):
    out = aws(spillway, "bedrock-runtime", "converse", "--model-id", "anthropic.claude-3-5-sonnet-20240620-v1:0",
              "--messages", json.dumps([{"role": "user", "content": [{"text": "Hi"}]}]), region="eu-west-3")
    assert out.returncode != 0
    assert "(ValidationException)" in out.stderr
    assert "The provided model doesn't support on-demand throughput." in out.stderr


def check_config(path):
    return subprocess.run([str(BINARY), "check-config", str(path)], capture_output=True, text=True)


def test_check_config_accepts_shipped_configs():
    for path in [CONFIGS / "faults.toml", *sorted((ROOT / "examples").glob("*.toml"))]:
        out = check_config(path)
        assert out.returncode == 0, (path, out.stderr)
        assert ": ok (" in out.stdout


def test_check_config_names_the_offending_key(tmp_path):
    text = (CONFIGS / "faults.toml").read_text().replace('rpm = 1000, tpm = 2000000, backend = "throttled"', 'rpm = 1000, tmp = 2000000, backend = "throttled"')
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    out = check_config(bad)
    assert out.returncode != 0
    assert "models[0].regions.us-east-1" in out.stderr
    assert "tmp" in out.stderr


def test_check_config_names_a_dangling_reference(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text((CONFIGS / "faults.toml").read_text().replace('regions = ["us-east-1", "us-west-2"]', 'regions = ["us-east-1", "mars-1"]'))
    out = check_config(bad)
    assert out.returncode != 0
    assert "profiles[0].regions[1]" in out.stderr and "mars-1" in out.stderr


def test_serve_refuses_non_loopback_without_accounts(tmp_path):
    out = subprocess.run([str(BINARY), "serve", "--listen", "0.0.0.0:0", "--data-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "loopback" in out.stderr
