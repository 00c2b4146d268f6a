"""Structured output: `outputConfig.textFormat` (and the Anthropic body's
`output_config.format`) checked as Bedrock checks the schema, passed to an
OpenAI-compatible server as `response_format`, and honoured by the simulator."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import ClientError

from conftest import ROOT, Server, text_of, user

SEEN = []
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"},
                   "tags": {"type": "array", "items": {"type": "string"}}},
    "required": ["city", "population", "tags"],
    "additionalProperties": False,
}
ANSWER = {"city": "Paris", "population": 2102650, "tags": ["capital"]}
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


def text_format(schema=SCHEMA, name="city"):
    return {"textFormat": {"type": "json_schema",
                           "structure": {"jsonSchema": {"schema": json.dumps(schema), "name": name,
                                                        "description": "A city."}}}}


class FakeOpenAI(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        SEEN.append(body)
        raw = json.dumps({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": json.dumps(ANSWER)},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 12, "total_tokens": 32},
        }).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture(scope="module")
def behind_openai(tmp_path_factory):
    fake = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    example = (ROOT / "examples" / "single-region-openai.toml").read_text()
    config = tmp_path_factory.mktemp("cfg") / "openai.toml"
    config.write_text(example.replace("http://127.0.0.1:8000/v1", f"http://127.0.0.1:{fake.server_address[1]}/v1"))
    server = Server(["--config", str(config)])
    yield server
    server.stop()
    fake.shutdown()


def test_json_schema_is_passed_to_the_backend_as_response_format(behind_openai):
    SEEN.clear()
    r = behind_openai.client().converse(modelId="meta.llama3-8b-instruct-v1:0", messages=user("Paris?"),
                                        outputConfig=text_format())
    assert json.loads(text_of(r)) == ANSWER
    sent = SEEN[-1]
    assert sent["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "city", "description": "A city.", "schema": SCHEMA, "strict": True}}


def test_simulator_answers_in_the_schema(spillway):
    client = spillway.client()
    r = client.converse(modelId=HAIKU, messages=user("Paris?"), outputConfig=text_format())
    doc = json.loads(text_of(r))
    assert set(doc) == {"city", "population", "tags"}
    assert isinstance(doc["population"], int) and all(isinstance(t, str) for t in doc["tags"])
    events = list(client.converse_stream(modelId=HAIKU, messages=user("Paris?"), outputConfig=text_format())["stream"])
    streamed = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert set(json.loads(streamed)) == {"city", "population", "tags"}


def test_anthropic_body_output_config_format(spillway):
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64,
            "messages": [{"role": "user", "content": "Paris?"}],
            "output_config": {"format": {"type": "json_schema", "schema": SCHEMA}}}
    out = json.loads(spillway.client().invoke_model(modelId=HAIKU, body=json.dumps(body))["body"].read())
    assert set(json.loads(out["content"][0]["text"])) == {"city", "population", "tags"}


@pytest.mark.parametrize("schema, says", [
    ("{not json", "not valid JSON"),
    ({"type": "string"}, "root schema"),
    ({"type": "object", "properties": {"a": {"type": "string"}}}, "additionalProperties"),
])
def test_invalid_schemas_are_refused_before_anything_runs(spillway, schema, says):
    fmt = text_format()
    fmt["textFormat"]["structure"]["jsonSchema"]["schema"] = schema if isinstance(schema, str) else json.dumps(schema)
    with pytest.raises(ClientError) as e:
        spillway.client().converse(modelId=HAIKU, messages=user("x"), outputConfig=fmt)
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationException"
    assert "outputConfig.textFormat.structure.jsonSchema.schema" in err["Message"] and says in err["Message"]
