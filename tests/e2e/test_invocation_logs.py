"""Model invocation logging as Bedrock does it: the configuration API, one record per
call in the source region with inferenceRegion (seed 000's Paris example), S3 key layout
and CloudWatch delivery, and no record lost at shutdown."""

import gzip
import json
import pathlib
import time

from conftest import user

SONNET35 = "anthropic.claude-3-5-sonnet-20240620-v1:0"
CONFIG = {
    "s3Config": {"bucketName": "bedrock-logs", "keyPrefix": "spillway"},
    "cloudWatchConfig": {"logGroupName": "/bedrock/invocations", "roleArn": "arn:aws:iam::123456789012:role/logs"},
    "textDataDeliveryEnabled": True,
}


def s3_records(server, region, timeout=10.0):
    base = pathlib.Path(server.data_dir) / "s3" / "bedrock-logs" / "spillway" / "AWSLogs" / "123456789012"
    base = base / "BedrockModelInvocationLogs" / region
    deadline = time.time() + timeout
    while time.time() < deadline:
        files = sorted(base.glob("*/*/*/*/*.json.gz"))
        if files:
            records = []
            for f in files:
                records += [json.loads(line) for line in gzip.decompress(f.read_bytes()).decode().splitlines() if line]
            return files, records
        time.sleep(0.1)
    return [], []


def test_paris_profile_call_is_logged_with_its_inference_region(start_server):
    server = start_server("--backend", "sim")
    bedrock = server.client("bedrock", region="eu-west-3")
    bedrock.put_model_invocation_logging_configuration(loggingConfig=CONFIG)
    assert bedrock.get_model_invocation_logging_configuration()["loggingConfig"] == CONFIG
    runtime = server.client(region="eu-west-3")
    response = runtime.converse(
        modelId="eu." + SONNET35, messages=user("S3、EBS、EFS の違いを教えてください。"), requestMetadata={"team": "ml"}
    )
    files, records = s3_records(server, "eu-west-3")
    assert len(records) == 1
    record = records[0]
    assert record["schemaType"] == "ModelInvocationLog" and record["schemaVersion"] == "1.0"
    assert record["region"] == "eu-west-3"
    assert record["inferenceRegion"] == "eu-central-1"
    assert record["operation"] == "Converse"
    assert record["modelId"] == "eu." + SONNET35
    assert record["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert record["input"]["inputTokenCount"] == response["usage"]["inputTokens"]
    assert record["output"]["outputTokenCount"] == response["usage"]["outputTokens"]
    assert record["input"]["inputBodyJson"]["messages"][0]["content"][0]["text"].startswith("S3")
    assert record["output"]["outputBodyJson"]["stopReason"] == response["stopReason"]
    assert record["requestMetadata"] == {"team": "ml"}
    # Key layout: AWSLogs/{account}/BedrockModelInvocationLogs/{region}/YYYY/MM/DD/HH/{ts}_{hex}.json.gz
    name = files[0].name
    assert name.endswith(".json.gz") and "Z_" in name
    # The same record in the CloudWatch log group's stream.
    cw = list((pathlib.Path(server.data_dir) / "cloudwatch").rglob("modelinvocations.jsonl"))
    assert cw and json.loads(cw[0].read_text().splitlines()[0])["requestId"] == record["requestId"]


def test_streams_errors_and_other_regions(start_server):
    server = start_server("--backend", "sim")
    server.client("bedrock", region="eu-west-3").put_model_invocation_logging_configuration(loggingConfig=CONFIG)
    runtime = server.client(region="eu-west-3")
    list(runtime.converse_stream(modelId="eu." + SONNET35, messages=user("Hi"))["stream"])
    try:
        runtime.converse(modelId=SONNET35, messages=user("Hi"))  # not offered in Paris
    except Exception:
        pass
    # A region without a configuration logs nothing.
    server.client(region="eu-central-1").converse(modelId=SONNET35, messages=user("Hi"))
    time.sleep(1.5)
    _, records = s3_records(server, "eu-west-3")
    ops = sorted((r["operation"], r.get("errorCode")) for r in records)
    assert ops == [("Converse", "ValidationException"), ("ConverseStream", None)]
    stream = next(r for r in records if r["operation"] == "ConverseStream")
    assert stream["output"]["outputBodyJson"]["output"]["message"]["content"][0]["text"]
    assert s3_records(server, "eu-central-1", timeout=0.5) == ([], [])


def test_delete_configuration(start_server):
    server = start_server("--backend", "sim")
    bedrock = server.client("bedrock", region="us-east-1")
    bedrock.put_model_invocation_logging_configuration(loggingConfig=CONFIG)
    bedrock.delete_model_invocation_logging_configuration()
    assert "loggingConfig" not in bedrock.get_model_invocation_logging_configuration()


def test_invalid_configuration_names_the_field(start_server):
    # boto3 checks the length itself, so send what another client might.
    server = start_server("--backend", "sim")
    body = {"loggingConfig": {"s3Config": {"bucketName": "ab"}}}
    status, headers, raw = server.raw("PUT", "/logging/modelinvocations", body, {"content-type": "application/json"})
    assert status == 400
    assert headers["x-amzn-ErrorType"] == "ValidationException"
    assert b"loggingConfig.s3Config.bucketName" in raw


def test_no_record_is_lost_at_shutdown(start_server):
    server = start_server("--backend", "sim")
    server.client("bedrock", region="us-west-2").put_model_invocation_logging_configuration(loggingConfig=CONFIG)
    runtime = server.client(region="us-west-2")
    for _ in range(25):
        runtime.converse(modelId=SONNET35, messages=user("Hi"), inferenceConfig={"maxTokens": 2})
    server.stop()  # SIGTERM right away: the batch has not been written yet
    _, records = s3_records(server, "us-west-2", timeout=1.0)
    assert len(records) == 25


def test_configuration_survives_a_restart(start_server):
    first = start_server("--backend", "sim")
    first.client("bedrock", region="us-west-2").put_model_invocation_logging_configuration(loggingConfig=CONFIG)
    first.stop()
    second = start_server("--backend", "sim", data_dir=first.data_dir)
    got = second.client("bedrock", region="us-west-2").get_model_invocation_logging_configuration()
    assert got["loggingConfig"] == CONFIG
