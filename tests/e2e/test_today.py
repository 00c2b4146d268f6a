"""Today's Bedrock in the built-in catalog: current models, most of them profile-only,
the geographic and `global.` profiles, and `global.` routing from Paris by the same
source-first, most-capacity rule as geographic profiles, over every region."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import CONFIGS, user

PARIS = "eu-west-3"
SONNET45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"
NEEDS_PROFILE = (
    "Invocation of model ID {} with on-demand throughput isn\u2019t supported. Retry your request with the "
    "ID or ARN of an inference profile that contains this model."
)


def region_of(response):
    return response["ResponseMetadata"]["HTTPHeaders"]["x-spillway-inference-region"]


def error_of(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]


def test_global_profile_from_paris_runs_in_paris_first(spillway):
    paris = spillway.client(region=PARIS)
    r = paris.converse(modelId="global." + SONNET45, messages=user("Bonjour"), inferenceConfig={"maxTokens": 4})
    assert r["stopReason"] in ("end_turn", "max_tokens")
    assert region_of(r) == PARIS


@pytest.mark.parametrize("model_id", [SONNET45, "anthropic.claude-opus-4-6-v1", "meta.llama4-scout-17b-instruct-v1:0"])
def test_profile_only_model_by_bare_id_needs_a_profile(spillway, model_id):
    err = error_of(lambda: spillway.client().converse(modelId=model_id, messages=user("Hi")))
    assert err["Code"] == "ValidationException"
    assert err["Message"] == NEEDS_PROFILE.format(model_id)


def test_on_demand_model_of_today_runs_by_bare_id_only_where_offered(spillway):
    r = spillway.client().converse(modelId="amazon.nova-lite-v1:0", messages=user("Hi"), inferenceConfig={"maxTokens": 4})
    assert region_of(r) == "us-east-1"
    # In Paris Nova Lite runs only through eu. or apac. (profile-only there).
    err = error_of(lambda: spillway.client(region=PARIS).converse(modelId="amazon.nova-lite-v1:0", messages=user("Hi")))
    assert err["Message"] == NEEDS_PROFILE.format("amazon.nova-lite-v1:0")
    r = spillway.client(region=PARIS).converse(modelId="eu.amazon.nova-lite-v1:0", messages=user("Hi"),
                                               inferenceConfig={"maxTokens": 4})
    assert region_of(r) == PARIS


def test_geographic_profiles_stay_in_their_geography(spillway):
    tokyo = spillway.client(region="ap-northeast-1")
    r = tokyo.converse(modelId="jp." + SONNET45, messages=user("Hi"), inferenceConfig={"maxTokens": 4})
    assert region_of(r) == "ap-northeast-1"
    # A jp. profile cannot be called from Paris.
    err = error_of(lambda: spillway.client(region=PARIS).converse(modelId="jp." + SONNET45, messages=user("Hi")))
    assert err["Code"] == "ValidationException"


def test_paris_lists_global_profiles_with_the_regionless_model(spillway):
    bedrock = spillway.client("bedrock", region=PARIS)
    p = bedrock.get_inference_profile(inferenceProfileIdentifier="global." + SONNET45)
    assert p["inferenceProfileName"] == "Global Anthropic Claude Sonnet 4.5"
    assert [m["modelArn"] for m in p["models"]] == [
        f"arn:aws:bedrock:{PARIS}::foundation-model/{SONNET45}",
        f"arn:aws:bedrock:::foundation-model/{SONNET45}",
    ]
    ids = {s["inferenceProfileId"] for s in bedrock.list_inference_profiles(maxResults=1000)["inferenceProfileSummaries"]}
    assert {"global." + SONNET45, "eu." + SONNET45, "eu.anthropic.claude-3-5-sonnet-20240620-v1:0"} <= ids
    details = bedrock.get_foundation_model(modelIdentifier=SONNET45)["modelDetails"]
    assert details["inferenceTypesSupported"] == ["INFERENCE_PROFILE"]


def test_native_bodies_of_todays_families_are_answered(spillway):
    body = b'{"schemaVersion":"messages-v1","messages":[{"role":"user","content":[{"text":"hi"}]}]}'
    r = spillway.client().invoke_model(modelId="amazon.nova-lite-v1:0", body=body)
    answer = json.loads(r["body"].read())
    assert answer["output"]["message"]["role"] == "assistant" and answer["usage"]["outputTokens"] > 0


def open_stream(client, model_id):
    """Start a slow stream and read its first event, holding a backend slot."""
    response = client.converse_stream(modelId=model_id, messages=user("Hi"))
    events = iter(response["stream"])
    next(events)
    return response


def test_global_profile_spills_from_paris_to_the_most_capacity_anywhere(start_server):
    server = start_server("--config", str(CONFIGS / "global.toml"))
    paris = server.client(region=PARIS, max_pool_connections=16)
    held = [open_stream(paris, "global." + SONNET45)]
    assert region_of(held[0]) == PARIS  # source first while it has room
    # Paris is full (1/1): eu. stays in Europe, global. goes where the most room is.
    held.append(open_stream(paris, "eu." + SONNET45))
    assert region_of(held[-1]) == "eu-central-1"
    # Tokyo's own caller takes one of its two slots (source first there too).
    tokyo = server.client(region="ap-northeast-1", max_pool_connections=16)
    held.append(open_stream(tokyo, "global." + SONNET45))
    assert region_of(held[-1]) == "ap-northeast-1"
    # Free shares now: Paris 0/1, Frankfurt 1/2, Tokyo 1/2, Oregon 10/10.
    r = paris.converse(modelId="global." + SONNET45, messages=user("Hi"), inferenceConfig={"maxTokens": 1})
    assert region_of(r) == "us-west-2"
    err = error_of(lambda: paris.converse(modelId=SONNET45, messages=user("Hi")))
    assert err["Message"] == NEEDS_PROFILE.format(SONNET45)
    for response in held:
        response["stream"].close()
