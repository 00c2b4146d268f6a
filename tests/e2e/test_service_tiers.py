"""Service tiers with boto3 (tests/e2e/configs/tiers.toml): on a saturated backend flex is
throttled while priority passes; reserved capacity spills over to the default tier; a tier
or latency mode the model does not offer is refused by name; InvokeModel takes the tier in
`X-Amzn-Bedrock-Service-Tier` and answers it in the same header."""

import json

import botocore.exceptions
import pytest

from conftest import CONFIGS, user

TIERED = "anthropic.claude-3-haiku-20240307-v1:0"
PLAIN = "anthropic.claude-3-sonnet-20240229-v1:0"
BODY = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 1,
                   "messages": [{"role": "user", "content": "hi"}]})


@pytest.fixture
def server(start_server):
    return start_server("--config", str(CONFIGS / "tiers.toml"))


def hold(client, tier="default"):
    """A slow stream whose first event has been read: it holds a backend slot."""
    response = client.converse_stream(modelId=TIERED, messages=user("Hi"), serviceTier={"type": tier})
    next(iter(response["stream"]))
    return response


def converse(client, tier, model=TIERED, **extra):
    return client.converse(modelId=model, messages=user("Hi"), inferenceConfig={"maxTokens": 1},
                           serviceTier={"type": tier}, **extra)


def code(call):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def test_flex_is_throttled_while_priority_passes_on_a_saturated_backend(server):
    client = server.client(max_pool_connections=16)
    # An idle backend runs flex.
    assert converse(client, "flex")["serviceTier"] == {"type": "flex"}
    held = [hold(client) for _ in range(3)]  # 3 of 4 slots busy: the last one is not flex's
    try:
        assert code(lambda: converse(client, "flex"))[0] == "ThrottlingException"
        assert code(lambda: client.invoke_model(modelId=TIERED, body=BODY, serviceTier="flex"))[0] == \
            "ThrottlingException"
        r = converse(client, "priority")
        assert r["serviceTier"] == {"type": "priority"}
        r = client.invoke_model(modelId=TIERED, body=BODY, serviceTier="priority")
        assert r["serviceTier"] == "priority"
        assert r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-service-tier"] == "priority"
    finally:
        for response in held:
            response["stream"].close()


def test_reserved_capacity_spills_over_to_default(server):
    client = server.client()
    # The account reserved 2 requests a minute: two run on the reservation…
    for _ in range(2):
        assert converse(client, "reserved")["serviceTier"] == {"type": "reserved"}
    # …then the reserved tier spills over to the default one, and the answer says so.
    assert converse(client, "reserved")["serviceTier"] == {"type": "default"}
    r = client.invoke_model(modelId=TIERED, body=BODY, serviceTier="reserved")
    assert r["serviceTier"] == "default"
    # ConverseStream reports it in its metadata event.
    stream = client.converse_stream(modelId=TIERED, messages=user("Hi"), inferenceConfig={"maxTokens": 1},
                                    serviceTier={"type": "reserved"})["stream"]
    metadata = [e["metadata"] for e in stream if "metadata" in e]
    assert metadata[0]["serviceTier"] == {"type": "default"}
    _, _, body = server.raw("GET", "/metrics")
    counts = {line.split("{")[1].split("}")[0]: float(line.split()[-1]) for line in body.decode().splitlines()
              if line.startswith("spillway_service_tier_admissions_total{")}
    assert counts['requested="reserved",served="reserved"'] == 2
    assert counts['requested="reserved",served="default"'] == 3


def test_a_tier_or_latency_the_model_does_not_offer_is_refused(server):
    client = server.client()
    c, m = code(lambda: converse(client, "flex", model=PLAIN))
    assert c == "ValidationException" and m.endswith(": serviceTier.type"), m
    c, m = code(lambda: client.invoke_model(modelId=PLAIN, body=BODY, serviceTier="priority"))
    assert c == "ValidationException" and m.endswith(": X-Amzn-Bedrock-Service-Tier"), m
    c, m = code(lambda: converse(client, "default", model=PLAIN, performanceConfig={"latency": "optimized"}))
    assert c == "ValidationException" and m.endswith(": performanceConfig.latency"), m
    # Where the catalog offers it, latency-optimized inference runs and is reported.
    r = converse(client, "default", performanceConfig={"latency": "optimized"})
    assert r["performanceConfig"] == {"latency": "optimized"}
    r = client.invoke_model(modelId=TIERED, body=BODY, performanceConfigLatency="optimized")
    assert r["performanceConfigLatency"] == "optimized"
    assert "serviceTier" not in r  # reported only when asked for


def test_invoke_model_with_response_stream_answers_the_tier_header(server):
    client = server.client()
    r = client.invoke_model_with_response_stream(modelId=TIERED, body=BODY, serviceTier="flex")
    assert r["serviceTier"] == "flex"
    chunks = [json.loads(e["chunk"]["bytes"]) for e in r["body"] if "chunk" in e]
    assert chunks[-1]["type"] == "message_stop"


def test_invocation_log_records_the_performance_config(start_server):
    # The record's `performanceConfig` is what served the call: Converse's member,
    # InvokeModel's header; absent when the call did not ask.
    from test_invocation_logs import CONFIG, s3_records

    server = start_server("--config", str(CONFIGS / "tiers.toml"))
    server.client("bedrock", region="us-east-1").put_model_invocation_logging_configuration(loggingConfig=CONFIG)
    client = server.client(region="us-east-1")
    client.converse(modelId=TIERED, messages=user("Hi"), performanceConfig={"latency": "optimized"},
                    requestMetadata={"case": "converse"})
    client.invoke_model(modelId=TIERED, body=BODY, performanceConfigLatency="optimized",
                        requestMetadata='{"case": "invoke"}')
    client.converse(modelId=TIERED, messages=user("Hi"), requestMetadata={"case": "plain"})
    server.stop()  # flushes the log
    _, records = s3_records(server, "us-east-1")
    by_case = {r["requestMetadata"]["case"]: r for r in records}
    assert by_case["converse"]["performanceConfig"] == {"latency": "optimized"}
    assert by_case["invoke"]["performanceConfig"] == {"latency": "optimized"}
    assert "performanceConfig" not in by_case["plain"]
