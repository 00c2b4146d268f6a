// bedrock-runtime through the JavaScript SDK v3 against the simulator: a `global.`
// profile called from Paris, a profile-only model called by its bare ID, Converse and
// ConverseStream, InvokeModel and InvokeModelWithResponseStream, and Bedrock-shaped
// errors surfacing as the SDK's modeled exceptions.

import assert from "node:assert/strict";
import {
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
} from "@aws-sdk/client-bedrock-runtime";
import { collect, main, rejects, runtime, textOf, user } from "./lib.mjs";

const PARIS = "eu-west-3";
const HAIKU = "anthropic.claude-3-haiku-20240307-v1:0";
const SONNET45 = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const NEEDS_PROFILE = (id) =>
  `Invocation of model ID ${id} with on-demand throughput isn\u2019t supported. Retry your request with the ` +
  "ID or ARN of an inference profile that contains this model.";

// The SDK sends a blob payload as application/octet-stream unless told otherwise, and
// Bedrock accepts only JSON bodies: every InvokeModel here names its content type, as
// AWS's own examples do (the errors scenario checks the default is refused).
const JSON_TYPE = "application/json";

const anthropicBody = (extra = {}) =>
  JSON.stringify({
    anthropic_version: "bedrock-2023-05-31",
    max_tokens: 64,
    system: "Be brief.",
    messages: [{ role: "user", content: [{ type: "text", text: "Hello" }] }],
    ...extra,
  });

async function globalProfileFromParis() {
  const paris = runtime(PARIS);
  const modelId = `global.${SONNET45}`;
  const r = await paris.send(
    new ConverseCommand({ modelId, messages: user("Bonjour"), inferenceConfig: { maxTokens: 4 } }),
  );
  assert.ok(["end_turn", "max_tokens"].includes(r.stopReason), r.stopReason);
  assert.ok(r.usage.inputTokens > 0 && r.usage.outputTokens > 0);
  assert.equal(r.$metadata.httpStatusCode, 200);
  // Source first: Paris has room, so Paris serves it.
  assert.equal(paris.lastHeaders["x-spillway-inference-region"], PARIS);

  const s = await paris.send(
    new ConverseStreamCommand({ modelId, messages: user("Bonjour"), inferenceConfig: { maxTokens: 4 } }),
  );
  assert.equal(paris.lastHeaders["x-spillway-inference-region"], PARIS);
  const events = await collect(s.stream);
  assert.equal(events[0].messageStart.role, "assistant");
  assert.ok(events.some((e) => e.contentBlockDelta?.delta?.text));
  assert.ok(["end_turn", "max_tokens"].includes(events.at(-2).messageStop.stopReason));
  assert.ok(events.at(-1).metadata.usage.outputTokens > 0);
  return { text: textOf(r) };
}

async function profileOnlyByBareId() {
  const client = runtime();
  const converse = await rejects(
    client.send(new ConverseCommand({ modelId: SONNET45, messages: user("Hi") })),
    "ValidationException",
    400,
  );
  assert.equal(converse.message, NEEDS_PROFILE(SONNET45));
  const stream = await rejects(
    client.send(new ConverseStreamCommand({ modelId: SONNET45, messages: user("Hi") })),
    "ValidationException",
    400,
  );
  assert.equal(stream.message, NEEDS_PROFILE(SONNET45));
  const invoke = await rejects(
    client.send(new InvokeModelCommand({ modelId: SONNET45, body: anthropicBody(), contentType: JSON_TYPE })),
    "ValidationException",
    400,
  );
  assert.equal(invoke.message, NEEDS_PROFILE(SONNET45));
  // The `us.` profile runs it.
  const r = await client.send(
    new ConverseCommand({ modelId: `us.${SONNET45}`, messages: user("Hi"), inferenceConfig: { maxTokens: 4 } }),
  );
  assert.ok(textOf(r));
}

