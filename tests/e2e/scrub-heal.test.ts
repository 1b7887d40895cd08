import { randomBytes } from "node:crypto";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type RunningStack } from "../../dev/stack.js";
import { EventStatus, EventType, type SyncEvent } from "#gen/cfs/sync/v1/sync.js";
import { ownerKeyOf } from "../../services/block-storage/src/domain/block-service.js";
import { chunksOf } from "../support/chunks.js";
import { call, clientsFor, download, upload, type Clients } from "../support/clients.js";
import { waitFor } from "../support/net.js";

// Checklist 38: a chunk found corrupt, by a download or by the scrubber, is
// quarantined (never served, never counted as present), reported (a sync
// event failing with the file named), and the next upload of the same
// content stores it again: the file downloads again.
let stack: RunningStack;
let dataDir: string;
let alice: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "cfs-scrub-"));
  // Metadata reads block storage's quarantine every second instead of every 30.
  stack = await startStack({ dataDir, defaultPorts: false, logs: "files", env: { CFS_DAMAGE_REPORT_INTERVAL_SECONDS: "1" } });
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

/** The file's damage reports that sync failed, newest first. */
async function failedDamageReports(c: Clients, fileId: string): Promise<SyncEvent[]> {
  const request = { pageSize: 50, pageToken: "", fileId, status: EventStatus.EVENT_STATUS_FAILED, eventType: EventType.EVENT_TYPE_DAMAGED };
  return (await call(c.sync.listSyncEvents, c.sync, request, alice)).events;
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
      // A sync event fails naming the file.
      await waitFor(async () => (await failedDamageReports(c, file.fileId)).length > 0, 30_000, "a failed damage report");
      const [report] = await failedDamageReports(c, file.fileId);
      expect(report!.errorMessage).toMatch(new RegExp(`^file "damaged\\.bin" is damaged \\(version 1\\): chunk 0 \\(sha256 ${chunks[0]!.sha256}\\) missing`));
      // Not counted as present: the same content uploaded again sends and stores it.
      await upload(c, alice, data, { name: "damaged.bin" });
      expect((await download(c, alice, file.fileId)).data.equals(data)).toBe(true);
      const healed = await call(c.sync.getFileSyncStatus, c.sync, { fileId: file.fileId }, alice);
      expect(healed.damage).toBe("");
      // The report stays in the file's history; the file's status is its newest other event again.
      expect(healed.latestEvent?.eventType).toBe(EventType.EVENT_TYPE_UPLOAD);
    } finally {
      c.close();
    }
  });

  it("the scrubber finds a flipped byte on its own (a pass at start, then every period): the file's sync event fails naming it, and an upload heals it", async () => {
    const own = randomBytes(2 * 1024 * 1024);
    const [first] = chunksOf(own);
    const c = clientsFor(stack.addresses);
    try {
      const file = await upload(c, alice, own, { name: "photos/scrubbed.bin" });
      // Sync's background verification re-reads sampled chunks: were it to meet the
      // flipped one first, it would quarantine it as found by a read, not by the scrub.
      const status = async () => (await call(c.sync.getFileSyncStatus, c.sync, { fileId: file.fileId }, alice).catch(() => undefined))?.status;
      await waitFor(async () => (await status()) === EventStatus.EVENT_STATUS_COMPLETED, 60_000, "sync to verify the upload");
      await flipByte(first!.sha256);
      await stack.kill("block-storage");
      await stack.start("block-storage");
      await waitFor(async () => (await quarantined("scrub")) === 1, 30_000, "the scrubber to quarantine the chunk");

      await waitFor(async () => (await failedDamageReports(c, file.fileId)).length > 0, 30_000, "a failed sync event naming the file");
      const [report] = await failedDamageReports(c, file.fileId);
      expect(report).toMatchObject({ name: "photos/scrubbed.bin", version: 1 });
      expect(report!.errorMessage).toContain(`file "photos/scrubbed.bin" is damaged`);
      expect(report!.errorMessage).toContain(first!.sha256);
      const damaged = await call(c.sync.getFileSyncStatus, c.sync, { fileId: file.fileId }, alice);
      expect(damaged).toMatchObject({ status: EventStatus.EVENT_STATUS_FAILED, latestEvent: { eventId: report!.eventId } });
      expect(damaged.damage).toContain(first!.sha256);

      // The same content under another name stores the chunk again: both files are whole.
      const healer = await upload(c, alice, own, { name: "healer.bin" });
      expect((await download(c, alice, healer.fileId)).data.equals(own)).toBe(true);
      expect((await download(c, alice, file.fileId)).data.equals(own)).toBe(true);
      const healed = await call(c.sync.getFileSyncStatus, c.sync, { fileId: file.fileId }, alice);
      expect(healed).toMatchObject({ status: EventStatus.EVENT_STATUS_COMPLETED, damage: "", latestEvent: { eventType: EventType.EVENT_TYPE_UPLOAD } });
    } finally {
      c.close();
    }
  });
});
