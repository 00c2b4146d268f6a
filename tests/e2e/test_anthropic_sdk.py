"""The official Anthropic Python SDK (`anthropic[bedrock]`, `AnthropicBedrock` with
`base_url`) against spillway: messages.create and messages.stream (text and tool calls,
sync and async), with the `anthropic_version` the current SDK sends; a `global.` profile
from Paris, a profile-only model by bare ID, and SigV4 and API keys against accounts."""

import asyncio

import anthropic
import pytest
from anthropic import AnthropicBedrock, AsyncAnthropicBedrock

from conftest import CONFIGS

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET45 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


@pytest.fixture
def claude(spillway):
    return AnthropicBedrock(base_url=spillway.url, aws_region="us-east-1", max_retries=0)


@pytest.mark.parametrize("model", [HAIKU, SONNET45])
def test_messages_create(claude, model):
    message = claude.messages.create(
        model=model, max_tokens=16, system="Be brief.", messages=[{"role": "user", "content": "Hello"}]
    )
    assert message.role == "assistant"
    assert message.type == "message"
    assert message.content[0].type == "text" and message.content[0].text
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


def test_messages_stream(claude):
    with claude.messages.stream(
        model=SONNET45, max_tokens=16, messages=[{"role": "user", "content": "Hello"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.content[0].text == text
    assert final.usage.output_tokens > 0


def test_tool_use_round_trip(claude):
    tools = [{"name": "lookup", "description": "Look a word up.",
              "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}]
    message = claude.messages.create(
        model=HAIKU, max_tokens=32, tools=tools, tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "Look up 'spillway'."}],
    )
    call = next(b for b in message.content if b.type == "tool_use")
    assert call.name == "lookup"
    follow = claude.messages.create(
        model=HAIKU, max_tokens=16, tools=tools,
        messages=[
            {"role": "user", "content": "Look up 'spillway'."},
            {"role": "assistant", "content": message.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "a channel"}]},
        ],
    )
    assert follow.content


def test_unhonoured_members_are_refused_by_name(claude):
    with pytest.raises(anthropic.BadRequestError) as e:
        claude.messages.create(
            model=HAIKU, max_tokens=16, messages=[{"role": "user", "content": "Hi"}],
            extra_body={"cache_control": {"type": "ephemeral"}},
        )
    assert "is not supported by this endpoint: #/cache_control" in str(e.value)


def test_stream_with_a_tool_call(claude):
    # The tool's input arrives as input_json_delta events the SDK accumulates.
    tools = [{"name": "lookup", "description": "Look a word up.",
              "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}]
    with claude.messages.stream(
        model=SONNET45, max_tokens=64, tools=tools, tool_choice={"type": "tool", "name": "lookup"},
        messages=[{"role": "user", "content": "Look up 'spillway'."}],
    ) as stream:
        events = [e.type for e in stream]
        final = stream.get_final_message()
    assert "input_json" in events
    call = next(b for b in final.content if b.type == "tool_use")
    assert call.name == "lookup" and isinstance(call.input["q"], str)
    assert final.stop_reason == "tool_use"


def test_global_profile_from_paris(spillway):
    paris = AnthropicBedrock(base_url=spillway.url, aws_region="eu-west-3", max_retries=0)
    raw = paris.messages.with_raw_response.create(
        model="global.anthropic.claude-sonnet-4-5-20250929-v1:0", max_tokens=8,
        messages=[{"role": "user", "content": "Bonjour"}],
    )
    assert raw.headers["x-spillway-inference-region"] == "eu-west-3"
    assert raw.parse().content[0].text


def test_profile_only_model_by_bare_id_is_a_bad_request(claude):
    with pytest.raises(anthropic.BadRequestError) as e:
        claude.messages.create(model="anthropic.claude-sonnet-4-5-20250929-v1:0", max_tokens=8,
                               messages=[{"role": "user", "content": "Hi"}])
    assert e.value.status_code == 400
    assert "with on-demand throughput isn\u2019t supported" in str(e.value)


def test_async_client_create_and_stream(spillway):
    async def run():
        client = AsyncAnthropicBedrock(base_url=spillway.url, aws_region="us-east-1", max_retries=0)
        message = await client.messages.create(model=HAIKU, max_tokens=16, messages=[{"role": "user", "content": "Hi"}])
        async with client.messages.stream(model=HAIKU, max_tokens=16,
                                          messages=[{"role": "user", "content": "Hi"}]) as stream:
            text = "".join([t async for t in stream.text_stream])
        await client.close()
        return message, text

    message, text = asyncio.run(run())
    # The simulator is deterministic: the stream says what the unary call said.
    assert text == message.content[0].text


def test_signed_and_api_key_calls_against_accounts(start_server):
    # tests/e2e/configs/accounts.toml: the SDK's own SigV4 signing (botocore's signer over
    # httpx), a whole ARN as the model, and a Bedrock API key.
    server = start_server("--config", str(CONFIGS / "accounts.toml"))
    signed = AnthropicBedrock(base_url=server.url, aws_region="us-east-1", aws_access_key="AKIAONEONEONEONE",
                              aws_secret_key="secret-one", max_retries=0)
    for model in [HAIKU, f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}"]:
        assert signed.messages.create(model=model, max_tokens=8, messages=[{"role": "user", "content": "Hi"}]).content
    keyed = AnthropicBedrock(base_url=server.url, aws_region="us-east-1", api_key="key-of-account-one", max_retries=0)
    with keyed.messages.stream(model=HAIKU, max_tokens=8, messages=[{"role": "user", "content": "Hi"}]) as stream:
        assert "".join(stream.text_stream)
    wrong = AnthropicBedrock(base_url=server.url, aws_region="us-east-1", aws_access_key="AKIAONEONEONEONE",
                             aws_secret_key="not-the-secret", max_retries=0)
    with pytest.raises(anthropic.PermissionDeniedError) as e:
        wrong.messages.create(model=HAIKU, max_tokens=8, messages=[{"role": "user", "content": "Hi"}])
    assert e.value.status_code == 403 and "InvalidSignatureException" in str(e.value)
