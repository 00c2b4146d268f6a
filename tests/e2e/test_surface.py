"""Every member of the Converse request, as the installed botocore models it, either works
or is refused with a ValidationException that names it; likewise every
`X-Amzn-Bedrock-*` header of InvokeModel. Cases are generated from the client's own
service model, so a member botocore adds tomorrow is covered by this test."""

import re

import botocore.exceptions
import pytest

from conftest import user

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
# A refusal ends with the path of the member it refuses ("… is not supported by this
# endpoint: serviceTier.type", "… only in an assistant message: messages[0]…").
REFUSAL = re.compile(r": ([A-Za-z0-9_.\[\]-]+)$")

# Enum values that cannot be sent alone without breaking Bedrock's conversation rules
# (a conversation starts with a user turn): covered by test_converse.py instead.
SKIP_ENUM = {("ConversationRole", "assistant")}
QUOTED = re.compile(r"'([A-Za-z0-9_.\[\]-]+)'")


# A JSON schema a structured-output request can carry (the member is a string).
CLOSED_SCHEMA = '{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}'


def minimal(shape, seen=(), name=None):
    """The smallest value botocore accepts for `shape`: required members only."""
    t = shape.type_name
    if name == "schema" and t == "string":
        return CLOSED_SCHEMA
    if shape.name in seen:
        return None
    seen = (*seen, shape.name)
    if t == "structure":
        if shape.metadata.get("union"):
            name, member = next(iter(shape.members.items()))
            return {name: minimal(member, seen)}
        if shape.metadata.get("document"):
            return {}
        return {n: minimal(m, seen, n) for n, m in shape.members.items() if n in shape.required_members}
    if t == "list":
        return [minimal(shape.member, seen)]
    if t == "map":
        return {"k1": minimal(shape.value, seen)}
    if t == "string":
        return shape.enum[0] if shape.enum else "t1"
    if t == "blob":
        return b"\x00\x01"
    if t == "integer" or t == "long":
        return 1
    if t in ("float", "double"):
        return 0.5
    if t == "boolean":
        return True
    raise AssertionError(f"unhandled shape type {t} ({shape.name})")


def variants(shape, seen=()):
    """(path, value) for every way of setting one more member somewhere inside `shape`
    than `minimal` sets, and every enum value of the strings reached."""
    t = shape.type_name
    if shape.name in seen:
        return
    seen = (*seen, shape.name)
    if t == "string" and shape.enum:
        for v in shape.enum:
            if (shape.name, v) not in SKIP_ENUM:
                yield f"={v}", v
    elif t == "structure" and not shape.metadata.get("document"):
        union = shape.metadata.get("union")
        base = {} if union else minimal(shape, seen[:-1])
        for name, member in shape.members.items():
            if union or name not in shape.required_members:
                value = minimal(member, seen, name)
                if value is not None:
                    yield name, ({name: value} if union else {**base, name: value})
            for sub, value in variants(member, seen):
                yield join(name, sub), ({name: value} if union else {**base, name: value})
    elif t == "list":
        for sub, value in variants(shape.member, seen):
            yield join("[0]", sub), [value]
    elif t == "map":
        for sub, value in variants(shape.value, seen):
            yield join("k1", sub), {"k1": value}


def join(head, sub):
    """`head` and a sub-path: `a` + `b` → `a.b`, `a` + `[0]` → `a[0]`, `a` + `=v` → `a=v`."""
    return f"{head}{'' if sub[:1] in ('=', '[') else '.'}{sub}"


def request_cases(client, operation):
    shape = client.meta.service_model.operation_model(operation).input_shape
    for name, member in shape.members.items():
        if member.serialization.get("location"):  # modelId travels in the path
            continue
        value = minimal(member)
        yield name, {name: value}
        for sub, value in variants(member):
            yield join(name, sub), {name: value}


def dotted(path):
    """`messages[0].content[0].image.format=png` → the member path without the value."""
    return path.split("=")[0]


def is_prefix(named, path):
    """Whether the refused member `named` is `path` or a member above it."""
    return path == named or path.startswith(named + ".") or path.startswith(named + "[")


def run_case(client, operation, path, params):
    request = {"modelId": MODEL, **params}
    request.setdefault("messages", user("hi"))
    try:
        if operation == "Converse":
            client.converse(**request)
        else:
            for _ in client.converse_stream(**request)["stream"]:
                pass
        return None
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]


