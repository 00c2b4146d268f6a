"""Malformed bedrock-runtime requests against the real binary: each one answers the exact
Bedrock error (x-amzn-ErrorType, status, a message naming the field or place at fault)
and none answers 5xx. The corpus is a table: one line per case."""

import base64
import json

import pytest
from botocore.exceptions import ClientError

from rawhttp import HAIKU, HAIKU_PATH, assert_bedrock_error, scope, send

V, NF, UO = "ValidationException", "ResourceNotFoundException", "UnknownOperationException"
CONVERSE = f"/model/{HAIKU_PATH}/converse"
STREAM = f"/model/{HAIKU_PATH}/converse-stream"
INVOKE = f"/model/{HAIKU_PATH}/invoke"
INVOKE_STREAM = f"/model/{HAIKU_PATH}/invoke-with-response-stream"
COUNT = f"/model/{HAIKU_PATH}/count-tokens"
HI = [{"role": "user", "content": [{"text": "Hi"}]}]
MSG = {"messages": HI}
TEXT = {"text": "Hi"}
IMAGE = {"format": "png", "source": {"bytes": "AAAA"}}
ANTHROPIC = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 20, "messages": [{"role": "user", "content": "Hi"}]}


def table(cases):
    """Every case as a pytest.param with its name as the test ID."""
    return [c if hasattr(c, "marks") else pytest.param(*c, id=c[0]) for c in cases]


def conv(**members):
    return {"messages": HI, **members}


def turns(*roles):
    return {"messages": [{"role": r, "content": [TEXT]} for r in roles]}


def b64(obj):
    return base64.b64encode(json.dumps(obj).encode()).decode()


