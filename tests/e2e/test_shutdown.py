"""The process lifecycle (issue 11): SIGTERM drains within a deadline and exits 0 with
usage and invocation logs on disk, a second SIGTERM exits at once, slow or idle clients
are closed by the header timeout, the connection limit holds, and `kill -9` loses at
most the flush interval."""

import gzip
import json
import pathlib
import resource
import select
import signal
import socket
import threading
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

from conftest import CONFIGS, user

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
SLOW = str(CONFIGS / "slow.toml")
LOGGING = {"s3Config": {"bucketName": "bedrock-logs", "keyPrefix": "k"}, "textDataDeliveryEnabled": True}
# What the process may take beyond its own deadlines before a test calls it hung.
HUNG = 60


def address(server):
    host, port = server.url.split("//")[1].rsplit(":", 1)
    return host, int(port)


def half_head(server):
    """A connection that sent half a request head and then nothing."""
    s = socket.create_connection(address(server))
    s.sendall(b"POST /model/x/converse HTTP/1.1\r\nHost: x\r\n")
    return s


def closed_by_server(sock, within):
    """True once the server closed `sock` (EOF or reset) within `within` seconds."""
    poller = select.poll()  # not select(): descriptors above 1024 are expected here
    poller.register(sock, select.POLLIN)
    if not poller.poll(within * 1000):
        return False
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True


def log_records(data_dir):
    base = pathlib.Path(data_dir) / "s3" / "bedrock-logs"
    records = []
    for f in sorted(base.rglob("*.json.gz")):
        records += [json.loads(line) for line in gzip.decompress(f.read_bytes()).decode().splitlines() if line]
    return records


def usage_rows(server):
    status, _, body = server.raw("GET", "/spillway/usage?by=model")
    assert status == 200, body
    return {r["key"]: r for r in json.loads(body)["rows"]}


def stderr_has(server, text, within=HUNG):
    deadline = time.time() + within
    while time.time() < deadline:
        if any(text in line for line in server._stderr):
            return True
        time.sleep(0.05)
    return False


def test_half_a_request_head_does_not_keep_the_process_alive(start_server):
    # A deadline far beyond HUNG: only a connection closed at once lets the test pass.
    server = start_server("--backend", "sim", "--shutdown-timeout", "1h", "--header-timeout", "1h")
    held = half_head(server)
    idle = socket.create_connection(address(server))
    idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert idle.recv(4096).startswith(b"HTTP/1.1 200 ")
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=HUNG) == 0
    for s in (held, idle):
        s.close()


def test_stream_past_the_deadline_ends_with_an_exception_and_nothing_is_lost(start_server, monkeypatch):
    monkeypatch.setenv("RUST_LOG", "info")
    server = start_server("--config", SLOW, "--shutdown-timeout", "1s")
    server.client("bedrock").put_model_invocation_logging_configuration(loggingConfig=LOGGING)
    runtime = server.client()
    done = runtime.converse(modelId=HAIKU, messages=user("Hi"), inferenceConfig={"maxTokens": 2})
    # 500 tokens at 5 a second: this stream is still going when the deadline passes.
    stream = runtime.converse_stream(modelId=HAIKU, messages=user("Tell me a long story"))["stream"]
    events = iter(stream)
    assert "messageStart" in next(events)
    server.proc.send_signal(signal.SIGTERM)
    seen = []
    with pytest.raises(EventStreamError) as e:
        for event in events:
            seen.append(next(iter(event)))
    assert e.value.response["Error"]["Code"] == "serviceUnavailableException"
    assert "shutting down" in e.value.response["Error"]["Message"]
    assert "messageStop" not in seen
    assert server.proc.wait(timeout=HUNG) == 0
    assert stderr_has(server, "open streams were ended at the shutdown deadline", within=1)

    # On disk after exit: the log record of both calls, the stream's with its error...
    records = {r["operation"]: r for r in log_records(server.data_dir)}
    assert records["Converse"]["requestId"] == done["ResponseMetadata"]["RequestId"]
    assert records["Converse"]["output"]["outputTokenCount"] == done["usage"]["outputTokens"]
    assert records["ConverseStream"]["errorCode"] == "ServiceUnavailableException"
    # ...and their usage, read back by the next process.
    again = start_server("--config", SLOW, data_dir=server.data_dir)
    row = usage_rows(again)[HAIKU]
    assert row["invocations"] == 2
    assert row["outputTokens"] >= done["usage"]["outputTokens"] + 1


def backend_in_flight(server):
    for line in server.raw("GET", "/metrics")[2].decode().splitlines():
        if line.startswith("spillway_backend_in_flight{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_call_still_running_at_the_deadline_is_answered_503(start_server):
    server = start_server("--config", SLOW, "--shutdown-timeout", "1s")
    # One attempt: the SDK would retry a 503, and the listener is closed by then.
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    runtime = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=server.url, config=config)
    outcome = {}

    def call():  # 500 tokens at 5 a second: far past the deadline
        try:
            outcome["answer"] = runtime.converse(modelId=HAIKU, messages=user("Tell me a long story"))
        except ClientError as e:
            outcome["error"] = e.response

    thread = threading.Thread(target=call)
    thread.start()
    deadline = time.time() + HUNG
    while backend_in_flight(server) < 1:
        assert time.time() < deadline, "the call never started"
        time.sleep(0.05)
    server.proc.send_signal(signal.SIGTERM)
    thread.join(timeout=HUNG)
    assert "answer" not in outcome
    assert outcome["error"]["Error"]["Code"] == "ServiceUnavailableException"
    assert outcome["error"]["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert "shutting down" in outcome["error"]["Error"]["Message"]
    assert server.proc.wait(timeout=HUNG) == 0


def test_second_sigterm_exits_at_once(start_server, monkeypatch):
    monkeypatch.setenv("RUST_LOG", "info")
    server = start_server("--config", SLOW, "--shutdown-timeout", "1h")
    stream = server.client().converse_stream(modelId=HAIKU, messages=user("Tell me a long story"))["stream"]
    assert "messageStart" in next(iter(stream))
    server.proc.send_signal(signal.SIGTERM)
    assert stderr_has(server, "shutting down")
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=HUNG) == 128 + signal.SIGTERM
    assert stderr_has(server, "second signal: exiting now", within=1)


