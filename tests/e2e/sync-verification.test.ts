import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import Sqlite from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type RunningStack } from "../../dev/stack.js";
import { EventStatus, EventType, type SyncEvent } from "#gen/cfs/sync/v1/sync.js";
import { call, clientsFor, expectStatus, upload, type Clients } from "../support/clients.js";
import { chunksOf } from "../support/chunks.js";
import { waitFor } from "../support/net.js";

// Background verification over a real stack (PGlite, chunks on disk): every
// upload, update and delete is checked against metadata and block storage,
// across sync restarts and crashes. Short intervals keep it quick.
const MiB = 1024 * 1024;
let stack: RunningStack;
let dataDir: string;
let c: Clients;
const tokens: Record<string, string> = {};

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "cfs-sync-verify-"));
  stack = await startStack({
    dataDir,
    defaultPorts: false,
    logs: "files",
    env: {
      CFS_GC_GRACE_SECONDS: "0",
      CFS_GC_INTERVAL_MS: "200",
      CFS_OUTBOX_INTERVAL_MS: "200",
      CFS_VERIFY_INTERVAL_MS: "200",
    },
  });
  c = clientsFor(stack.addresses);
  for (const user of ["alice", "bob", "carol", "dave"]) tokens[user] = await stack.issuer!.userToken(user);
});

afterAll(async () => {
  c?.close();
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

/** All of a user's events (newest first), optionally filtered. */
async function eventsOf(user: string, filter: { fileId?: string; status?: EventStatus; eventType?: EventType } = {}): Promise<SyncEvent[]> {
  const all: SyncEvent[] = [];
  let pageToken = "";
  do {
    const page = await call(
      c.sync.listSyncEvents,
      c.sync,
      { pageSize: 500, pageToken, fileId: filter.fileId ?? "", status: filter.status ?? 0, eventType: filter.eventType ?? 0 },
      tokens[user],
    );
    all.push(...page.events);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return all;
}

const settled = (s: EventStatus) => s === EventStatus.EVENT_STATUS_COMPLETED || s === EventStatus.EVENT_STATUS_FAILED;

/**
 * Waits until the file's newest event is of `eventType` (the outbox may not
 * have delivered it yet) and left pending/processing, and returns it.
 */
async function settledStatus(user: string, fileId: string, eventType = EventType.EVENT_TYPE_UPLOAD, timeoutMs = 15_000): Promise<SyncEvent> {
  let latest: SyncEvent | undefined;
  await waitFor(
    async () => {
      const res = await call(c.sync.getFileSyncStatus, c.sync, { fileId }, tokens[user]);
      latest = res.latestEvent;
      return latest?.eventType === eventType && settled(res.status);
    },
    timeoutMs,
    `the sync status of ${fileId} to settle`,
  );
  return latest!;
}

/** Uploads `count` files with a few in flight at once. */
async function uploadMany(user: string, prefix: string, count: number, size: number, onEach?: (done: number) => void) {
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < count) {
        const i = next++;
        const file = await upload(c, tokens[user], randomBytes(size), { name: `${prefix}/${String(i).padStart(3, "0")}.bin` });
        ids.push(file.fileId);
        onEach?.(ids.length);
      }
    }),
  );
  return ids;
}

/** The path of a chunk on disk: block storage names the file after its hash. */
async function findChunk(dir: string, hash: string): Promise<string | undefined> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const found = await findChunk(path, hash);
      if (found) return found;
    } else if (entry.name === hash) {
      return path;
    }
  }
  return undefined;
}

/** The value of the sample of `name` carrying all of `labels` in a Prometheus text exposition. */
function metric(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return undefined;
}

async function syncLog(): Promise<string[]> {
  return (await readFile(join(dataDir, "logs", "sync.log"), "utf8")).split("\n").filter((l) => l.startsWith("{"));
}

