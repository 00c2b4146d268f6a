"""Agents for Amazon Bedrock (issue 16, seed 002): the bedrock-agent control plane and
InvokeAgent, with boto3 (`bedrock-agent`, `bedrock-agent-runtime`) and the AWS CLI. An
agent's alias routed to provisioned throughput runs its model calls there, not on the
on-demand quota; functions of action groups come back to the caller as returnControl."""

import json
import os
import subprocess
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import CONFIGS, user
from test_invocation_logs import s3_records

LOGGING = {"s3Config": {"bucketName": "bedrock-logs", "keyPrefix": "spillway"}, "textDataDeliveryEnabled": True}

CONFIG = str(CONFIGS / "agents.toml")
ACCOUNT = "123456789012"
CLAUDE = "anthropic.claude-v2:1"
CLAUDE_18K = "anthropic.claude-v2:1:18k"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/service-role/AmazonBedrockExecutionRoleForAgents_seed002"
INSTRUCTION = "You are a weather assistant. Answer questions about the weather forecast briefly."
FORECAST = {
    "functions": [
        {
            "name": "get_forecast",
            "description": "The weather forecast for a city",
            "parameters": {"city": {"type": "string", "description": "City name", "required": True}},
        }
    ]
}


def code(e):
    return e.value.response["Error"]["Code"]


def wait_for(get, field, want, timeout=10):
    deadline = time.time() + timeout
    while True:
        got = get()
        if got[field] == want:
            return got
        assert time.time() < deadline, f"{field} still {got[field]}"
        time.sleep(0.05)


def buy_throughput(bedrock, name="hogethru2", model=CLAUDE_18K):
    arn = bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName=name, modelId=model)[
        "provisionedModelArn"
    ]
    wait_for(lambda: bedrock.get_provisioned_model_throughput(provisionedModelId=arn), "status", "InService")
    return arn


def prepared_agent(agents, name, model=CLAUDE, **extra):
    agent = agents.create_agent(
        agentName=name, foundationModel=model, instruction=INSTRUCTION, agentResourceRoleArn=ROLE, **extra
    )["agent"]
    assert agent["agentStatus"] == "NOT_PREPARED" and agent["agentVersion"] == "DRAFT"
    prepared = agents.prepare_agent(agentId=agent["agentId"])
    assert (prepared["agentStatus"], prepared["ResponseMetadata"]["HTTPStatusCode"]) == ("PREPARING", 202)
    wait_for(lambda: agents.get_agent(agentId=agent["agentId"])["agent"], "agentStatus", "PREPARED")
    return agent


def invoke(runtime, agent_id, alias_id, session, **kwargs):
    """Runs InvokeAgent and sorts the stream's events: the answer text, traces, returnControl."""
    response = runtime.invoke_agent(agentId=agent_id, agentAliasId=alias_id, sessionId=session, **kwargs)
    assert response["sessionId"] == session and response["contentType"] == "application/json"
    text, traces, control = "", [], None
    for event in response["completion"]:
        if "chunk" in event:
            text += event["chunk"]["bytes"].decode()
        elif "trace" in event:
            traces.append(event["trace"])
        elif "returnControl" in event:
            control = event["returnControl"]
        else:
            raise AssertionError(f"unexpected event {event}")
    return text, traces, control


def usage(server, by):
    status, _, body = server.raw("GET", f"/spillway/usage?by={by}")
    assert status == 200, body
    return {r["key"]: r for r in json.loads(body)["rows"]}


def aws(server, *args):
    env = dict(os.environ, AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="")
    cli = os.path.join(os.path.dirname(os.path.realpath(__import__("sys").executable)), "aws")
    out = subprocess.run(
        [cli, *args, "--endpoint-url", server.url, "--output", "json"], capture_output=True, text=True, env=env
    )
    return out.returncode, out.stdout, out.stderr


