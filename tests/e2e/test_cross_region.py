"""The seed scenarios of cross-region inference on the simulator: quotas per source
region (seed 000's Tokyo numbers), profiles admitting more than the direct quota, and
capacity-aware spill-over to the region with the most room."""

import time
from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import ClientError

from conftest import CONFIGS, user

SONNET35 = "anthropic.claude-3-5-sonnet-20240620-v1:0"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


def refilled(per_minute, seconds):
    """Whole requests a bucket of `per_minute` refills in `seconds`: a burst that takes
    longer than an instant may be admitted that many more than the quota, and no more."""
    return int(per_minute * seconds / 60.0)


def burst(client, model_id, n, timing=None):
    """n calls at once; returns (admitted, throttled). `timing`, a list, receives the
    burst's duration in seconds."""

    def call(_):
        try:
            client.converse(modelId=model_id, messages=user("Hi"), inferenceConfig={"maxTokens": 1})
            return "ok"
        except ClientError as e:
            return e.response["Error"]["Code"]

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(call, range(n)))
    if timing is not None:
        timing.append(time.monotonic() - started)
    assert set(results) <= {"ok", "ThrottlingException"}, results
    return results.count("ok"), results.count("ThrottlingException")


def test_tokyo_direct_call_admits_exactly_its_rpm_quota(start_server):
    server = start_server("--backend", "sim")
    client = server.client(region="ap-northeast-1", max_pool_connections=16)
    # Seed 000: Claude 3.5 Sonnet in ap-northeast-1 is 20 requests per minute: exactly
    # 20, plus what the bucket refilled while the burst ran on a loaded machine.
    timing = []
    admitted, throttled = burst(client, SONNET35, 30, timing)
    assert 20 <= admitted <= 20 + refilled(20, timing[0]), (admitted, timing)
    assert admitted + throttled == 30


def test_tokyo_apac_profile_admits_more_than_direct_but_at_most_its_quota(start_server):
    server = start_server("--backend", "sim")
    client = server.client(region="ap-northeast-1", max_pool_connections=16)
    timing = []
    admitted, throttled = burst(client, "apac." + SONNET35, 60, timing)
    # The cross-region quota is twice the source region's on-demand quota: 40, plus what
    # the bucket refilled while the burst ran (0.67 a second).
    assert 40 <= admitted <= 40 + refilled(40, timing[0]), (admitted, timing)
    assert admitted + throttled == 60
    # Direct calls draw on their own bucket, untouched by the profile's traffic.
    assert burst(client, SONNET35, 5) == (5, 0)


def test_throttle_text_and_status(start_server):
    server = start_server("--backend", "sim")
    client = server.client(region="ap-northeast-1", max_pool_connections=16)
    burst(client, SONNET35, 20)
    try:
        client.converse(modelId=SONNET35, messages=user("Hi"))
        raise AssertionError("expected a throttle")
    except ClientError as e:
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert e.response["Error"]["Message"] == "Too many requests, please wait before trying again."


def open_stream(client, model_id):
    """Start a slow stream and read its first event, holding the backend slot."""
    response = client.converse_stream(modelId=model_id, messages=user("Hi"))
    events = iter(response["stream"])
    next(events)
    return response


def region_of(response):
    return response["ResponseMetadata"]["HTTPHeaders"]["x-spillway-inference-region"]


def test_saturated_source_region_spills_to_the_region_with_most_capacity(start_server):
    server = start_server("--config", str(CONFIGS / "capacity.toml"))
    east = server.client(region="us-east-1", max_pool_connections=16)
    west = server.client(region="us-west-2", max_pool_connections=16)
    # With room in the source region, the profile runs there.
    assert region_of(east.converse(modelId="us." + HAIKU, messages=user("Hi"), inferenceConfig={"maxTokens": 1})) == "us-east-1"
    held = [open_stream(east, HAIKU) for _ in range(2)]  # us-east-1 full (2/2)
    held.append(open_stream(west, HAIKU))  # us-west-2 at 3/4 free
    # us-east-2 is idle (10/10 free): the most capacity.
    r = east.converse(modelId="us." + HAIKU, messages=user("Hi"), inferenceConfig={"maxTokens": 1})
    assert region_of(r) == "us-east-2"
    # A direct call has nowhere else to go.
    try:
        east.converse(modelId=HAIKU, messages=user("Hi"), inferenceConfig={"maxTokens": 1})
        raise AssertionError("expected a throttle")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "ThrottlingException"
    for response in held:
        response["stream"].close()


def test_metrics_count_invocations_and_reroutes(start_server):
    server = start_server("--backend", "sim")
    client = server.client(region="eu-west-3")
    client.converse(modelId="eu." + SONNET35, messages=user("Hi"), inferenceConfig={"maxTokens": 2})
    status, _, body = server.raw("GET", "/metrics")
    text = body.decode()
    assert status == 200
    assert 'Invocations{ModelId="eu.anthropic.claude-3-5-sonnet-20240620-v1:0",region="eu-west-3"} 1' in text
    assert 'spillway_reroutes_total{' in text and 'inference_region="eu-central-1"' in text
    assert "InvocationLatency_bucket" in text
    assert "spillway_quota_headroom" in text
    assert "spillway_backend_in_flight" in text