describe("verification of uploads, updates and deletes", () => {
  it("completes an upload with every chunk verified, then its update", async () => {
    const data = randomBytes(5 * MiB + 123);
    const chunks = chunksOf(data).length;
    const file = await upload(c, tokens.alice, data, { name: "verified.bin", sha256: sha256(data) });
    const event = await settledStatus("alice", file.fileId);
    expect(event).toMatchObject({
      fileId: file.fileId,
      eventType: EventType.EVENT_TYPE_UPLOAD,
      status: EventStatus.EVENT_STATUS_COMPLETED,
      errorMessage: "",
      attempts: 1,
      chunkSha256s: [],
      verification: { syncStatus: "synchronized", chunksVerified: chunks, totalChunks: chunks, action: "upload_synchronized", chunksRehashed: 2 },
    });
    expect(event.verification!.verifiedAt!.getTime()).toBeGreaterThanOrEqual(event.createdAt!.getTime());

    const v2 = await upload(c, tokens.alice, Buffer.from("second version"), { name: "verified.bin" });
    expect(v2.version).toBe(2);
    expect(await settledStatus("alice", file.fileId, EventType.EVENT_TYPE_UPDATE)).toMatchObject({
      eventType: EventType.EVENT_TYPE_UPDATE,
      version: 2,
      status: EventStatus.EVENT_STATUS_COMPLETED,
      verification: { chunksVerified: 1, totalChunks: 1, action: "update_synchronized", chunksRehashed: 1 },
    });
  });

  it("verifies a trash as the content it keeps, and a purge (bounded: no chunk list) once the file is gone", async () => {
    const data = randomBytes(5 * MiB + 1);
    const chunks = chunksOf(data).length;
    const file = await upload(c, tokens.alice, data, { name: "deleted.bin" });
    await call(c.metadata.deleteFile, c.metadata, { fileId: file.fileId }, tokens.alice);
    expect(await settledStatus("alice", file.fileId, EventType.EVENT_TYPE_TRASH)).toMatchObject({
      eventType: EventType.EVENT_TYPE_TRASH,
      status: EventStatus.EVENT_STATUS_COMPLETED,
      verification: { syncStatus: "synchronized", chunksVerified: chunks, totalChunks: chunks, action: "trash_synchronized" },
    });
    await call(c.metadata.purgeFile, c.metadata, { fileId: file.fileId }, tokens.alice);
    const event = await settledStatus("alice", file.fileId, EventType.EVENT_TYPE_PURGE);
    expect(event).toMatchObject({
      eventType: EventType.EVENT_TYPE_PURGE,
      status: EventStatus.EVENT_STATUS_COMPLETED,
      chunkSha256s: [],
      verification: { syncStatus: "synchronized", chunksVerified: 0, totalChunks: 0, action: "purge_synchronized" },
    });
    // The upload before them completes too: verified, or superseded by the
    // purge (when it was checked after the file was gone, possibly retried
    // until the purge event arrived).
    let purge: SyncEvent | undefined;
    let up: SyncEvent | undefined;
    await waitFor(
      async () => {
        [purge, , up] = await eventsOf("alice", { fileId: file.fileId });
        return settled(up!.status);
      },
      15_000,
      "the upload event to settle",
    );
    expect(purge!.eventId).toBe(event.eventId);
    expect(up).toMatchObject({ eventType: EventType.EVENT_TYPE_UPLOAD, status: EventStatus.EVENT_STATUS_COMPLETED });
    expect(["upload_synchronized", "superseded"]).toContain(up!.verification!.action);
  });

  it("filters listings by status and event type", async () => {
    const purges = await eventsOf("alice", { eventType: EventType.EVENT_TYPE_PURGE });
    expect(purges.length).toBeGreaterThan(0);
    expect(purges.every((e) => e.eventType === EventType.EVENT_TYPE_PURGE)).toBe(true);
    const completedUpdates = await eventsOf("alice", { eventType: EventType.EVENT_TYPE_UPDATE, status: EventStatus.EVENT_STATUS_COMPLETED });
    expect(completedUpdates.map((e) => e.name)).toEqual(["verified.bin"]);
    expect(await eventsOf("alice", { status: EventStatus.EVENT_STATUS_FAILED })).toEqual([]);
    await expectStatus(
      call(c.sync.listSyncEvents, c.sync, { pageSize: 1, pageToken: "", fileId: "", status: 99 as EventStatus, eventType: 0 }, tokens.alice),
      status.INVALID_ARGUMENT,
    );
  });
});

