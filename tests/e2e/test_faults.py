"""The real binary in front of an OpenAI-compatible backend that misbehaves (fake_openai):
dies mid-stream, answers garbage, hangs, closes the connection. Each failure is a Bedrock
error (an HTTP error before the stream starts, an exception event after), settles its
quota, is written to the invocation log, and before the first byte a profile fails over
to its other region."""

import gzip
import json
import pathlib
import time

import pytest
from botocore.exceptions import ClientError, EventStreamError

import fake_openai
from conftest import Server, text_of, user

TIMEOUT_MS = 1500
FAULTS = ["ok", "dies-mid-stream", "garbage", "wrong-json", "wrong-content-type", "hangs", "closes"]
# Failures that strike only in us-east-1, for the failover tests.
EAST_ONLY = ["closes@east", "hangs@east", "garbage@east"]
# One answer of maxTokens=1000 fits this TPM; a second one fits only if the first was
# settled (its unused reservation given back).
TPM, MAX_TOKENS = 1200, 1000


def model_id(fault):
    return f"test.{fault.replace('@', '-at-')}-v1:0"


def config(base):
    lines = [
        'default_region = "us-east-1"',
        'default_backend = "east"',
        "[routing]\ncooldown_ms = 0",
        "[regions.us-east-1]\n[regions.us-west-2]",
    ]
    for region in ("east", "west"):
        lines.append(f'[backends.{region}]\nkind = "openai"\nbase_url = "{base}/{region}/v1"\ntimeout_ms = {TIMEOUT_MS}\nmax_concurrency = 8')
    for fault in FAULTS + EAST_ONLY:
        mid = model_id(fault)
        lines.append(
            f'[[models]]\nid = "{mid}"\nname = "{fault}"\nprovider = "Test"\nbody_format = "anthropic"\n'
            f'backend_model = "{fault}"\ndefault_max_tokens = 100\nmax_tokens_limit = 4096\n[models.regions]\n'
            f'us-east-1 = {{ rpm = 1000, tpm = {TPM} }}\nus-west-2 = {{ rpm = 1000, tpm = {TPM}, backend = "west" }}'
        )
        lines.append(f'[[profiles]]\nid = "us.{mid}"\nname = "US {fault}"\nmodel = "{mid}"\nregions = ["us-east-1", "us-west-2"]')
    return "\n\n".join(lines) + "\n"


LOGGING = {"s3Config": {"bucketName": "bedrock-logs", "keyPrefix": "faults"}, "textDataDeliveryEnabled": True}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    fake, base = fake_openai.start()
    path = tmp_path_factory.mktemp("cfg") / "faults-openai.toml"
    path.write_text(config(base))
    spillway = Server(["--config", str(path)])
    spillway.client("bedrock").put_model_invocation_logging_configuration(loggingConfig=LOGGING)
    yield spillway
    spillway.stop()
    fake.shutdown()


def runtime(server):
    # The read timeout bounds every call well below the hanging backend's 30 s.
    return server.client(read_timeout=15, connect_timeout=5)


ANTHROPIC = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}


def converse_error(server, fault, op="converse", **kw):
    """The error of one call: Converse(Stream) with a user turn, InvokeModel with a body."""
    if op.startswith("invoke"):
        kw["body"] = json.dumps(ANTHROPIC)
    else:
        kw["messages"] = user("Hi")
    with pytest.raises(ClientError) as e:
        getattr(runtime(server), op)(modelId=model_id(fault), **kw)
    return e.value.response


def log_records(server, want, timeout=10.0):
    """The invocation-log records of us-east-1 by request ID, once `want` IDs are there."""
    base = pathlib.Path(server.data_dir) / "s3" / "bedrock-logs" / "faults" / "AWSLogs"
    deadline = time.time() + timeout
    while True:
        records = {}
        for f in base.rglob("*.json.gz"):
            for line in gzip.decompress(f.read_bytes()).decode().splitlines():
                r = json.loads(line)
                records[r["requestId"]] = r
        if set(want) <= set(records) or time.time() > deadline:
            return records
        time.sleep(0.1)


def test_the_healthy_fake_answers(server):
    r = runtime(server).converse(modelId=model_id("ok"), messages=user("Hi"))
    assert text_of(r) == "Hello from the fake server."


