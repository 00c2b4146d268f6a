"""The bedrock control plane's read side (ListFoundationModels, GetFoundationModel,
ListInferenceProfiles, GetInferenceProfile) through boto3 and the AWS CLI, checked
against seed 003's listings for Tokyo."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
from botocore.exceptions import ClientError

TOKYO = "ap-northeast-1"
ACCOUNT = "123456789012"
SONNET3 = "anthropic.claude-3-sonnet-20240229-v1:0"
NOT_FOUND = "Could not resolve the foundation model from the provided model identifier."

# Seed 003's ON_DEMAND models in ap-northeast-1, in its order.
SEED_MODEL_IDS = [
    "amazon.titan-text-express-v1",
    "amazon.titan-embed-text-v1",
    "anthropic.claude-instant-v1",
    "anthropic.claude-v2:1",
    "anthropic.claude-3-haiku-20240307-v1:0",
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "cohere.embed-english-v3",
    "cohere.embed-multilingual-v3",
]
# The seeds describe late 2024; today's models (profile-only in Tokyo) are listed too, so
# the seed's rows are compared as the rows of the models and profiles it knew.
SEED_ERA_IDS = {*SEED_MODEL_IDS, SONNET3}
SEED_PROFILE_IDS = [
    "apac.anthropic.claude-3-sonnet-20240229-v1:0",
    "apac.anthropic.claude-3-5-sonnet-20240620-v1:0",
    "apac.anthropic.claude-3-haiku-20240307-v1:0",
]

# Seed 003's two pipelines, verbatim; `aws` is a shell function that points the CLI
# at spillway (see run_seed_pipeline).
SEED_MODELS_PIPELINE = r"""aws bedrock list-foundation-models | \
  jq -r '.modelSummaries[] | select(.inferenceTypesSupported[] == "ON_DEMAND") | [
    .modelName,
    .providerName,
    .modelId,
    .modelArn,
    (.inputModalities | join(" ")),
    (.outputModalities | join(" ")),
    .modelLifecycle.status
  ] | @tsv' | column -t -s $'\t'"""
SEED_MODELS_OUTPUT = """\
Titan Text G1 - Express     Amazon     amazon.titan-text-express-v1               arn:aws:bedrock:ap-northeast-1::foundation-model/amazon.titan-text-express-v1               TEXT        TEXT       ACTIVE
Titan Embeddings G1 - Text  Amazon     amazon.titan-embed-text-v1                 arn:aws:bedrock:ap-northeast-1::foundation-model/amazon.titan-embed-text-v1                 TEXT        EMBEDDING  ACTIVE
Claude Instant              Anthropic  anthropic.claude-instant-v1                arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-instant-v1                TEXT        TEXT       ACTIVE
Claude                      Anthropic  anthropic.claude-v2:1                      arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-v2:1                      TEXT        TEXT       ACTIVE
Claude 3 Haiku              Anthropic  anthropic.claude-3-haiku-20240307-v1:0     arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0     TEXT IMAGE  TEXT       ACTIVE
Claude 3.5 Sonnet           Anthropic  anthropic.claude-3-5-sonnet-20240620-v1:0  arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-3-5-sonnet-20240620-v1:0  TEXT IMAGE  TEXT       ACTIVE
Embed English               Cohere     cohere.embed-english-v3                    arn:aws:bedrock:ap-northeast-1::foundation-model/cohere.embed-english-v3                    TEXT        EMBEDDING  ACTIVE
Embed Multilingual          Cohere     cohere.embed-multilingual-v3               arn:aws:bedrock:ap-northeast-1::foundation-model/cohere.embed-multilingual-v3               TEXT        EMBEDDING  ACTIVE
"""
SEED_PROFILES_PIPELINE = r"""aws bedrock list-inference-profiles --type-equals SYSTEM_DEFINED | \
  jq -r '.inferenceProfileSummaries[] | [
    .inferenceProfileName,
    .inferenceProfileId,
    .inferenceProfileArn,
    .status
  ] | @tsv' | column -t -s $'\t'"""
