"""Provisioned throughput (seed 002): bought in model units that are real capacity,
invoked by its ARN outside on-demand quotas, billed by the hour; custom models only
through it."""

import json
import re
import subprocess
import time
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

from conftest import BINARY, CONFIGS, text_of, user

CONFIG = str(CONFIGS / "provisioned.toml")
ACCOUNT = "123456789012"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
HAIKU_ARN = f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}"
CLAUDE_18K = "anthropic.claude-v2:1:18k"
LLAMA = "meta.llama3-8b-instruct-v1:0"
CUSTOM_ARN = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:custom-model/{HAIKU}/ft0support01"
PT_ARN = re.compile(rf"^arn:aws:bedrock:us-east-1:{ACCOUNT}:provisioned-model/[a-z0-9]{{12}}$")


def code(e):
    return e.value.response["Error"]["Code"]


def wait_for(bedrock, arn, status="InService", timeout=10):
    """Polls GetProvisionedModelThroughput, as a user waits for a purchase."""
    deadline = time.time() + timeout
    while True:
        got = bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
        if got["status"] == status:
            return got
        assert got["status"] in ("Creating", "Updating"), got
        assert time.time() < deadline, f"still {got['status']} after {timeout}s"
        time.sleep(0.05)


def usage(server, by="model"):
    status, _, body = server.raw("GET", f"/spillway/usage?by={by}")
    assert status == 200, body
    return {r["key"]: r for r in json.loads(body)["rows"]}


