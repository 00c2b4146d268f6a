"""The official Anthropic Python SDK (`anthropic[bedrock]`, `AnthropicBedrock` with
`base_url`) against spillway: messages.create and messages.stream, with the
`anthropic_version` the current SDK sends."""

import anthropic
import pytest
from anthropic import AnthropicBedrock

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
