#!/usr/bin/env python3
"""The benchmark's orchestration, started by bench/run.sh (which builds and installs first).

Starts the mock backend, spillway, nginx and the LiteLLM proxy on free 127.0.0.1 ports,
pinned to CPUs with taskset; drives each scenario with bench-load at saturation, at one
connection and at fixed rates; prints one comparison table and, on a full run, writes it
into bench/README.md between the results markers. Standard library only.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "bench" / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"

PROMPT = "What is the difference between S3, EBS and EFS? Answer in one paragraph."
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
PROFILE = "us." + SONNET
LLAMA = "meta.llama3-8b-instruct-v1:0"
HOLD_MODEL = "bench-hold"
BIG_RPM, BIG_TPM = 100_000_000, 1_000_000_000

OPENAI_BODY = json.dumps({"model": "bench-model", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 256})
OPENAI_STREAM_BODY = json.dumps(
    {
        "model": "bench-model",
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": 256,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
)
CONVERSE_BODY = json.dumps(
    {"messages": [{"role": "user", "content": [{"text": PROMPT}]}], "inferenceConfig": {"maxTokens": 256}}
)
INVOKE_BODY = json.dumps(
    {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": [{"type": "text", "text": PROMPT}]}],
    }
)
# spillway reads only the credential scope's region on loopback; this is what an SDK's
# SigV4 header looks like, with a dummy signature.
SIGV4 = (
    "AWS4-HMAC-SHA256 Credential=AKIDBENCHMARK/20260101/us-east-1/bedrock/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date, Signature=" + "0" * 64
)
LOGGING_CONFIG = json.dumps(
    {"loggingConfig": {"s3Config": {"bucketName": "bench-logs", "keyPrefix": "spillway"}, "textDataDeliveryEnabled": True}}
)
SPILLWAY_HEADERS = ["content-type: application/json", "x-amz-date: 20260101T000000Z", "authorization: " + SIGV4]


def log(msg):
    print(f"== {msg}", file=sys.stderr, flush=True)


def model_path(model_id, op):
    return f"/model/{model_id.replace(':', '%3A')}/{op}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def http(method, url, body=None, headers=None, timeout=30):
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e).encode()


def rss_kib(pid):
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(pid):
    """pid and every process below it (nginx workers, uvicorn workers)."""
    children = {}
    for p in pathlib.Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(p.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss_tree_kib(pid):
    return sum(rss_kib(p) for p in descendants(pid))


def metric_sum(text, name, **labels):
    """Sum of a Prometheus metric's samples whose labels contain `labels` (values match
    as substrings)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        rest = line[len(name) :]
        if rest[:1] not in ("{", " "):
            continue
        label_text, _, value = rest.rpartition(" ")
        if all(f'{k}="' in label_text and v in label_text.split(f'{k}="', 1)[1].split('"', 1)[0] for k, v in labels.items()):
            try:
                total += float(value)
            except ValueError:
                pass
    return total


class Proc:
    """A process this harness started (in its own session, so its children go with it)."""

    def __init__(self, name, cmd, workdir, env=None, first_line=None, timeout=60):
        self.name = name
        self.out_path = workdir / f"{name}.out"
        self.err_path = workdir / f"{name}.err"
        self.cmd = cmd
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, start_new_session=True, cwd=workdir
            )
        self.pid = self.proc.pid
        self.url = None
        if first_line:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                line = self.out_path.read_text(errors="replace").split("\n", 1)
                if len(line) > 1 and first_line in line[0]:
                    self.url = line[0].strip().split()[-1]
                    break
                if self.proc.poll() is not None:
                    break
                time.sleep(0.02)
            if not self.url:
                self.stop()
                raise RuntimeError(f"{name} did not start: {self.tail()}")

    def tail(self, n=2000):
        text = ""
        for p in (self.out_path, self.err_path):
            try:
                text += p.read_text(errors="replace")[-n:]
            except OSError:
                pass
        return text.strip()

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=5)


