import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startStack } from "../../dev/stack.js";
import { describeRestContract } from "./contract.js";

// The TypeScript edge of `make run`, in front of the embedded stack (PGlite, chunks on disk).
const PAGE_ORIGIN = "http://localhost:5173";

describeRestContract("edge", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "cfs-rest-edge-"));
  const stack = await startStack({ dataDir, defaultPorts: false, logs: "files", edge: { corsOrigins: [PAGE_ORIGIN] } });
  return {
    baseUrl: stack.edgeUrl!,
    issuer: stack.issuer!,
    audience: stack.audience,
    pageOrigin: PAGE_ORIGIN,
    stop: async () => {
      await stack.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
});
