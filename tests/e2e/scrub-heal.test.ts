import { randomBytes } from "node:crypto";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type RunningStack } from "../../dev/stack.js";
import { EventStatus } from "#gen/cfs/sync/v1/sync.js";
import { ownerKeyOf } from "../../services/block-storage/src/domain/block-service.js";
import { chunksOf } from "../support/chunks.js";
import { call, clientsFor, download, upload } from "../support/clients.js";
import { waitFor } from "../support/net.js";

// Checklist 38: a chunk found corrupt, by a download or by the scrubber, is
// quarantined (never served, never counted as present), and the next upload
// of the same content stores it again: the file downloads again.
let stack: RunningStack;
let dataDir: string;
let alice: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "cfs-scrub-"));
  stack = await startStack({ dataDir, defaultPorts: false, logs: "files" });
  alice = await stack.issuer!.userToken("alice");
});

afterAll(async () => {
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

/** Flips one byte in the middle of a chunk as block storage keeps it on disk. */
async function flipByte(hash: string): Promise<void> {
  const file = await open(join(dataDir, "blocks", ownerKeyOf("alice"), hash.slice(0, 2), hash), "r+");
  try {
    const byte = Buffer.alloc(1);
    await file.read(byte, 0, 1, 100);
    byte[0]! ^= 0x5a;
    await file.write(byte, 0, 1, 100);
  } finally {
    await file.close();
  }
}

async function quarantined(foundBy: "read" | "scrub"): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${stack.metricsPorts["block-storage"]}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`cfs_blockstore_quarantined_chunks_total{found_by="${foundBy}"`));
  return Number(line?.split(" ").pop() ?? 0);
}

const data = randomBytes(3 * 1024 * 1024);
const chunks = chunksOf(data);

describe("quarantine and heal", () => {
  it("a download meets a flipped byte: DATA_LOSS, the chunk is quarantined, and uploading the content again heals the file", async () => {
    const c = clientsFor(stack.addresses);
    try {
      expect(chunks.length).toBeGreaterThanOrEqual(2);
      const file = await upload(c, alice, data, { name: "damaged.bin" });
      await flipByte(chunks[0]!.sha256);
      await expect(download(c, alice, file.fileId)).rejects.toMatchObject({ code: grpc.status.DATA_LOSS });
      expect(await quarantined("read")).toBe(1);
      // Never served again: the chunk is missing now, which is DATA_LOSS too.
      await expect(download(c, alice, file.fileId)).rejects.toMatchObject({ code: grpc.status.DATA_LOSS });
      // GetFileSyncStatus says the file is damaged, naming the chunk.
      await waitFor(
        async () => (await call(c.sync.getFileSyncStatus, c.sync, { fileId: file.fileId }, alice).catch(() => undefined))?.latestEvent !== undefined,
        30_000,
        "the upload's sync event",
      );
      const damaged = await call(c.sync.getFileSyncStatus, c.sync, { fileId: file.fileId }, alice);
      expect(damaged.damage).toContain(chunks[0]!.sha256);
      // Not counted as present: the same content uploaded again sends and stores it.
      await upload(c, alice, data, { name: "damaged.bin" });
      expect((await download(c, alice, file.fileId)).data.equals(data)).toBe(true);
      expect((await call(c.sync.getFileSyncStatus, c.sync, { fileId: file.fileId }, alice)).damage).toBe("");
    } finally {
      c.close();
    }
  });

  it("the scrubber finds a flipped byte on its own (a pass at start, then every period) and quarantines it; an upload heals", async () => {
    // Sync's background verification of the uploads above re-reads sampled chunks: were it to
    // meet the flipped one first, it would quarantine it as found by a read, not by the scrub.
    const sync = clientsFor(stack.addresses);
    try {
      const unverified = async (status: EventStatus) =>
        (await call(sync.sync.listSyncEvents, sync.sync, { pageSize: 1, pageToken: "", fileId: "", status, eventType: 0 }, alice)).events.length;
      await waitFor(async () => (await unverified(EventStatus.EVENT_STATUS_PENDING)) + (await unverified(EventStatus.EVENT_STATUS_PROCESSING)) === 0, 60_000, "sync to verify the uploads so far");
    } finally {
      sync.close();
    }
    await flipByte(chunks[1]!.sha256);
    await stack.kill("block-storage");
    await stack.start("block-storage");
    await waitFor(async () => (await quarantined("scrub")) === 1, 30_000, "the scrubber to quarantine the chunk");
    const c = clientsFor(stack.addresses);
    try {
      const healed = await upload(c, alice, data, { name: "scrubbed.bin" });
      expect((await download(c, alice, healed.fileId)).data.equals(data)).toBe(true);
    } finally {
      c.close();
    }
  });
});