def test_seed_002_alias_on_provisioned_throughput(start_server):
    server = start_server("--config", CONFIG)
    bedrock, agents = server.client("bedrock"), server.client("bedrock-agent")
    runtime = server.client("bedrock-agent-runtime")
    pt = buy_throughput(bedrock)
    agent = prepared_agent(agents, "seed-002-agent")
    agent_id = agent["agentId"]

    # Version 1 is snapshotted from the prepared DRAFT by the first alias.
    staging = agents.create_agent_alias(agentId=agent_id, agentAliasName="staging")["agentAlias"]
    assert staging["routingConfiguration"] == [{"agentVersion": "1"}]
    # The seed's AWS CLI command: an alias routed to version 1 on the throughput.
    rc, out, err = aws(
        server,
        "bedrock-agent",
        "create-agent-alias",
        "--agent-id",
        agent_id,
        "--agent-alias-name",
        "live",
        "--routing-configuration",
        f"agentVersion=1,provisionedThroughput={pt}",
    )
    assert rc == 0, err
    live = json.loads(out)["agentAlias"]
    assert live["agentAliasStatus"] == "PREPARED"
    assert live["routingConfiguration"] == [{"agentVersion": "1", "provisionedThroughput": pt}]
    assert live["agentAliasArn"] == f"arn:aws:bedrock:us-east-1:{ACCOUNT}:agent-alias/{agent_id}/{live['agentAliasId']}"

    # The alias list shows the routing (and the built-in test alias), in the CLI too.
    rc, out, err = aws(server, "bedrock-agent", "list-agent-aliases", "--agent-id", agent_id)
    assert rc == 0, err
    listed = {a["agentAliasName"]: a for a in json.loads(out)["agentAliasSummaries"]}
    assert set(listed) == {"AgentTestAlias", "staging", "live"}
    assert listed["live"]["routingConfiguration"][0]["provisionedThroughput"] == pt
    assert listed["AgentTestAlias"]["routingConfiguration"] == [{"agentVersion": "DRAFT"}]
    versions = agents.list_agent_versions(agentId=agent_id)["agentVersionSummaries"]
    assert [v["agentVersion"] for v in versions] == ["DRAFT", "1"]

    # Invocation logs record each model call of the agent, on the throughput, for the alias.
    bedrock.put_model_invocation_logging_configuration(loggingConfig=LOGGING)

    # Invoking the alias runs the agent's model calls on the provisioned model.
    calls = 4
    for i in range(calls):
        text, traces, control = invoke(
            runtime, agent_id, live["agentAliasId"], "session-1", inputText=f"Will it rain tomorrow? ({i})", enableTrace=True
        )
        assert text and control is None
        orchestration = [t["trace"]["orchestrationTrace"] for t in traces]
        model_input = next(o["modelInvocationInput"] for o in orchestration if "modelInvocationInput" in o)
        assert model_input["foundationModel"] == pt and model_input["type"] == "ORCHESTRATION"
        prompt = json.loads(model_input["text"])
        assert INSTRUCTION in prompt["system"][0]["text"]
        # The session keeps the conversation: each turn adds a question and an answer.
        assert len(prompt["messages"]) == 2 * i + 1
        output = next(o["modelInvocationOutput"] for o in orchestration if "modelInvocationOutput" in o)
        assert output["metadata"]["usage"]["outputTokens"] > 0
        final = next(o["observation"] for o in orchestration if "observation" in o)
        assert final["finalResponse"]["text"] == text
        assert all(t["agentAliasId"] == live["agentAliasId"] and t["agentVersion"] == "1" for t in traces)

    # Metrics and usage say where they ran, and whose they were.
    metrics = server.raw("GET", "/metrics")[2].decode()
    assert f'Invocations{{ModelId="{pt}",region="us-east-1"}} {calls}' in metrics
    assert f'ModelId="{CLAUDE}"' not in metrics
    by_model = usage(server, "model")
    assert by_model[pt]["invocations"] == calls and CLAUDE not in by_model
    assert usage(server, "profile")[live["agentAliasArn"]]["invocations"] == calls
    deadline = time.time() + 10
    records = []
    while len(records) < calls and time.time() < deadline:
        _, records = s3_records(server, "us-east-1")
        time.sleep(0.1)
    assert len(records) == calls
    for record in records:
        assert (record["modelId"], record["operation"]) == (pt, "Converse")
        meta = record["requestMetadata"]
        assert meta["agentAliasArn"] == live["agentAliasArn"] and meta["sessionId"] == "session-1"
        assert (meta["agentId"], meta["agentVersion"]) == (agent_id, "1")
    # The on-demand quota of Claude 2.1 (2 requests a minute) is untouched.
    on_demand = server.client()
    for _ in range(2):
        on_demand.converse(modelId=CLAUDE, messages=user("on demand"))
    with pytest.raises(ClientError) as e:
        on_demand.converse(modelId=CLAUDE, messages=user("on demand"))
    assert code(e) == "ThrottlingException"


