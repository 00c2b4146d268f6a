"""The official Anthropic SDK (`AnthropicBedrock` with `base_url`) using the Messages
body's prompt caching (`cache_control`, reported as cache creation then cache read),
extended thinking (`thinking`: signed thinking blocks, replayed intact or refused when
altered, streamed with their signature) and `anthropic_beta`."""

import threading
from http.server import ThreadingHTTPServer

import anthropic
import pytest
from anthropic import AnthropicBedrock

import fake_openai
from conftest import Server
from test_invoke_families import Reasoner, catalog

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
# Long enough for the simulator's minimum cacheable prefix (1024 tokens): one token a word.
MANUAL = "You answer questions about the storage manual." + " volume" * 1200
THINKING = {"type": "enabled", "budget_tokens": 1024}


def claude(server):
    return AnthropicBedrock(base_url=server.url, aws_region="us-east-1", max_retries=0)


def cached_system(ttl="5m"):
    return [{"type": "text", "text": MANUAL, "cache_control": {"type": "ephemeral", "ttl": ttl}}]


def test_cache_control_writes_then_reads(start_server):
    client = claude(start_server("--backend", "sim"))
    ask = lambda q: client.messages.create(  # noqa: E731
        model=HAIKU, max_tokens=16, system=cached_system(), messages=[{"role": "user", "content": q}])
    first, second = ask("What is a volume?").usage, ask("And a bucket?").usage
    assert first.cache_creation_input_tokens > 1200 and first.cache_read_input_tokens == 0
    assert first.cache_creation.ephemeral_5m_input_tokens == first.cache_creation_input_tokens
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert second.cache_creation_input_tokens == 0 and second.input_tokens < 50
    with client.messages.stream(model=HAIKU, max_tokens=16, system=cached_system(),
                                messages=[{"role": "user", "content": "Hi"}]) as stream:
        final = stream.get_final_message()
    assert final.usage.cache_read_input_tokens == first.cache_creation_input_tokens


def test_cache_control_on_tools_and_messages_and_its_rules(start_server):
    client = claude(start_server("--backend", "sim"))
    tools = [{"name": "lookup", "description": MANUAL, "input_schema": {"type": "object"},
              "cache_control": {"type": "ephemeral"}}]
    messages = [{"role": "user", "content": [{"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}]}]
    first = client.messages.create(model=HAIKU, max_tokens=8, tools=tools, messages=messages).usage
    assert first.cache_creation_input_tokens > 1200
    # A 1-hour breakpoint after a 5-minute one is refused, as Bedrock refuses it.
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(model=HAIKU, max_tokens=8, tools=tools, system=cached_system("1h"), messages=messages)
    assert "1h TTL must come before" in str(e.value)


def test_betas_are_honoured_or_refused_by_name(spillway):
    client = claude(spillway)
    ok = client.messages.create(model=HAIKU, max_tokens=8, messages=[{"role": "user", "content": "Hi"}],
                                extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"})
    assert ok.content
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(model=HAIKU, max_tokens=8, messages=[{"role": "user", "content": "Hi"}],
                               extra_headers={"anthropic-beta": "context-1m-2025-08-07"})
    assert "context-1m-2025-08-07 is not supported by this endpoint: #/anthropic_beta/0" in str(e.value)


@pytest.fixture(scope="module")
def reasoning(tmp_path_factory):
    fake, fake_base = fake_openai.start()
    reasoner = ThreadingHTTPServer(("127.0.0.1", 0), Reasoner)
    reasoner.daemon_threads = True
    threading.Thread(target=reasoner.serve_forever, daemon=True).start()
    path = tmp_path_factory.mktemp("cfg") / "thinking.toml"
    path.write_text(catalog(fake_base, f"http://127.0.0.1:{reasoner.server_address[1]}"))
    server = Server(["--config", str(path)])
    yield server
    server.stop()
    fake.shutdown()
    reasoner.shutdown()


def test_thinking_blocks_signed_replayed_and_refused_when_altered(reasoning):
    client = claude(reasoning)
    question = {"role": "user", "content": "Why?"}
    first = client.messages.create(model=SONNET, max_tokens=2048, thinking=THINKING, messages=[question])
    thinking, text = first.content
    assert thinking.type == "thinking" and thinking.thinking == "Think." and thinking.signature
    assert text.type == "text" and text.text == "Answer."
    # The budget reaches the backend as Converse's additional field would.
    assert Reasoner.seen[-1]["thinking"] == THINKING
    follow = {"role": "user", "content": "And then?"}
    history = [question, {"role": "assistant", "content": first.content}, follow]
    assert client.messages.create(model=SONNET, max_tokens=2048, thinking=THINKING, messages=history).content
    altered = [question, {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "Think harder.", "signature": thinking.signature},
        {"type": "text", "text": "Answer."}]}, follow]
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(model=SONNET, max_tokens=2048, thinking=THINKING, messages=altered)
    assert "signature does not match" in str(e.value)


def test_thinking_streams_with_its_signature(reasoning):
    client = claude(reasoning)
    with client.messages.stream(model=SONNET, max_tokens=2048, thinking=THINKING,
                                messages=[{"role": "user", "content": "Why?"}]) as stream:
        final = stream.get_final_message()
    thinking, text = final.content
    assert (thinking.thinking, text.text) == ("Think.", "Answer.")
    unary = client.messages.create(model=SONNET, max_tokens=2048, thinking=THINKING,
                                   messages=[{"role": "user", "content": "Why?"}])
    assert thinking.signature == unary.content[0].signature


def test_thinking_rules(reasoning):
    client = claude(reasoning)
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(model=SONNET, max_tokens=1000, thinking=THINKING,
                               messages=[{"role": "user", "content": "Why?"}])
    assert "budget_tokens" in str(e.value)
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(model=SONNET, max_tokens=2048, thinking=THINKING, extra_body={"temperature": 0.2},
                               messages=[{"role": "user", "content": "Why?"}])
    assert "#/temperature" in str(e.value)


def test_thinking_on_the_simulator(spillway):
    """The simulator reasons when asked to think, so thinking works without a reasoning server."""
    client = claude(spillway)
    question = {"role": "user", "content": "Why is the sky blue?"}
    first = client.messages.create(model=HAIKU, max_tokens=2048, thinking=THINKING, messages=[question])
    assert [b.type for b in first.content] == ["thinking", "text"] and first.content[0].signature
    history = [question, {"role": "assistant", "content": first.content}, {"role": "user", "content": "More?"}]
    assert client.messages.create(model=HAIKU, max_tokens=2048, thinking=THINKING, messages=history).content
    plain = client.messages.create(model=HAIKU, max_tokens=2048, messages=[question])
    assert [b.type for b in plain.content] == ["text"]
