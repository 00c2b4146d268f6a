"""Helpers for the cluster tests: a Redis of the test's own (so it can be stopped and
restarted), instance configs built from the built-in catalog, and concurrent bursts of
boto3 clients spread over several instances."""

import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

import boto3
from botocore.config import Config

from conftest import ROOT, Server

BUILTIN = (ROOT / "crates" / "catalog" / "builtin.toml").read_text()
LOCAL_BLOCK = '[backends.local]\nkind = "local"\ncontext = 4096\ndefault_max_tokens = 256\n'
SONNET35 = "anthropic.claude-3-5-sonnet-20240620-v1:0"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    """A redis-server on a free port, without persistence: a restart starts empty, as a
    replacement node would."""

    def __init__(self):
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def config(tmp, prefix, ttft_ms=20, fail="local", lease_ttl_ms=2000, timeout_ms=250):
    """The built-in catalog with the local model replaced by a simulator of `ttft_ms`
    and room for every concurrent call (only quotas may refuse), plus `[cluster]`."""
    assert LOCAL_BLOCK in BUILTIN
    sim = (
        f'[backends.local]\nkind = "sim"\nttft_ms = {ttft_ms}\ntokens_per_second = 0\n'
        "max_concurrency = 2048\noutput_tokens = 8\n"
    )
    text = BUILTIN.replace(LOCAL_BLOCK, sim)
    text += (
        f'\n[cluster]\nfail = "{fail}"\ninstances = 3\nlease_ttl_ms = {lease_ttl_ms}\n'
        f'timeout_ms = {timeout_ms}\nkey_prefix = "{prefix}"\n'
    )
    path = pathlib.Path(tmp) / f"cluster-{prefix}.toml"
    path.write_text(text)
    return path


def start_cluster(start_server, redis_url, n=3, **kwargs):
    prefix = "e2e-" + os.urandom(4).hex()
    path = config(tempfile.mkdtemp(prefix="spillway-cluster-"), prefix, **kwargs)
    return [start_server("--config", str(path), "--redis", redis_url) for _ in range(n)]


def metric(server, name):
    """The value of an unlabelled gauge at /metrics, or None."""
    with urllib.request.urlopen(server.url + "/metrics") as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


class Burst:
    """`n` boto3 clients, spread round-robin over `servers`, each sending one Converse
    call at the same moment. Counts admitted calls, throttles and ServiceUnavailable
    answers (the quota store unreachable under `fail = "closed"`); anything else is kept
    in `errors`."""

    def __init__(self, servers, n, model, region, max_tokens, read_timeout=60):
        cfg = Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=read_timeout,
                     connect_timeout=10, max_pool_connections=2)
        self.clients = [
            boto3.client("bedrock-runtime", region_name=region, endpoint_url=servers[i % len(servers)].url, config=cfg)
            for i in range(n)
        ]
        self.model, self.max_tokens = model, max_tokens
        self.admitted = self.throttled = self.unavailable = 0
        self.unavailable_messages = set()
        self.errors = []
        self.lock = threading.Lock()

    def _one(self, client, gate):
        gate.wait()
        try:
            client.converse(
                modelId=self.model,
                messages=[{"role": "user", "content": [{"text": "Hi"}]}],
                inferenceConfig={"maxTokens": self.max_tokens},
            )
            outcome = "ok"
        except client.exceptions.ThrottlingException:
            outcome = "throttled"
        except client.exceptions.ServiceUnavailableException as e:
            outcome = "unavailable"
            with self.lock:
                self.unavailable_messages.add(e.response["Error"]["Message"])
        except Exception as e:  # noqa: BLE001 - every other outcome is reported by the test
            outcome = repr(e)
        with self.lock:
            if outcome == "ok":
                self.admitted += 1
            elif outcome == "throttled":
                self.throttled += 1
            elif outcome == "unavailable":
                self.unavailable += 1
            else:
                self.errors.append(outcome)

    def run(self, background=False):
        """Fires every call at once; returns the seconds from the start to the last answer
        (or the threads, when `background`)."""
        gate = threading.Barrier(len(self.clients) + 1)
        threads = [threading.Thread(target=self._one, args=(c, gate), daemon=True) for c in self.clients]
        for t in threads:
            t.start()
        gate.wait()
        started = time.monotonic()
        if background:
            return threads
        for t in threads:
            t.join()
        return time.monotonic() - started


def refill(per_minute, seconds, cost=1):
    """Whole requests of `cost` a bucket of `per_minute` refills in `seconds`."""
    return int(per_minute * seconds / 60 / cost)
