"""Custom Model Import: a GGUF file in the object store (a bucket directory under the
data dir) imported with boto3's `bedrock` client, then invoked by its imported-model ARN
on the embedded local engine. The tests that run a model use the real Gemma 3 270M
weights (`spillway fetch-model`) and assert structure and usage counts, never wording.
"""

import json
import pathlib
import re
import shutil
import struct
import time

import pytest
from botocore.exceptions import ClientError

from conftest import user
from test_local_model import model_file

ACCOUNT_RE = r"[0-9]{12}"
JOB_ARN = re.compile(rf"^arn:aws:bedrock:us-east-1:{ACCOUNT_RE}:model-import-job/[a-z0-9]{{12}}$")
MODEL_ARN = re.compile(rf"^arn:aws:bedrock:us-east-1:{ACCOUNT_RE}:imported-model/[a-z0-9]{{12}}$")
ROLE = "arn:aws:iam::123456789012:role/BedrockModelImport"
GREEDY = {"temperature": 0}


def code(e):
    return e.value.response["Error"]["Code"]


def put_object(server, bucket, key, data):
    """An object in the local object store: `<data-dir>/s3/<bucket>/<key>`."""
    path = pathlib.Path(server.data_dir) / "s3" / bucket / key
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, pathlib.Path):
        shutil.copyfile(data, path)
    else:
        path.write_bytes(data)
    return path


def start_import(bedrock, job, model, uri, **extra):
    return bedrock.create_model_import_job(
        jobName=job,
        importedModelName=model,
        roleArn=ROLE,
        modelDataSource={"s3DataSource": {"s3Uri": uri}},
        **extra,
    )["jobArn"]


def wait_for_job(bedrock, job, timeout=120):
    """Polls GetModelImportJob until the job has ended, as a user would."""
    deadline = time.time() + timeout
    while True:
        got = bedrock.get_model_import_job(jobIdentifier=job)
        if got["status"] != "InProgress":
            return got
        assert time.time() < deadline, f"still InProgress after {timeout}s"
        time.sleep(0.2)


@pytest.fixture
def server(start_server):
    # Imported models run on the local engine whatever serves the catalog's models.
    return start_server("--backend", "sim")


def test_data_that_is_not_a_usable_gguf_fails_the_job(server):
    bedrock = server.client("bedrock")
    put_object(server, "models", "notes.json", b'{"this": "is not a model"}')
    # A GGUF header cut inside its metadata: magic, version 3, 0 tensors, 1 entry, then
    # a key length and too few bytes.
    put_object(server, "models", "cut.gguf", b"GGUF" + struct.pack("<IQQQ", 3, 0, 1, 20) + b"general")
    # A well-formed header without weights: the check passes, llama.cpp cannot load it.
    arch = b"general.architecture"
    header_only = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", len(arch)) + arch
    header_only += struct.pack("<IQ", 8, 6) + b"gemma3"
    put_object(server, "models", "empty.gguf", header_only)
    cases = {
        "s3://models/notes.json": "not a GGUF model",
        "s3://models/empty.gguf": "could not be loaded",
        "s3://models/cut.gguf": "truncated",
        "s3://models/absent.gguf": "does not exist",
        "s3://no-such-bucket/model.gguf": "bucket no-such-bucket does not exist",
    }
    arns = {}
    for i, (uri, _) in enumerate(cases.items()):
        arn = start_import(bedrock, f"bad-job-{i}", f"bad_model_{i}", uri)
        assert JOB_ARN.match(arn), arn
        arns[uri] = arn
    for uri, words in cases.items():
        job = wait_for_job(bedrock, arns[uri])
        assert job["status"] == "Failed", job
        assert words in job["failureMessage"], (uri, job["failureMessage"])
        assert "importedModelArn" not in job and "endTime" in job
        assert job["modelDataSource"] == {"s3DataSource": {"s3Uri": uri}}
    assert bedrock.list_imported_models()["modelSummaries"] == []
    failed = bedrock.list_model_import_jobs(statusEquals="Failed", sortOrder="Ascending")["modelImportJobSummaries"]
    assert [j["jobName"] for j in failed] == [f"bad-job-{i}" for i in range(len(cases))]
    # Nothing is left behind in the data directory.
    assert list((pathlib.Path(server.data_dir) / "imported-models").glob("*")) == []