describe("while the sync service is down", () => {
  const carolFiles: string[] = [];
  let damaged: { fileId: string; lostHash: string; chunks: number };

  beforeAll(async () => {
    // 50 uploads; the sync service stops (SIGTERM) after the first 10 are in.
    let stopping: Promise<void> | undefined;
    carolFiles.push(
      ...(await uploadMany("carol", "outbox", 50, 1000, (done) => {
        if (done === 10) stopping = stack.kill("sync");
      })),
    );
    await stopping;
    expect(stack.processes.get("sync")!.exitCode).not.toBeNull();

    // A file whose second chunk disappears behind the system's back before
    // its event is verified.
    // Larger than FastCDC's largest chunk: at least two chunks.
    const data = randomBytes(5 * MiB + 7);
    const file = await upload(c, tokens.alice, data, { name: "damaged.bin" });
    const lostHash = chunksOf(data)[1]!.sha256;
    const path = await findChunk(join(dataDir, "blocks"), lostHash);
    expect(path).toBeDefined();
    await unlink(path!);
    damaged = { fileId: file.fileId, lostHash, chunks: chunksOf(data).length };

    await stack.start("sync");
  });

  it("loses no event: the outbox delivers all 50 uploads once each, and each completes", async () => {
    let events: SyncEvent[] = [];
    await waitFor(
      async () => {
        events = await eventsOf("carol");
        return events.length >= 50 && events.every((e) => e.status === EventStatus.EVENT_STATUS_COMPLETED);
      },
      30_000,
      "carol's 50 events to complete",
    );
    expect(events).toHaveLength(50);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(50);
    expect(new Set(events.map((e) => e.fileId))).toEqual(new Set(carolFiles));
    for (const e of events) {
      expect(e).toMatchObject({ eventType: EventType.EVENT_TYPE_UPLOAD, verification: { chunksVerified: 1, totalChunks: 1 } });
    }
  });

  it("fails the event of a file whose chunk vanished from block storage, naming the chunk", async () => {
    const event = await settledStatus("alice", damaged.fileId);
    expect(event.status).toBe(EventStatus.EVENT_STATUS_FAILED);
    expect(event.errorMessage).toBe(`chunk 1 (sha256 ${damaged.lostHash}) missing from block storage`);
    expect(event.verification).toMatchObject({ syncStatus: "inconsistent", chunksVerified: damaged.chunks - 1, totalChunks: damaged.chunks, action: "" });
    expect(event.attempts).toBe(1);

    const metrics = await (await fetch(`http://127.0.0.1:${stack.metricsPorts.sync}/metrics`)).text();
    expect(metric(metrics, "cfs_sync_verification_failures_total", { event_type: "upload", reason: "inconsistent" })).toBe(1);
    expect(metric(metrics, "cfs_sync_events", { event_type: "upload", status: "failed" })).toBe(1);
    expect(metric(metrics, "cfs_sync_events", { event_type: "upload", status: "completed" })).toBeGreaterThanOrEqual(50);
    expect(metric(metrics, "cfs_sync_verification_lag_seconds", {})).toBeGreaterThanOrEqual(0);
    // Failures are logged with the event and file they concern.
    const logged = (await syncLog()).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged.some((l) => l.eventId === event.eventId && l.fileId === damaged.fileId && l.msg === "event verification found an inconsistency")).toBe(
      true,
    );
  });
});

