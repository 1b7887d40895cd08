import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type RunningStack } from "../../dev/stack.js";
import { call, clientsFor, upload, type Clients } from "../support/clients.js";
import { waitFor } from "../support/net.js";
import { createTestDatabase } from "../support/postgres.js";

// Checklist 40: an outbox event the sync service refuses is set aside as a
// dead letter (metric, operator command to list and retry it) and the
// events behind it still flow.
let stack: RunningStack;
let dataDir: string;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let clients: Clients;
let alice: string;

beforeAll(async () => {
  db = await createTestDatabase();
  dataDir = await mkdtemp(join(tmpdir(), "cfs-dead-letters-"));
  stack = await startStack({ dataDir, databaseUrl: db.url, defaultPorts: false, logs: "files", env: { CFS_OUTBOX_INTERVAL_MS: "100" } });
  clients = clientsFor(stack.addresses);
  alice = await stack.issuer!.userToken("alice");
});

afterAll(async () => {
  clients?.close();
  await stack?.stop();
  await db?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${stack.metricsPorts.metadata}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(name));
  return Number(line?.split(" ").pop() ?? 0);
}

async function deadLetters(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "services/metadata/src/dead-letters.ts", ...args], {
    env: { PATH: process.env.PATH, CFS_DATABASE_URL: db.url },
  });
  return stdout;
}

describe("dead letters", () => {
  it("sets a refused event aside, relays the events behind it, and lets an operator list and retry it", async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      // Malformed as only a bug could make it: sync refuses its hash.
      await client.query(
        `INSERT INTO sync_outbox (event_id, owner, file_id, event_type, name, version, size, sha256) VALUES ($1, 'alice', $2, 'upload', 'bad.bin', 1, 1, 'not-a-hash')`,
        [randomUUID(), randomUUID()],
      );
    } finally {
      await client.end();
    }
    const file = await upload(clients, alice, Buffer.from("behind the bad one"), { name: "after.bin" });
    await waitFor(
      async () =>
        (await call(clients.sync.listSyncEvents, clients.sync, { pageSize: 10, pageToken: "", fileId: file.fileId, status: 0, eventType: 0 }, alice)).events
          .length > 0,
      30_000,
      "the upload's event to reach sync past the refused one",
    );
    expect(await metric("cfs_outbox_dead_letters{")).toBe(1);
    expect(await metric('cfs_outbox_dead_lettered_total{event_type="upload"')).toBe(1);
    const listed = await deadLetters("list");
    expect(listed).toMatch(/\tupload\talice\t[0-9a-f-]{36}\t"bad\.bin"\t.*sha256/);
    expect(listed).toContain("1 dead letter(s)");

    // Retried as it is, it is refused again and set aside again; nothing jams.
    expect(await deadLetters("retry", "--all")).toContain("1 event(s) back in the outbox");
    await waitFor(async () => (await metric('cfs_outbox_dead_lettered_total{event_type="upload"')) === 2, 30_000, "the retried event set aside again");
    expect(await metric("cfs_outbox_dead_letters{")).toBe(1);
    await expect(deadLetters("bogus")).rejects.toMatchObject({ code: 2 });
  });
});
