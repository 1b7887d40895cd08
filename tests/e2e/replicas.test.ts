import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { peerChannelOptions } from "#lib/grpc-client.js";
import { startStack, type RunningStack, type ServiceName } from "../../dev/stack.js";
import { clientsFor, download, upload, type Clients } from "../support/clients.js";
import { waitFor } from "../support/net.js";
import { createTestDatabase } from "../support/postgres.js";

// Two real chunker and two real metadata processes behind one name each
// (ipv4:127.0.0.1:p,127.0.0.2:p, as a headless Service lists its pods):
// calls between services and from clients are balanced over both (round_robin),
// and killing one of each under load costs no acknowledged upload.
let stack: RunningStack;
let dataDir: string;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let clients: Clients;
let token: string;

beforeAll(async () => {
  db = await createTestDatabase();
  dataDir = await mkdtemp(join(tmpdir(), "cfs-replicas-"));
  stack = await startStack({ dataDir, databaseUrl: db.url, defaultPorts: false, logs: "files", replicas: { chunker: 2, metadata: 2 } });
  // Balanced like the services' own clients, so uploads reach both chunkers.
  clients = clientsFor(stack.addresses, peerChannelOptions(8 * 1024 * 1024, 4 * 1024 * 1024));
  token = await stack.issuer!.userToken("alice");
});

afterAll(async () => {
  clients?.close();
  await stack?.stop();
  await db?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

/** Calls answered OK by one replica, from its own metrics. */
async function handledOk(name: ServiceName, replica: number, method: string): Promise<number> {
  const { host } = stack.replica(name, replica);
  const text = await (await fetch(`http://${host}:${stack.metricsPorts[name]}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`cfs_grpc_server_handled_total{method="${method}",code="OK"`));
  return line ? Number(line.split(" ").pop()) : 0;
}

describe("replicas", () => {
  it("spreads calls over both replicas, and a replica killed under load costs no acknowledged upload", async () => {
    const acknowledged: Array<{ fileId: string; sha256: string }> = [];
    let failed = 0;
    let running = true;
    const worker = async (w: number) => {
      for (let i = 0; running; i++) {
        // Big enough to be cut in several chunks, so each upload talks to block storage and metadata.
        const data = randomBytes(300 * 1024 + ((w * 7919 + i * 104_729) % (600 * 1024)));
        try {
          const file = await upload(clients, token, data, { name: `w${w}/f${i}.bin` });
          acknowledged.push({ fileId: file.fileId, sha256: createHash("sha256").update(data).digest("hex") });
        } catch {
          failed++; // not acknowledged: the client would retry
        }
      }
    };
    const workers = [0, 1, 2].map(worker);
    try {
      await waitFor(async () => acknowledged.length >= 8, 60_000, "uploads before the kill");
      await waitFor(
        async () =>
          (await handledOk("chunker", 0, "ChunkerService/UploadFile")) > 0 &&
          (await handledOk("chunker", 1, "ChunkerService/UploadFile")) > 0 &&
          (await handledOk("metadata", 0, "MetadataService/CommitFileVersion")) > 0 &&
          (await handledOk("metadata", 1, "MetadataService/CommitFileVersion")) > 0,
        60_000,
        "uploads on both chunkers and commits on both metadata replicas",
      );
      const before = acknowledged.length;
      process.kill(stack.replica("chunker", 1).process!.pid!, "SIGKILL");
      process.kill(stack.replica("metadata", 1).process!.pid!, "SIGKILL");
      await waitFor(async () => acknowledged.length >= before + 12, 120_000, "uploads after the kill");
    } finally {
      running = false;
      await Promise.all(workers);
    }
    expect(acknowledged.length).toBeGreaterThanOrEqual(20);
    for (const { fileId, sha256 } of acknowledged) {
      const { data, file } = await download(clients, token, fileId);
      expect(createHash("sha256").update(data).digest("hex")).toBe(sha256);
      expect(file.sha256).toBe(sha256);
    }
    // The kill costs the calls that were on the killed replicas, and nothing else.
    expect(failed).toBeLessThanOrEqual(6);
  });
});