# (id, method, path, body, headers, status, code, text the message must contain)
CASES = [
    # Converse: JSON syntax and the body's shape
    ("bad-json", "POST", CONVERSE, '{"messages": [', {}, 400, V, "Malformed input request"),
    ("empty-body", "POST", CONVERSE, b"", {}, 400, V, "request body is empty"),
    ("trailing-garbage", "POST", CONVERSE, '{"messages": []} x', {}, 400, V, "trailing characters"),
    ("body-is-array", "POST", CONVERSE, [], {}, 400, V, "'body'"),
    ("messages-not-list", "POST", CONVERSE, {"messages": "hi"}, {}, 400, V, "'messages'"),
    ("content-is-string", "POST", CONVERSE, {"messages": [{"role": "user", "content": "hi"}]}, {}, 400, V, "'messages[0].content'"),
    ("role-unknown", "POST", CONVERSE, {"messages": [{"role": "robot", "content": [TEXT]}]}, {}, 400, V, "'messages[0].role'"),
    ("role-missing", "POST", CONVERSE, {"messages": [{"content": [TEXT]}]}, {}, 400, V, "missing field `role`"),
    ("text-not-string", "POST", CONVERSE, {"messages": [{"role": "user", "content": [{"text": 5}]}]}, {}, 400, V, "'messages[0].content[0].text'"),
    ("block-two-members", "POST", CONVERSE, {"messages": [{"role": "user", "content": [{"text": "a", "image": IMAGE}]}]}, {}, 400, V, "'messages[0].content[0]'"),
    ("block-no-member", "POST", CONVERSE, {"messages": [{"role": "user", "content": [{}]}]}, {}, 400, V, "found none"),
    ("block-unknown-member", "POST", CONVERSE, {"messages": [{"role": "user", "content": [{"hologram": {}}]}]}, {}, 400, V, "hologram"),
    ("unknown-top-member", "POST", CONVERSE, conv(temperature=0.5), {}, 400, V, "The member temperature is not supported"),
    ("unknown-nested-member", "POST", CONVERSE, conv(inferenceConfig={"maxToken": 5}), {}, 400, V, "The member maxToken is not supported"),
    ("unknown-message-member", "POST", CONVERSE, {"messages": [{"role": "user", "content": [TEXT], "name": "bob"}]}, {}, 400, V, "The member name is not supported"),
    ("empty-messages", "POST", CONVERSE, {"messages": []}, {}, 400, V, "messages field is required"),
    ("no-messages", "POST", CONVERSE, {"system": [TEXT]}, {}, 400, V, "messages field is required"),
    ("starts-with-assistant", "POST", CONVERSE, turns("assistant"), {}, 400, V, "must start with a user message"),
    ("roles-repeat", "POST", CONVERSE, turns("user", "user"), {}, 400, V, "messages[1] repeats the role of messages[0]"),
    ("empty-content", "POST", CONVERSE, {"messages": [{"role": "user", "content": []}]}, {}, 400, V, "'messages[0].content'"),
    ("temperature-high", "POST", CONVERSE, conv(inferenceConfig={"temperature": 1.5}), {}, 400, V, "'inferenceConfig.temperature'"),
    ("topp-negative", "POST", CONVERSE, conv(inferenceConfig={"topP": -0.5}), {}, 400, V, "'inferenceConfig.topP'"),
    ("maxtokens-zero", "POST", CONVERSE, conv(inferenceConfig={"maxTokens": 0}), {}, 400, V, "'inferenceConfig.maxTokens'"),
    ("maxtokens-string", "POST", CONVERSE, conv(inferenceConfig={"maxTokens": "ten"}), {}, 400, V, "'inferenceConfig.maxTokens'"),
    ("maxtokens-over-limit", "POST", CONVERSE, conv(inferenceConfig={"maxTokens": 10**7}), {}, 400, V, "exceeds the model limit"),
    ("stop-not-list", "POST", CONVERSE, conv(inferenceConfig={"stopSequences": "END"}), {}, 400, V, "'inferenceConfig.stopSequences'"),
    ("system-not-list", "POST", CONVERSE, conv(system="Be nice"), {}, 400, V, "'system'"),
    ("tools-missing", "POST", CONVERSE, conv(toolConfig={}), {}, 400, V, "missing field `tools`"),
    ("toolspec-no-schema", "POST", CONVERSE, conv(toolConfig={"tools": [{"toolSpec": {"name": "t"}}]}), {}, 400, V, "'toolConfig.tools[0].toolSpec'"),
    ("metadata-not-string", "POST", CONVERSE, conv(requestMetadata={"team": 5}), {}, 400, V, "'requestMetadata.team'"),
    ("image-format-bad", "POST", CONVERSE, {"messages": [{"role": "user", "content": [{"image": {"format": "tiff", "source": {"bytes": "AAAA"}}}]}]}, {}, 400, V, "tiff"),
    # Model identifiers and the caller's region
    ("model-unknown", "POST", "/model/nope.model-v1/converse", MSG, {}, 400, V, "The provided model identifier is invalid."),
    ("model-bad-utf8-escape", "POST", "/model/anthropic.claude%FF/converse", MSG, {}, 400, V, "model identifier"),
    ("model-bad-escape", "POST", "/model/anthropic.claude%ZZ/converse", MSG, {}, 400, V, "model identifier"),
    ("arn-truncated", "POST", "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123/converse", MSG, {}, 400, V, "model identifier"),
    ("profile-unknown", "POST", f"/model/xx.{HAIKU_PATH}/converse", MSG, {}, 400, V, "model identifier"),
    ("scope-region-unknown", "POST", CONVERSE, MSG, scope("mars-1"), 400, V, "The region mars-1 in the request's credential scope"),
    # ConverseStream: refused before the stream starts, as a plain JSON error
    ("stream-bad-json", "POST", STREAM, "{", {}, 400, V, "Malformed input request"),
    ("stream-role-unknown", "POST", STREAM, {"messages": [{"role": "robot", "content": [TEXT]}]}, {}, 400, V, "'messages[0].role'"),
    ("stream-unknown-member", "POST", STREAM, conv(stream=True), {}, 400, V, "The member stream is not supported"),
    ("stream-embedding-model", "POST", "/model/amazon.titan-embed-text-v1/converse-stream", MSG, {}, 400, V, "text or chat model"),
    # InvokeModel (+stream): provider-native bodies
    ("invoke-bad-json", "POST", INVOKE, "{not json", {}, 400, V, "Malformed input request"),
    ("invoke-content-type", "POST", INVOKE, ANTHROPIC, {"Content-Type": "text/plain"}, 400, V, "content type text/plain"),
    ("invoke-messages-not-list", "POST", INVOKE, {**ANTHROPIC, "messages": "Hi"}, {}, 400, V, "messages"),
    ("invoke-max-tokens-string", "POST", INVOKE, {**ANTHROPIC, "max_tokens": "many"}, {}, 400, V, "max_tokens"),
    ("invoke-no-version", "POST", INVOKE, {k: v for k, v in ANTHROPIC.items() if k != "anthropic_version"}, {}, 400, V, "anthropic_version"),
    ("invoke-extraneous-key", "POST", INVOKE, {**ANTHROPIC, "bogus": 1}, {}, 400, V, "bogus"),
    ("invoke-stream-bad-json", "POST", INVOKE_STREAM, "[", {}, 400, V, "Malformed input request"),
    ("invoke-stream-embedding", "POST", "/model/amazon.titan-embed-text-v1/invoke-with-response-stream", {"inputText": "Hi"}, {}, 400, V, "unsupported for streaming"),
    # InvokeModel headers (X-Amzn-Bedrock-*, Accept)
    ("trace-bad", "POST", INVOKE, ANTHROPIC, {"X-Amzn-Bedrock-Trace": "LOUD"}, 400, V, "Value 'LOUD' at 'trace'"),
    ("tier-bad", "POST", INVOKE_STREAM, ANTHROPIC, {"X-Amzn-Bedrock-Service-Tier": "gold"}, 400, V, "(header X-Amzn-Bedrock-Service-Tier)"),
    ("latency-bad", "POST", INVOKE, ANTHROPIC, {"X-Amzn-Bedrock-PerformanceConfig-Latency": "fast"}, 400, V, "'performanceConfigLatency'"),
    ("accept-html", "POST", INVOKE, ANTHROPIC, {"Accept": "text/html"}, 400, V, "accept type text/html"),
    ("stream-accept-html", "POST", INVOKE_STREAM, ANTHROPIC, {"X-Amzn-Bedrock-Accept": "text/html"}, 400, V, "X-Amzn-Bedrock-Accept"),
    ("metadata-not-json", "POST", INVOKE, ANTHROPIC, {"X-Amzn-Bedrock-Request-Metadata": "team=ml"}, 400, V, "'requestMetadata'"),
    ("header-not-ascii", "POST", INVOKE, ANTHROPIC, {"X-Amzn-Bedrock-Trace": b"\xff\xfe"}, 400, V, "header X-Amzn-Bedrock-Trace"),
    ("guardrail-unknown", "POST", INVOKE, ANTHROPIC, {"X-Amzn-Bedrock-GuardrailIdentifier": "gr1", "X-Amzn-Bedrock-GuardrailVersion": "1"}, 400, V, "X-Amzn-Bedrock-GuardrailIdentifier"),
    # CountTokens
    ("count-no-input", "POST", COUNT, {}, {}, 400, V, "missing field `input`"),
    ("count-two-inputs", "POST", COUNT, {"input": {"converse": MSG, "invokeModel": {"body": b64(ANTHROPIC)}}}, {}, 400, V, "'input'"),
    ("count-unknown-member", "POST", COUNT, {"input": {"converse": MSG}, "extra": 1}, {}, 400, V, "The member extra is not supported"),
    ("count-role-unknown", "POST", COUNT, {"input": {"converse": {"messages": [{"role": "robot", "content": [TEXT]}]}}}, {}, 400, V, "'input.converse.messages[0].role'"),
    ("count-body-not-base64", "POST", COUNT, {"input": {"invokeModel": {"body": "{not base64!"}}}, {}, 400, V, "base64"),
    # Methods, paths, sizes
    ("wrong-method-converse", "GET", CONVERSE, None, {}, 404, UO, "the path exists, but not for GET"),
    ("wrong-method-invoke", "PUT", INVOKE, ANTHROPIC, {}, 404, UO, "No operation matches PUT"),
    ("unknown-action", "POST", f"/model/{HAIKU_PATH}/transmogrify", MSG, {}, 404, UO, "/transmogrify"),
    ("unknown-path", "GET", "/nothing/here", None, {}, 404, UO, "No operation matches GET /nothing/here"),
    ("empty-model-label", "POST", "/model//converse", MSG, {}, 400, V, "The provided model identifier is invalid."),
    ("declared-too-large", "POST", INVOKE, b"{}", {"Content-Length": "30000000"}, 400, V, "limit of 25000000 bytes"),
]


