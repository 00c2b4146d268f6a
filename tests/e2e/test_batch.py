"""Batch inference with boto3: model invocation jobs over JSONL records in the local
object store (`<data-dir>/s3/<bucket>/…`), run on the simulator's spare capacity across
an inference profile's regions, and async invocations. Configuration:
tests/e2e/configs/batch.toml (a fast model on three regions, a slow one on two)."""

import json
import pathlib
import re
import signal
import subprocess
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import BINARY, CONFIGS

ROLE = "arn:aws:iam::123456789012:role/BedrockBatch"
FAST = "us.anthropic.claude-3-haiku-20240307-v1:0"
SLOW = "us.meta.llama3-8b-instruct-v1:0"
JOB_ARN = re.compile(r"^arn:aws:bedrock:us-east-1:[0-9]{12}:model-invocation-job/([a-z0-9]{12})$")


def code(e):
    return e.value.response["Error"]["Code"]


def put_object(server, bucket, key, text):
    path = pathlib.Path(server.data_dir) / "s3" / bucket / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def out_dir(server, bucket, *parts):
    return pathlib.Path(server.data_dir, "s3", bucket, *parts)


def anthropic_record(i):
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 32,
        "messages": [{"role": "user", "content": f"Question number {i}?"}],
    }
    return {"recordId": f"REC{i:08d}", "modelInput": body}


def llama_record(i):
    return {"recordId": f"REC{i:08d}", "modelInput": {"prompt": f"Say {i}.", "max_gen_len": 16}}


def jsonl(records):
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


def create(bedrock, name, model, input_uri, output_uri, **extra):
    return bedrock.create_model_invocation_job(
        jobName=name,
        roleArn=ROLE,
        modelId=model,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": input_uri}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": output_uri}},
        **extra,
    )["jobArn"]


def wait(bedrock, arn, until, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = bedrock.get_model_invocation_job(jobIdentifier=arn)
        if until(job):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {arn} still {job['status']} ({job.get('processedRecordCount')})")


def ended(job):
    return job["status"] in ("Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired")


def output_lines(server, bucket, prefix, job_id, name):
    text = out_dir(server, bucket, prefix, job_id, name + ".out").read_text()
    return [json.loads(line) for line in text.splitlines()]


def metric_sum(server, name, **labels):
    with urllib.request.urlopen(server.url + "/metrics") as resp:
        text = resp.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture
def server(start_server):
    return start_server("--config", str(CONFIGS / "batch.toml"))


def test_a_thousand_records_across_the_profiles_regions(server):
    bedrock = server.client("bedrock")
    put_object(server, "batch-in", "jobs/records.jsonl", jsonl(anthropic_record(i) for i in range(1000)))
    out_dir(server, "batch-out").mkdir(parents=True)
    arn = create(bedrock, "thousand", FAST, "s3://batch-in/jobs/", "s3://batch-out/results/", tags=[{"key": "team", "value": "ml"}])
    job_id = JOB_ARN.match(arn).group(1)
    job = wait(bedrock, arn, ended)
    assert job["status"] == "Completed", job
    assert (job["totalRecordCount"], job["processedRecordCount"], job["successRecordCount"], job["errorRecordCount"]) == (1000, 1000, 1000, 0)
    assert job["modelId"] == FAST and job["jobName"] == "thousand" and "endTime" in job
    assert job["inputDataConfig"] == {"s3InputDataConfig": {"s3Uri": "s3://batch-in/jobs/"}}

    lines = output_lines(server, "batch-out", "results", job_id, "records.jsonl")
    assert [l["recordId"] for l in lines] == [f"REC{i:08d}" for i in range(1000)]
    assert all(l["modelOutput"]["type"] == "message" and l["modelOutput"]["content"] for l in lines)
    assert lines[7]["modelInput"] == anthropic_record(7)["modelInput"]
    manifest = json.loads(out_dir(server, "batch-out", "results", job_id, "manifest.json.out").read_text())
    assert manifest["totalRecordCount"] == manifest["successRecordCount"] == 1000
    assert manifest["errorRecordCount"] == 0
    assert manifest["inputTokenCount"] == sum(l["modelOutput"]["usage"]["input_tokens"] for l in lines)
    assert manifest["outputTokenCount"] == sum(l["modelOutput"]["usage"]["output_tokens"] for l in lines)

    # Billed at the batch price: half the on-demand price of the same tokens.
    status, _, body = server.raw("GET", "/spillway/usage?by=model")
    row = next(r for r in json.loads(body)["rows"] if r["key"] == FAST)
    assert (row["invocations"], row["inputTokens"], row["outputTokens"]) == (1000, manifest["inputTokenCount"], manifest["outputTokenCount"])
    on_demand = (manifest["inputTokenCount"] * 0.00025 + manifest["outputTokenCount"] * 0.00125) / 1000
    assert 0.45 < row["costUsd"] / on_demand < 0.55, (row, on_demand)

    # Spread over the profile's three regions (spare capacity everywhere, none kept idle).
    regions = {r: metric_sum(server, "spillway_batch_records_total", region=r, outcome="ok") for r in ("us-east-1", "us-west-2", "us-east-2")}
    assert sum(regions.values()) == 1000 and all(n > 0 for n in regions.values()), regions

    # Listing, filters, paging, tags, account isolation.
    listed = bedrock.list_model_invocation_jobs(statusEquals="Completed")["invocationJobSummaries"]
    assert [j["jobArn"] for j in listed] == [arn]
    assert listed[0]["processedRecordCount"] == 1000
    assert bedrock.list_model_invocation_jobs(nameContains="nothing")["invocationJobSummaries"] == []
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "team", "value": "ml"}]
    with pytest.raises(ClientError) as e:
        bedrock.stop_model_invocation_job(jobIdentifier=job_id)
    assert code(e) == "ConflictException"
    other = server.client("bedrock", region="us-west-2")
    with pytest.raises(ClientError) as e:
        other.get_model_invocation_job(jobIdentifier=arn)
    assert code(e) == "ResourceNotFoundException"


