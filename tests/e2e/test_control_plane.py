"""Application inference profiles (seed 003), tags, usage and cost attribution, and a
store that survives restarts."""

import json
import os
import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import BINARY, CONFIGS, text_of, user

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
HAIKU_ARN = f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}"
PROFILE_ARN = f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{HAIKU}"


def create(bedrock, name, copy_from=HAIKU_ARN, tags=None):
    return bedrock.create_inference_profile(
        inferenceProfileName=name, modelSource={"copyFrom": copy_from}, tags=tags or []
    )


def test_seed_003_application_profile_lifecycle(start_server):
    server = start_server("--backend", "sim")
    bedrock = server.client("bedrock", region="us-east-1")
    runtime = server.client(region="us-east-1")
    created = create(bedrock, "claude-3-haiku-profile", tags=[{"key": "bedrock-inference-profile", "value": "app-1"}])
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    arn = created["inferenceProfileArn"]
    prefix = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/"
    assert arn.startswith(prefix)
    profile_id = arn[len(prefix):]
    assert len(profile_id) == 12 and profile_id.isalnum() and profile_id == profile_id.lower()
    assert created["status"] == "ACTIVE"

    listed = bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]
    assert [(p["inferenceProfileName"], p["inferenceProfileId"], p["inferenceProfileArn"], p["status"], p["type"]) for p in listed] == [
        ("claude-3-haiku-profile", profile_id, arn, "ACTIVE", "APPLICATION")
    ]
    assert listed[0]["models"] == [{"modelArn": HAIKU_ARN}]
    assert all(p["type"] == "SYSTEM_DEFINED" for p in bedrock.list_inference_profiles(typeEquals="SYSTEM_DEFINED")["inferenceProfileSummaries"])
    assert bedrock.get_inference_profile(inferenceProfileIdentifier=profile_id)["inferenceProfileArn"] == arn

    response = runtime.converse(modelId=arn, messages=user("Hello, how are you?"))
    assert text_of(response)
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-spillway-inference-region"] == "us-east-1"

    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "bedrock-inference-profile", "value": "app-1"}]
    bedrock.tag_resource(resourceARN=arn, tags=[{"key": "team", "value": "search"}])
    bedrock.untag_resource(resourceARN=arn, tagKeys=["bedrock-inference-profile"])
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "team", "value": "search"}]

    bedrock.delete_inference_profile(inferenceProfileIdentifier=arn)
    with pytest.raises(ClientError) as e:
        bedrock.get_inference_profile(inferenceProfileIdentifier=arn)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        runtime.converse(modelId=arn, messages=user("Hi"))
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_idempotent_create_and_duplicate_name(start_server):
    server = start_server("--backend", "sim")
    bedrock = server.client("bedrock")
    first = bedrock.create_inference_profile(
        inferenceProfileName="p1", modelSource={"copyFrom": HAIKU_ARN}, clientRequestToken="token-123"
    )
    again = bedrock.create_inference_profile(
        inferenceProfileName="p1", modelSource={"copyFrom": HAIKU_ARN}, clientRequestToken="token-123"
    )
    assert again["inferenceProfileArn"] == first["inferenceProfileArn"]
    with pytest.raises(ClientError) as e:
        create(bedrock, "p1")
    assert e.value.response["Error"]["Code"] == "ConflictException"


def test_invalid_inputs(start_server):
    server = start_server("--backend", "sim")
    bedrock = server.client("bedrock")
    with pytest.raises(ClientError) as e:
        create(bedrock, "bad name!!")
    assert "inferenceProfileName" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        create(bedrock, "ok", tags=[{"key": "bad!", "value": "x"}])
    assert e.value.response["Error"]["Code"] == "ValidationException"
    # Paris does not offer Claude 3.5 Sonnet on demand: nothing to copy.
    paris = server.client("bedrock", region="eu-west-3")
    with pytest.raises(ClientError) as e:
        create(paris, "x", copy_from="arn:aws:bedrock:eu-west-3::foundation-model/anthropic.claude-3-5-sonnet-20240620-v1:0")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 404)


def test_too_many_tags(start_server):
    server = start_server("--backend", "sim")
    bedrock = server.client("bedrock")
    arn = create(bedrock, "many")["inferenceProfileArn"]
    bedrock.tag_resource(resourceARN=arn, tags=[{"key": f"k{i}", "value": "v"} for i in range(150)])
    with pytest.raises(ClientError) as e:
        bedrock.tag_resource(resourceARN=arn, tags=[{"key": f"x{i}", "value": "v"} for i in range(51)])
    assert e.value.response["Error"]["Code"] == "TooManyTagsException"


def test_profile_copied_from_a_system_profile_reroutes(start_server):
    server = start_server("--config", str(CONFIGS / "faults.toml"))
    bedrock = server.client("bedrock", region="us-east-1")
    arn = create(bedrock, "spill", copy_from=PROFILE_ARN)["inferenceProfileArn"]
    summary = bedrock.get_inference_profile(inferenceProfileIdentifier=arn)
    assert sorted(m["modelArn"].split(":")[3] for m in summary["models"]) == ["us-east-1", "us-west-2"]
    # us-east-1's backend throttles (faults.toml): the copy routes like `us.` does.
    response = server.client(region="us-east-1").converse(modelId=arn, messages=user("Hi"))
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-spillway-inference-region"] == "us-west-2"


