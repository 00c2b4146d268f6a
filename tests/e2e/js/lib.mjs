// Shared plumbing of the JavaScript SDK v3 scenarios: clients pointed at the spillway
// under test (SPILLWAY_URL) exactly as a user would point them, with dummy credentials
// (spillway on loopback accepts any signature; the scope's region is the caller's source
// region), and a runner that reports each scenario's result to the pytest wrapper.

import assert from "node:assert/strict";
import { BedrockClient } from "@aws-sdk/client-bedrock";
import { BedrockRuntimeClient } from "@aws-sdk/client-bedrock-runtime";

const credentials = { accessKeyId: "AKIDSPILLWAYTEST", secretAccessKey: "spillway-test-secret" };

function endpoint() {
  const url = process.env.SPILLWAY_URL;
  assert.ok(url, "SPILLWAY_URL is not set");
  return url;
}

// The SDK does not hand undeclared response headers (spillway's routing headers, the
// InvokeModel usage headers) to the caller: a deserialize-step middleware keeps the last
// raw response's headers on the client.
function keepHeaders(client) {
  client.lastHeaders = {};
  client.middlewareStack.add(
    (next) => async (args) => {
      const out = await next(args);
      client.lastHeaders = out.response?.headers ?? {};
      return out;
    },
    { step: "deserialize", name: "spillwayKeepHeaders" },
  );
  return client;
}

/**
 * A bedrock-runtime client; one attempt, so an error is the server's first answer.
 * `auth` replaces the dummy credentials: `{ credentials }` or `{ token }` (an API key).
 */
export function runtime(region = "us-east-1", auth = { credentials }) {
  return keepHeaders(new BedrockRuntimeClient({ region, endpoint: endpoint(), maxAttempts: 1, ...auth }));
}

/** A bedrock (control plane) client. */
export function control(region = "us-east-1", auth = { credentials }) {
  return keepHeaders(new BedrockClient({ region, endpoint: endpoint(), maxAttempts: 1, ...auth }));
}

/** The exception the SDK throws for `promise`, checked by its modeled name and status. */
export async function rejects(promise, name, status) {
  let error;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  assert.ok(error, `expected ${name}, the call succeeded`);
  assert.equal(error.name, name, `${error.name}: ${error.message}`);
  assert.equal(error.$metadata?.httpStatusCode, status, `${error.name}: ${error.message}`);
  assert.equal(error.$fault, status >= 500 ? "server" : "client");
  return error;
}

export function user(text) {
  return [{ role: "user", content: [{ text }] }];
}

export function textOf(response) {
  return response.output.message.content.map((b) => b.text ?? "").join("");
}

/** Every event of a ConverseStream or InvokeModelWithResponseStream answer. */
export async function collect(stream) {
  const events = [];
  for await (const event of stream) events.push(event);
  return events;
}

/**
 * Runs the scenario named by argv[2]; what it returns is printed as JSON for the pytest
 * wrapper, a failed assertion or unexpected error exits 1 with its stack on stderr.
 */
export async function main(scenarios) {
  const name = process.argv[2];
  const scenario = scenarios[name];
  if (!scenario) {
    process.stderr.write(`unknown scenario ${name}; known: ${Object.keys(scenarios).join(", ")}\n`);
    process.exit(2);
  }
  try {
    const result = await scenario();
    process.stdout.write(JSON.stringify(result ?? null));
  } catch (e) {
    process.stderr.write(`${e.stack ?? e}\n`);
    process.exit(1);
  }
}