def test_slow_clients_are_closed_while_a_real_client_is_served(start_server):
    # Enough descriptors for the test's own sockets (the server inherits the limit).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1000 + 200
    if soft < want and (hard == resource.RLIM_INFINITY or hard >= want):
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    count = min(1000, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 200)
    server = start_server("--backend", "sim", "--header-timeout", "2s")
    slow = [half_head(server) for _ in range(count)]
    try:
        answer = server.client().converse(modelId=HAIKU, messages=user("Hi"), inferenceConfig={"maxTokens": 5})
        assert answer["output"]["message"]["content"][0]["text"]
        open_ = {s.fileno(): s for s in slow}
        poller = select.poll()
        for fd in open_:
            poller.register(fd, select.POLLIN)
        deadline = time.time() + HUNG
        while open_ and time.time() < deadline:
            for fd, _ in poller.poll(1000):
                if closed_by_server(open_[fd], within=0):
                    poller.unregister(fd)
                    del open_[fd]
        assert not open_, f"{len(open_)} of {count} slow connections still open"
        # The server is still there for everyone else.
        assert server.raw("GET", "/health")[0] == 200
    finally:
        for s in slow:
            s.close()


def test_connection_limit(start_server):
    server = start_server("--backend", "sim", "--max-connections", "2", "--header-timeout", "60s")
    held = [half_head(server), half_head(server)]
    over = socket.create_connection(address(server))
    over.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = b""
    while chunk := over.recv(4096):
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 503 "), answer
    assert b"x-amzn-errortype: ServiceUnavailableException" in answer
    assert b"connection limit" in answer
    # A slot that frees up is taken by the next client.
    held.pop().close()
    deadline = time.time() + HUNG
    while True:
        try:
            if server.raw("GET", "/health")[0] == 200:
                break
        except OSError:
            pass
        assert time.time() < deadline, "no connection slot came back"
        time.sleep(0.1)
    for s in held:
        s.close()


def test_idle_keep_alive_connection_is_closed(start_server):
    server = start_server("--backend", "sim", "--header-timeout", "1s")
    s = socket.create_connection(address(server))
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    first = s.recv(4096)
    assert first.startswith(b"HTTP/1.1 200 ") and first.endswith(b"ok")
    # Kept alive for a next request, then closed for want of one.
    assert closed_by_server(s, within=HUNG)


def test_slow_body_gets_a_request_timeout(start_server):
    server = start_server("--backend", "sim", "--body-timeout", "1s")
    s = socket.create_connection(address(server))
    s.sendall(
        b"POST /model/" + HAIKU.encode() + b"/converse HTTP/1.1\r\nHost: x\r\n"
        b"content-type: application/json\r\ncontent-length: 100\r\n\r\n{\"messa"
    )
    answer = b""
    while chunk := s.recv(4096):
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"x-amzn-errortype: RequestTimeoutException" in answer
    assert b"body timeout" in answer


def test_kill_9_keeps_calls_older_than_the_flush_interval(start_server):
    server = start_server("--backend", "sim", "--flush-interval", "200ms")
    server.client("bedrock").put_model_invocation_logging_configuration(loggingConfig=LOGGING)
    runtime = server.client()
    ids = [
        runtime.converse(modelId=HAIKU, messages=user("Hi"), inferenceConfig={"maxTokens": 3})["ResponseMetadata"]["RequestId"]
        for _ in range(3)
    ]
    # Older than the flush interval, with room for the writes themselves.
    time.sleep(1.0)
    server.proc.kill()
    server.proc.wait(timeout=HUNG)
    assert sorted(r["requestId"] for r in log_records(server.data_dir)) == sorted(ids)
    again = start_server("--backend", "sim", data_dir=server.data_dir)
    assert usage_rows(again)[HAIKU]["invocations"] == 3


def test_kill_9_while_provisioning_resumes_it(start_server):
    config = str(CONFIGS / "provisioned.toml")
    first = start_server("--config", config)
    arn = first.client("bedrock").create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="resumed", modelId="anthropic.claude-v2:1:18k"
    )["provisionedModelArn"]
    first.proc.kill()
    first.proc.wait(timeout=HUNG)
    second = start_server("--config", config, data_dir=first.data_dir)
    bedrock = second.client("bedrock")
    deadline = time.time() + HUNG
    while (status := bedrock.get_provisioned_model_throughput(provisionedModelId=arn)["status"]) == "Creating":
        assert time.time() < deadline
        time.sleep(0.05)
    assert status == "InService"