def test_usage_report_splits_tokens_and_cost_by_tag(start_server):
    server = start_server("--backend", "sim")
    bedrock = server.client("bedrock")
    runtime = server.client()
    a = create(bedrock, "app-a", tags=[{"key": "team", "value": "alpha"}])["inferenceProfileArn"]
    b = create(bedrock, "app-b", tags=[{"key": "team", "value": "beta"}])["inferenceProfileArn"]
    used = {"alpha": [0, 0], "beta": [0, 0]}
    for arn, team, n in [(a, "alpha", 3), (b, "beta", 2)]:
        for _ in range(n):
            u = runtime.converse(modelId=arn, messages=user("Hi"))["usage"]
            used[team][0] += u["inputTokens"]
            used[team][1] += u["outputTokens"]
    runtime.converse(modelId=HAIKU, messages=user("untagged call"))
    status, _, body = server.raw("GET", "/spillway/usage?by=tag:team")
    assert status == 200, body
    rows = {r["key"]: r for r in json.loads(body)["rows"]}
    assert rows["alpha"]["invocations"] == 3 and rows["beta"]["invocations"] == 2
    assert rows["(untagged)"]["invocations"] == 1
    for team in ("alpha", "beta"):
        assert [rows[team]["inputTokens"], rows[team]["outputTokens"]] == used[team]
        # Claude 3 Haiku in us-east-1: $0.00025 / 1K input, $0.00125 / 1K output.
        expected = used[team][0] / 1000 * 0.00025 + used[team][1] / 1000 * 0.00125
        assert rows[team]["costUsd"] == pytest.approx(expected, abs=2e-6)
    by_profile = json.loads(server.raw("GET", "/spillway/usage?by=profile")[2])["rows"]
    assert {r["key"] for r in by_profile} == {a, b, "(no application profile)"}
    # The CLI prints the same report.
    out = subprocess.run([str(BINARY), "usage", "--by", "tag:team", "--endpoint", server.url], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "alpha" in out.stdout and "beta" in out.stdout
    # The profile ARN is the ModelId of its metrics, as on CloudWatch.
    assert f'Invocations{{ModelId="{a}",region="us-east-1"}} 3' in server.raw("GET", "/metrics")[2].decode()


def test_restart_keeps_every_resource(start_server):
    first = start_server("--backend", "sim")
    bedrock = first.client("bedrock")
    arn = create(bedrock, "keeper", tags=[{"key": "team", "value": "ops"}])["inferenceProfileArn"]
    first.client().converse(modelId=arn, messages=user("Hi"))
    first.stop()
    second = start_server("--backend", "sim", data_dir=first.data_dir)
    bedrock = second.client("bedrock")
    assert bedrock.get_inference_profile(inferenceProfileIdentifier=arn)["inferenceProfileName"] == "keeper"
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "team", "value": "ops"}]
    assert text_of(second.client().converse(modelId=arn, messages=user("Hi")))
    rows = json.loads(second.raw("GET", "/spillway/usage?by=profile")[2])["rows"]
    assert next(r for r in rows if r["key"] == arn)["invocations"] == 2


@pytest.fixture
def pg_schema():
    """A store URL of a fresh schema of its own, dropped afterwards: the database may hold
    tables of earlier runs (or of another checkout's migrations), which must not decide
    this test."""
    base = os.environ["SPILLWAY_TEST_POSTGRES"]
    schema = "e2e_" + os.urandom(6).hex()
    subprocess.run(["psql", base, "-qc", f"CREATE SCHEMA {schema}"], check=True)
    sep = "&" if "?" in base else "?"
    # Every connection of the store's pool starts in that schema (sqlx's `options`).
    yield f"{base}{sep}options[search_path]={schema}"
    subprocess.run(["psql", base, "-qc", f"DROP SCHEMA {schema} CASCADE"], check=True)


@pytest.mark.skipif(not os.environ.get("SPILLWAY_TEST_POSTGRES"), reason="SPILLWAY_TEST_POSTGRES not set")
def test_two_instances_share_a_postgres_control_plane(start_server, pg_schema):
    url = pg_schema
    one = start_server("--backend", "sim", "--store", url)
    two = start_server("--backend", "sim", "--store", url)
    name = "shared-" + os.urandom(4).hex()
    arn = create(one.client("bedrock"), name)["inferenceProfileArn"]
    assert two.client("bedrock").get_inference_profile(inferenceProfileIdentifier=arn)["inferenceProfileName"] == name
    assert text_of(two.client().converse(modelId=arn, messages=user("Hi")))
    two.client("bedrock").delete_inference_profile(inferenceProfileIdentifier=arn)
