// Prompt caching through the JavaScript SDK v3: a cached system prefix is reported as a
// cache write, then as a read, by Converse and by ConverseStream's metadata event. The
// usages are returned so the pytest wrapper can check the cost report prices them.

import assert from "node:assert/strict";
import { ConverseCommand, ConverseStreamCommand } from "@aws-sdk/client-bedrock-runtime";
import { collect, main, runtime, user } from "./lib.mjs";

const HAIKU = "anthropic.claude-3-haiku-20240307-v1:0";

async function cachedPrefix() {
  const client = runtime();
  // Past the simulator's minimum cacheable prefix (1024 tokens, one a word); the nonce
  // keeps another test's cache entry from turning the first write into a read.
  const manual = `Manual ${process.pid}-${Date.now()}: you answer questions about volumes.` + " volume".repeat(1200);
  const system = [{ text: manual }, { cachePoint: { type: "default" } }];

  const first = (
    await client.send(new ConverseCommand({ modelId: HAIKU, system, messages: user("What is a volume?") }))
  ).usage;
  assert.equal(first.cacheReadInputTokens, 0);
  assert.ok(first.cacheWriteInputTokens > 1200, JSON.stringify(first));
  assert.deepEqual(first.cacheDetails, [{ ttl: "5m", inputTokens: first.cacheWriteInputTokens }]);

  const second = (await client.send(new ConverseCommand({ modelId: HAIKU, system, messages: user("And a bucket?") })))
    .usage;
  assert.equal(second.cacheReadInputTokens, first.cacheWriteInputTokens);
  assert.equal(second.cacheWriteInputTokens, 0);
  assert.equal(second.cacheDetails, undefined);
  assert.ok(second.inputTokens < 50, JSON.stringify(second));
  assert.equal(second.totalTokens, second.inputTokens + second.outputTokens + second.cacheReadInputTokens);

  const events = await collect(
    (await client.send(new ConverseStreamCommand({ modelId: HAIKU, system, messages: user("Hi") }))).stream,
  );
  const third = events.at(-1).metadata.usage;
  assert.equal(third.cacheReadInputTokens, first.cacheWriteInputTokens);
  assert.equal(third.cacheWriteInputTokens, 0);
  return [first, second, third];
}

await main({ cachedPrefix });
