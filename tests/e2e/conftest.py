"""End-to-end harness: the real `spillway` binary on a free port, driven by boto3 and
the AWS CLI exactly as a user would, with only `endpoint_url` changed."""

import json
import os
import pathlib
import subprocess
import tempfile
import threading
import urllib.request

import boto3
import pytest
from botocore.config import Config

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIGS = pathlib.Path(__file__).resolve().parent / "configs"
BINARY = pathlib.Path(os.environ.get("SPILLWAY_BIN", ROOT / "target" / "debug" / "spillway"))

# Dummy credentials: spillway on loopback accepts any signature; the scope's region is
# what matters (it is the caller's source region).
os.environ.setdefault("AWS_ACCESS_KEY_ID", "AKIDSPILLWAYTEST")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "spillway-test-secret")
os.environ.pop("AWS_BEARER_TOKEN_BEDROCK", None)
os.environ.pop("AWS_PROFILE", None)


class Server:
    """One running spillway process."""

    def __init__(self, args, data_dir=None):
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="spillway-e2e-")
        cmd = [str(BINARY), "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir, *args]
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            err = self.proc.stderr.read()
            raise RuntimeError(f"spillway did not start: {line!r} {err}")
        self.url = line.strip().split()[-1]
        # Keep draining stderr so a chatty server never blocks on a full pipe.
        self._stderr = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stderr:
            self._stderr.append(line)

    def client(self, service="bedrock-runtime", region="us-east-1", **config):
        cfg = Config(retries={"max_attempts": 1, "mode": "standard"}, **config)
        return boto3.client(service, region_name=region, endpoint_url=self.url, config=cfg)

    def raw(self, method, path, body=None, headers=None):
        """A plain HTTP request (no SDK), for inputs the SDKs refuse to send."""
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="session")
def spillway():
    """The service on its embedded defaults, with the simulator as every backend."""
    server = Server(["--backend", "sim"])
    yield server
    server.stop()


@pytest.fixture(scope="session")
def faults():
    """A catalog whose regions have failing backends (tests/e2e/configs/faults.toml)."""
    server = Server(["--config", str(CONFIGS / "faults.toml")])
    yield server
    server.stop()


@pytest.fixture
def start_server():
    servers = []

    def start(*args, data_dir=None):
        s = Server(list(args), data_dir=data_dir)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


def text_of(response):
    return "".join(b.get("text", "") for b in response["output"]["message"]["content"])


def user(text):
    return [{"role": "user", "content": [{"text": text}]}]