SEED_PROFILES_OUTPUT = """\
APAC Anthropic Claude 3 Sonnet    apac.anthropic.claude-3-sonnet-20240229-v1:0    arn:aws:bedrock:ap-northeast-1:123456789012:inference-profile/apac.anthropic.claude-3-sonnet-20240229-v1:0    ACTIVE
APAC Anthropic Claude 3.5 Sonnet  apac.anthropic.claude-3-5-sonnet-20240620-v1:0  arn:aws:bedrock:ap-northeast-1:123456789012:inference-profile/apac.anthropic.claude-3-5-sonnet-20240620-v1:0  ACTIVE
APAC Anthropic Claude 3 Haiku     apac.anthropic.claude-3-haiku-20240307-v1:0     arn:aws:bedrock:ap-northeast-1:123456789012:inference-profile/apac.anthropic.claude-3-haiku-20240307-v1:0     ACTIVE
"""


def error_of(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response


@pytest.fixture
def tokyo(spillway):
    return spillway.client("bedrock", region=TOKYO)


# === Foundation models ===


def test_tokyo_on_demand_models_match_seed_003(tokyo):
    summaries = tokyo.list_foundation_models(byInferenceType="ON_DEMAND")["modelSummaries"]
    assert [s["modelId"] for s in summaries] == SEED_MODEL_IDS
    for s in summaries:
        assert s["modelArn"] == f"arn:aws:bedrock:{TOKYO}::foundation-model/{s['modelId']}"
        assert s["inferenceTypesSupported"] == ["ON_DEMAND"]
        assert s["modelLifecycle"] == {"status": "ACTIVE"}


def test_profile_only_model_is_listed_as_inference_profile(tokyo):
    summaries = tokyo.list_foundation_models()["modelSummaries"]
    assert len([s for s in summaries if s["modelId"] in SEED_ERA_IDS]) == len(SEED_MODEL_IDS) + 1
    sonnet3 = next(s for s in summaries if s["modelId"] == SONNET3)
    assert sonnet3["inferenceTypesSupported"] == ["INFERENCE_PROFILE"]
    only = tokyo.list_foundation_models(byInferenceType="INFERENCE_PROFILE")["modelSummaries"]
    assert [s["modelId"] for s in only if s["modelId"] in SEED_ERA_IDS] == [SONNET3]
    assert "anthropic.claude-sonnet-4-5-20250929-v1:0" in {s["modelId"] for s in only}


def test_provider_and_modality_filters(tokyo):
    anthropic = tokyo.list_foundation_models(byProvider="anthropic")["modelSummaries"]
    assert {s["providerName"] for s in anthropic} == {"Anthropic"}
    assert len([s for s in anthropic if s["modelId"] in SEED_ERA_IDS]) == 5
    embeddings = tokyo.list_foundation_models(byOutputModality="EMBEDDING")["modelSummaries"]
    assert [s["modelId"] for s in embeddings] == [SEED_MODEL_IDS[1], *SEED_MODEL_IDS[6:]]
    assert all(s["responseStreamingSupported"] is False for s in embeddings)


def test_bad_inference_type_is_a_validation_error(tokyo):
    err = error_of(lambda: tokyo.list_foundation_models(byInferenceType="SERVERLESS"))
    assert err["Error"]["Code"] == "ValidationException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Error"]["Message"] == (
        "1 validation error detected: Value 'SERVERLESS' at 'byInferenceType' failed to satisfy constraint: "
        "Member must satisfy enum value set: [ON_DEMAND, PROVISIONED]"
    )


def test_listing_names_the_backend_kind(spillway):
    # SDKs drop the unmodeled member, so read the raw answer (signed for Tokyo's scope).
    auth = "AWS4-HMAC-SHA256 Credential=AKID/20240901/ap-northeast-1/bedrock/aws4_request, SignedHeaders=host, Signature=0"
    status, headers, body = spillway.raw("GET", "/foundation-models", headers={"Authorization": auth})
    assert status == 200
    assert headers["content-type"] == "application/json"
    summaries = json.loads(body)["modelSummaries"]
    assert {s["spillwayBackend"] for s in summaries} == {"sim"}
    assert summaries[0]["modelArn"].startswith(f"arn:aws:bedrock:{TOKYO}::")


def test_get_foundation_model_by_id_and_arn(tokyo):
    details = tokyo.get_foundation_model(modelIdentifier="anthropic.claude-v2:1")["modelDetails"]
    assert details["modelName"] == "Claude"
    arn = f"arn:aws:bedrock:{TOKYO}::foundation-model/{SONNET3}"
    details = tokyo.get_foundation_model(modelIdentifier=arn)["modelDetails"]
    assert details["modelArn"] == arn
    assert details["inferenceTypesSupported"] == ["INFERENCE_PROFILE"]