def test_bad_lines_are_record_errors_in_place(server):
    bedrock = server.client("bedrock")
    records = [anthropic_record(i) for i in range(110)]
    records[3] = "this is not json"
    records[10] = {"recordId": "NOINPUT0001"}
    records[20] = {"recordId": "BADBODY0001", "modelInput": {"prompt": "not an anthropic body"}}
    records[30] = {"modelInput": anthropic_record(30)["modelInput"]}
    put_object(server, "batch-in", "bad/a.jsonl", jsonl(records[:60]))
    put_object(server, "batch-in", "bad/b.jsonl", jsonl(records[60:]))
    out_dir(server, "batch-out").mkdir(parents=True)
    arn = create(bedrock, "bad-lines", FAST, "s3://batch-in/bad/", "s3://batch-out/")
    job_id = JOB_ARN.match(arn).group(1)
    job = wait(bedrock, arn, ended)
    assert job["status"] == "PartiallyCompleted", job
    assert (job["totalRecordCount"], job["successRecordCount"], job["errorRecordCount"]) == (110, 107, 3)
    a = output_lines(server, "batch-out", "", job_id, "a.jsonl")
    b = output_lines(server, "batch-out", "", job_id, "b.jsonl")
    assert len(a) == 60 and len(b) == 50
    assert a[3]["error"]["errorCode"] == 400 and "line 4 of a.jsonl" in a[3]["error"]["errorMessage"]
    assert a[10]["recordId"] == "NOINPUT0001" and "modelInput" in a[10]["error"]["errorMessage"]
    assert a[20]["error"]["errorCode"] == 400 and a[20]["modelInput"] == {"prompt": "not an anthropic body"}
    assert a[30]["recordId"] == "00000000031" and "modelOutput" in a[30]
    assert [l["recordId"] for l in b] == [f"REC{i:08d}" for i in range(60, 110)]