def metric(server, name, **labels):
    for line in server.raw("GET", "/metrics")[2].decode().splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_lifecycle_end_to_end(start_server):
    server = start_server("--config", CONFIG)
    bedrock, runtime = server.client("bedrock"), server.client()
    created = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="hogethru2", modelId=HAIKU, tags=[{"key": "team", "value": "search"}]
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    arn = created["provisionedModelArn"]
    assert PT_ARN.match(arn), arn

    # Seed 002: right after the purchase it is Creating, with 0 of the 1 unit asked for.
    first = bedrock.get_provisioned_model_throughput(provisionedModelId="hogethru2")
    assert (first["status"], first["modelUnits"], first["desiredModelUnits"]) == ("Creating", 0, 1)
    assert first["modelArn"] == first["desiredModelArn"] == first["foundationModelArn"] == HAIKU_ARN
    assert "commitmentDuration" not in first and "failureMessage" not in first
    live = wait_for(bedrock, arn)
    assert live["modelUnits"] == 1 and live["lastModifiedTime"] > live["creationTime"]
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "team", "value": "search"}]

    # The on-demand quota (2 RPM in us-east-1) runs out...
    for _ in range(2):
        runtime.converse(modelId=HAIKU, messages=user("on demand"))
    with pytest.raises(ClientError) as e:
        runtime.converse(modelId=HAIKU, messages=user("on demand"))
    assert code(e) == "ThrottlingException"
    # ...and the provisioned model is not subject to it.
    tokens = [0, 0]
    for _ in range(3):
        response = runtime.converse(modelId=arn, messages=user("Hello through provisioned throughput"))
        assert text_of(response)
        tokens[0] += response["usage"]["inputTokens"]
        tokens[1] += response["usage"]["outputTokens"]
    stream = runtime.converse_stream(modelId=arn, messages=user("stream it"))["stream"]
    assert any("messageStop" in event for event in stream)

    # Billed per unit-hour ($36 without commitment), tokens counted at no token cost.
    time.sleep(1.0)
    rows = usage(server)
    row = rows[arn]
    assert row["invocations"] == 4 and row["inputTokens"] >= tokens[0] and row["outputTokens"] >= tokens[1]
    elapsed = (datetime.now(timezone.utc) - live["lastModifiedTime"]).total_seconds()
    assert 0.004 < row["costUsd"] <= 36.0 / 3600 * (elapsed + 1), (row, elapsed)
    assert rows[HAIKU]["throttles"] >= 1  # the harness client retries a throttle once
    by_foundation = usage(server, "foundation-model")[HAIKU]
    assert by_foundation["invocations"] >= 7
    out = subprocess.run([str(BINARY), "usage", "--by", "model", "--endpoint", server.url], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert arn in out.stdout

    # Update: a new name applies at once; the throughput keeps serving.
    bedrock.update_provisioned_model_throughput(provisionedModelId=arn, desiredProvisionedModelName="renamed")
    got = bedrock.get_provisioned_model_throughput(provisionedModelId="renamed")
    assert (got["provisionedModelName"], got["status"]) == ("renamed", "InService")
    with pytest.raises(ClientError) as e:
        bedrock.get_provisioned_model_throughput(provisionedModelId="hogethru2")
    assert code(e) == "ResourceNotFoundException"
    # A base model's throughput cannot change model.
    with pytest.raises(ClientError) as e:
        bedrock.update_provisioned_model_throughput(provisionedModelId=arn, desiredModelId=CLAUDE_18K)
    assert code(e) == "ValidationException"

    bedrock.delete_provisioned_model_throughput(provisionedModelId="renamed")
    with pytest.raises(ClientError) as e:
        bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        runtime.converse(modelId=arn, messages=user("gone"))
    assert code(e) == "ValidationException"
    assert bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"] == []


def test_commitment_is_cheaper_per_hour(start_server):
    server = start_server("--config", CONFIG)
    bedrock = server.client("bedrock")
    hourly = bedrock.create_provisioned_model_throughput(modelUnits=2, provisionedModelName="hourly", modelId=HAIKU)
    committed = bedrock.create_provisioned_model_throughput(
        modelUnits=2, provisionedModelName="committed", modelId=HAIKU_ARN, commitmentDuration="SixMonths"
    )
    wait_for(bedrock, hourly["provisionedModelArn"])
    got = wait_for(bedrock, committed["provisionedModelArn"])
    assert got["commitmentDuration"] == "SixMonths" and got["commitmentExpirationTime"] > got["creationTime"]
    time.sleep(1.5)
    rows = usage(server)
    no_commit, six_months = rows[hourly["provisionedModelArn"]]["costUsd"], rows[committed["provisionedModelArn"]]["costUsd"]
    # 2 units × $36/h against 2 units × $9/h, over the same second or two.
    assert 0 < six_months < no_commit / 2, (six_months, no_commit)
    # A commitment cannot be cancelled before its term ends.
    with pytest.raises(ClientError) as e:
        bedrock.delete_provisioned_model_throughput(provisionedModelId="committed")
    assert code(e) == "ConflictException"
    bedrock.delete_provisioned_model_throughput(provisionedModelId="hourly")


def test_reservation_reduces_on_demand_capacity(start_server):
    server = start_server("--config", CONFIG)
    bedrock, runtime = server.client("bedrock"), server.client()
    labels = {"region": "us-east-1", "backend": "small"}
    assert metric(server, "spillway_backend_reserved", **labels) == 0

    # Before: the small backend's four slots all serve on-demand calls.
    held = [runtime.converse_stream(modelId="anthropic.claude-v2:1", messages=user("hold a slot")) for _ in range(2)]
    assert metric(server, "spillway_backend_available", **labels) == 0.5
    for h in held:
        h["stream"].close()

    # Three units reserve three of the four slots: on-demand keeps one.
    arn = bedrock.create_provisioned_model_throughput(
        modelUnits=3, provisionedModelName="big", modelId=CLAUDE_18K
    )["provisionedModelArn"]
    got = wait_for(bedrock, arn)
    assert got["modelArn"].endswith("foundation-model/anthropic.claude-v2:1:18k")  # seed 002's variant
    assert metric(server, "spillway_backend_reserved", **labels) == 3
    one = runtime.converse_stream(modelId="anthropic.claude-v2:1", messages=user("the last on-demand slot"))
    assert metric(server, "spillway_backend_available", **labels) == 0.0
    with pytest.raises(ClientError) as e:
        runtime.converse_stream(modelId="anthropic.claude-v2:1", messages=user("no room on demand"))
    assert code(e) == "ThrottlingException"
    # The reserved slots still serve the provisioned model, up to its three units.
    streams = [
        runtime.converse_stream(modelId=arn, messages=user("reserved"), inferenceConfig={"maxTokens": 20})
        for _ in range(3)
    ]
    with pytest.raises(ClientError) as e:
        runtime.converse_stream(modelId=arn, messages=user("a fourth"), inferenceConfig={"maxTokens": 20})
    assert code(e) == "ThrottlingException"
    for s in [one, *streams]:
        s["stream"].close()

    # A purchase the pool cannot hold fails, and says why.
    failed = bedrock.create_provisioned_model_throughput(modelUnits=2, provisionedModelName="toomuch", modelId=CLAUDE_18K)
    got = wait_for(bedrock, failed["provisionedModelArn"], status="Failed")
    assert got["modelUnits"] == 0 and "capacity" in got["failureMessage"], got
    listed = bedrock.list_provisioned_model_throughputs(statusEquals="Failed")["provisionedModelSummaries"]
    assert [p["provisionedModelName"] for p in listed] == ["toomuch"]
    with pytest.raises(ClientError) as e:
        runtime.converse(modelId=failed["provisionedModelArn"], messages=user("hi"))
    assert code(e) == "ValidationException" and "not in service" in e.value.response["Error"]["Message"]

    # Deleting gives the slots back to on-demand traffic.
    bedrock.delete_provisioned_model_throughput(provisionedModelId=arn)
    assert metric(server, "spillway_backend_reserved", **labels) == 0
    assert metric(server, "spillway_backend_available", **labels) == 1.0


def test_units_bought_are_the_provisioned_models_own_limit(start_server):
    server = start_server("--config", CONFIG)
    bedrock, runtime = server.client("bedrock"), server.client()
    arn = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="tiny", modelId=LLAMA
    )["provisionedModelArn"]
    wait_for(bedrock, arn)
    # One unit processes 300 tokens a minute; each call uses about 50 (maxTokens 40).
    with pytest.raises(ClientError) as e:
        for _ in range(20):
            runtime.converse(modelId=arn, messages=user("spend the minute"), inferenceConfig={"maxTokens": 40})
    assert code(e) == "ThrottlingException"
    # On-demand calls of the same model have their own quota, untouched.
    assert text_of(runtime.converse(modelId=LLAMA, messages=user("on demand")))