@pytest.mark.parametrize("identifier", [
    "meta.llama3-8b-instruct-v1:0",  # offered only in the US
    "anthropic.claude-99",
    "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2:1",  # another region
])
def test_get_foundation_model_not_found(tokyo, identifier):
    err = error_of(lambda: tokyo.get_foundation_model(modelIdentifier=identifier))
    assert err["Error"]["Code"] == "ResourceNotFoundException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert err["Error"]["Message"] == NOT_FOUND


# === Inference profiles ===


def test_tokyo_system_profiles_paginate(tokyo):
    pages = tokyo.get_paginator("list_inference_profiles").paginate(
        typeEquals="SYSTEM_DEFINED", PaginationConfig={"PageSize": 1})
    pages = list(pages)
    profiles = [p for page in pages for p in page["inferenceProfileSummaries"]]
    assert len(pages) == len(profiles)
    assert [p["inferenceProfileId"] for p in profiles if p["inferenceProfileId"] in SEED_PROFILE_IDS] == SEED_PROFILE_IDS
    for p in profiles:
        assert p["inferenceProfileArn"] == f"arn:aws:bedrock:{TOKYO}:{ACCOUNT}:inference-profile/{p['inferenceProfileId']}"
        assert (p["status"], p["type"]) == ("ACTIVE", "SYSTEM_DEFINED")
        assert 1 <= len(p["models"]) <= 5
    assert tokyo.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"] == []


def test_get_inference_profile_by_id_and_arn(tokyo):
    by_id = tokyo.get_inference_profile(inferenceProfileIdentifier=SEED_PROFILE_IDS[0])
    by_arn = tokyo.get_inference_profile(inferenceProfileIdentifier=by_id["inferenceProfileArn"])
    for p in (by_id, by_arn):
        assert p["inferenceProfileName"] == "APAC Anthropic Claude 3 Sonnet"
        assert p["models"][0] == {"modelArn": f"arn:aws:bedrock:{TOKYO}::foundation-model/{SONNET3}"}


@pytest.mark.parametrize("identifier", [
    "us.anthropic.claude-3-haiku-20240307-v1:0",  # not callable from Tokyo
    f"arn:aws:bedrock:ap-northeast-2:{ACCOUNT}:inference-profile/{SEED_PROFILE_IDS[0]}",
    "apac.anthropic.claude-99",
])
def test_get_inference_profile_not_found(tokyo, identifier):
    err = error_of(lambda: tokyo.get_inference_profile(inferenceProfileIdentifier=identifier))
    assert err["Error"]["Code"] == "ResourceNotFoundException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 404


# === Seed 003's pipelines through the AWS CLI ===


def run_seed_pipeline(server, pipeline):
    for tool in ("jq", "column"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    # The CLI installed next to this interpreter (the test venv), as in test_cli.py.
    exe = pathlib.Path(sys.executable).with_name("aws")
    script = 'aws() { "$SPILLWAY_AWS" --endpoint-url "$SPILLWAY_URL" --region ap-northeast-1 "$@"; }\n' + pipeline
    env = dict(os.environ, SPILLWAY_AWS=str(exe) if exe.exists() else "aws", SPILLWAY_URL=server.url,
               AWS_MAX_ATTEMPTS="1", AWS_PAGER="", AWS_DEFAULT_OUTPUT="json")
    out = subprocess.run(["bash", "-o", "pipefail", "-c", script], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout


def columns(text):
    # `column -t` pads with runs of spaces; compare the words, not the padding.
    return [line.split() for line in text.splitlines() if line.strip()]


def test_seed_003_foundation_models_pipeline(spillway):
    assert columns(run_seed_pipeline(spillway, SEED_MODELS_PIPELINE)) == columns(SEED_MODELS_OUTPUT)


def test_seed_003_inference_profiles_pipeline(spillway):
    rows = columns(run_seed_pipeline(spillway, SEED_PROFILES_PIPELINE))
    seed_rows = [r for r in rows if any(word in SEED_PROFILE_IDS for word in r)]
    assert seed_rows == columns(SEED_PROFILES_OUTPUT)