@pytest.mark.parametrize("name,method,path,body,headers,status,code,text", table(CASES))
def test_malformed_runtime_request(spillway, name, method, path, body, headers, status, code, text):
    assert_bedrock_error(*send(spillway, method, path, body, headers), status, code, text)


def test_chunked_body_over_the_limit(spillway):
    # No Content-Length: the limit is met while the body is read.
    chunks = (b" " * (1 << 20) for _ in range(26))
    headers = {"Transfer-Encoding": "chunked"}
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    assert_bedrock_error(*send(spillway, "POST", INVOKE, body, headers), 400, V, "exceeds the limit of 25000000 bytes")


# With accounts configured, malformed credentials are refused before anything else, in
# the shapes AWS uses for them; a body too large is refused before it is verified.
AUTH_CASES = [
    ("auth-not-utf8", {"Authorization": b"AWS4-HMAC-SHA256 Credential=\xff\xfe"}, b"{}", 403, "IncompleteSignatureException", "Authorization"),
    ("auth-unknown-scheme", {"Authorization": "Basic dXNlcjpwYXNz"}, b"{}", 403, "IncompleteSignatureException", "Authorization"),
    ("auth-no-signature", {"Authorization": "AWS4-HMAC-SHA256 Credential=AKIAONEONEONEONE/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host"}, b"{}", 403, "IncompleteSignatureException", "Signature"),
    ("auth-missing", {}, b"{}", 403, "MissingAuthenticationTokenException", "Missing Authentication Token"),
    ("auth-declared-too-large", {"Content-Length": "30000000"}, b"{}", 400, V, "limit of 25000000 bytes"),
]


