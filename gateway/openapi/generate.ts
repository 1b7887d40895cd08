import { readFileSync, writeFileSync } from "node:fs";
import { loadRegistry, REST_SERVICES } from "../edge/routes.js";
import { openApiDocument } from "./document.js";

/**
 * `make gen`: writes the OpenAPI document of the REST routes.
 *   tsx gateway/openapi/generate.ts <descriptor-set.binpb> <openapi.json>
 */

const [descriptorSet, output] = process.argv.slice(2);
if (!descriptorSet || !output) {
  process.stderr.write("usage: generate.ts <descriptor-set.binpb> <openapi.json>\n");
  process.exit(2);
}
const version = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
const document = openApiDocument(loadRegistry(readFileSync(descriptorSet)), REST_SERVICES, {
  title: "cfs REST API",
  version,
  description:
    "The REST mapping of cfs's gRPC API (google.api.http annotations), served by Envoy's transcoder and the TypeScript edge. " +
    "Every route needs `authorization: Bearer <JWT>`.",
});
writeFileSync(output, `${JSON.stringify(document, null, 2)}\n`);