def test_invalid_jobs_are_refused_or_fail_with_a_message(server):
    bedrock = server.client("bedrock")
    # botocore checks the range itself; a raw request reaches the server's check.
    status, headers, body = server.raw("POST", "/model-invocation-job", {
        "jobName": "j", "roleArn": ROLE, "modelId": FAST, "timeoutDurationInHours": 2,
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://batch-in/x/"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://batch-out/"}}})
    assert status == 400 and headers["x-amzn-ErrorType"].startswith("ValidationException")
    assert b"timeoutDurationInHours" in body
    with pytest.raises(ClientError) as e:
        create(bedrock, "j", FAST, "s3://batch-in/x/", "s3://batch-out/", vpcConfig={"subnetIds": ["s"], "securityGroupIds": ["g"]})
    assert code(e) == "ValidationException" and "vpcConfig" in str(e.value)
    with pytest.raises(ClientError) as e:
        create(bedrock, "j", "no.such-model-v1:0", "s3://batch-in/x/", "s3://batch-out/")
    assert code(e) == "ValidationException"
    # Too few records (Bedrock's minimum is 100): the job fails, saying so.
    put_object(server, "batch-in", "few/r.jsonl", jsonl(anthropic_record(i) for i in range(5)))
    out_dir(server, "batch-out").mkdir(parents=True)
    arn = create(bedrock, "few", FAST, "s3://batch-in/few/r.jsonl", "s3://batch-out/")
    job = wait(bedrock, arn, ended)
    assert job["status"] == "Failed" and "5 records" in job["message"], job


def test_stop_in_the_middle(server):
    bedrock = server.client("bedrock")
    put_object(server, "batch-in", "stop/r.jsonl", jsonl(llama_record(i) for i in range(200)))
    out_dir(server, "batch-out").mkdir(parents=True)
    arn = create(bedrock, "to-stop", SLOW, "s3://batch-in/stop/r.jsonl", "s3://batch-out/", modelInvocationType="InvokeModel")
    job_id = JOB_ARN.match(arn).group(1)
    wait(bedrock, arn, lambda j: j.get("processedRecordCount", 0) >= 10)
    bedrock.stop_model_invocation_job(jobIdentifier=arn)
    assert bedrock.get_model_invocation_job(jobIdentifier=arn)["status"] in ("Stopping", "Stopped")
    job = wait(bedrock, arn, ended)
    assert job["status"] == "Stopped", job
    done = job["processedRecordCount"]
    assert 10 <= done < 200
    lines = output_lines(server, "batch-out", "", job_id, "r.jsonl")
    # The output holds exactly the records answered before the stop, in input order.
    assert len(lines) == done
    ids = [l["recordId"] for l in lines]
    assert ids == sorted(ids) and len(set(ids)) == done
    manifest = json.loads(out_dir(server, "batch-out", "", job_id, "manifest.json.out").read_text())
    assert (manifest["totalRecordCount"], manifest["processedRecordCount"]) == (200, done)


def test_kill_9_and_restart_resumes_without_loss_or_repeats(start_server):
    server = start_server("--config", str(CONFIGS / "batch.toml"))
    bedrock = server.client("bedrock")
    put_object(server, "batch-in", "crash/r.jsonl", jsonl(llama_record(i) for i in range(200)))
    out_dir(server, "batch-out").mkdir(parents=True)
    arn = create(bedrock, "crash", SLOW, "s3://batch-in/crash/", "s3://batch-out/out/")
    job_id = JOB_ARN.match(arn).group(1)
    wait(bedrock, arn, lambda j: j.get("processedRecordCount", 0) >= 30)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()

    again = start_server("--config", str(CONFIGS / "batch.toml"), data_dir=server.data_dir)
    bedrock = again.client("bedrock")
    before = bedrock.get_model_invocation_job(jobIdentifier=arn)
    assert not ended(before) and before["processedRecordCount"] >= 30
    job = wait(bedrock, arn, ended)
    assert job["status"] == "Completed", job
    assert (job["processedRecordCount"], job["successRecordCount"]) == (200, 200)
    lines = output_lines(again, "batch-out", "out", job_id, "r.jsonl")
    assert [l["recordId"] for l in lines] == [f"REC{i:08d}" for i in range(200)]
    assert all("modelOutput" in l for l in lines)


def test_async_invoke_end_to_end(server):
    runtime = server.client("bedrock-runtime")
    out_dir(server, "async-out").mkdir(parents=True)
    body = anthropic_record(1)["modelInput"]
    started = runtime.start_async_invoke(
        modelId=FAST,
        modelInput=body,
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://async-out/answers"}},
        clientRequestToken="async-token-1",
    )
    arn = started["invocationArn"]
    assert re.match(r"^arn:aws:bedrock:us-east-1:[0-9]{12}:async-invoke/[a-z0-9]{12}$", arn)
    again = runtime.start_async_invoke(
        modelId=FAST, modelInput=body, outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://async-out/answers"}},
        clientRequestToken="async-token-1",
    )
    assert again["invocationArn"] == arn
    deadline = time.time() + 30
    while (got := runtime.get_async_invoke(invocationArn=arn))["status"] == "InProgress" and time.time() < deadline:
        time.sleep(0.1)
    assert got["status"] == "Completed", got
    assert got["modelArn"].endswith(":foundation-model/anthropic.claude-3-haiku-20240307-v1:0")
    assert got["outputDataConfig"] == {"s3OutputDataConfig": {"s3Uri": "s3://async-out/answers"}}
    answer = json.loads(out_dir(server, "async-out", "answers", arn.rsplit("/", 1)[1], "output.json").read_text())
    assert answer["type"] == "message" and answer["usage"]["output_tokens"] > 0
    listed = runtime.list_async_invokes(statusEquals="Completed")["asyncInvokeSummaries"]
    assert [s["invocationArn"] for s in listed] == [arn]

    # A bucket that does not exist fails the invocation with a message.
    failed = runtime.start_async_invoke(
        modelId=FAST, modelInput=body, outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://no-such-bucket/x"}}
    )["invocationArn"]
    deadline = time.time() + 30
    while (got := runtime.get_async_invoke(invocationArn=failed))["status"] == "InProgress" and time.time() < deadline:
        time.sleep(0.1)
    assert got["status"] == "Failed" and "no-such-bucket" in got["failureMessage"]
    # A body the model does not take is refused at once.
    with pytest.raises(ClientError) as e:
        runtime.start_async_invoke(
            modelId=FAST, modelInput={"prompt": "x"}, outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://async-out/x"}}
        )
    assert code(e) == "ValidationException"


def test_batch_watch_follows_a_job_to_its_end(server):
    bedrock = server.client("bedrock")
    put_object(server, "batch-in", "watch/r.jsonl", jsonl(llama_record(i) for i in range(100)))
    out_dir(server, "batch-out").mkdir(parents=True)
    arn = create(bedrock, "watched", SLOW, "s3://batch-in/watch/", "s3://batch-out/")
    # Not a terminal: one line per change, the last one the end.
    watch = subprocess.run(
        [str(BINARY), "batch", "watch", arn, "--endpoint", server.url, "--region", "us-east-1", "--interval-ms", "200"],
        capture_output=True, text=True, timeout=120,
    )
    assert watch.returncode == 0, watch.stderr
    lines = watch.stdout.strip().splitlines()
    assert lines[-1].startswith("Completed: 100 of 100 records, 0 errors"), lines
    assert any(re.match(r"InProgress: \d+ of 100 records", l) for l in lines), lines
    missing = subprocess.run(
        [str(BINARY), "batch", "watch", "aaaaaaaaaaaa", "--endpoint", server.url], capture_output=True, text=True, timeout=30
    )
    assert missing.returncode != 0 and "couldn't be found" in missing.stderr


def test_an_application_profile_runs_on_what_it_copies(server):
    bedrock = server.client("bedrock")
    app = bedrock.create_inference_profile(
        inferenceProfileName="batch-app",
        modelSource={"copyFrom": f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/{FAST}"},
    )["inferenceProfileArn"]
    put_object(server, "batch-in", "app/r.jsonl", jsonl(anthropic_record(i) for i in range(100)))
    out_dir(server, "batch-out").mkdir(parents=True)
    arn = create(bedrock, "via-app", app, "s3://batch-in/app/r.jsonl", "s3://batch-out/")
    job = wait(bedrock, arn, ended)
    assert (job["status"], job["modelId"], job["successRecordCount"]) == ("Completed", app, 100)
    status, _, body = server.raw("GET", "/spillway/usage?by=profile")
    assert next(r for r in json.loads(body)["rows"] if r["key"] == app)["invocations"] == 100
    # Provisioned and imported models do not run batch jobs (Bedrock's rule).
    with pytest.raises(ClientError) as e:
        create(bedrock, "no", "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdefghijkl", "s3://batch-in/app/", "s3://batch-out/")
    assert code(e) == "ValidationException" and "isn't supported" in str(e.value)
