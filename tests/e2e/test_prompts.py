"""Prompt management (bedrock-agent) end to end: boto3's `bedrock-agent` client against
the same port as the runtime, prompts run through Converse/ConverseStream by ARN.

The simulator's answer is a pure function of the model, the rendered conversation and
the temperature, so a prompt call must answer exactly what the equivalent direct call
answers: that is how these tests see what the template rendered to."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import text_of, user

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
US_HAIKU = f"us.{HAIKU}"
ACCOUNT = "123456789012"


def text_prompt(agent, name, text, model=HAIKU, variables=("topic",), max_tokens=40, **extra):
    return agent.create_prompt(
        name=name,
        defaultVariant="v1",
        variants=[{
            "name": "v1",
            "templateType": "TEXT",
            "modelId": model,
            "templateConfiguration": {"text": {"text": text, "inputVariables": [{"name": v} for v in variables]}},
            "inferenceConfiguration": {"text": {"maxTokens": max_tokens, "temperature": 0.3}},
        }],
        **extra,
    )


def direct(runtime, text, model=HAIKU, max_tokens=40):
    """The call a prompt should be equivalent to."""
    return runtime.converse(modelId=model, messages=user(text), inferenceConfig={"maxTokens": max_tokens, "temperature": 0.3})


def error_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    return e.value.response


def test_must_be_shown_text_prompt_versions_and_errors(start_server):
    server = start_server("--backend", "sim")
    agent, runtime = server.client("bedrock-agent"), server.client()

    created = text_prompt(agent, "topic-writer", "Write one sentence about {{topic}}.", description="demo")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["version"] == "DRAFT"
    prompt_id, arn = created["id"], created["arn"]
    assert len(prompt_id) == 10 and prompt_id.isalnum()
    assert arn == f"arn:aws:bedrock:us-east-1:{ACCOUNT}:prompt/{prompt_id}"
    assert created["variants"][0]["templateConfiguration"]["text"]["text"] == "Write one sentence about {{topic}}."

    v1 = agent.create_prompt_version(promptIdentifier=prompt_id, description="first")
    assert v1["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (v1["version"], v1["arn"], v1["description"]) == ("1", f"{arn}:1", "first")

    # Converse with the versioned ARN renders {{topic}} and runs on the prompt's model
    # with its inference configuration.
    answer = runtime.converse(modelId=f"{arn}:1", promptVariables={"topic": {"text": "rivers"}})
    expected = direct(runtime, "Write one sentence about rivers.")
    assert text_of(answer) == text_of(expected) and text_of(answer)
    assert answer["usage"] == expected["usage"]
    assert answer["usage"]["outputTokens"] <= 40
    # The call is attributed to the versioned prompt ARN, priced as the prompt's model.
    rows = json.loads(server.raw("GET", "/spillway/usage?by=model")[2])["rows"]
    row = next(r for r in rows if r["key"] == f"{arn}:1")
    assert row["invocations"] == 1 and row["outputTokens"] == answer["usage"]["outputTokens"]
    assert row["costUsd"] > 0

    # Updating the DRAFT leaves version 1 as it was.
    agent.update_prompt(
        promptIdentifier=prompt_id,
        name="topic-writer",
        defaultVariant="v1",
        variants=[{
            "name": "v1", "templateType": "TEXT", "modelId": HAIKU,
            "templateConfiguration": {"text": {"text": "Write a poem about {{topic}}.", "inputVariables": [{"name": "topic"}]}},
            "inferenceConfiguration": {"text": {"maxTokens": 40, "temperature": 0.3}},
        }],
    )
    draft = agent.get_prompt(promptIdentifier=arn)
    assert draft["variants"][0]["templateConfiguration"]["text"]["text"] == "Write a poem about {{topic}}."
    version = agent.get_prompt(promptIdentifier=prompt_id, promptVersion="1")
    assert version["variants"][0]["templateConfiguration"]["text"]["text"] == "Write one sentence about {{topic}}."
    assert agent.get_prompt(promptIdentifier=f"{arn}:1")["version"] == "1"
    again = runtime.converse(modelId=f"{arn}:1", promptVariables={"topic": {"text": "rivers"}})
    assert text_of(again) == text_of(expected)
    on_draft = runtime.converse(modelId=arn, promptVariables={"topic": {"text": "rivers"}})
    assert text_of(on_draft) == text_of(direct(runtime, "Write a poem about rivers."))

    # A missing variable is a ValidationException that names it.
    r = error_of(runtime.converse, modelId=f"{arn}:1", promptVariables={})
    assert r["Error"]["Code"] == "ValidationException" and r["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "topic" in r["Error"]["Message"]

    # A duplicate name is bedrock-agent's ConflictException, 409.
    r = error_of(text_prompt, agent, "topic-writer", "Another {{topic}}")
    assert (r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]) == ("ConflictException", 409)


def test_chat_template_system_and_appended_messages(start_server):
    server = start_server("--backend", "sim")
    agent, runtime = server.client("bedrock-agent"), server.client()
    chat = agent.create_prompt(
        name="chat_prompt",
        variants=[{
            "name": "main",
            "templateType": "CHAT",
            "modelId": HAIKU,
            "templateConfiguration": {"chat": {
                "system": [{"text": "You are a {{persona}}."}],
                "messages": [
                    {"role": "user", "content": [{"text": "My name is {{name}}."}]},
                    {"role": "assistant", "content": [{"text": "Hello {{name}}!"}]},
                ],
                "inputVariables": [{"name": "persona"}, {"name": "name"}],
            }},
        }],
    )
    variables = {"persona": {"text": "pirate"}, "name": {"text": "Ann"}}
    answer = runtime.converse(modelId=chat["arn"], promptVariables=variables, messages=user("What is my name?"))
    expected = runtime.converse(
        modelId=HAIKU,
        system=[{"text": "You are a pirate."}],
        messages=[
            {"role": "user", "content": [{"text": "My name is Ann."}]},
            {"role": "assistant", "content": [{"text": "Hello Ann!"}]},
            {"role": "user", "content": [{"text": "What is my name?"}]},
        ],
    )
    assert text_of(answer) == text_of(expected)
    assert answer["usage"]["inputTokens"] == expected["usage"]["inputTokens"]

    # ConverseStream runs prompts too, and renders the same.
    stream = runtime.converse_stream(modelId=chat["arn"], promptVariables=variables, messages=user("What is my name?"))
    streamed = "".join(e["contentBlockDelta"]["delta"].get("text", "") for e in stream["stream"] if "contentBlockDelta" in e)
    assert streamed == text_of(expected)


def test_variable_and_field_errors_name_what_is_wrong(start_server):
    server = start_server("--backend", "sim")
    agent, runtime = server.client("bedrock-agent"), server.client()
    arn = text_prompt(agent, "p1", "About {{topic}}")["arn"]

    r = error_of(runtime.converse, modelId=arn, promptVariables={"topic": {"text": "x"}, "colour": {"text": "red"}})
    assert r["Error"]["Code"] == "ValidationException" and "colour" in r["Error"]["Message"]

    for field, value in [
        ("system", [{"text": "s"}]),
        ("inferenceConfig", {"maxTokens": 5}),
        ("toolConfig", {"tools": [{"toolSpec": {"name": "t", "inputSchema": {"json": {}}}}]}),
        ("additionalModelRequestFields", {"top_k": 5}),
    ]:
        r = error_of(runtime.converse, modelId=arn, promptVariables={"topic": {"text": "x"}}, **{field: value})
        assert r["Error"]["Code"] == "ValidationException", field
        assert field in r["Error"]["Message"], r["Error"]["Message"]

    # InvokeModel does not take prompts; an unknown prompt is not found.
    r = error_of(runtime.invoke_model, modelId=arn, body=b'{"prompt": "x"}')
    assert r["Error"]["Code"] == "ValidationException" and "Converse" in r["Error"]["Message"]
    r = error_of(runtime.converse, modelId=f"arn:aws:bedrock:us-east-1:{ACCOUNT}:prompt/NOSUCHPRMT", messages=user("x"))
    assert r["Error"]["Code"] == "ResourceNotFoundException"

    # Create-time checks come back with bedrock-agent's fieldList.
    r = error_of(text_prompt, agent, "bad name!", "x", variables=[f"v{i}" for i in range(21)])
    assert r["Error"]["Code"] == "ValidationException"
    fields = {f["name"] for f in r["fieldList"]}
    assert "name" in fields
    assert "variants.1.member.templateConfiguration.text.inputVariables" in fields


def test_profile_model_reroutes(start_server):
    server = start_server("--backend", "sim")
    agent, runtime = server.client("bedrock-agent"), server.client()
    arn = text_prompt(agent, "via-profile", "Summarise {{topic}}.", model=US_HAIKU)["arn"]
    answer = runtime.converse(modelId=arn, promptVariables={"topic": {"text": "tides"}})
    assert text_of(answer)
    region = answer["ResponseMetadata"]["HTTPHeaders"]["x-spillway-inference-region"]
    assert region in ("us-east-1", "us-east-2", "us-west-2")


def test_list_delete_versions_and_tags(start_server):
    server = start_server("--backend", "sim")
    agent, runtime = server.client("bedrock-agent"), server.client()
    first = text_prompt(agent, "first", "One {{topic}}", tags={"team": "search"})
    second = text_prompt(agent, "second", "Two {{topic}}")
    listed = agent.list_prompts()["promptSummaries"]
    assert [(p["name"], p["version"]) for p in listed] == [("first", "DRAFT"), ("second", "DRAFT")]
    page = agent.list_prompts(maxResults=1)
    assert len(page["promptSummaries"]) == 1
    assert agent.list_prompts(maxResults=1, nextToken=page["nextToken"])["promptSummaries"][0]["name"] == "second"

    pid, arn = first["id"], first["arn"]
    v1 = agent.create_prompt_version(promptIdentifier=pid, tags={"stage": "prod"})
    agent.create_prompt_version(promptIdentifier=arn)
    versions = agent.list_prompts(promptIdentifier=pid)["promptSummaries"]
    assert [v["version"] for v in versions] == ["DRAFT", "1", "2"]
    assert versions[1]["arn"] == f"{arn}:1"

    # Tags are a map, on the prompt and on each version.
    assert agent.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "search"}
    assert agent.list_tags_for_resource(resourceArn=v1["arn"])["tags"] == {"stage": "prod"}
    agent.tag_resource(resourceArn=arn, tags={"env": "dev", "owner": "ann"})
    agent.untag_resource(resourceArn=arn, tagKeys=["team", "owner"])
    assert agent.list_tags_for_resource(resourceArn=arn)["tags"] == {"env": "dev"}
    r = error_of(agent.list_tags_for_resource, resourceArn=f"arn:aws:bedrock:us-east-1:{ACCOUNT}:prompt/NOSUCHPRMT")
    assert r["Error"]["Code"] == "ResourceNotFoundException"

    # Delete one version, then the whole prompt.
    deleted = agent.delete_prompt(promptIdentifier=pid, promptVersion="1")
    assert (deleted["id"], deleted["version"]) == (pid, "1")
    assert [v["version"] for v in agent.list_prompts(promptIdentifier=pid)["promptSummaries"]] == ["DRAFT", "2"]
    r = error_of(runtime.converse, modelId=f"{arn}:1", promptVariables={"topic": {"text": "x"}})
    assert r["Error"]["Code"] == "ResourceNotFoundException"
    runtime.converse(modelId=f"{arn}:2", promptVariables={"topic": {"text": "x"}})

    whole = agent.delete_prompt(promptIdentifier=arn)
    assert whole["id"] == pid and "version" not in whole
    r = error_of(agent.get_prompt, promptIdentifier=pid)
    assert (r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]) == ("ResourceNotFoundException", 404)
    r = error_of(agent.get_prompt, promptIdentifier=pid, promptVersion="2")
    assert r["Error"]["Code"] == "ResourceNotFoundException"
    assert [p["id"] for p in agent.list_prompts()["promptSummaries"]] == [second["id"]]


def test_restart_keeps_prompts(start_server):
    first = start_server("--backend", "sim")
    agent = first.client("bedrock-agent")
    created = text_prompt(agent, "durable", "Remember {{topic}}", tags={"k": "v"})
    agent.create_prompt_version(promptIdentifier=created["id"])
    first.stop()

    second = start_server("--backend", "sim", data_dir=first.data_dir)
    agent, runtime = second.client("bedrock-agent"), second.client()
    assert agent.get_prompt(promptIdentifier=created["id"], promptVersion="1")["name"] == "durable"
    assert agent.list_tags_for_resource(resourceArn=created["arn"])["tags"] == {"k": "v"}
    answer = runtime.converse(modelId=f"{created['arn']}:1", promptVariables={"topic": {"text": "x"}})
    assert text_of(answer) == text_of(direct(runtime, "Remember x"))
    assert agent.create_prompt_version(promptIdentifier=created["id"])["version"] == "2"


def test_routes_without_trailing_slash_and_version_quota(start_server):
    server = start_server("--backend", "sim")
    agent = server.client("bedrock-agent")
    body = {"name": "raw", "variants": [{
        "name": "v", "templateType": "TEXT", "modelId": HAIKU,
        "templateConfiguration": {"text": {"text": "Hi {{who}}"}},
    }]}
    status, headers, raw = server.raw("POST", "/prompts", body, {"content-type": "application/json"})
    assert status == 201, raw
    pid = json.loads(raw)["id"]
    status, _, raw = server.raw("GET", f"/prompts/{pid}")
    assert status == 200 and json.loads(raw)["name"] == "raw"
    status, headers, raw = server.raw("POST", "/prompts/", body, {"content-type": "application/json"})
    assert (status, headers["x-amzn-errortype"]) == (409, "ConflictException")

    # Ten versions per prompt; the eleventh is bedrock-agent's ServiceQuotaExceededException, 402.
    for _ in range(10):
        agent.create_prompt_version(promptIdentifier=pid)
    r = error_of(agent.create_prompt_version, promptIdentifier=pid)
    assert (r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]) == ("ServiceQuotaExceededException", 402)
    # METADATA_ONLY leaves the variants out.
    assert "variants" not in agent.get_prompt(promptIdentifier=pid, includedData="METADATA_ONLY")
