// Authentication as the JavaScript SDK v3 does it, against a server with accounts
// (tests/e2e/configs/accounts.toml): bedrock-runtime goes over HTTP/2 and signs the
// `:authority` pseudo-header instead of `host`; the control plane goes over HTTP/1.1;
// API keys go as `Authorization: Bearer`.

import assert from "node:assert/strict";
import { ListFoundationModelsCommand } from "@aws-sdk/client-bedrock";
import {
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelWithResponseStreamCommand,
  ListAsyncInvokesCommand,
} from "@aws-sdk/client-bedrock-runtime";
import { collect, control, main, rejects, runtime, textOf, user } from "./lib.mjs";

const HAIKU = "anthropic.claude-3-haiku-20240307-v1:0";
const ONE = { credentials: { accessKeyId: "AKIAONEONEONEONE", secretAccessKey: "secret-one" } };

async function sigv4() {
  const oregon = runtime("us-west-2", ONE);
  // The signature covers the double-encoded path (`:` in the ID, and a whole ARN).
  for (const modelId of [HAIKU, `arn:aws:bedrock:us-west-2::foundation-model/${HAIKU}`]) {
    const r = await oregon.send(new ConverseCommand({ modelId, messages: user("Hi") }));
    assert.ok(textOf(r));
    assert.equal(oregon.lastHeaders["x-spillway-inference-region"], "us-west-2");
  }
  const events = await collect(
    (await oregon.send(new ConverseStreamCommand({ modelId: HAIKU, messages: user("Hi") }))).stream,
  );
  assert.ok(events.at(-1).metadata.usage.outputTokens > 0);
  const body = JSON.stringify({
    anthropic_version: "bedrock-2023-05-31",
    max_tokens: 8,
    messages: [{ role: "user", content: "Hi" }],
  });
  const chunks = await collect(
    (
      await oregon.send(
        new InvokeModelWithResponseStreamCommand({ modelId: HAIKU, body, contentType: "application/json" }),
      )
    ).body,
  );
  assert.ok(chunks.length > 2);
  // A signed query string over HTTP/2 (a timestamp's `:` encoded in it).
  const listed = await oregon.send(
    new ListAsyncInvokesCommand({
      maxResults: 5,
      statusEquals: "Completed",
      submitTimeAfter: new Date("2024-01-01T00:00:00Z"),
    }),
  );
  assert.deepEqual(listed.asyncInvokeSummaries, []);
  const models = (await control("us-east-1", ONE).send(new ListFoundationModelsCommand({}))).modelSummaries;
  assert.ok(models.some((m) => m.modelId === HAIKU));

  const wrong = { credentials: { accessKeyId: "AKIAONEONEONEONE", secretAccessKey: "not-the-secret" } };
  await rejects(
    runtime("us-east-1", wrong).send(new ConverseCommand({ modelId: HAIKU, messages: user("Hi") })),
    "InvalidSignatureException",
    403,
  );
  await rejects(
    control("us-east-1", wrong).send(new ListFoundationModelsCommand({})),
    "InvalidSignatureException",
    403,
  );
  const nobody = { credentials: { accessKeyId: "AKIANOBODY", secretAccessKey: "x" } };
  await rejects(
    runtime("us-east-1", nobody).send(new ConverseCommand({ modelId: HAIKU, messages: user("Hi") })),
    "UnrecognizedClientException",
    403,
  );
}

async function apiKey() {
  const keyed = runtime("us-east-1", {
    token: { token: "key-of-account-one" },
    authSchemePreference: ["httpBearerAuth"],
  });
  assert.ok(textOf(await keyed.send(new ConverseCommand({ modelId: HAIKU, messages: user("Hi") }))));
  const forged = runtime("us-east-1", { token: { token: "nope" }, authSchemePreference: ["httpBearerAuth"] });
  await rejects(
    forged.send(new ConverseCommand({ modelId: HAIKU, messages: user("Hi") })),
    "AccessDeniedException",
    403,
  );
}

await main({ sigv4, apiKey });
