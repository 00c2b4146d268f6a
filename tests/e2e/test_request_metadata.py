"""Request metadata: Converse's `requestMetadata` member and InvokeModel's
`X-Amzn-Bedrock-Request-Metadata` header are checked against the model's patterns and
land in the invocation-log record's top-level `requestMetadata`, where a filter finds them."""

import json

import botocore.exceptions
import pytest

from conftest import user
from test_invocation_logs import CONFIG, s3_records

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
BODY = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 2,
                   "messages": [{"role": "user", "content": "hi"}]})


def test_metadata_from_body_and_header_is_logged_and_filterable(start_server):
    server = start_server("--backend", "sim")
    server.client("bedrock", region="us-west-2").put_model_invocation_logging_configuration(loggingConfig=CONFIG)
    client = server.client(region="us-west-2")
    client.converse(modelId=HAIKU, messages=user("hi"), requestMetadata={"team": "search", "run": "a/1"})
    client.invoke_model(modelId=HAIKU, body=BODY, requestMetadata='{"team": "ads", "run": "b:2"}')
    client.invoke_model(modelId=HAIKU, body=BODY)
    server.stop()  # flushes the log
    _, records = s3_records(server, "us-west-2")
    assert len(records) == 3
    by_team = {r.get("requestMetadata", {}).get("team"): r for r in records}
    assert by_team["search"]["operation"] == "Converse"
    assert by_team["search"]["requestMetadata"] == {"team": "search", "run": "a/1"}
    assert by_team["ads"]["operation"] == "InvokeModel"
    assert by_team["ads"]["requestMetadata"] == {"team": "ads", "run": "b:2"}
    assert "requestMetadata" not in by_team[None]


@pytest.mark.parametrize("bad", ['{"team": "a;b"}', '{"": "x"}', "{}", '{"k": "caf\\u00e9"}'])
def test_header_metadata_follows_the_patterns(spillway, bad):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        spillway.client().invoke_model(modelId=HAIKU, body=BODY, requestMetadata=bad)
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationException"
    assert "requestMetadata" in err["Message"] and "X-Amzn-Bedrock-Request-Metadata" in err["Message"]