def test_create_validates_and_names_conflict(server):
    bedrock = server.client("bedrock")
    with pytest.raises(ClientError) as e:
        start_import(bedrock, "job-1", "model_1", "https://example.com/model.gguf")
    assert code(e) == "ValidationException" and "modelDataSource.s3DataSource.s3Uri" in str(e.value)
    with pytest.raises(ClientError) as e:
        start_import(bedrock, "job_1", "model_1", "s3://models/m.gguf")
    assert code(e) == "ValidationException" and "jobName" in str(e.value)
    with pytest.raises(ClientError) as e:
        bedrock.create_model_import_job(
            jobName="job-1", importedModelName="m", roleArn="not-a-role",
            modelDataSource={"s3DataSource": {"s3Uri": "s3://models/m.gguf"}},
        )
    assert code(e) == "ValidationException" and "roleArn" in str(e.value)
    first = start_import(bedrock, "job-1", "model_1", "s3://models/m.gguf", clientRequestToken="retry-1")
    # The same token is the same job; the same name without it is a conflict.
    assert start_import(bedrock, "job-1", "model_1", "s3://models/m.gguf", clientRequestToken="retry-1") == first
    with pytest.raises(ClientError) as e:
        start_import(bedrock, "job-1", "model_2", "s3://models/m.gguf")
    assert code(e) == "ConflictException"
    with pytest.raises(ClientError) as e:
        bedrock.get_model_import_job(jobIdentifier="no-such-job")
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        bedrock.get_imported_model(modelIdentifier="no_such_model")
    assert code(e) == "ResourceNotFoundException"