@pytest.mark.parametrize("operation", ["Converse", "ConverseStream"])
def test_every_request_member_works_or_is_refused_by_name(spillway, operation):
    client = spillway.client()
    cases = list(request_cases(client, operation))
    paths = {dotted(p) for p, _ in cases}
    # The members the issue names are all in the client's model (an old botocore would
    # make this test vacuous).
    for must in ["guardrailConfig", "performanceConfig.latency", "serviceTier.type", "outputConfig.textFormat",
                 "system[0].cachePoint", "messages[0].content[0].cachePoint", "toolConfig.tools[0].cachePoint",
                 "messages[0].content[0].reasoningContent", "additionalModelResponseFieldPaths", "requestMetadata"]:
        assert must in paths, must
    outcomes = {}
    for path, params in cases:
        error = run_case(client, operation, path, params)
        member = dotted(path)
        if error is None:
            outcomes[path] = "works"
            continue
        assert error["Code"] == "ValidationException", (path, error)
        # The refusal names the member or one above it: at the end of the message, or
        # quoted as Coral quotes a path ("Value at 'messages[0].role' failed to …").
        named = [*REFUSAL.findall(error["Message"]), *QUOTED.findall(error["Message"])]
        # (A member set whole, with the minimal values of its required members, may be
        # refused for one of those: `serviceTier` for its `type` priority.)
        assert any(is_prefix(n, member) or is_prefix(member, n) for n in named), (path, error["Message"])
        outcomes[path] = "refused"
    # Both outcomes occur, and what this endpoint honours is what it says it honours.
    assert outcomes["messages[0].content[0].text"] == "works"
    assert outcomes["performanceConfig.latency=standard"] == "works"
    assert outcomes["serviceTier.type=default"] == "works"
    assert outcomes["guardrailConfig"] == "refused"
    assert outcomes["toolConfig.tools[0].toolSpec.strict"] == "refused"
    assert outcomes["outputConfig.textFormat"] == "works"


def test_request_metadata_follows_its_pattern(spillway):
    client = spillway.client()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client.converse(modelId=MODEL, messages=user("hi"), requestMetadata={"team": "a;b"})
    assert "'requestMetadata.team.value'" in e.value.response["Error"]["Message"]
    client.converse(modelId=MODEL, messages=user("hi"), requestMetadata={"team": "ml-search", "run id": "a/b:1"})


def header_cases(client, operation):
    shape = client.meta.service_model.operation_model(operation).input_shape
    for name, member in shape.members.items():
        header = member.serialization.get("name", "")
        if member.serialization.get("location") != "header" or not header.lower().startswith("x-amzn-bedrock-"):
            continue
        if member.enum:
            for v in member.enum:
                yield header, {name: v}
        else:
            yield header, {name: "{\"k\":\"v\"}" if "Metadata" in header else "abc1"}


@pytest.mark.parametrize("operation", ["InvokeModel", "InvokeModelWithResponseStream"])
def test_every_bedrock_header_works_or_is_refused_by_name(spillway, operation):
    client = spillway.client()
    body = b'{"anthropic_version":"bedrock-2023-05-31","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}'
    cases = list(header_cases(client, operation))
    headers = {h.lower() for h, _ in cases}
    for must in ["x-amzn-bedrock-service-tier", "x-amzn-bedrock-performanceconfig-latency",
                 "x-amzn-bedrock-guardrailidentifier", "x-amzn-bedrock-trace"]:
        assert must in headers, must
    outcomes = {}
    for header, params in cases:
        call = client.invoke_model if operation == "InvokeModel" else client.invoke_model_with_response_stream
        key = f"{header}={next(iter(params.values()))}"
        try:
            out = call(modelId=MODEL, body=body, contentType="application/json", **params)
            if operation != "InvokeModel":
                for _ in out["body"]:
                    pass
            outcomes[key] = "works"
        except botocore.exceptions.ClientError as e:
            err = e.response["Error"]
            assert err["Code"] == "ValidationException", (key, err)
            m = REFUSAL.search(err["Message"])
            assert m and m.group(1).lower() == header.lower(), (key, err["Message"])
            outcomes[key] = "refused"
    assert outcomes["X-Amzn-Bedrock-Service-Tier=default"] == "works"
    assert outcomes["X-Amzn-Bedrock-Service-Tier=flex"] == "refused"
    assert outcomes["X-Amzn-Bedrock-PerformanceConfig-Latency=standard"] == "works"