class Harness:
    def __init__(self, args):
        self.args = args
        self.smoke = args.smoke
        self.workdir = pathlib.Path(tempfile.mkdtemp(prefix="spillway-bench-"))
        self.procs = []
        self.failures = []
        self.notes = []
        self.results = {}  # target name -> {"c1": report, "sat": report, "rate:500": report, ...}
        self.bin_dir = pathlib.Path(args.bin_dir)
        self.load_bin = str(self.bin_dir / "bench-load")
        self.mock_bin = str(self.bin_dir / "bench-mock")
        self.spillway_bin = args.spillway_bin or str(self.bin_dir / "spillway")
        self.placement = self.choose_placement(args.placement)
        if self.smoke:
            self.duration, self.warmup = 0.5, 0.2
            self.rates = [100]
            self.connections = 2
            self.streams = 50
        else:
            self.duration, self.warmup = args.duration, args.warmup
            self.rates = [int(r) for r in args.rates.split(",") if r.strip()]
            self.connections = args.connections
            self.streams = args.streams
        self.versions = {}
        self.memory = {}
        self.reroute = None
        self.completion_bytes = "?"
        self.load_at_start = os.getloadavg()[0]
        self.litellm_workers = None
        self.litellm_probe = {}
        # LiteLLM refuses to start without a strong master key; a fresh one per run.
        self.litellm_key = "sk-bench-" + secrets.token_hex(24)

    # --- processes -------------------------------------------------------------------

    def choose_placement(self, spec):
        n = os.cpu_count() or 1
        have_taskset = shutil.which("taskset") is not None
        if spec:
            place = dict(part.split("=", 1) for part in spec.split(","))
        elif n >= 3:
            place = {"driver": "0", "mock": "1", "gateway": "2"}
        elif n == 2:
            place = {"driver": "0", "mock": "0", "gateway": "1"}
        else:
            place = {}
        if not have_taskset:
            place = {}
        return place

    def pin(self, role, cmd):
        cpu = self.placement.get(role)
        return ["taskset", "-c", cpu, *cmd] if cpu is not None else cmd

    def placement_text(self):
        if not self.placement:
            return "not pinned (one CPU, or no taskset)"
        p = self.placement
        return (
            f"driver (bench-load) on CPU {p['driver']}, mock backend on CPU {p['mock']}, "
            f"gateway under test (spillway / nginx / LiteLLM, one at a time) on CPU {p['gateway']}"
        )

    def start(self, name, cmd, role, **kw):
        p = Proc(name, self.pin(role, cmd), self.workdir, **kw)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.procs):
            p.stop()
        self.procs.clear()

    # --- the driver ----------------------------------------------------------------

    def load(self, label, target, *, rate=None, connections=None, duration=None, warmup=None, extra=()):
        duration = self.duration if duration is None else duration
        warmup = self.warmup if warmup is None else warmup
        cmd = [
            self.load_bin,
            "--url",
            target["url"],
            "--body",
            target["body"],
            "--json",
            "--label",
            label,
            "--duration",
            str(duration),
            "--warmup",
            str(warmup),
            "--timeout-ms",
            str(target.get("timeout_ms", 30_000)),
        ]
        for h in target["headers"]:
            cmd += ["-H", h]
        if target.get("stream"):
            cmd += ["--stream", target["stream"]]
        if rate is not None:
            cmd += ["--rate", str(rate)]
        else:
            cmd += ["--connections", str(connections or 1)]
        cmd += list(extra)
        try:
            out = subprocess.run(
                self.pin("driver", cmd), capture_output=True, text=True, timeout=duration + warmup + 120
            )
        except subprocess.TimeoutExpired:
            return {"label": label, "error": "the driver timed out"}
        if out.returncode != 0:
            return {"label": label, "error": f"bench-load exited {out.returncode}: {out.stderr.strip()[-500:]}"}
        try:
            return json.loads(out.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"label": label, "error": f"unreadable driver output: {out.stdout[-300:]}"}

    def check(self, report):
        """Records a failure unless every request of the run succeeded."""
        label = report.get("label", "?")
        if "error" in report:
            problem = report["error"]
        elif report.get("ok", 0) == 0:
            problem = "no successful answer"
        elif report.get("bad_status") or report.get("errors") or report.get("stream_failures"):
            problem = (
                f"unexpected status {report.get('bad_status')}, errors {report.get('errors')}, "
                f"failure events {report.get('stream_failures')}"
            )
        else:
            return True
        self.failures.append(f"{label}: {problem}")
        log(f"FAILED {label}: {problem}")
        return False

    def measure(self, name, target):
        """c=1, saturation, then the fixed rates the target can carry."""
        res = self.results.setdefault(name, {"title": target["title"], "kind": target["kind"]})
        res["c1"] = self.load(f"{name} c=1", target, connections=1)
        self.check(res["c1"])
        res["sat"] = self.load(f"{name} c={self.connections}", target, connections=self.connections)
        self.check(res["sat"])
        capacity = res["sat"].get("throughput_rps", 0.0)
        for rate in self.rates:
            key = f"rate:{rate}"
            if rate > 0.85 * capacity:
                res[key] = {"skipped": f"over capacity ({capacity:,.0f}/s at saturation)"}
                continue
            res[key] = self.load(f"{name} {rate}/s", target, rate=rate)
            self.check(res[key])
        # Other work on the machine shows up here first: printed beside the row.
        res["loadavg"] = os.getloadavg()[0]
        log(self.summary_line(name))

    def summary_line(self, name):
        r = self.results[name]
        parts = [name]
        for key in ["c1", "sat", *[f"rate:{x}" for x in self.rates]]:
            rep = r.get(key) or {}
            lat = rep.get("latency_us") or {}
            if lat:
                parts.append(f"{key} p50 {lat['p50']:.0f}µs p99 {lat['p99']:.0f}µs {rep['throughput_rps']:,.0f}/s")
        return " | ".join(parts)

    # --- the services ------------------------------------------------------------------

    def start_mock(self):
        cmd = [self.mock_bin, "--listen", "127.0.0.1:0", "--latency-ms", str(self.args.mock_latency_ms)]
        cmd += ["--chunks", str(self.args.chunks), "--hold-model", HOLD_MODEL]
        self.mock = self.start("mock", cmd, "mock", first_line="listening on")
        status, body = http("POST", self.mock.url + "/v1/chat/completions", OPENAI_BODY)
        self.completion_bytes = len(body) if status == 200 else "?"
        log(f"mock backend at {self.mock.url}")

    def spillway_config(self):
        mock = self.mock.url + "/v1"
        quota = f"rpm = {BIG_RPM}, tpm = {BIG_TPM}"
        return f"""# Generated by bench/harness.py: every region's backend is the bench mock.
default_region = "us-east-1"
default_account = "123456789012"
default_backend = "mock"

[backends.mock]
kind = "openai"
base_url = "{mock}"
max_concurrency = 4096
timeout_ms = 600000

# The source region's backend for the profile scenario: one slot, held busy by one open
# stream during that scenario, so every profile call has to re-route to us-west-2.
[backends.mock-tiny]
kind = "openai"
base_url = "{mock}"
max_concurrency = 1
timeout_ms = 600000

[regions.us-east-1]
description = "bench: source region"
[regions.us-west-2]
description = "bench: spill-over region"

[[models]]
id = "{HAIKU}"
name = "Claude 3 Haiku"
provider = "Anthropic"
body_format = "anthropic"
backend_model = "bench-model"
default_max_tokens = 256
max_tokens_limit = 4096
[models.regions]
us-east-1 = {{ {quota} }}
us-west-2 = {{ {quota} }}

[[models]]
id = "{SONNET}"
name = "Claude 3.5 Sonnet"
provider = "Anthropic"
body_format = "anthropic"
backend_model = "bench-model"
default_max_tokens = 256
max_tokens_limit = 4096
[models.regions]
us-east-1 = {{ backend = "mock-tiny", backend_model = "{HOLD_MODEL}", {quota} }}
us-west-2 = {{ {quota} }}

# Every call of this model gets a stream that never ends (memory with open streams).
[[models]]
id = "{LLAMA}"
name = "Llama 3 8B Instruct"
provider = "Meta"
body_format = "llama"
backend_model = "{HOLD_MODEL}"
default_max_tokens = 256
max_tokens_limit = 2048
[models.regions]
us-east-1 = {{ {quota} }}

[[profiles]]
id = "{PROFILE}"
name = "US Anthropic Claude 3.5 Sonnet"
model = "{SONNET}"
regions = ["us-east-1", "us-west-2"]
"""

    def start_spillway(self):
        cfg = self.workdir / "spillway.toml"
        cfg.write_text(self.spillway_config())
        check = subprocess.run([self.spillway_bin, "check-config", str(cfg)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"spillway rejects the generated config: {check.stdout}{check.stderr}")
        data = self.workdir / "spillway-data"
        cmd = [self.spillway_bin, "serve", "--config", str(cfg), "--listen", "127.0.0.1:0", "--data-dir", str(data)]
        self.spillway = self.start("spillway", cmd, "gateway", first_line="listening on")
        log(f"spillway at {self.spillway.url} (pid {self.spillway.pid})")
        self.enable_invocation_logging()

    def enable_invocation_logging(self):
        """Every feature on in the measured configuration (issue 13): the benchmark
        account logs its calls in us-east-1, text delivery to the (local) S3 bucket."""
        headers = dict(h.split(": ", 1) for h in SPILLWAY_HEADERS)
        status, body = http("PUT", self.spillway.url + "/logging/modelinvocations", LOGGING_CONFIG, headers)
        if status != 200:
            raise RuntimeError(f"spillway refused the invocation-logging configuration: {status} {body[:300]!r}")

    def start_nginx(self):
        nginx = self.args.nginx
        if not nginx or not os.access(nginx, os.X_OK):
            self.notes.append("nginx: not available (not installed)")
            return None
        prefix = self.workdir / "nginx"
        prefix.mkdir()
        port = free_port()
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = prefix / "nginx.conf"
        conf.write_text(
            f"""{user}worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 10000000;
    upstream mock {{
        server {self.mock.url.split('//', 1)[1]};
        keepalive 1024;
        keepalive_requests 10000000;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}
}}
"""
        )
        ver = subprocess.run([nginx, "-v"], capture_output=True, text=True)
        self.versions["nginx"] = (ver.stderr or ver.stdout).strip().split("/")[-1]
        cmd = [nginx, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf), "-g", "daemon off;"]
        proc = self.start("nginx", cmd, "gateway")
        if not wait_port(port, 15) or not proc.alive():
            self.notes.append(f"nginx: not available (did not start: {proc.tail(300)})")
            proc.stop()
            return None
        url = f"http://127.0.0.1:{port}"
        status, body = http("POST", url + "/v1/chat/completions", OPENAI_BODY, {"content-type": "application/json"})
        if status != 200:
            self.notes.append(f"nginx: not available (test request answered {status}: {body[:200]!r})")
            proc.stop()
            return None
        proc.url = url
        log(f"nginx {self.versions['nginx']} at {url} (pid {proc.pid})")
        return proc

    def start_litellm(self, workers=1):
        litellm = self.args.litellm
        if not litellm or not os.access(litellm, os.X_OK):
            self.notes.append("LiteLLM: not available (not installed)")
            return None
        port = free_port()
        cfg = self.workdir / "litellm.yaml"
        cfg.write_text(
            f"""model_list:
  - model_name: bench-model
    litellm_params:
      model: openai/bench-model
      api_base: {self.mock.url}/v1
      api_key: sk-bench
litellm_settings:
  telemetry: false
  drop_params: true
"""
        )
        env = dict(os.environ)
        env.update(
            {
                # Nothing may leave the machine: bundled catalogs, no telemetry, and any
                # stray outbound request goes to a dead local port.
                "LITELLM_OFFLINE_MODE": "true",
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "true",
                "LITELLM_TELEMETRY": "False",
                "LITELLM_LOG": "ERROR",
                "LITELLM_MASTER_KEY": self.litellm_key,
                "HTTP_PROXY": "http://127.0.0.1:9",
                "HTTPS_PROXY": "http://127.0.0.1:9",
                "http_proxy": "http://127.0.0.1:9",
                "https_proxy": "http://127.0.0.1:9",
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
            }
        )
        python = pathlib.Path(litellm).parent / "python"
        ver = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
            capture_output=True,
            text=True,
        )
        self.versions["litellm"] = ver.stdout.strip() or "?"
        workers = str(workers)
        cmd = [litellm, "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port), "--num_workers", workers]
        proc = self.start("litellm", cmd, "gateway", env=env)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        ready = False
        while time.monotonic() < deadline and proc.alive():
            status, _ = http("GET", url + "/health/liveliness", timeout=2)
            if status == 200:
                ready = True
                break
            time.sleep(0.5)
        if not ready:
            said = proc.tail(600).strip() or "no output"
            self.notes.append(f"LiteLLM with {workers} worker(s): did not start ({said})")
            proc.stop()
            return None
        headers = {"content-type": "application/json", "authorization": "Bearer " + self.litellm_key}
        status, body = http("POST", url + "/v1/chat/completions", OPENAI_BODY, headers, timeout=60)
        if status != 200:
            self.notes.append(f"LiteLLM: not available (test request answered {status}: {body[:200]!r})")
            proc.stop()
            return None
        proc.url = url
        log(f"LiteLLM {self.versions['litellm']} at {url} (pid {proc.pid}, {workers} worker(s))")
        return proc

    def metrics(self):
        _, body = http("GET", self.spillway.url + "/metrics")
        return body.decode(errors="replace")

    def wait_in_flight(self, backend, want, timeout):
        deadline = time.monotonic() + timeout
        got = 0.0
        while time.monotonic() < deadline:
            got = metric_sum(self.metrics(), "spillway_backend_in_flight", backend=backend, region="us-east-1")
            if got >= want:
                return got
            time.sleep(0.05)
        return got

    # --- scenarios -----------------------------------------------------------------

    @staticmethod
    def openai_target(title, kind, base, stream=False, key="sk-bench"):
        return {
            "title": title,
            "kind": kind,
            "url": base + "/v1/chat/completions",
            "body": OPENAI_STREAM_BODY if stream else OPENAI_BODY,
            "headers": ["content-type: application/json", "authorization: Bearer " + key],
            "stream": "sse" if stream else None,
        }

    def spillway_target(self, title, model_id, op, body, stream=False):
        return {
            "title": title,
            "kind": "spillway",
            "url": self.spillway.url + model_path(model_id, op),
            "body": body,
            "headers": SPILLWAY_HEADERS,
            "stream": "event-stream" if stream else None,
        }

    def best_litellm(self):
        """LiteLLM with the worker count (of --litellm-workers) that carries the most
        requests at saturation, as issue 7 measured it ("best of 1 or 2 workers")."""
        counts = [int(w) for w in str(self.args.litellm_workers).split(",") if w.strip()] or [1]
        if len(counts) == 1 or self.smoke:
            self.litellm_workers = counts[0]
            return self.start_litellm(counts[0])
        best = None
        for w in counts:
            proc = self.start_litellm(w)
            if proc is None:
                continue
            target = self.openai_target("probe", "peer", proc.url, key=self.litellm_key)
            rep = self.load(f"litellm probe {w} worker(s)", target, connections=self.connections)
            rps = rep.get("throughput_rps", 0.0) if self.check(rep) else 0.0
            log(f"LiteLLM with {w} worker(s): {rps:,.1f} req/s at saturation")
            self.litellm_probe[w] = rps
            proc.stop()
            self.procs.remove(proc)
            if best is None or rps > best[1]:
                best = (w, rps)
        if best is None:
            return None
        self.litellm_workers = best[0]
        return self.start_litellm(best[0])

    def run_peer(self, name, starter, stream_too=True):
        proc = starter()
        if proc is None:
            return
        try:
            self.results_rss[f"{TITLES[name]} RSS idle"] = rss_tree_kib(proc.pid)
            key = self.litellm_key if name == "litellm" else "sk-bench"
            self.measure(name, self.openai_target(TITLES[name], "peer", proc.url, key=key))
            if stream_too:
                target = self.openai_target(TITLES[name + "-stream"], "peer", proc.url, True, key=key)
                self.measure(name + "-stream", target)
            self.results_rss[f"{TITLES[name]} RSS after its load"] = rss_tree_kib(proc.pid)
        finally:
            proc.stop()
            self.procs.remove(proc)

    def run_spillway(self):
        self.start_spillway()
        sp = self.spillway
        time.sleep(0.5)
        self.memory["idle_fresh_kib"] = rss_kib(sp.pid)
        self.measure("spillway-converse", self.spillway_target(TITLES["spillway-converse"], HAIKU, "converse", CONVERSE_BODY))
        self.measure("spillway-invoke", self.spillway_target(TITLES["spillway-invoke"], HAIKU, "invoke", INVOKE_BODY))
        self.measure(
            "spillway-stream",
            self.spillway_target(TITLES["spillway-stream"], HAIKU, "converse-stream", CONVERSE_BODY, stream=True),
        )
        self.run_profile()
        time.sleep(0.5)
        self.memory["idle_after_kib"] = rss_kib(sp.pid)
        self.run_open_streams()

    def run_profile(self):
        """Profile calls with the source region's only slot held by one open stream, so
        every call runs in the other region."""
        holder_target = self.spillway_target("holder", SONNET, "converse-stream", CONVERSE_BODY, stream=True)
        cmd = [self.load_bin, "--url", holder_target["url"], "--body", CONVERSE_BODY, "--stream", "event-stream"]
        cmd += ["--connections", "1", "--max-requests", "1", "--duration", "3600", "--warmup", "0", "--grace-ms", "0"]
        cmd += ["--timeout-ms", "3600000"]
        for h in SPILLWAY_HEADERS:
            cmd += ["-H", h]
        holder = self.start("holder", cmd, "driver")
        try:
            if self.wait_in_flight("mock-tiny", 1, 15) < 1:
                self.failures.append("profile: the source region's slot could not be held busy")
                return
            before = self.metrics()
            target = self.spillway_target(TITLES["spillway-profile"], PROFILE, "converse", CONVERSE_BODY)
            self.measure("spillway-profile", target)
            after = self.metrics()
            calls = metric_sum(after, "Invocations", ModelId=PROFILE) - metric_sum(before, "Invocations", ModelId=PROFILE)
            moved = metric_sum(after, "spillway_reroutes_total", source_region="us-east-1", inference_region="us-west-2")
            moved -= metric_sum(before, "spillway_reroutes_total", source_region="us-east-1", inference_region="us-west-2")
            self.reroute = {"calls": calls, "rerouted": moved}
            if calls <= 0 or moved < calls:
                self.failures.append(f"profile: {moved:.0f} of {calls:.0f} profile calls re-routed (expected all)")
        finally:
            holder.stop()
            self.procs.remove(holder)

    def run_open_streams(self):
        """RSS with N ConverseStream responses held open (the mock never ends them)."""
        n = self.streams
        target = self.spillway_target("open streams", LLAMA, "converse-stream", CONVERSE_BODY, stream=True)
        cmd = [self.load_bin, "--url", target["url"], "--body", CONVERSE_BODY, "--stream", "event-stream", "--json"]
        cmd += ["--connections", str(n), "--max-requests", str(n), "--warmup", "0", "--grace-ms", "0"]
        cmd += ["--duration", "6" if self.smoke else "10", "--timeout-ms", "600000", "--label", f"{n} open streams"]
        for h in SPILLWAY_HEADERS:
            cmd += ["-H", h]
        driver = subprocess.Popen(self.pin("driver", cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        open_now = self.wait_in_flight("mock", n, 30)
        samples = []
        for _ in range(5):
            samples.append(rss_kib(self.spillway.pid))
            time.sleep(0.2)
        out, err = driver.communicate(timeout=120)
        try:
            rep = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            rep = {"error": f"unreadable driver output {out[-200:]} {err[-300:]}"}
        self.memory.update({"streams": n, "open_seen": open_now, "open_kib": max(samples), "driver": rep})
        if open_now < n or rep.get("open_at_end", 0) < n:
            self.failures.append(
                f"open streams: {open_now:.0f} in flight at spillway, {rep.get('open_at_end')} open at the driver, "
                f"wanted {n} ({rep.get('errors') or rep.get('error') or ''})"
            )
        # The streams are gone once the driver exits; spillway must notice.
        time.sleep(1.5)
        self.memory["after_close_kib"] = rss_kib(self.spillway.pid)

    def run(self):
        self.results_rss = {}
        log(f"work dir {self.workdir}")
        log(f"placement: {self.placement_text()}")
        self.start_mock()
        direct = self.openai_target(TITLES["direct"], "floor", self.mock.url)
        self.measure("direct", direct)
        self.measure("direct-stream", self.openai_target(TITLES["direct-stream"], "floor", self.mock.url, True))
        if not self.args.no_peers:
            self.run_peer("nginx", self.start_nginx)
            self.run_peer("litellm", self.best_litellm)
        self.run_spillway()
        _, stats = http("GET", self.mock.url + "/stats")
        try:
            self.mock_stats = json.loads(stats)
        except ValueError:
            self.mock_stats = {}

    # --- the report ------------------------------------------------------------------

    def lat(self, name, key, field="latency_us"):
        rep = self.results.get(name, {}).get(key) or {}
        return rep.get(field) or None

    def thr(self, name):
        rep = self.results.get(name, {}).get("sat") or {}
        return rep.get("throughput_rps") or None

    def table(self):
        rates = self.rates
        head = ["scenario", "c=1 p50", "added p50 c=1"]
        for r in rates:
            head += [f"{r:,}/s p50 / p99", f"added @{r:,}/s p50 / p99"]
        head += [f"max req/s (c={self.connections})", "vs direct", "vs nginx", "vs LiteLLM", "load avg"]
        rows = []
        order = [
            "direct",
            "nginx",
            "litellm",
            "spillway-converse",
            "spillway-invoke",
            "spillway-profile",
            "direct-stream",
            "nginx-stream",
            "litellm-stream",
            "spillway-stream",
        ]
        for name in order:
            if name not in self.results:
                continue
            streaming = name.endswith("-stream")
            floor = "direct-stream" if streaming else "direct"
            nginx = "nginx-stream" if streaming else "nginx"
            litellm = "litellm-stream" if streaming else "litellm"
            row = [self.results[name]["title"]]
            c1, f1 = self.lat(name, "c1"), self.lat(floor, "c1")
            row.append(us(c1 and c1["p50"]))
            row.append("—" if name == floor else plus(c1 and f1 and c1["p50"] - f1["p50"]))
            for r in rates:
                key = f"rate:{r}"
                skipped = (self.results[name].get(key) or {}).get("skipped")
                a, f = self.lat(name, key), self.lat(floor, key)
                if skipped:
                    row += ["over capacity", "—"]
                    continue
                row.append(f"{us(a and a['p50'])} / {us(a and a['p99'])}")
                if name == floor:
                    row.append("—")
                else:
                    row.append(f"{plus(a and f and a['p50'] - f['p50'])} / {plus(a and f and a['p99'] - f['p99'])}")
            t = self.thr(name)
            row.append(f"{t:,.0f}" if t else "—")
            for other in (floor, nginx, litellm):
                o = self.thr(other)
                row.append("—" if name == other or not (t and o) else ratio(t / o))
            load = self.results[name].get("loadavg")
            row.append("—" if load is None else f"{load:.2f}")
            rows.append(row)
        return markdown(head, rows)

    def stream_table(self):
        head = ["stream", "first byte c=1 p50", "first byte p50 / p99 at the top rate", "events/answer", f"events/s (c={self.connections})"]
        rows = []
        top = f"rate:{self.rates[-1]}" if self.rates else None
        for name in ["direct-stream", "nginx-stream", "litellm-stream", "spillway-stream"]:
            if name not in self.results:
                continue
            res = self.results[name]
            c1 = self.lat(name, "c1", "ttfb_us")
            rt = self.lat(name, top, "ttfb_us") if top else None
            sat = res.get("sat") or {}
            skipped = (res.get(top) or {}).get("skipped") if top else None
            rows.append(
                [
                    res["title"],
                    us(c1 and c1["p50"]),
                    "over capacity" if skipped else f"{us(rt and rt['p50'])} / {us(rt and rt['p99'])}",
                    f"{sat.get('events_per_response', 0):.0f}",
                    f"{sat.get('events_per_s', 0):,.0f}",
                ]
            )
        return markdown(head, rows)

    def verdict(self):
        """The issue's targets against the Converse row, stated plainly."""
        lines = []
        top = 2000 if 2000 in self.rates else (self.rates[-1] if self.rates else None)
        a = self.lat("spillway-converse", f"rate:{top}") if top else None
        f = self.lat("direct", f"rate:{top}") if top else None
        if a and f:
            p50, p99 = a["p50"] - f["p50"], a["p99"] - f["p99"]
            lines.append(gap(f"added latency p50 at {top:,}/s (Converse)", p50, 60, "µs", lower=True))
            lines.append(gap(f"added latency p99 at {top:,}/s (Converse)", p99, 300, "µs", lower=True))
        else:
            lines.append(f"- added latency at {top}/s: not measured")
        t, n, l = self.thr("spillway-converse"), self.thr("nginx"), self.thr("litellm")
        if t and n:
            lines.append(gap("throughput against nginx proxy_pass (Converse)", t / n, 0.5, "×", lower=False))
        else:
            lines.append("- throughput against nginx proxy_pass: nginx not available")
        if t and l:
            lines.append(gap("throughput against the LiteLLM proxy (Converse)", t / l, 100, "×", lower=False))
        else:
            lines.append("- throughput against the LiteLLM proxy: LiteLLM not available")
        return "\n".join(lines)

    def memory_text(self):
        m = self.memory
        if not m:
            return "- spillway RSS: not measured"
        mib = lambda k: f"{k / 1024:.1f} MiB"  # noqa: E731
        lines = [
            f"- spillway RSS idle: {mib(m.get('idle_fresh_kib', 0))} after start-up, "
            f"{mib(m.get('idle_after_kib', 0))} after the load above"
        ]
        if "open_kib" in m:
            per = (m["open_kib"] - m.get("idle_after_kib", 0)) / max(m["streams"], 1)
            lines.append(
                f"- spillway RSS with {m['streams']:,} concurrent open ConverseStream streams: {mib(m['open_kib'])} "
                f"(≈ {per:.1f} KiB per stream; {m['open_seen']:.0f} in flight at the backend when sampled); "
                f"{mib(m.get('after_close_kib', 0))} after they closed"
            )
        for name, kib in self.results_rss.items():
            lines.append(f"- {name} (all its processes): {mib(kib)}")
        return "\n".join(lines)

    def header_text(self):
        cpu = "?"
        try:
            for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        mem = ""
        try:
            kib = int(pathlib.Path("/proc/meminfo").read_text().split()[1])
            mem = f", {kib / 1024 / 1024:.0f} GiB RAM"
        except (OSError, ValueError, IndexError):
            pass
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        peers = ", ".join(f"{k} {v}" for k, v in self.versions.items()) or "none"
        if self.litellm_workers:
            probe = ", ".join(f"{w}: {r:,.0f}/s" for w, r in self.litellm_probe.items())
            peers += f" ({self.litellm_workers} worker(s){'; saturation by workers ' + probe if probe else ''})"
        mode = "smoke run" if self.smoke else "full run"
        load = os.getloadavg()[0]
        return (
            f"**{when}**, `./bench/run.sh` ({mode}), commit {rev or '?'}{' with local changes' if dirty else ''}, "
            f"{'debug' if 'debug' in str(self.bin_dir) else 'release'} build.\n\n"
            f"- Machine: {os.cpu_count()} CPUs ({cpu}){mem}, Linux {platform.release()}; "
            f"load average {self.load_at_start:.2f} at the start, {load:.2f} at the end.\n"
            f"- Placement: {self.placement_text()}.\n"
            f"- Mock: canned chat completion of {self.completion_bytes} bytes, SSE streams of "
            f"{self.args.chunks} content chunks + finish + usage + [DONE], {self.args.mock_latency_ms} ms latency.\n"
            f"- Each point: {self.warmup:g} s warm-up + {self.duration:g} s measured; fixed rates are open-loop "
            f"(latency from the intended send time); saturation is {self.connections} keep-alive connections. "
            f"Peers: {peers}."
        )

    def report(self):
        parts = [
            self.header_text(),
            "",
            self.table(),
            "",
            self.stream_table(),
            "",
        ]
        if self.reroute:
            r = self.reroute
            parts.append(
                f"- Profile calls: {r['rerouted']:.0f} of {r['calls']:.0f} re-routed from us-east-1 to us-west-2 "
                "(the source region's only backend slot held by an open stream); quotas on, set high enough not to throttle; invocation logging on for the account (text delivery to the local S3 bucket)."
            )
        parts.append(self.memory_text())
        parts += ["", "**Against the targets of issue 7:**", "", self.verdict()]
        if self.notes:
            parts += ["", *[f"- {n}" for n in self.notes]]
        if self.failures:
            parts += ["", "**Failures:**", "", *[f"- {f}" for f in self.failures]]
        parts += [
            "",
            "Added latency = the scenario's percentile minus the direct-to-mock percentile at the same rate "
            "(streams: minus direct SSE). p50/p99 in µs. *load avg*: the machine's 1-minute load average "
            "when the row's measurements ended (above ~1.2 on two CPUs, something else was running).",
        ]
        return "\n".join(parts)


TITLES = {
    "direct": "direct to the mock (floor)",
    "nginx": "nginx proxy_pass",
    "litellm": "LiteLLM proxy",
    "spillway-converse": "spillway Converse",
    "spillway-invoke": "spillway InvokeModel",
    "spillway-profile": "spillway Converse, profile re-routed",
    "direct-stream": "direct SSE stream (floor)",
    "nginx-stream": "nginx proxy_pass, SSE",
    "litellm-stream": "LiteLLM proxy, SSE",
    "spillway-stream": "spillway ConverseStream",
}


def us(v):
    if v is None or v is False:
        return "—"
    if abs(v) >= 10_000:
        return f"{v / 1000:,.1f} ms"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}"


def plus(v):
    if v is None or v is False:
        return "—"
    s = us(v)
    return s if v < 0 else "+" + s


def ratio(x):
    if x >= 100:
        return f"{x:,.0f}×"
    if x >= 10:
        return f"{x:.1f}×"
    return f"{x:.2f}×" if x >= 0.1 else f"{x:.2g}×"


def gap(what, value, target, unit, lower):
    if unit == "µs":
        shown, want = f"{value:,.0f} µs", f"{target} µs"
    else:
        shown, want = ratio(value), ratio(target)
    met = value <= target if lower else value >= target
    if met and lower and value < 0:
        return (
            f"- {what}: {shown} — target ≤ {want}: **met** in this run, but the difference is below zero, "
            "i.e. within the run-to-run noise of the direct measurement"
        )
    if met:
        return f"- {what}: {shown} — target {'≤' if lower else '≥'} {want}: **met**"
    if lower:
        miss = f"{value - target:,.0f} µs over ({value / target:.1f}× the target)"
    else:
        miss = f"{target / value:.1f}× short" if value > 0 else "nothing measured"
    return f"- {what}: {shown} — target {'≤' if lower else '≥'} {want}: **missed**, {miss}"


def markdown(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def write_readme(text):
    content = README.read_text()
    if START not in content or END not in content:
        raise RuntimeError(f"{README} lacks the {START} / {END} markers")
    head, rest = content.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{text}\n{END}{tail}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--smoke", action="store_true", help="every scenario for a moment; exit 1 on any failure")
    ap.add_argument("--bin-dir", required=True, help="where bench-mock and bench-load are")
    ap.add_argument("--spillway-bin", help="the spillway binary (default: in --bin-dir)")
    ap.add_argument("--nginx", help="the nginx binary, if installed")
    ap.add_argument("--litellm", help="the litellm CLI of the virtualenv, if installed")
    ap.add_argument(
        "--litellm-workers", default="1,2", help="worker counts to try; the one with the best saturation throughput is measured"
    )
    ap.add_argument("--no-peers", action="store_true", help="skip nginx and LiteLLM")
    ap.add_argument("--no-readme", action="store_true", help="do not update bench/README.md")
    ap.add_argument("--duration", type=float, default=5.0, help="measured seconds per point")
    ap.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per point")
    ap.add_argument("--rates", default="500,2000", help="fixed rates, requests per second")
    ap.add_argument("--connections", type=int, default=32, help="connections at saturation")
    ap.add_argument("--streams", type=int, default=1000, help="open streams for the memory measurement")
    ap.add_argument("--chunks", type=int, default=16, help="content chunks per streamed answer")
    ap.add_argument("--mock-latency-ms", type=float, default=0.0)
    ap.add_argument("--placement", help="CPUs, e.g. driver=0,mock=0,gateway=1 (default: by CPU count)")
    ap.add_argument("--json-out", help="also write the raw results here")
    args = ap.parse_args()

    h = Harness(args)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: (h.stop_all(), sys.exit(130)))
    started = time.monotonic()
    try:
        h.run()
    except Exception as e:  # noqa: BLE001 - reported as a failure of the run
        h.failures.append(f"harness: {e}")
        log(f"FAILED: {e}")
    finally:
        h.stop_all()
    text = h.report()
    print()
    print(text)
    print(f"\n({time.monotonic() - started:.0f} s)")
    if args.json_out:
        pathlib.Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(args.json_out).write_text(
            json.dumps({"results": h.results, "memory": h.memory, "reroute": h.reroute, "failures": h.failures,
                        "notes": h.notes, "versions": h.versions}, indent=1, default=str)
        )
    if not args.smoke and not args.no_readme:
        if h.failures:
            log("not updating bench/README.md: the run had failures")
        else:
            write_readme(text)
            log(f"results written to {README.relative_to(ROOT)}")
    if h.failures:
        log(f"{len(h.failures)} failure(s); logs kept in {h.workdir}")
        return 1
    shutil.rmtree(h.workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
