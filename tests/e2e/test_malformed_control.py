"""Malformed control-plane requests (bedrock, and bedrock-agent prompt management) against
the real binary: each one answers the exact Bedrock error with its status and a message
naming what is wrong, and none answers 5xx. One line per case."""

import pytest
from botocore.exceptions import ClientError

from rawhttp import HAIKU, assert_bedrock_error, send

V, NF, UO = "ValidationException", "ResourceNotFoundException", "UnknownOperationException"
FM_ARN = f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}"
PROFILE = {"inferenceProfileName": "p", "modelSource": {"copyFrom": FM_ARN}}
LOGGING = {"loggingConfig": {"s3Config": {"bucketName": "logs"}, "textDataDeliveryEnabled": True}}

# (id, method, path, body, status, code, text the message must contain)
CASES = [
    # bedrock: foundation models and inference profiles
    ("fm-unknown", "GET", "/foundation-models/nope.model-v1", None, 404, NF, "provided model identifier"),
    ("fm-bad-modality", "GET", "/foundation-models?byOutputModality=SMELL", None, 400, V, "SMELL"),
    ("fm-bad-inference-type", "GET", "/foundation-models?byInferenceType=FREE", None, 400, V, "FREE"),
    ("fm-wrong-method", "DELETE", "/foundation-models", None, 404, UO, "but not for DELETE"),
    ("ip-max-results-zero", "GET", "/inference-profiles?maxResults=0", None, 400, V, "maxResults"),
    ("ip-max-results-text", "GET", "/inference-profiles?maxResults=ten", None, 400, V, "maxResults"),
    ("ip-next-token-garbage", "GET", "/inference-profiles?nextToken=garbage", None, 400, V, "nextToken"),
    ("ip-bad-type", "GET", "/inference-profiles?type=BOGUS", None, 400, V, "BOGUS"),
    ("ip-unknown-query", "GET", "/inference-profiles?typeEquals=SYSTEM_DEFINED", None, 400, V, "typeEquals"),
    ("ip-unknown", "GET", "/inference-profiles/zz.nothing", None, 404, NF, "zz.nothing"),
    ("ip-create-empty", "POST", "/inference-profiles", {}, 400, V, "inferenceProfileName"),
    ("ip-create-bad-json", "POST", "/inference-profiles", "{", 400, V, "Malformed"),
    ("ip-create-name-type", "POST", "/inference-profiles", {**PROFILE, "inferenceProfileName": 5}, 400, V, "inferenceProfileName"),
    ("ip-create-bad-source", "POST", "/inference-profiles", {**PROFILE, "modelSource": {"copyFrom": "not-an-arn"}}, 400, V, "Value 'not-an-arn' at 'modelSource.copyFrom'"),
    ("ip-create-unknown-member", "POST", "/inference-profiles", {**PROFILE, "color": "red"}, 400, V, "color"),
    ("ip-delete-unknown", "DELETE", "/inference-profiles/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fnope", None, 404, NF, "nope"),
    # bedrock: tagging
    ("tag-empty", "POST", "/tagResource", {}, 400, V, "resourceARN"),
    ("tag-bad-arn", "POST", "/tagResource", {"resourceARN": "nope", "tags": []}, 400, V, "nope"),
    ("tags-list-unknown", "POST", "/listTagsForResource", {"resourceARN": "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/nope"}, 404, NF, "nope"),
    # bedrock: provisioned throughput and imports
    ("pt-max-results-high", "GET", "/provisioned-model-throughputs?maxResults=1001", None, 400, V, "maxResults"),
    ("pt-bad-status", "GET", "/provisioned-model-throughputs?statusEquals=Sleeping", None, 400, V, "Sleeping"),
    ("pt-bad-time", "GET", "/provisioned-model-throughputs?creationTimeAfter=yesterday", None, 400, V, "creationTimeAfter"),
    ("pt-bad-sort", "GET", "/provisioned-model-throughputs?sortBy=Name", None, 400, V, "sortBy"),
    ("pt-unknown", "GET", "/provisioned-model-throughput/nope", None, 404, NF, "nope"),
    ("pt-create-empty", "POST", "/provisioned-model-throughput", {}, 400, V, "modelUnits"),
    ("pt-create-units-type", "POST", "/provisioned-model-throughput", {"modelUnits": "two", "provisionedModelName": "p", "modelId": HAIKU}, 400, V, "modelUnits"),
    ("import-max-results-text", "GET", "/model-import-jobs?maxResults=abc", None, 400, V, "maxResults"),
    ("imported-unknown", "GET", "/imported-models/nope", None, 404, NF, "nope"),
    # bedrock: invocation logging configuration
    ("logging-empty", "PUT", "/logging/modelinvocations", {}, 400, V, "loggingConfig"),
    ("logging-bad-json", "PUT", "/logging/modelinvocations", "{]", 400, V, "Malformed"),
    ("logging-wrong-method", "POST", "/logging/modelinvocations", LOGGING, 404, UO, "but not for POST"),
    # bedrock-agent: prompts and their tags
    ("prompt-create-empty", "POST", "/prompts/", {}, 400, V, "name"),
    ("prompt-create-name-type", "POST", "/prompts/", {"name": 5}, 400, V, "name"),
    ("prompt-create-bad-json", "POST", "/prompts/", "{", 400, V, "Malformed"),
    ("prompt-create-unknown-member", "POST", "/prompts/", {"name": "p", "colour": "red"}, 400, V, "colour"),
    ("prompt-unknown", "GET", "/prompts/ABCDEFGHIJ", None, 404, NF, "ABCDEFGHIJ"),
    ("prompt-bad-id", "GET", "/prompts/bad%21id", None, 400, V, "'promptIdentifier'"),
    ("prompt-list-max-zero", "GET", "/prompts?maxResults=0", None, 400, V, "maxResults"),
    ("prompt-list-token-garbage", "GET", "/prompts?nextToken=garbage", None, 400, V, "nextToken"),
    ("prompt-version-unknown", "POST", "/prompts/ABCDEFGHIJ/versions", {}, 404, NF, "ABCDEFGHIJ"),
    ("prompt-wrong-method", "PATCH", "/prompts/ABCDEFGHIJ", {}, 404, UO, "but not for PATCH"),
    ("agent-tags-bad-arn", "GET", "/tags/not-an-arn", None, 400, V, "'resourceArn'"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_malformed_control_request(spillway, case):
    _, method, path, body, status, code, text = case
    assert_bedrock_error(*send(spillway, method, path, body), status, code, text)


SDK_CASES = [
    ("bedrock", "get_foundation_model", {"modelIdentifier": "nope.model-v1"}, 404, NF),
    ("bedrock", "get_inference_profile", {"inferenceProfileIdentifier": "zz.nothing"}, 404, NF),
    ("bedrock", "create_inference_profile", {"inferenceProfileName": "p", "modelSource": {"copyFrom": "not-an-arn"}}, 400, V),
    ("bedrock-agent", "get_prompt", {"promptIdentifier": "ABCDEFGHIJ"}, 404, NF),
]


@pytest.mark.parametrize("case", SDK_CASES, ids=[c[1] for c in SDK_CASES])
def test_malformed_control_request_through_boto3(spillway, case):
    service, op, params, status, code = case
    with pytest.raises(ClientError) as e:
        getattr(spillway.client(service), op)(**params)
    assert e.value.response["Error"]["Code"] == code
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