@pytest.mark.parametrize("op", ["converse_stream", "invoke_model_with_response_stream"])
def test_backend_dying_mid_stream_is_an_exception_event(server, op):
    client = runtime(server)
    if op == "converse_stream":
        response = client.converse_stream(modelId=model_id("dies-mid-stream"), messages=user("Hi"))
        events = response["stream"]
    else:
        response = client.invoke_model_with_response_stream(modelId=model_id("dies-mid-stream"), body=json.dumps(ANTHROPIC))
        events = response["body"]
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    seen = []
    with pytest.raises(EventStreamError) as e:
        for event in events:
            seen.append(event)
    assert e.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert "stream" in e.value.response["Error"]["Message"]
    assert seen, "the chunks before the cut reach the client"


@pytest.mark.parametrize("fault", ["garbage", "wrong-json"])
@pytest.mark.parametrize(
    "op",
    [
        "converse",
        "converse_stream",
    ],
)
def test_garbage_answer_is_a_model_error(server, fault, op):
    err = converse_error(server, fault, op)
    assert err["Error"]["Code"] == "ModelErrorException", err
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert "invalid" in err["Error"]["Message"]


@pytest.mark.parametrize("op", ["converse", "converse_stream"])
def test_content_type_is_not_trusted_over_the_body(server, op):
    # A good answer labelled text/html (or a stream labelled text/plain) is read by its body.
    response = getattr(runtime(server), op)(modelId=model_id("wrong-content-type"), messages=user("Hi"))
    if op == "converse":
        assert text_of(response) == "Hello from the fake server."
    else:
        assert "metadata" in list(response["stream"])[-1]


@pytest.mark.parametrize("op", ["converse", "converse_stream", "invoke_model", "invoke_model_with_response_stream"])
def test_hanging_backend_times_out_as_model_timeout(server, op):
    err = converse_error(server, "hangs", op)
    assert err["Error"]["Code"] == "ModelTimeoutException", err
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 408
    assert "timed out" in err["Error"]["Message"]


@pytest.mark.parametrize("op", ["converse", "converse_stream", "invoke_model", "invoke_model_with_response_stream"])
def test_connection_closed_before_answering(server, op):
    err = converse_error(server, "closes", op)
    assert err["Error"]["Code"] == "ServiceUnavailableException", err
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 503


@pytest.mark.parametrize("fault", EAST_ONLY)
@pytest.mark.parametrize("op", ["converse", "converse_stream"])
def test_failure_before_first_byte_fails_over_to_the_other_region(server, fault, op):
    fake_openai.FaultyOpenAI.calls.clear()
    response = getattr(runtime(server), op)(modelId="us." + model_id(fault), messages=user("Hi"))
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-spillway-inference-region"] == "us-west-2"
    if op == "converse":
        assert text_of(response) == "Hello from the fake server."
    else:
        events = list(response["stream"])
        assert "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e) == "Hello from the fake server."
    regions = [c[0] for c in fake_openai.FaultyOpenAI.calls]
    assert regions == ["east", "west"], regions


@pytest.mark.parametrize("fault", ["dies-mid-stream", "garbage", "hangs", "closes"])
def test_failed_call_gives_its_quota_back(server, fault):
    client = runtime(server)
    cfg = {"maxTokens": MAX_TOKENS}
    # The TPM really is tight: a reservation above it is refused outright.
    with pytest.raises(ClientError) as e:
        client.converse(modelId=model_id(fault), messages=user("Hi"), inferenceConfig={"maxTokens": TPM + 100})
    assert e.value.response["Error"]["Code"] == "ThrottlingException"
    for _ in range(2):
        try:
            events = client.converse_stream(modelId=model_id(fault), messages=user("Hi"), inferenceConfig=cfg)["stream"]
            list(events)
        except (ClientError, EventStreamError) as failure:
            code = failure.response["Error"]["Code"]
            assert code not in ("ThrottlingException", "throttlingException"), "the first call's reservation was kept"


def test_failed_calls_are_in_the_invocation_log(server):
    client = runtime(server)
    expected = {}
    for fault in ("garbage", "hangs", "closes"):
        err = converse_error(server, fault)
        expected[err["ResponseMetadata"]["RequestId"]] = ("Converse", err["Error"]["Code"])
    response = client.converse_stream(modelId=model_id("dies-mid-stream"), messages=user("Hi"))
    with pytest.raises(EventStreamError):
        list(response["stream"])
    expected[response["ResponseMetadata"]["RequestId"]] = ("ConverseStream", "ModelStreamErrorException")
    records = log_records(server, expected)
    for request_id, (operation, code) in expected.items():
        assert request_id in records, f"no log record for {operation} {code}"
        record = records[request_id]
        assert (record["operation"], record.get("errorCode")) == (operation, code), record
        assert record["region"] == "us-east-1"
