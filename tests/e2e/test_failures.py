"""Backends that fail: mid-stream exception frames, throttles with Bedrock's text, and
profiles failing over to another region before anything reached the client."""

import json

import pytest
from botocore.exceptions import ClientError, EventStreamError

from conftest import text_of, user

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


def test_mid_stream_error_is_an_exception_frame(faults):
    client = faults.client(region="eu-central-1")
    response = client.converse_stream(modelId=HAIKU, messages=user("Hi"))
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    seen = []
    with pytest.raises(EventStreamError) as e:
        for event in response["stream"]:
            seen.append(next(iter(event)))
    assert e.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert seen[0] == "messageStart"
    assert seen.count("contentBlockDelta") == 3


def test_mid_stream_error_in_invoke_stream(faults):
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]})
    response = faults.client(region="eu-central-1").invoke_model_with_response_stream(modelId=HAIKU, body=body)
    with pytest.raises(EventStreamError) as e:
        list(response["body"])
    assert e.value.response["Error"]["Code"] == "modelStreamErrorException"


def test_throttled_backend_is_a_throttling_exception(faults):
    with pytest.raises(ClientError) as e:
        faults.client(region="us-east-1").converse(modelId=HAIKU, messages=user("Hi"))
    err = e.value.response
    assert err["Error"]["Code"] == "ThrottlingException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert err["Error"]["Message"] == "Too many requests, please wait before trying again."


def test_throttled_before_stream_is_an_http_error(faults):
    with pytest.raises(ClientError) as e:
        faults.client(region="us-east-1").converse_stream(modelId=HAIKU, messages=user("Hi"))
    assert e.value.response["Error"]["Code"] == "ThrottlingException"


@pytest.mark.parametrize("op", ["converse", "converse_stream"])
def test_profile_fails_over_from_a_throttled_source_region(faults, op):
    client = faults.client(region="us-east-1")
    response = getattr(client, op)(modelId="us." + HAIKU, messages=user("Hi"))
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-spillway-inference-region"] == "us-west-2"
    if op == "converse":
        assert text_of(response)
    else:
        assert "metadata" in list(response["stream"])[-1]


def test_profile_fails_over_from_an_erroring_source_region(faults):
    # eu-west-1 answers 500; eu-central-1 breaks mid-stream, which a non-streaming call
    # can still retry, so only an error comes back when every region failed.
    client = faults.client(region="eu-west-1")
    with pytest.raises(ClientError) as e:
        client.converse(modelId="eu." + HAIKU, messages=user("Hi"))
    assert e.value.response["Error"]["Code"] == "ThrottlingException"


def test_direct_call_to_erroring_backend(faults):
    with pytest.raises(ClientError) as e:
        faults.client(region="eu-west-1").converse(modelId=HAIKU, messages=user("Hi"))
    assert e.value.response["Error"]["Code"] == "ServiceUnavailableException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
