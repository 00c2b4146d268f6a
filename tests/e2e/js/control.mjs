// The bedrock control plane through the JavaScript SDK v3, seen from Paris: foundation
// models (profile-only ones say so), system-defined profiles with the `global.` ones,
// the SDK's paginator over nextToken, and a missing profile as its modeled exception.

import assert from "node:assert/strict";
import {
  GetInferenceProfileCommand,
  ListFoundationModelsCommand,
  paginateListInferenceProfiles,
} from "@aws-sdk/client-bedrock";
import { control, main, rejects } from "./lib.mjs";

const PARIS = "eu-west-3";
const SONNET45 = "anthropic.claude-sonnet-4-5-20250929-v1:0";

async function listings() {
  const bedrock = control(PARIS);
  const models = (await bedrock.send(new ListFoundationModelsCommand({ byProvider: "Anthropic" }))).modelSummaries;
  assert.ok(models.length > 0 && models.every((m) => m.providerName === "Anthropic"));
  const sonnet = models.find((m) => m.modelId === SONNET45);
  assert.ok(sonnet, "Sonnet 4.5 is listed in Paris");
  assert.deepEqual(sonnet.inferenceTypesSupported, ["INFERENCE_PROFILE"]);
  assert.equal(sonnet.modelArn, `arn:aws:bedrock:${PARIS}::foundation-model/${SONNET45}`);
  const streaming = await bedrock.send(
    new ListFoundationModelsCommand({ byInferenceType: "ON_DEMAND", byOutputModality: "TEXT" }),
  );
  assert.ok(streaming.modelSummaries.every((m) => m.inferenceTypesSupported.includes("ON_DEMAND")));

  // Small pages, so the paginator has to follow nextToken.
  const ids = [];
  let pages = 0;
  for await (const page of paginateListInferenceProfiles({ client: bedrock, pageSize: 5 }, {})) {
    pages += 1;
    ids.push(...page.inferenceProfileSummaries.map((p) => p.inferenceProfileId));
  }
  assert.ok(pages > 1, `${pages} page(s)`);
  assert.equal(new Set(ids).size, ids.length, "no profile twice across pages");
  for (const id of [`global.${SONNET45}`, `eu.${SONNET45}`]) assert.ok(ids.includes(id), id);
  assert.ok(!ids.some((id) => id.startsWith("us.") || id.startsWith("jp.")), "only profiles callable from Paris");

  const profile = await bedrock.send(
    new GetInferenceProfileCommand({ inferenceProfileIdentifier: `global.${SONNET45}` }),
  );
  assert.equal(profile.inferenceProfileName, "Global Anthropic Claude Sonnet 4.5");
  assert.equal(profile.type, "SYSTEM_DEFINED");
  assert.ok(profile.createdAt instanceof Date);
  assert.deepEqual(
    profile.models.map((m) => m.modelArn),
    [`arn:aws:bedrock:${PARIS}::foundation-model/${SONNET45}`, `arn:aws:bedrock:::foundation-model/${SONNET45}`],
  );
  await rejects(
    bedrock.send(new GetInferenceProfileCommand({ inferenceProfileIdentifier: `jp.${SONNET45}` })),
    "ResourceNotFoundException",
    404,
  );
  return { profiles: ids.length, pages };
}

await main({ listings });
