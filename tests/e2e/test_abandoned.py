"""A call the client abandons is still a call: a ConverseStream closed in the middle and a
Converse given up by a client read timeout are billed, metered and logged with the tokens
generated up to the disconnect, and their quota is settled to them."""

import json
import time

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from conftest import CONFIGS, user
from test_invocation_logs import CONFIG, s3_records

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


def usage_row(server, timeout=10.0):
    """The model's usage row once the ledger has flushed it (every 2 s)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = json.loads(server.raw("GET", "/spillway/usage?by=model")[2])["rows"]
        found = [r for r in rows if r["key"] == HAIKU]
        if found and found[0]["invocations"] > 0:
            return found[0]
        time.sleep(0.2)
    pytest.fail("no usage row was written")


def metric(server, name, label_value):
    text = server.raw("GET", "/metrics")[2].decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and label_value in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture
def slow(start_server):
    server = start_server("--config", str(CONFIGS / "abandon.toml"))
    server.client("bedrock").put_model_invocation_logging_configuration(loggingConfig=CONFIG)
    return server


def test_a_stream_closed_mid_way_is_billed_metered_and_logged(slow):
    runtime = slow.client()
    response = runtime.converse_stream(modelId=HAIKU, messages=user("Tell me a long story"))
    stream = response["stream"]
    deltas = 0
    for event in stream:
        if "contentBlockDelta" in event:
            deltas += 1
            if deltas == 20:
                break
    stream.close()
    row = usage_row(slow)
    assert row["invocations"] == 1
    # What was generated until the disconnect: at least what the client read, far from the
    # whole answer (200 tokens at 40 a second), and priced.
    assert 20 <= row["outputTokens"] < 150, row
    assert row["inputTokens"] > 0 and row["costUsd"] > 0
    assert row["errors"] == 0 and row["throttles"] == 0
    assert metric(slow, "Invocations", HAIKU) == 1
    assert metric(slow, "OutputTokenCount", HAIKU) == row["outputTokens"]
    assert metric(slow, "spillway_client_disconnects_total", HAIKU) == 1
    _, records = s3_records(slow, "us-east-1")
    assert len(records) == 1
    record = records[0]
    assert record["operation"] == "ConverseStream"
    assert record["errorCode"] == "ClientDisconnected"
    assert record["output"]["outputTokenCount"] == row["outputTokens"]
    assert record["requestId"] == response["ResponseMetadata"]["RequestId"]


def test_a_converse_given_up_by_a_read_timeout_is_still_a_call(slow):
    # No retry: a retried call would be a second call.
    config = Config(retries={"total_max_attempts": 1}, read_timeout=1.5)
    impatient = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=slow.url, config=config)
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        impatient.converse(modelId=HAIKU, messages=user("Tell me a long story"))
    row = usage_row(slow)
    assert row["invocations"] == 1
    # About 1.5 s of a 5 s answer.
    assert 10 <= row["outputTokens"] < 150, row
    assert metric(slow, "spillway_client_disconnects_total", HAIKU) == 1
    _, records = s3_records(slow, "us-east-1")
    assert [(r["operation"], r["errorCode"]) for r in records] == [("Converse", "ClientDisconnected")]
    assert records[0]["output"]["outputTokenCount"] == row["outputTokens"]
    # The quota was settled to those tokens: the next call is admitted and answers.
    answer = slow.client().converse(modelId=HAIKU, messages=user("Hi"), inferenceConfig={"maxTokens": 5})
    assert answer["stopReason"] == "max_tokens"
