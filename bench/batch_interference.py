#!/usr/bin/env python3
"""Interactive latency while a batch job runs, as ratios to the same load without one.

Starts spillway (SPILLWAY_BIN, default target/release/spillway) on a generated config:
one model on two simulated regions (`max_concurrency` slots each) and a system profile
over both. For each interactive concurrency it measures Converse latency on the profile
twice in the same run: alone, then while a batch job on the same profile keeps every
slot it may take busy. It prints p50/p99 with the ratio to the run without the job, the
interactive throttles, and how many batch records finished meanwhile (so the job really
ran). Nothing is asserted; CI does not run it.

    python3 bench/batch_interference.py [--calls 400] [--concurrency 2,4,8] [--slots 16]
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
PROFILE = "us." + MODEL
AUTH = "AWS4-HMAC-SHA256 Credential=bench/20240101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=0"

CONFIG = """
default_region = "us-east-1"
[backends.sim]
kind = "sim"
ttft_ms = 20
tokens_per_second = 400
max_concurrency = {slots}
output_tokens = 48
[regions.us-east-1]
default_backend = "sim"
[regions.us-west-2]
default_backend = "sim"
[[models]]
id = "{model}"
name = "Claude 3 Haiku"
provider = "Anthropic"
body_format = "anthropic"
[models.regions]
us-east-1 = {{ rpm = 1000000, tpm = 1000000000 }}
us-west-2 = {{ rpm = 1000000, tpm = 1000000000 }}
[[profiles]]
id = "{profile}"
name = "US Claude 3 Haiku"
model = "{model}"
regions = ["us-east-1", "us-west-2"]
"""


def request(url, method="GET", body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"authorization": AUTH, "content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def interactive(base, calls, concurrency):
    """Latencies (s) of `calls` Converse calls on `concurrency` threads, and the throttles."""
    path = f"{base}/model/{urllib.request.quote(PROFILE, safe='')}/converse"
    body = {"messages": [{"role": "user", "content": [{"text": "How far is the moon?"}]}], "inferenceConfig": {"maxTokens": 48}}
    lat, throttles, lock, left = [], [0], threading.Lock(), [calls]

    def worker():
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            t = time.perf_counter()
            status, _ = request(path, "POST", body)
            took = time.perf_counter() - t
            with lock:
                if status == 200:
                    lat.append(took)
                else:
                    throttles[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(lat), throttles[0]


def pct(values, p):
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=400)
    ap.add_argument("--concurrency", default="2,4,8")
    ap.add_argument("--slots", type=int, default=16)
    ap.add_argument("--records", type=int, default=20000)
    args = ap.parse_args()
    binary = os.environ.get("SPILLWAY_BIN", str(ROOT / "target" / "release" / "spillway"))
    data = pathlib.Path(tempfile.mkdtemp(prefix="spillway-batch-bench-"))
    config = data / "bench.toml"
    config.write_text(CONFIG.format(slots=args.slots, model=MODEL, profile=PROFILE))
    records = "".join(
        json.dumps({"recordId": f"R{i:010d}", "modelInput": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 48,
                    "messages": [{"role": "user", "content": f"Item {i}"}]}}) + "\n"
        for i in range(args.records)
    )
    (data / "s3" / "bench-in").mkdir(parents=True)
    (data / "s3" / "bench-out").mkdir(parents=True)
    (data / "s3" / "bench-in" / "records.jsonl").write_text(records)
    proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data), "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=dict(os.environ, RUST_LOG="warn"))
    try:
        base = proc.stdout.readline().strip().split()[-1]
        print(f"spillway {binary}, {args.slots} slots per region x 2 regions, batch headroom 25 %, {args.calls} calls per row")
        print(f"{'concurrency':>11} {'p50 alone':>10} {'p50 w/ job':>11} {'ratio':>6} {'p99 alone':>10} {'p99 w/ job':>11} {'ratio':>6} {'throttles':>9} {'batch rec/s':>11}")
        for c in (int(x) for x in args.concurrency.split(",")):
            interactive(base, 20, c)  # warm-up
            alone, thr_alone = interactive(base, args.calls, c)
            status, created = request(base + "/model-invocation-job", "POST", {
                "jobName": f"bench-{c}", "roleArn": "arn:aws:iam::123456789012:role/b", "modelId": PROFILE,
                "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://bench-in/records.jsonl"}},
                "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bench-out/"}}})
            assert status == 200, created
            job = urllib.request.quote(created["jobArn"], safe="")
            while request(f"{base}/model-invocation-job/{job}")[1].get("processedRecordCount", 0) < 50:
                time.sleep(0.05)
            before = request(f"{base}/model-invocation-job/{job}")[1]["processedRecordCount"]
            t = time.perf_counter()
            busy, thr_busy = interactive(base, args.calls, c)
            span = time.perf_counter() - t
            after = request(f"{base}/model-invocation-job/{job}")[1]["processedRecordCount"]
            request(f"{base}/model-invocation-job/{job}/stop", "POST", {})
            while request(f"{base}/model-invocation-job/{job}")[1]["status"] not in ("Stopped", "Completed"):
                time.sleep(0.1)
            p50a, p50b, p99a, p99b = pct(alone, .5), pct(busy, .5), pct(alone, .99), pct(busy, .99)
            print(f"{c:>11} {p50a*1000:>8.1f}ms {p50b*1000:>9.1f}ms {p50b/p50a:>6.2f} {p99a*1000:>8.1f}ms {p99b*1000:>9.1f}ms "
                  f"{p99b/p99a:>6.2f} {thr_alone:>4}/{thr_busy:<4} {(after-before)/span:>11.0f}")
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
