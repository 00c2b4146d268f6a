"""Accounts and authentication with real boto3 signing: SigV4 verified against the
configured secrets (double-encoded ARN paths included), API keys, and account isolation."""

import datetime
import json
import urllib.request

import boto3
import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import CONFIGS, text_of, user

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
PATH = "/model/" + HAIKU.replace(":", "%3A") + "/converse"
BODY = json.dumps({"messages": user("Hi")}).encode()


@pytest.fixture(scope="module")
def secured():
    from conftest import Server

    server = Server(["--config", str(CONFIGS / "accounts.toml")])
    yield server
    server.stop()


def client(server, key, secret, service="bedrock-runtime", token=None, region="us-east-1"):
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=server.url,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(retries={"max_attempts": 1}),
    )


def error_of(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def send(server, headers, body=BODY, path=PATH):
    req = urllib.request.Request(server.url + path, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def signed_headers(server, key, secret, body=BODY, path=PATH, skew=datetime.timedelta(0), monkeypatch=None):
    if skew and monkeypatch is not None:
        real = datetime.datetime

        class Skewed(real):
            @classmethod
            def utcnow(cls):
                return real.utcnow() + skew

            @classmethod
            def now(cls, tz=None):
                return real.now(tz) + skew

        monkeypatch.setattr(botocore.auth.datetime, "datetime", Skewed)
    request = AWSRequest(method="POST", url=server.url + path, data=body, headers={"content-type": "application/json"})
    SigV4Auth(Credentials(key, secret), "bedrock", "us-east-1").add_auth(request)
    return dict(request.prepare().headers)


def test_right_secret_passes(secured):
    r = client(secured, "AKIAONEONEONEONE", "secret-one").converse(modelId=HAIKU, messages=user("Hi"))
    assert text_of(r)


def test_arn_model_id_is_verified_double_encoded(secured):
    arn = f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}"
    r = client(secured, "AKIAONEONEONEONE", "secret-one").converse(modelId=arn, messages=user("Hi"))
    assert text_of(r)


def test_wrong_secret_is_invalid_signature(secured):
    call = lambda: client(secured, "AKIAONEONEONEONE", "wrong").converse(modelId=HAIKU, messages=user("Hi"))  # noqa: E731
    assert error_of(call) == ("InvalidSignatureException", 403)


def test_unknown_key_is_unrecognized_client(secured):
    call = lambda: client(secured, "AKIANOBODY", "x").converse(modelId=HAIKU, messages=user("Hi"))  # noqa: E731
    assert error_of(call) == ("UnrecognizedClientException", 403)


def test_session_tokens(secured):
    ok = client(secured, "ASIATEMPORARYONE", "secret-temp", token="session-token-one")
    assert text_of(ok.converse(modelId=HAIKU, messages=user("Hi")))
    bad = client(secured, "ASIATEMPORARYONE", "secret-temp", token="forged")
    assert error_of(lambda: bad.converse(modelId=HAIKU, messages=user("Hi"))) == ("UnrecognizedClientException", 403)


def test_skewed_clock_is_refused(secured, monkeypatch):
    headers = signed_headers(secured, "AKIAONEONEONEONE", "secret-one", skew=datetime.timedelta(minutes=-10), monkeypatch=monkeypatch)
    status, h, body = send(secured, headers)
    assert status == 403
    assert h["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert b"Signature expired" in body


def test_tampered_body_is_refused(secured):
    headers = signed_headers(secured, "AKIAONEONEONEONE", "secret-one")
    status, h, _ = send(secured, headers, body=BODY.replace(b"Hi", b"Ho"))
    assert status == 403 and h["x-amzn-ErrorType"] == "InvalidSignatureException"
    status, _, _ = send(secured, headers)
    assert status == 200


def test_api_keys(secured):
    status, _, body = send(secured, {"authorization": "Bearer key-of-account-one", "content-type": "application/json"})
    assert status == 200, body
    status, h, _ = send(secured, {"authorization": "Bearer nope", "content-type": "application/json"})
    assert status == 403 and h["x-amzn-ErrorType"] == "AccessDeniedException"


def test_unsigned_request_is_refused(secured):
    status, h, _ = send(secured, {"content-type": "application/json"})
    assert status == 403 and h["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_accounts_cannot_touch_each_others_resources(secured):
    one = client(secured, "AKIAONEONEONEONE", "secret-one", service="bedrock")
    two = client(secured, "AKIATWOTWOTWOTWO", "secret-two", service="bedrock")
    arn = one.create_inference_profile(
        inferenceProfileName="private",
        modelSource={"copyFrom": f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}"},
        tags=[{"key": "owner", "value": "one"}],
    )["inferenceProfileArn"]
    assert ":111111111111:" in arn
    assert arn not in [p["inferenceProfileArn"] for p in two.list_inference_profiles()["inferenceProfileSummaries"]]
    assert error_of(lambda: two.get_inference_profile(inferenceProfileIdentifier=arn))[0] == "ResourceNotFoundException"
    assert error_of(lambda: two.list_tags_for_resource(resourceARN=arn))[0] == "ResourceNotFoundException"
    assert error_of(lambda: two.tag_resource(resourceARN=arn, tags=[{"key": "x", "value": "y"}]))[0] == "ResourceNotFoundException"
    assert error_of(lambda: two.delete_inference_profile(inferenceProfileIdentifier=arn))[0] == "ResourceNotFoundException"
    runtime_two = client(secured, "AKIATWOTWOTWOTWO", "secret-two")
    assert error_of(lambda: runtime_two.converse(modelId=arn, messages=user("Hi")))[0] == "ValidationException"
    # The owner still has it, untouched.
    assert one.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "owner", "value": "one"}]
    assert text_of(client(secured, "AKIAONEONEONEONE", "secret-one").converse(modelId=arn, messages=user("Hi")))
