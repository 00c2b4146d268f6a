// Structured output through the JavaScript SDK v3: `outputConfig.textFormat` with a JSON
// schema, answered by an OpenAI-compatible server (the pytest wrapper checks the schema
// reached it as `response_format`), and a schema Bedrock would refuse, refused.

import assert from "node:assert/strict";
import { ConverseCommand } from "@aws-sdk/client-bedrock-runtime";
import { main, rejects, runtime, textOf, user } from "./lib.mjs";

const LLAMA = "meta.llama3-8b-instruct-v1:0";
const SCHEMA = {
  type: "object",
  properties: {
    city: { type: "string" },
    population: { type: "integer" },
    tags: { type: "array", items: { type: "string" } },
  },
  required: ["city", "population", "tags"],
  additionalProperties: false,
};

const textFormat = (schema) => ({
  textFormat: {
    type: "json_schema",
    structure: { jsonSchema: { schema: JSON.stringify(schema), name: "city", description: "A city." } },
  },
});

async function jsonSchema() {
  const client = runtime();
  const r = await client.send(
    new ConverseCommand({ modelId: LLAMA, messages: user("Paris?"), outputConfig: textFormat(SCHEMA) }),
  );
  const doc = JSON.parse(textOf(r));
  assert.deepEqual(Object.keys(doc).sort(), ["city", "population", "tags"]);
  const open = { ...SCHEMA, additionalProperties: undefined };
  const err = await rejects(
    client.send(new ConverseCommand({ modelId: LLAMA, messages: user("Paris?"), outputConfig: textFormat(open) })),
    "ValidationException",
    400,
  );
  assert.match(err.message, /outputConfig\.textFormat\.structure\.jsonSchema\.schema/);
  return doc;
}

await main({ jsonSchema });
