"""Scale-out, control plane: a change made through one instance is served by another
within one second (PostgreSQL LISTEN/NOTIFY clears or reloads what instances hold in
memory as the write commits; nothing waits for a poll or a cache to expire)."""

import os
import time

import pytest
from botocore.exceptions import ClientError

from conftest import text_of, user
from test_control_plane import create, pg_schema  # noqa: F401 - pg_schema is a fixture
from test_prompts import text_prompt

pytestmark = pytest.mark.skipif(not os.environ.get("SPILLWAY_TEST_POSTGRES"), reason="SPILLWAY_TEST_POSTGRES not set")


def within_one_second(call):
    """`call()`'s result as soon as it stops raising, failing if that takes over 1 s."""
    deadline = time.monotonic() + 1.0
    while True:
        try:
            return call()
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def test_changes_through_one_instance_reach_another_within_a_second(start_server, pg_schema):  # noqa: F811
    one = start_server("--backend", "sim", "--store", pg_schema)
    two = start_server("--backend", "sim", "--store", pg_schema)
    runtime_two = two.client()

    # An application profile created through instance 1 is invocable through instance 2.
    arn = create(one.client("bedrock"), "shared-" + os.urandom(4).hex())["inferenceProfileArn"]
    assert text_of(within_one_second(lambda: runtime_two.converse(modelId=arn, messages=user("Hi"))))

    # Instance 2 now holds it in its cache; a deletion through instance 1 clears that
    # cache, so instance 2 refuses it within a second (a 5 s cache would keep serving).
    one.client("bedrock").delete_inference_profile(inferenceProfileIdentifier=arn)

    def refused():
        try:
            runtime_two.converse(modelId=arn, messages=user("Hi"))
        except ClientError as e:
            return e.response["Error"]["Code"]
        raise ClientError({"Error": {"Code": "StillServed", "Message": arn}}, "Converse")

    assert within_one_second(refused) in ("ResourceNotFoundException", "ValidationException")

    # A prompt version created through instance 1 runs through instance 2.
    agent = one.client("bedrock-agent")
    prompt = text_prompt(agent, "shared-" + os.urandom(4).hex(), "One sentence about {{topic}}.")
    version = agent.create_prompt_version(promptIdentifier=prompt["id"])["arn"]
    answer = within_one_second(
        lambda: runtime_two.converse(modelId=version, promptVariables={"topic": {"text": "rivers"}})
    )
    assert text_of(answer)

    # A logging configuration put through instance 1 is what instance 2 reports.
    config = {"textDataDeliveryEnabled": True, "imageDataDeliveryEnabled": False,
              "embeddingDataDeliveryEnabled": False,
              "s3Config": {"bucketName": "logs-" + os.urandom(3).hex(), "keyPrefix": "x"}}
    one.client("bedrock").put_model_invocation_logging_configuration(loggingConfig=config)

    def logging_on_two():
        got = two.client("bedrock").get_model_invocation_logging_configuration().get("loggingConfig")
        if got != config:
            raise ClientError({"Error": {"Code": "NotYet", "Message": str(got)}}, "Get")
        return got

    assert within_one_second(logging_on_two) == config
