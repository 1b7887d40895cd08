import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Sqlite from "better-sqlite3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { NewSyncEvent, Verification } from "../domain/types.js";
import { MIGRATIONS_DIR, SqliteSyncEventStore } from "./sqlite-sync-event-store.js";

/** The verification queue and stats of the SQLite store, on real database files. */
let root: string;
const opened: SqliteSyncEventStore[] = [];

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "cfs-sync-queue-"));
});

afterEach(() => {
  for (const store of opened.splice(0)) store.close();
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

function open(path = join(root, `${randomUUID()}.db`)): SqliteSyncEventStore {
  const store = SqliteSyncEventStore.open(path);
  opened.push(store);
  return store;
}

const T0 = Date.parse("2030-01-01T00:00:00Z");
const at = (ms: number) => new Date(T0 + ms);
const h = (n: number) => n.toString(16).padStart(64, "0");

function newEvent(overrides: Partial<NewSyncEvent> = {}): NewSyncEvent {
  return {
    eventId: randomUUID(),
    fileId: randomUUID(),
    owner: "alice",
    eventType: "upload",
    status: "pending",
    attempts: 0,
    errorMessage: "",
    name: "a.txt",
    version: 1,
    size: 1,
    sha256: h(0),
    createdAt: at(0),
    updatedAt: at(0),
    ...overrides,
  };
}

const result = (overrides: Partial<Verification> = {}): Verification => ({
  syncStatus: "synchronized",
  chunksVerified: 3,
  totalChunks: 3,
  action: "upload_synchronized",
  chunksRehashed: 2,
  verifiedAt: at(5000),
  ...overrides,
});

describe("claiming", () => {
  it("takes due pending events oldest first, marking them processing with one more attempt", async () => {
    const store = open();
    const events = [newEvent(), newEvent(), newEvent()];
    await store.insertNew(events);
    const first = await store.claimDue(at(1000), 2);
    expect(first.map((e) => [e.seq, e.status, e.attempts])).toEqual([
      [1, "processing", 1],
      [2, "processing", 1],
    ]);
    expect((await store.claimDue(at(1000), 10)).map((e) => e.seq)).toEqual([3]);
    expect(await store.claimDue(at(1000), 10)).toEqual([]);
    expect(await store.get("alice", events[0]!.eventId)).toMatchObject({ status: "processing", attempts: 1, updatedAt: at(1000) });
  });

  it("returns a delete's chunk hashes with it, stored once per event even when relayed twice", async () => {
    const store = open();
    const del = newEvent({ eventType: "delete", chunkSha256s: [h(2), h(1)] });
    expect(await store.insertNew([del, newEvent()])).toBe(2);
    expect(await store.insertNew([{ ...del, chunkSha256s: [h(3)] }])).toBe(0);
    const [claimedDelete, claimedUpload] = await store.claimDue(at(0), 10);
    expect(claimedDelete!.chunkSha256s).toEqual([h(1), h(2)]);
    expect(claimedUpload!.chunkSha256s).toEqual([]);
    // Listings never carry them.
    expect((await store.get("alice", del.eventId)) as unknown).not.toHaveProperty("chunkSha256s");
  });

  it("waits for next_attempt_at before taking a retried event again, keeping the last error", async () => {
    const store = open();
    const event = newEvent();
    await store.insertNew([event]);
    const [claimed] = await store.claimDue(at(0), 1);
    expect(await store.retryLater(claimed!.seq, "metadata InspectFileVersion: unavailable", at(2000), at(100))).toBe(true);
    expect(await store.get("alice", event.eventId)).toMatchObject({ status: "pending", attempts: 1, errorMessage: "metadata InspectFileVersion: unavailable" });
    expect(await store.claimDue(at(1999), 1)).toEqual([]);
    expect((await store.claimDue(at(2000), 1)).map((e) => e.attempts)).toEqual([2]);
  });
});

describe("results", () => {
  it("completes a processing event once, storing the result; later transitions change nothing", async () => {
    const store = open();
    const event = newEvent();
    await store.insertNew([event]);
    const [claimed] = await store.claimDue(at(0), 1);
    expect(await store.complete(claimed!.seq, result(), at(5000))).toBe(true);
    expect(await store.complete(claimed!.seq, result({ chunksVerified: 99 }), at(6000))).toBe(false);
    expect(await store.fail(claimed!.seq, "late", undefined, at(6000))).toBe(false);
    expect(await store.retryLater(claimed!.seq, "late", at(7000), at(6000))).toBe(false);
    expect(await store.get("alice", event.eventId)).toEqual({
      ...event,
      chunkSha256s: undefined,
      seq: 1,
      status: "completed",
      attempts: 1,
      updatedAt: at(5000),
      verification: result(),
    });
  });

  it("fails with the message, with or without a result", async () => {
    const store = open();
    const [a, b] = [newEvent(), newEvent()];
    await store.insertNew([a, b]);
    const claimed = await store.claimDue(at(0), 2);
    const inconsistent = result({ syncStatus: "inconsistent", action: "", chunksVerified: 3, totalChunks: 4, chunksRehashed: 0 });
    expect(await store.fail(claimed[0]!.seq, "chunk 3 (sha256 ab) missing from block storage", inconsistent, at(9))).toBe(true);
    expect(await store.fail(claimed[1]!.seq, "gave up", undefined, at(9))).toBe(true);
    expect(await store.get("alice", a.eventId)).toMatchObject({
      status: "failed",
      errorMessage: "chunk 3 (sha256 ab) missing from block storage",
      verification: inconsistent,
    });
    const failedWithout = await store.get("alice", b.eventId);
    expect(failedWithout).toMatchObject({ status: "failed", errorMessage: "gave up" });
    expect(failedWithout?.verification).toBeUndefined();
  });

  it("recovers events left processing: back to pending, or failed once interrupted too often", async () => {
    const store = open();
    const events = [newEvent(), newEvent({ eventType: "delete" }), newEvent()];
    await store.insertNew(events);
    await store.claimDue(at(0), 3);
    const [, , third] = events;
    // The third completed before the "crash".
    expect(await store.complete(3, result(), at(1))).toBe(true);
    // With at most one attempt, each interrupted one was the last.
    expect(await store.recoverInterrupted(1, "interrupted", at(2))).toEqual({ requeued: 0, failed: ["upload", "delete"] });
    expect(await store.get("alice", events[1]!.eventId)).toMatchObject({ status: "failed", errorMessage: "interrupted" });
    expect(await store.get("alice", third!.eventId)).toMatchObject({ status: "completed" });

    const again = open();
    await again.insertNew([newEvent(), newEvent()]);
    await again.claimDue(at(0), 2);
    expect(await again.recoverInterrupted(8, "interrupted", at(2))).toEqual({ requeued: 2, failed: [] });
    expect((await again.claimDue(at(2), 5)).map((e) => [e.seq, e.attempts])).toEqual([
      [1, 2],
      [2, 2],
    ]);
  });
});

describe("history and stats", () => {
  it("tells whether a later delete of the owner's file was recorded", async () => {
    const store = open();
    const fileId = randomUUID();
    await store.insertNew([newEvent({ fileId }), newEvent({ fileId, eventType: "update", version: 2 })]);
    expect(await store.hasLaterDelete("alice", fileId, 1)).toBe(false);
    await store.insertNew([newEvent({ fileId, owner: "bob", eventType: "delete" }), newEvent({ fileId, eventType: "delete" })]);
    expect(await store.hasLaterDelete("alice", fileId, 1)).toBe(true);
    expect(await store.hasLaterDelete("alice", fileId, 4)).toBe(false);
    expect(await store.hasLaterDelete("alice", randomUUID(), 0)).toBe(false);
  });

  it("counts events by type and status as they move, and reports the oldest unverified one", async () => {
    const store = open();
    expect(await store.oldestUnverified()).toBeUndefined();
    await store.insertNew([newEvent({ createdAt: at(10) }), newEvent({ createdAt: at(20) }), newEvent({ eventType: "delete", createdAt: at(30) })]);
    const [first] = await store.claimDue(at(40), 1);
    expect(await store.oldestUnverified()).toEqual(at(10));
    await store.complete(first!.seq, result(), at(50));
    expect(await store.oldestUnverified()).toEqual(at(20));
    const counts = Object.fromEntries((await store.countsByTypeAndStatus()).map((c) => [`${c.eventType}/${c.status}`, c.count]));
    expect(counts).toEqual({ "delete/pending": 1, "upload/completed": 1, "upload/pending": 1, "upload/processing": 0 });
  });

  it("lists by status and type", async () => {
    const store = open();
    await store.insertNew([newEvent(), newEvent({ eventType: "delete" }), newEvent({ owner: "bob" })]);
    await store.claimDue(at(0), 1);
    expect((await store.list({ owner: "alice", status: "processing", limit: 10 })).map((e) => e.seq)).toEqual([1]);
    expect((await store.list({ owner: "alice", status: "pending", limit: 10 })).map((e) => e.seq)).toEqual([2]);
    expect((await store.list({ owner: "alice", eventType: "delete", status: "pending", limit: 10 })).map((e) => e.seq)).toEqual([2]);
    expect(await store.list({ owner: "alice", eventType: "update", limit: 10 })).toEqual([]);
  });
});

describe("migration 0002 on a database written by the previous release", () => {
  it("keeps old rows pending and unverified, and counts them", async () => {
    // The schema as release 0001 left it, with a row in it.
    const path = join(root, `${randomUUID()}.db`);
    const db = new Sqlite(path);
    db.exec(readFileSync(join(MIGRATIONS_DIR, "0001_create_sync_events.sql"), "utf8"));
    db.pragma("user_version = 1");
    db.prepare(
      `INSERT INTO sync_events (event_id, file_id, owner, event_type, name, version, size, sha256, created_at, updated_at)
       VALUES (?, ?, 'alice', 'upload', 'old.txt', 1, 1, ?, ?, ?)`,
    ).run(randomUUID(), randomUUID(), h(0), T0, T0);
    db.close();

    const store = open(path);
    expect(await store.countsByTypeAndStatus()).toEqual([{ eventType: "upload", status: "pending", count: 1 }]);
    const [claimed] = await store.claimDue(at(0), 1);
    expect(claimed).toMatchObject({ name: "old.txt", attempts: 1, chunkSha256s: [] });
    expect(claimed!.verification).toBeUndefined();
  });
});