def test_custom_model_only_through_provisioned_throughput(start_server):
    server = start_server("--config", CONFIG)
    bedrock, runtime = server.client("bedrock"), server.client()
    for model_id in (CUSTOM_ARN, "support-bot"):
        with pytest.raises(ClientError) as e:
            runtime.converse(modelId=model_id, messages=user("hi"))
        assert code(e) == "ValidationException"
        assert e.value.response["Error"]["Message"] == "The provided model doesn't support on-demand throughput."
    # Only the terms with a price can be bought: no hourly no-commitment for this one.
    with pytest.raises(ClientError) as e:
        bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="ft", modelId=CUSTOM_ARN)
    assert code(e) == "ValidationException"
    arn = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="ft", modelId=CUSTOM_ARN, commitmentDuration="OneMonth"
    )["provisionedModelArn"]
    got = wait_for(bedrock, arn)
    assert (got["modelArn"], got["foundationModelArn"]) == (CUSTOM_ARN, HAIKU_ARN)
    response = runtime.converse(modelId=arn, messages=user("Hello fine-tuned model"))
    assert text_of(response) and response["ResponseMetadata"]["HTTPHeaders"]["x-spillway-inference-region"] == "us-east-1"
    # The custom model runs on its own backend: its slot is the one reserved.
    assert metric(server, "spillway_backend_reserved", region="us-east-1", backend="finetuned") == 1
    # Its throughput may move to the base model (same base), not to another model.
    with pytest.raises(ClientError) as e:
        bedrock.update_provisioned_model_throughput(provisionedModelId=arn, desiredModelId=CLAUDE_18K)
    assert code(e) == "ValidationException"
    bedrock.update_provisioned_model_throughput(provisionedModelId=arn, desiredModelId=HAIKU_ARN)
    updating = bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    assert (updating["status"], updating["modelArn"], updating["desiredModelArn"]) == ("Updating", CUSTOM_ARN, HAIKU_ARN)
    # It keeps serving while it updates.
    assert text_of(runtime.converse(modelId=arn, messages=user("still there?")))
    done = wait_for(bedrock, arn)
    assert done["modelArn"] == done["desiredModelArn"] == HAIKU_ARN
    assert metric(server, "spillway_backend_reserved", region="us-east-1", backend="finetuned") == 0
    assert metric(server, "spillway_backend_reserved", region="us-east-1", backend="fast") == 2


def test_provisioned_arn_is_rejected_in_an_inference_profile(start_server):
    server = start_server("--config", CONFIG)
    bedrock = server.client("bedrock")
    arn = bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="p", modelId=HAIKU)[
        "provisionedModelArn"
    ]
    wait_for(bedrock, arn)
    with pytest.raises(ClientError) as e:
        bedrock.create_inference_profile(inferenceProfileName="wrapped", modelSource={"copyFrom": arn})
    assert code(e) == "ValidationException"
    assert "Inference profiles don't support Provisioned Throughput" in e.value.response["Error"]["Message"]
    # Provisioned models belong to their region: another source region cannot invoke it.
    with pytest.raises(ClientError) as e:
        server.client(region="us-west-2").converse(modelId=arn, messages=user("hi"))
    assert code(e) == "ValidationException"