@pytest.fixture(scope="module")
def secured():
    from conftest import CONFIGS, Server

    server = Server(["--config", str(CONFIGS / "accounts.toml")])
    yield server
    server.stop()


@pytest.mark.parametrize("name,headers,body,status,code,text", table(AUTH_CASES))
def test_malformed_credentials(secured, name, headers, body, status, code, text):
    assert_bedrock_error(*send(secured, "POST", CONVERSE, body, headers), status, code, text)


def test_chunked_body_over_the_limit_with_accounts(secured):
    chunk = b" " * (1 << 20)
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(26)) + b"0\r\n\r\n"
    headers = {"Transfer-Encoding": "chunked", "Authorization": "Bearer key-of-account-one"}
    assert_bedrock_error(*send(secured, "POST", INVOKE, body, headers), 400, V, "exceeds the limit of 25000000 bytes")


# The same refusals as SDK users meet them (botocore validates types, so these are the
# inputs it lets through).
SDK_CASES = [
    ("converse", {"modelId": "nope.model-v1", "messages": HI}, 400, V, "model identifier is invalid"),
    ("converse", {"modelId": HAIKU, "messages": [{"role": "robot", "content": [TEXT]}]}, 400, V, "'messages[0].role'"),
    ("converse", {"modelId": HAIKU, "messages": HI * 2}, 400, V, "alternate"),
    ("converse", {"modelId": HAIKU, "messages": HI, "inferenceConfig": {"temperature": 3.0}}, 400, V, "temperature"),
    ("converse_stream", {"modelId": HAIKU, "messages": [{"role": "assistant", "content": [TEXT]}]}, 400, V, "user message"),
    ("invoke_model", {"modelId": HAIKU, "body": b"{"}, 400, V, "Malformed input request"),
    ("count_tokens", {"modelId": HAIKU, "input": {"converse": {"messages": []}}}, 400, V, "messages field is required"),
]


@pytest.mark.parametrize("op,params,status,code,text", table(SDK_CASES))
def test_malformed_request_through_boto3(spillway, op, params, status, code, text):
    with pytest.raises(ClientError) as e:
        getattr(spillway.client(), op)(**params)
    err = e.value.response
    assert err["Error"]["Code"] == code
    assert err["ResponseMetadata"]["HTTPStatusCode"] == status
    assert text in err["Error"]["Message"]