def test_alias_naming_a_missing_or_unusable_throughput_is_refused(start_server):
    server = start_server("--config", CONFIG)
    bedrock, agents = server.client("bedrock"), server.client("bedrock-agent")
    agent_id = prepared_agent(agents, "refusals")["agentId"]
    missing = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:provisioned-model/abcdefghijkl"
    for routing in ([{"provisionedThroughput": missing}], [{"provisionedThroughput": "no-such-throughput"}]):
        with pytest.raises(ClientError) as e:
            agents.create_agent_alias(agentId=agent_id, agentAliasName="live", routingConfiguration=routing)
        assert code(e) == "ValidationException" and "doesn't exist" in str(e.value)
    # Nothing was created by the refusals: no alias, no version.
    assert [a["agentAliasName"] for a in agents.list_agent_aliases(agentId=agent_id)["agentAliasSummaries"]] == [
        "AgentTestAlias"
    ]
    assert len(agents.list_agent_versions(agentId=agent_id)["agentVersionSummaries"]) == 1
    # The AWS CLI gets the same refusal (seed 002's author could name any string on AWS).
    rc, _, err = aws(
        server, "bedrock-agent", "create-agent-alias", "--agent-id", agent_id, "--agent-alias-name", "cli",
        "--routing-configuration", "provisionedThroughput=made-up-name",
    )
    assert rc != 0 and "ValidationException" in err
    # Still being created: refused until InService. Another model's throughput: refused.
    creating = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="slow", modelId=CLAUDE_18K
    )["provisionedModelArn"]
    with pytest.raises(ClientError) as e:
        agents.create_agent_alias(
            agentId=agent_id, agentAliasName="early", routingConfiguration=[{"provisionedThroughput": creating}]
        )
    assert code(e) == "ValidationException" and "Creating" in str(e.value)
    haiku_pt = buy_throughput(bedrock, "haiku-pt", HAIKU)
    with pytest.raises(ClientError) as e:
        agents.create_agent_alias(
            agentId=agent_id, agentAliasName="other", routingConfiguration=[{"provisionedThroughput": haiku_pt}]
        )
    assert code(e) == "ValidationException" and HAIKU in str(e.value)
    # A version that does not exist, and the DRAFT, are refused too.
    with pytest.raises(ClientError) as e:
        agents.create_agent_alias(agentId=agent_id, agentAliasName="v9", routingConfiguration=[{"agentVersion": "9"}])
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        agents.create_agent_alias(agentId=agent_id, agentAliasName="d", routingConfiguration=[{"agentVersion": "DRAFT"}])
    assert code(e) == "ValidationException"