async function invokeModel() {
  const client = runtime();
  const r = await client.send(
    new InvokeModelCommand({ modelId: HAIKU, body: anthropicBody(), contentType: JSON_TYPE }),
  );
  assert.equal(r.contentType, "application/json");
  const out = JSON.parse(new TextDecoder().decode(r.body));
  assert.equal(out.type, "message");
  assert.equal(out.role, "assistant");
  assert.equal(out.content[0].type, "text");
  assert.ok(out.content[0].text);
  assert.equal(out.stop_reason, "end_turn");
  assert.equal(Number(client.lastHeaders["x-amzn-bedrock-input-token-count"]), out.usage.input_tokens);
  assert.equal(Number(client.lastHeaders["x-amzn-bedrock-output-token-count"]), out.usage.output_tokens);

  const s = await client.send(
    new InvokeModelWithResponseStreamCommand({ modelId: HAIKU, body: anthropicBody(), contentType: JSON_TYPE }),
  );
  assert.equal(s.contentType, "application/json");
  const parts = (await collect(s.body)).map((e) => JSON.parse(new TextDecoder().decode(e.chunk.bytes)));
  const types = parts.map((p) => p.type);
  assert.equal(types[0], "message_start");
  assert.deepEqual(types.slice(-3), ["content_block_stop", "message_delta", "message_stop"]);
  const text = parts
    .filter((p) => p.type === "content_block_delta")
    .map((p) => p.delta.text)
    .join("");
  // The simulator is deterministic: the stream says what the unary call said.
  assert.equal(text, out.content[0].text);
  const metrics = parts.at(-1)["amazon-bedrock-invocationMetrics"];
  assert.equal(metrics.outputTokenCount, parts.at(-2).usage.output_tokens);
  assert.equal(metrics.inputTokenCount, out.usage.input_tokens);
}

async function errors() {
  const client = runtime();
  const octets = await rejects(
    client.send(new InvokeModelCommand({ modelId: HAIKU, body: anthropicBody() })),
    "ValidationException",
    400,
  );
  assert.match(octets.message, /application\/octet-stream/);
  // A body the Anthropic format refuses, before anything runs.
  const missing = await rejects(
    client.send(
      new InvokeModelCommand({
        modelId: HAIKU,
        contentType: JSON_TYPE,
        body: JSON.stringify({ anthropic_version: "bedrock-2023-05-31", messages: [{ role: "user", content: "Hi" }] }),
      }),
    ),
    "ValidationException",
    400,
  );
  assert.match(missing.message, /max_tokens/);
  const unknown = await rejects(
    client.send(new ConverseCommand({ modelId: "anthropic.claude-nonexistent-v9:0", messages: user("Hi") })),
    "ValidationException",
    400,
  );
  assert.equal(unknown.message, "The provided model identifier is invalid.");
  // The SDK validates nothing itself: a bad inferenceConfig reaches the server and comes
  // back as Bedrock's constraint error.
  const bad = await rejects(
    client.send(new ConverseCommand({ modelId: HAIKU, messages: user("Hi"), inferenceConfig: { maxTokens: 0 } })),
    "ValidationException",
    400,
  );
  assert.match(bad.message, /maxTokens/);
  // An error of the streaming call itself (not an in-stream event).
  await rejects(client.send(new ConverseStreamCommand({ modelId: HAIKU, messages: [] })), "ValidationException", 400);
}

// Against tests/e2e/configs/faults.toml: a throttled region, an erroring one, and one
// whose streams break after three tokens (an exception event inside the stream).
async function faults() {
  const messages = user("Hi there, tell me a long story");
  await rejects(
    runtime("us-east-1").send(new ConverseCommand({ modelId: HAIKU, messages })),
    "ThrottlingException",
    429,
  );
  await rejects(
    runtime("eu-west-1").send(new ConverseStreamCommand({ modelId: HAIKU, messages })),
    "ServiceUnavailableException",
    503,
  );
  const frankfurt = runtime("eu-central-1");
  const broken = async (stream) => {
    const seen = [];
    try {
      for await (const event of stream) seen.push(Object.keys(event)[0]);
    } catch (e) {
      assert.equal(e.name, "ModelStreamErrorException", e.message);
      return seen;
    }
    assert.fail(`the stream ended normally: ${seen}`);
  };
  const converse = await broken((await frankfurt.send(new ConverseStreamCommand({ modelId: HAIKU, messages }))).stream);
  assert.deepEqual(converse, ["messageStart", "contentBlockDelta", "contentBlockDelta", "contentBlockDelta"]);
  const body = anthropicBody({ messages: [{ role: "user", content: "Hi there" }] });
  const invoke = await broken(
    (await frankfurt.send(new InvokeModelWithResponseStreamCommand({ modelId: HAIKU, body, contentType: JSON_TYPE })))
      .body,
  );
  assert.ok(invoke.length >= 3 && invoke.every((k) => k === "chunk"), `${invoke}`);
}

await main({ globalProfileFromParis, profileOnlyByBareId, invokeModel, errors, faults });