describe("a sync process killed mid-verification", () => {
  it("takes the interrupted events again after the restart and completes every event exactly once", async () => {
    const files: string[] = [];
    let interrupted = 0;
    // Each round uploads a batch and SIGKILLs the sync service as soon as it
    // reports an event processing; a round whose kill missed every
    // verification (possible, not likely) is repeated.
    for (let round = 0; round < 3 && interrupted === 0; round++) {
      if (round > 0) await stack.start("sync");
      let uploaded = false;
      const uploads = uploadMany("dave", `crash-${round}`, 12, 3 * MiB + 1).finally(() => (uploaded = true));
      const deadline = Date.now() + 20_000;
      for (;;) {
        const unsettled = await eventsOf("dave", { status: EventStatus.EVENT_STATUS_PROCESSING });
        if (unsettled.length > 0 || Date.now() > deadline) break;
        // Everything uploaded and nothing left to verify: this round missed.
        if (uploaded && (await eventsOf("dave", { status: EventStatus.EVENT_STATUS_PENDING })).length === 0) {
          const all = await eventsOf("dave");
          if (all.length === files.length + 12) break;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      await stack.kill("sync", "SIGKILL");
      files.push(...(await uploads));
      const db = new Sqlite(join(dataDir, "sync.db"));
      try {
        interrupted = db.prepare(`SELECT count(*) FROM sync_events WHERE status = 'processing'`).pluck().get() as number;
      } finally {
        db.close();
      }
    }
    expect(interrupted).toBeGreaterThan(0);
    await stack.start("sync");

    let events: SyncEvent[] = [];
    await waitFor(
      async () => {
        events = await eventsOf("dave");
        return events.length === files.length && events.every((e) => e.status === EventStatus.EVENT_STATUS_COMPLETED);
      },
      40_000,
      "dave's events to complete",
    );
    // One event per upload, each completed...
    expect(new Set(events.map((e) => e.fileId))).toEqual(new Set(files));
    expect(new Set(events.map((e) => e.eventId)).size).toBe(files.length);
    expect(events.filter((e) => e.attempts >= 2).length).toBeGreaterThanOrEqual(interrupted);
    for (const e of events) {
      expect(e.verification).toMatchObject({ action: "upload_synchronized" });
      expect(e.verification!.chunksVerified).toBe(e.verification!.totalChunks);
      expect(e.verification!.totalChunks).toBeGreaterThanOrEqual(1);
    }
    // ...exactly once, across every process that ran (the log file is appended across restarts).
    const lines = (await syncLog()).map((l) => JSON.parse(l) as { msg?: string; eventId?: string; requeued?: number });
    const completions = new Map<string, number>();
    for (const l of lines) if (l.msg === "event verified" && l.eventId) completions.set(l.eventId, (completions.get(l.eventId) ?? 0) + 1);
    for (const e of events) expect(completions.get(e.eventId), `completions of ${e.eventId}`).toBe(1);
    expect(lines.some((l) => l.msg === "recovered events left processing by a previous run" && (l.requeued ?? 0) >= interrupted)).toBe(true);
  });
});

describe("privacy", () => {
  it("shows each user only their own events and files", async () => {
    const file = await upload(c, tokens.alice, Buffer.from("private"), { name: "private.txt" });
    const event = await settledStatus("alice", file.fileId);

    const bobs = await eventsOf("bob");
    expect(bobs.filter((e) => e.owner !== "bob")).toEqual([]);
    expect(await eventsOf("bob", { fileId: file.fileId })).toEqual([]);
    await expectStatus(call(c.sync.getSyncEvent, c.sync, { eventId: event.eventId }, tokens.bob), status.NOT_FOUND);
    await expectStatus(call(c.sync.getFileSyncStatus, c.sync, { fileId: file.fileId }, tokens.bob), status.NOT_FOUND);
    await expectStatus(call(c.sync.getFileSyncStatus, c.sync, { fileId: "not-a-uuid" }, tokens.bob), status.INVALID_ARGUMENT);

    // The internal inspection RPCs serve cfs services only.
    await expectStatus(
      call(c.metadata.inspectFileVersion, c.metadata, { owner: "alice", fileId: file.fileId, version: 0 }, tokens.alice),
      status.PERMISSION_DENIED,
    );
    await expectStatus(
      call(c.metadata.checkChunkReferences, c.metadata, { owner: "alice", sha256s: [sha256(Buffer.from("private"))] }, tokens.bob),
      status.PERMISSION_DENIED,
    );
  });
});
