"""Regional availability with Bedrock's exact texts (seed 000: Paris; seed 003: Tokyo),
and cross-region profiles running where the model is."""

import pytest
from botocore.exceptions import ClientError

from conftest import text_of, user

SONNET35 = "anthropic.claude-3-5-sonnet-20240620-v1:0"
SONNET3 = "anthropic.claude-3-sonnet-20240229-v1:0"
NEEDS_PROFILE = (
    "Invocation of model ID anthropic.claude-3-sonnet-20240229-v1:0 with on-demand throughput isn\u2019t supported. "
    "Retry your request with the ID or ARN of an inference profile that contains this model."
)


def error_of(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response


@pytest.mark.parametrize("op", ["converse", "converse_stream"])
def test_paris_direct_sonnet_35_not_on_demand(spillway, op):
    client = spillway.client(region="eu-west-3")
    err = error_of(lambda: getattr(client, op)(modelId=SONNET35, messages=user("Hi")))
    assert err["Error"]["Code"] == "ValidationException"
    assert err["Error"]["Message"] == "The provided model doesn't support on-demand throughput."
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_paris_eu_profile_runs_in_frankfurt(spillway):
    client = spillway.client(region="eu-west-3")
    response = client.converse(modelId="eu." + SONNET35, messages=user("Hi"))
    assert text_of(response)
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-spillway-inference-region"] == "eu-central-1"


@pytest.mark.parametrize("op", ["converse", "invoke_model"])
def test_tokyo_sonnet_3_needs_a_profile(spillway, op):
    client = spillway.client(region="ap-northeast-1")
    if op == "converse":
        call = lambda: client.converse(modelId=SONNET3, messages=user("Hi"))  # noqa: E731
    else:
        body = '{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"Hi"}]}'
        call = lambda: client.invoke_model(modelId=SONNET3, body=body)  # noqa: E731
    err = error_of(call)
    assert err["Error"]["Code"] == "ValidationException"
    assert err["Error"]["Message"] == NEEDS_PROFILE


def test_tokyo_apac_profile_runs_sonnet_3(spillway):
    client = spillway.client(region="ap-northeast-1")
    response = client.converse(modelId="apac." + SONNET3, messages=user("Hi"))
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-spillway-inference-region"] == "ap-northeast-1"


@pytest.mark.parametrize("region", ["eu-west-3", "ap-northeast-1"])
def test_unknown_model_identifier(spillway, region):
    err = error_of(lambda: spillway.client(region=region).converse(modelId="anthropic.claude-99", messages=user("Hi")))
    assert err["Error"]["Message"] == "The provided model identifier is invalid."


def test_profile_from_outside_its_regions(spillway):
    err = error_of(lambda: spillway.client(region="eu-west-3").converse(modelId="us." + SONNET35, messages=user("Hi")))
    assert err["Error"]["Code"] == "ValidationException"


def test_profile_arn_as_model_id(spillway):
    client = spillway.client(region="eu-west-3")
    arn = f"arn:aws:bedrock:eu-west-3:123456789012:inference-profile/eu.{SONNET35}"
    response = client.converse(modelId=arn, messages=user("Hi"))
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-spillway-inference-region"] == "eu-central-1"


def test_unserved_source_region_is_explained(spillway):
    # Bahrain: a real region the built-in catalog does not serve (São Paulo now is one).
    err = error_of(lambda: spillway.client(region="me-south-1").converse(modelId=SONNET35, messages=user("Hi")))
    assert "me-south-1" in err["Error"]["Message"]