def test_import_invoke_and_delete_the_real_model(start_server):
    if not model_file().is_file():
        pytest.skip(f"{model_file()} is missing: run `target/debug/spillway fetch-model` first")
    server = start_server("--backend", "sim")
    bedrock, runtime = server.client("bedrock"), server.client()
    source = put_object(server, "my-models", "gemma/gemma-3-270m.gguf", model_file())
    job_arn = start_import(
        bedrock, "import-gemma", "my_gemma", "s3://my-models/gemma/gemma-3-270m.gguf",
        importedModelTags=[{"key": "team", "value": "ml"}], jobTags=[{"key": "kind", "value": "import"}],
    )
    job = wait_for_job(bedrock, job_arn)
    assert job["status"] == "Completed", job
    arn = job["importedModelArn"]
    assert MODEL_ARN.match(arn), arn
    assert job["endTime"] >= job["creationTime"]

    model = bedrock.get_imported_model(modelIdentifier="my_gemma")
    assert (model["modelArn"], model["jobArn"], model["jobName"]) == (arn, job_arn, "import-gemma")
    assert model["modelArchitecture"] == "gemma3"
    # The base model's GGUF carries no chat template.
    assert model["instructSupported"] is False
    assert bedrock.get_imported_model(modelIdentifier=arn)["modelName"] == "my_gemma"
    assert [m["modelArn"] for m in bedrock.list_imported_models(nameContains="gemma")["modelSummaries"]] == [arn]
    jobs = bedrock.list_model_import_jobs(statusEquals="Completed")["modelImportJobSummaries"]
    assert [(j["jobArn"], j["importedModelArn"]) for j in jobs] == [(job_arn, arn)]
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "team", "value": "ml"}]
    assert bedrock.list_tags_for_resource(resourceARN=job_arn)["tags"] == [{"key": "kind", "value": "import"}]
    bedrock.tag_resource(resourceARN=arn, tags=[{"key": "stage", "value": "test"}])
    assert {t["key"] for t in bedrock.list_tags_for_resource(resourceARN=arn)["tags"]} == {"team", "stage"}
    # Another region's control plane does not know it.
    with pytest.raises(ClientError) as e:
        server.client("bedrock", region="us-west-2").get_imported_model(modelIdentifier=arn)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        start_import(bedrock, "import-again", "my_gemma", "s3://my-models/gemma/gemma-3-270m.gguf")
    assert code(e) == "ConflictException"

    # The model is a copy: it runs after its source object is gone.
    source.unlink()
    answer = runtime.converse(modelId=arn, messages=user("def fibonacci(n):"), inferenceConfig={**GREEDY, "maxTokens": 8})
    assert answer["output"]["message"]["role"] == "assistant"
    assert answer["stopReason"] == "max_tokens"
    u = answer["usage"]
    assert u["outputTokens"] == 8 and u["inputTokens"] > 0 and u["totalTokens"] == u["inputTokens"] + u["outputTokens"]

    events = list(runtime.converse_stream(
        modelId=arn, messages=user("def fibonacci(n):"), inferenceConfig={**GREEDY, "maxTokens": 6}
    )["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-2:] == ["messageStop", "metadata"]
    assert "contentBlockDelta" in kinds
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 6
    assert events[-1]["metadata"]["usage"]["inputTokens"] == u["inputTokens"]

    body = {"prompt": "def fibonacci(n):", "max_gen_len": 5, "temperature": 0}
    native = json.loads(runtime.invoke_model(modelId=arn, body=json.dumps(body))["body"].read())
    assert isinstance(native["generation"], str)
    assert native["generation_token_count"] == 5 and native["prompt_token_count"] > 0
    assert native["stop_reason"] == "length"
    chunks = [json.loads(e["chunk"]["bytes"]) for e in
              runtime.invoke_model_with_response_stream(modelId=arn, body=json.dumps(body))["body"]]
    assert chunks[-1]["stop_reason"] == "length"
    # The count is a running one: the last chunk has the answer's.
    assert chunks[-1]["generation_token_count"] == 5

    # Served only in its import job's region, as another region's ARN is nobody's model.
    with pytest.raises(ClientError) as e:
        server.client(region="eu-west-3").converse(modelId=arn, messages=user("hi"))
    assert code(e) == "ValidationException"
    assert e.value.response["Error"]["Message"] == "The provided model identifier is invalid."

    # A restart keeps the model, also with the data directory moved elsewhere; its engine
    # loads again on the first call.
    server.stop()
    data_dir = server.data_dir + "-moved"
    shutil.move(server.data_dir, data_dir)
    again = start_server("--backend", "sim", data_dir=data_dir)
    bedrock, runtime = again.client("bedrock"), again.client()
    answer2 = runtime.converse(modelId=arn, messages=user("def fibonacci(n):"), inferenceConfig={**GREEDY, "maxTokens": 8})
    assert answer2["usage"] == u
    assert answer2["output"] == answer["output"]

    weights = list((pathlib.Path(data_dir) / "imported-models").glob("*.gguf"))
    assert len(weights) == 1
    bedrock.delete_imported_model(modelIdentifier="my_gemma")
    assert not weights[0].exists()
    with pytest.raises(ClientError) as e:
        bedrock.get_imported_model(modelIdentifier=arn)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        runtime.converse(modelId=arn, messages=user("hi"))
    assert code(e) == "ValidationException"
    assert e.value.response["Error"]["Message"] == "The provided model identifier is invalid."
    assert bedrock.list_imported_models()["modelSummaries"] == []
    # The job stays, as Bedrock keeps a job's history.
    assert bedrock.get_model_import_job(jobIdentifier=job_arn)["status"] == "Completed"


def test_imported_models_have_their_own_on_demand_quota(start_server, tmp_path):
    if not model_file().is_file():
        pytest.skip(f"{model_file()} is missing: run `target/debug/spillway fetch-model` first")
    builtin = (pathlib.Path(__file__).resolve().parents[2] / "crates" / "catalog" / "builtin.toml").read_text()
    config = tmp_path / "one-rpm.toml"
    config.write_text(builtin.replace("[imported_models]\nrpm = 600\n", "[imported_models]\nrpm = 1\n"))
    server = start_server("--config", str(config), "--backend", "sim")
    bedrock, runtime = server.client("bedrock"), server.client()
    put_object(server, "models", "gemma.gguf", model_file())
    arns = []
    for name in ("first", "second"):
        job = wait_for_job(bedrock, start_import(bedrock, f"import-{name}", name, "s3://models/gemma.gguf"))
        assert job["status"] == "Completed", job
        arns.append(job["importedModelArn"])
    ask = {"messages": user("hi"), "inferenceConfig": {**GREEDY, "maxTokens": 1}}
    runtime.converse(modelId=arns[0], **ask)
    with pytest.raises(ClientError) as e:
        runtime.converse(modelId=arns[0], **ask)
    assert code(e) == "ThrottlingException"
    # The quota is each imported model's own, and no catalog model's.
    runtime.converse(modelId=arns[1], **ask)
    runtime.converse(modelId="anthropic.claude-3-haiku-20240307-v1:0", **ask)