def test_action_group_function_runs_through_return_control(start_server):
    server = start_server("--config", CONFIG)
    agents, runtime = server.client("bedrock-agent"), server.client("bedrock-agent-runtime")
    agent_id = prepared_agent(agents, "weather-agent", model=HAIKU)["agentId"]
    # There is no Lambda here: a Lambda executor is refused, naming it.
    with pytest.raises(ClientError) as e:
        agents.create_agent_action_group(
            agentId=agent_id,
            agentVersion="DRAFT",
            actionGroupName="weather",
            actionGroupExecutor={"lambda": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:forecast"},
            functionSchema=FORECAST,
        )
    assert code(e) == "ValidationException" and "actionGroupExecutor.lambda" in str(e.value)
    group = agents.create_agent_action_group(
        agentId=agent_id,
        agentVersion="DRAFT",
        actionGroupName="weather",
        actionGroupExecutor={"customControl": "RETURN_CONTROL"},
        functionSchema=FORECAST,
    )["agentActionGroup"]
    assert group["actionGroupState"] == "ENABLED" and group["functionSchema"] == FORECAST
    # Changing the DRAFT un-prepares it; prepare again and snapshot it in an alias.
    assert agents.get_agent(agentId=agent_id)["agent"]["agentStatus"] == "NOT_PREPARED"
    agents.prepare_agent(agentId=agent_id)
    wait_for(lambda: agents.get_agent(agentId=agent_id)["agent"], "agentStatus", "PREPARED")
    alias_id = agents.create_agent_alias(agentId=agent_id, agentAliasName="prod")["agentAlias"]["agentAliasId"]
    copies = agents.list_agent_action_groups(agentId=agent_id, agentVersion="1")["actionGroupSummaries"]
    assert [g["actionGroupName"] for g in copies] == ["weather"]

    # The simulator calls a tool the user names: the function comes back to the caller.
    text, traces, control = invoke(
        runtime, agent_id, alias_id, "s-tools", inputText="Forecast for Tokyo? Use weather__get_forecast.", enableTrace=True
    )
    assert text == "" and control is not None
    (call,) = control["invocationInputs"]
    fn = call["functionInvocationInput"]
    assert (fn["actionGroup"], fn["function"], fn["actionInvocationType"]) == ("weather", "get_forecast", "RESULT")
    assert [p["name"] for p in fn["parameters"]] == ["city"] and fn["parameters"][0]["type"] == "string"
    steps = [t["trace"]["orchestrationTrace"] for t in traces]
    invoked = next(s["invocationInput"] for s in steps if "invocationInput" in s)
    assert invoked["actionGroupInvocationInput"]["executionType"] == "RETURN_CONTROL"
    tools = json.loads(next(s["modelInvocationInput"] for s in steps if "modelInvocationInput" in s)["text"])["toolConfig"]
    assert tools["tools"][0]["toolSpec"]["name"] == "weather__get_forecast"

    # While the function runs, a new question is refused; its result continues the turn.
    with pytest.raises(ClientError) as e:
        invoke(runtime, agent_id, alias_id, "s-tools", inputText="never mind")
    assert code(e) == "ValidationException"
    result = {
        "functionResult": {
            "actionGroup": "weather",
            "function": "get_forecast",
            "responseBody": {"TEXT": {"body": "Sunny, 25 degrees"}},
        }
    }
    text, traces, control = invoke(
        runtime,
        agent_id,
        alias_id,
        "s-tools",
        sessionState={"invocationId": control["invocationId"], "returnControlInvocationResults": [result]},
        enableTrace=True,
    )
    assert text and control is None
    steps = [t["trace"]["orchestrationTrace"] for t in traces]
    assert steps[0]["observation"]["actionGroupInvocationOutput"]["text"] == "Sunny, 25 degrees"
    prompt = json.loads(next(s["modelInvocationInput"] for s in steps if "modelInvocationInput" in s)["text"])
    tool_result = prompt["messages"][-1]["content"][0]["toolResult"]
    assert tool_result["content"] == [{"text": "Sunny, 25 degrees"}]
    # A result nobody asked for is refused; endSession forgets the conversation.
    with pytest.raises(ClientError) as e:
        invoke(runtime, agent_id, alias_id, "s-tools", sessionState={"returnControlInvocationResults": [result]})
    assert code(e) == "ValidationException"
    invoke(runtime, agent_id, alias_id, "s-tools", inputText="thanks", endSession=True)
    _, traces, _ = invoke(runtime, agent_id, alias_id, "s-tools", inputText="hello again", enableTrace=True)
    fresh = json.loads(traces[0]["trace"]["orchestrationTrace"]["modelInvocationInput"]["text"])
    assert len(fresh["messages"]) == 1
    # Streaming the final response: chunks of applyGuardrailInterval characters.
    response = runtime.invoke_agent(
        agentId=agent_id, agentAliasId=alias_id, sessionId="s-stream", inputText="hi",
        streamingConfigurations={"streamFinalResponse": True, "applyGuardrailInterval": 5},
    )
    chunks = [e["chunk"]["bytes"].decode() for e in response["completion"] if "chunk" in e]
    assert len(chunks) > 1 and all(len(c) <= 5 for c in chunks)


def test_agent_control_plane_shapes_and_refusals(start_server):
    server = start_server("--config", CONFIG)
    agents = server.client("bedrock-agent")
    created = agents.create_agent(
        agentName="crud", foundationModel=HAIKU, instruction=INSTRUCTION, tags={"team": "search"},
        clientToken="t" * 40, idleSessionTTLInSeconds=120,
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    agent = created["agent"]
    # The same clientToken answers with the same agent.
    again = agents.create_agent(agentName="crud", foundationModel=HAIKU, instruction=INSTRUCTION, clientToken="t" * 40)
    assert again["agent"]["agentId"] == agent["agentId"]
    with pytest.raises(ClientError) as e:
        agents.create_agent(agentName="crud", foundationModel=HAIKU)
    assert (code(e), e.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("ConflictException", 409)
    assert agents.list_tags_for_resource(resourceArn=agent["agentArn"])["tags"] == {"team": "search"}
    got = agents.get_agent(agentId=agent["agentId"])["agent"]
    assert got["idleSessionTTLInSeconds"] == 120 and got["foundationModel"] == HAIKU
    summaries = agents.list_agents()["agentSummaries"]
    assert [(s["agentName"], s["latestAgentVersion"]) for s in summaries] == [("crud", "DRAFT")]
    updated = agents.update_agent(
        agentId=agent["agentId"], agentName="crud2", foundationModel=HAIKU, agentResourceRoleArn=ROLE,
        instruction=INSTRUCTION,
    )["agent"]
    assert updated["agentName"] == "crud2" and updated["agentResourceRoleArn"] == ROLE
    # Members spillway does not run are refused by name.
    for member, value in [
        ("memoryConfiguration", {"enabledMemoryTypes": ["SESSION_SUMMARY"], "storageDays": 30}),
        ("guardrailConfiguration", {"guardrailIdentifier": "g", "guardrailVersion": "1"}),
    ]:
        with pytest.raises(ClientError) as e:
            agents.create_agent(agentName=f"x{len(member)}", foundationModel=HAIKU, **{member: value})
        assert code(e) == "ValidationException" and member in str(e.value)
    status, _, body = server.raw("PUT", "/agents/", {"agentName": "raw", "bogusMember": 1}, {"content-type": "application/json"})
    assert status == 400 and b"bogusMember" in body
    # An agent without an instruction cannot be prepared; an unknown model neither.
    bare = agents.create_agent(agentName="bare", foundationModel=HAIKU)["agent"]
    with pytest.raises(ClientError) as e:
        agents.prepare_agent(agentId=bare["agentId"])
    assert code(e) == "ValidationException" and "instruction" in str(e.value)
    odd = agents.create_agent(agentName="odd", foundationModel="acme.unknown-v1", instruction=INSTRUCTION)["agent"]
    with pytest.raises(ClientError) as e:
        agents.prepare_agent(agentId=odd["agentId"])
    assert code(e) == "ValidationException"
    # Another region is another place: nothing there.
    with pytest.raises(ClientError) as e:
        server.client("bedrock-agent", region="us-west-2").get_agent(agentId=agent["agentId"])
    assert code(e) == "ResourceNotFoundException"

    # Action groups: CRUD on the DRAFT, an OpenAPI schema, deleting needs DISABLED.
    openapi = {"openapi": "3.0.0", "info": {"title": "b", "version": "1"}, "paths": {"/bookings": {"post": {
        "operationId": "book", "description": "Book seats", "requestBody": {"content": {"application/json": {
            "schema": {"type": "object", "properties": {"seats": {"type": "integer"}}}}}}}}}}
    group = agents.create_agent_action_group(
        agentId=agent["agentId"], agentVersion="DRAFT", actionGroupName="booking",
        actionGroupExecutor={"customControl": "RETURN_CONTROL"}, apiSchema={"payload": json.dumps(openapi)},
    )["agentActionGroup"]
    gid = group["actionGroupId"]
    got = agents.get_agent_action_group(agentId=agent["agentId"], agentVersion="DRAFT", actionGroupId=gid)
    assert json.loads(got["agentActionGroup"]["apiSchema"]["payload"]) == openapi
    with pytest.raises(ClientError) as e:
        agents.delete_agent_action_group(agentId=agent["agentId"], agentVersion="DRAFT", actionGroupId=gid)
    assert code(e) == "ConflictException"
    agents.update_agent_action_group(
        agentId=agent["agentId"], agentVersion="DRAFT", actionGroupId=gid, actionGroupName="booking",
        actionGroupExecutor={"customControl": "RETURN_CONTROL"}, apiSchema={"payload": json.dumps(openapi)},
        actionGroupState="DISABLED",
    )
    deleted = agents.delete_agent_action_group(agentId=agent["agentId"], agentVersion="DRAFT", actionGroupId=gid)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert agents.list_agent_action_groups(agentId=agent["agentId"], agentVersion="DRAFT")["actionGroupSummaries"] == []

    # Versions and aliases: an alias keeps its version in use; the agent keeps its aliases.
    agents.prepare_agent(agentId=agent["agentId"])
    wait_for(lambda: agents.get_agent(agentId=agent["agentId"])["agent"], "agentStatus", "PREPARED")
    alias = agents.create_agent_alias(agentId=agent["agentId"], agentAliasName="a1", tags={"env": "prod"})["agentAlias"]
    assert agents.list_tags_for_resource(resourceArn=alias["agentAliasArn"])["tags"] == {"env": "prod"}
    version = agents.get_agent_version(agentId=agent["agentId"], agentVersion="1")["agentVersion"]
    assert (version["version"], version["agentName"], version["agentStatus"]) == ("1", "crud2", "PREPARED")
    with pytest.raises(ClientError) as e:
        agents.delete_agent_version(agentId=agent["agentId"], agentVersion="1")
    assert code(e) == "ConflictException"
    moved = agents.update_agent_alias(
        agentId=agent["agentId"], agentAliasId=alias["agentAliasId"], agentAliasName="a1",
        aliasInvocationState="REJECT_INVOCATIONS",
    )["agentAlias"]
    assert moved["routingConfiguration"] == [{"agentVersion": "2"}]
    assert len(moved["agentAliasHistoryEvents"]) == 2 and "endDate" in moved["agentAliasHistoryEvents"][1]
    with pytest.raises(ClientError) as e:
        server.client("bedrock-agent-runtime").invoke_agent(
            agentId=agent["agentId"], agentAliasId=alias["agentAliasId"], sessionId="s1", inputText="hi"
        )
    assert code(e) == "ValidationException"
    assert agents.delete_agent_version(agentId=agent["agentId"], agentVersion="1")["agentStatus"] == "DELETING"
    with pytest.raises(ClientError) as e:
        agents.delete_agent(agentId=agent["agentId"])
    assert code(e) == "ConflictException"
    with pytest.raises(ClientError) as e:
        agents.delete_agent_alias(agentId=agent["agentId"], agentAliasId="TSTALIASID")
    assert code(e) == "ValidationException"
    agents.delete_agent_alias(agentId=agent["agentId"], agentAliasId=alias["agentAliasId"])
    assert agents.delete_agent(agentId=agent["agentId"])["agentStatus"] == "DELETING"
    with pytest.raises(ClientError) as e:
        agents.get_agent(agentId=agent["agentId"])
    assert code(e) == "ResourceNotFoundException"


def test_agents_belong_to_their_account(start_server):
    server = start_server("--config", str(CONFIGS / "accounts.toml"))

    def clients(key, secret):
        return tuple(
            boto3.client(
                service,
                region_name="us-east-1",
                endpoint_url=server.url,
                aws_access_key_id=key,
                aws_secret_access_key=secret,
            )
            for service in ("bedrock-agent", "bedrock-agent-runtime")
        )

    one, one_runtime = clients("AKIAONEONEONEONE", "secret-one")
    two, two_runtime = clients("AKIATWOTWOTWOTWO", "secret-two")
    agent = prepared_agent(one, "mine", model=HAIKU)
    assert agent["agentArn"].startswith("arn:aws:bedrock:us-east-1:111111111111:agent/")
    alias = one.create_agent_alias(agentId=agent["agentId"], agentAliasName="prod")["agentAlias"]
    one.tag_resource(resourceArn=alias["agentAliasArn"], tags={"team": "a", "env": "prod"})
    one.untag_resource(resourceArn=alias["agentAliasArn"], tagKeys=["env"])
    assert one.list_tags_for_resource(resourceArn=alias["agentAliasArn"])["tags"] == {"team": "a"}
    text, _, _ = invoke(one_runtime, agent["agentId"], alias["agentAliasId"], "s1", inputText="hello")
    assert text

    # The other account sees nothing, changes nothing, invokes nothing, even with the IDs.
    assert two.list_agents()["agentSummaries"] == []
    for call in (
        lambda: two.get_agent(agentId=agent["agentId"]),
        lambda: two.get_agent_alias(agentId=agent["agentId"], agentAliasId=alias["agentAliasId"]),
        lambda: two.create_agent_alias(agentId=agent["agentId"], agentAliasName="theirs"),
        lambda: two.delete_agent(agentId=agent["agentId"], skipResourceInUseCheck=True),
        lambda: two.list_tags_for_resource(resourceArn=alias["agentAliasArn"]),
        lambda: two.tag_resource(resourceArn=agent["agentArn"], tags={"x": "y"}),
        lambda: invoke(two_runtime, agent["agentId"], alias["agentAliasId"], "s1", inputText="hello"),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "ResourceNotFoundException", e.value
    assert one.get_agent(agentId=agent["agentId"])["agent"]["agentName"] == "mine"


def test_the_local_model_drives_a_real_agent(start_server):
    """With the built-in catalog every model runs on the embedded local model: the agent's
    turns are real generations (their wording is never asserted)."""
    from test_local_model import text_model_file

    if not text_model_file().is_file():
        pytest.fail(f"{text_model_file()} is missing: run `target/debug/spillway fetch-model` first")
    server = start_server()
    agents, runtime = server.client("bedrock-agent"), server.client("bedrock-agent-runtime")
    agent = prepared_agent(agents, "local-agent", model=HAIKU)
    text, traces, control = invoke(
        runtime, agent["agentId"], "TSTALIASID", "local-1", inputText="What is the capital of France?", enableTrace=True
    )
    assert text.strip() and control is None
    output = next(
        t["trace"]["orchestrationTrace"]["modelInvocationOutput"]
        for t in traces
        if "modelInvocationOutput" in t["trace"]["orchestrationTrace"]
    )
    raw = json.loads(output["rawResponse"]["content"])
    assert raw["output"]["message"]["content"][0]["text"] == text
    assert output["metadata"]["usage"]["outputTokens"] == raw["usage"]["outputTokens"] > 0
    # The second turn carries the first in its prompt.
    _, traces, _ = invoke(runtime, agent["agentId"], "TSTALIASID", "local-1", inputText="And of Japan?", enableTrace=True)
    prompt = json.loads(traces[0]["trace"]["orchestrationTrace"]["modelInvocationInput"]["text"])
    assert [m["role"] for m in prompt["messages"]] == ["user", "assistant", "user"]


@pytest.mark.parametrize(
    "method,path,body,status,error,needle",
    [
        ("GET", "/agents/short/", None, 400, "ValidationException", b"agentId"),
        ("GET", "/agents/ABCDEFGHIJ/", None, 404, "ResourceNotFoundException", b"ABCDEFGHIJ"),
        ("GET", "/agents/ABCDEFGHIJ/agentversions/DRAFT/", None, 400, "ValidationException", b"agentVersion"),
        ("POST", "/agents/", {"maxResults": 0}, 400, "ValidationException", b"maxResults"),
        ("POST", "/agents/", {"nextToken": "forged"}, 400, "ValidationException", b"nextToken"),
        ("PUT", "/agents/", {"agentName": "bad name!"}, 400, "ValidationException", b"agentName"),
        ("PUT", "/agents/", {"agentName": "ok", "instruction": "too short"}, 400, "ValidationException", b"instruction"),
        ("PUT", "/agents/", {"agentName": "ok", "idleSessionTTLInSeconds": 5}, 400, "ValidationException", b"idleSessionTTLInSeconds"),
        ("PUT", "/agents/ABCDEFGHIJ/agentversions/1/actiongroups/", {"actionGroupName": "g"}, 400, "ValidationException", b"DRAFT"),
        ("POST", "/agents/ABCDEFGHIJ/agentAliases/TSTALIASID/sessions/x/text", {"inputText": "hi"}, 400, "ValidationException", b"sessionId"),
        ("POST", "/agents/ABCDEFGHIJ/agentAliases/TSTALIASID/sessions/s1/text", {"inputText": "hi", "bogus": 1}, 400, "ValidationException", b"bogus"),
        ("POST", "/agents/ABCDEFGHIJ/agentAliases/TSTALIASID/sessions/s1/text", {"memoryId": "m1"}, 400, "ValidationException", b"memoryId"),
        ("POST", "/agents/ABCDEFGHIJ/agentAliases/TSTALIASID/sessions/s1/text", {"inputText": "hi"}, 404, "ResourceNotFoundException", b"ABCDEFGHIJ"),
    ],
)
def test_malformed_agent_requests_get_bedrock_errors(spillway, method, path, body, status, error, needle):
    got, headers, raw = spillway.raw(method, path, body, {"content-type": "application/json"})
    assert (got, headers["x-amzn-ErrorType"]) == (status, error), raw
    assert needle in raw and json.loads(raw)["message"]