def test_list_filters_pagination_and_errors(start_server):
    server = start_server("--config", CONFIG)
    bedrock = server.client("bedrock")
    arns = {}
    for name, model in [("alpha_one", HAIKU), ("beta-two", CLAUDE_18K), ("gamma3", HAIKU)]:
        arns[name] = bedrock.create_provisioned_model_throughput(
            modelUnits=1, provisionedModelName=name, modelId=model, clientRequestToken=f"token-{name}"
        )["provisionedModelArn"]
        time.sleep(0.01)
    # The same clientRequestToken is the same request.
    again = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="alpha_one", modelId=HAIKU, clientRequestToken="token-alpha_one"
    )
    assert again["provisionedModelArn"] == arns["alpha_one"]
    with pytest.raises(ClientError) as e:
        bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="alpha_one", modelId=HAIKU)
    assert code(e) == "ConflictException"

    def names(**kw):
        return [p["provisionedModelName"] for p in bedrock.list_provisioned_model_throughputs(**kw)["provisionedModelSummaries"]]

    assert names(sortBy="CreationTime", sortOrder="Ascending") == ["alpha_one", "beta-two", "gamma3"]
    assert names(sortOrder="Descending") == ["gamma3", "beta-two", "alpha_one"]
    assert names(nameContains="TWO") == ["beta-two"]
    assert names(modelArnEquals=HAIKU_ARN, sortOrder="Ascending") == ["alpha_one", "gamma3"]
    first = bedrock.get_provisioned_model_throughput(provisionedModelId="alpha_one")
    assert names(creationTimeAfter=first["creationTime"], sortOrder="Ascending") == ["beta-two", "gamma3"]
    page = bedrock.list_provisioned_model_throughputs(maxResults=2, sortOrder="Ascending")
    assert len(page["provisionedModelSummaries"]) == 2 and page["nextToken"]
    pages = bedrock.get_paginator("list_provisioned_model_throughputs").paginate(
        sortOrder="Ascending", PaginationConfig={"PageSize": 1}
    )
    assert [p["provisionedModelName"] for pg in pages for p in pg["provisionedModelSummaries"]] == [
        "alpha_one", "beta-two", "gamma3"
    ]
    summary = bedrock.list_provisioned_model_throughputs(nameContains="beta")["provisionedModelSummaries"][0]
    assert set(summary) >= {
        "provisionedModelName", "provisionedModelArn", "modelArn", "desiredModelArn", "foundationModelArn",
        "modelUnits", "desiredModelUnits", "status", "creationTime", "lastModifiedTime",
    }
    with pytest.raises(ClientError) as e:
        bedrock.list_provisioned_model_throughputs(statusEquals="Sleeping")
    assert code(e) == "ValidationException"

    # What the SDK refuses to send, sent raw: Coral's validation messages.
    status, headers, body = server.raw(
        "POST", "/provisioned-model-throughput", {"modelUnits": 0, "provisionedModelName": "z", "modelId": HAIKU}
    )
    assert status == 400 and headers["x-amzn-ErrorType"] == "ValidationException"
    assert "modelUnits" in json.loads(body)["message"]
    for bad in [{"provisionedModelName": "bad name!"}, {"commitmentDuration": "OneYear"}, {"modelId": "acme.nope-v1"}]:
        with pytest.raises(ClientError) as e:
            bedrock.create_provisioned_model_throughput(**{"modelUnits": 1, "provisionedModelName": "x", "modelId": HAIKU, **bad})
        assert code(e) in ("ValidationException", "ResourceNotFoundException"), bad
    # Not sold in this region: the catalog lists us-east-1 and us-west-2 only... and the
    # custom model lives in us-east-1.
    with pytest.raises(ClientError) as e:
        server.client("bedrock", region="us-west-2").create_provisioned_model_throughput(
            modelUnits=1, provisionedModelName="x", modelId="support-bot", commitmentDuration="OneMonth"
        )
    assert code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        bedrock.delete_provisioned_model_throughput(provisionedModelId="nope")
    assert code(e) == "ResourceNotFoundException"


def test_restart_keeps_the_provisioned_model_in_service(start_server):
    first = start_server("--config", CONFIG)
    bedrock = first.client("bedrock")
    arn = bedrock.create_provisioned_model_throughput(
        modelUnits=2, provisionedModelName="keeper", modelId=CLAUDE_18K
    )["provisionedModelArn"]
    wait_for(bedrock, arn)
    assert text_of(first.client().converse(modelId=arn, messages=user("before"), inferenceConfig={"maxTokens": 10}))
    first.stop()

    second = start_server("--config", CONFIG, data_dir=first.data_dir)
    got = second.client("bedrock").get_provisioned_model_throughput(provisionedModelId="keeper")
    assert (got["status"], got["modelUnits"]) == ("InService", 2)
    # The reservation is back before the first request is served.
    assert metric(second, "spillway_backend_reserved", region="us-east-1", backend="small") == 2
    assert text_of(second.client().converse(modelId=arn, messages=user("after"), inferenceConfig={"maxTokens": 10}))
    rows = usage(second)
    assert rows[arn]["invocations"] == 2 and rows[arn]["costUsd"] > 0
