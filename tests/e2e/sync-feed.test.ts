import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { decodeCursor } from "../../services/sync/src/feed/cursor.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type RunningStack } from "../../dev/stack.js";
import { EventType, type WatchChangesResponse } from "#gen/cfs/sync/v1/sync.js";
import { SqliteChangeLog } from "../../services/sync/src/feed/sqlite-change-log.js";
import { auth, call, clientsFor, upload, type Clients } from "../support/clients.js";

/**
 * SyncService.WatchChanges against the real services: commits go through
 * the chunker and metadata, the outbox relay records them in sync (every
 * 100 ms), and the feed wakes its subscribers.
 */
let dir: string;
let stack: RunningStack;
let clients: Clients;
let alice: string;
let bob: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cfs-feed-"));
  stack = await startStack({ dataDir: join(dir, "data"), defaultPorts: false, logs: "files", env: { CFS_OUTBOX_INTERVAL_MS: "100" } });
  clients = clientsFor(stack.addresses);
  alice = await stack.issuer!.userToken("alice");
  bob = await stack.issuer!.userToken("bob");
});

afterAll(async () => {
  clients?.close();
  await stack?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** An open WatchChanges stream whose messages are taken one at a time. */
function watch(token: string, cursor: string) {
  const stream = clients.sync.watchChanges({ cursor }, auth(token));
  const messages: WatchChangesResponse[] = [];
  let failure: grpc.ServiceError | undefined;
  let wake: (() => void) | undefined;
  stream.on("data", (m: WatchChangesResponse) => {
    messages.push(m);
    wake?.();
  });
  stream.on("error", (err: grpc.ServiceError) => {
    failure = err;
    wake?.();
  });
  const take = async (timeoutMs = 15_000): Promise<WatchChangesResponse> => {
    const deadline = Date.now() + timeoutMs;
    while (messages.length === 0) {
      if (failure) throw failure;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, left);
      });
    }
    return messages.shift()!;
  };
  return {
    take,
    /** The next n changes; heartbeats in between are skipped. */
    async changes(n: number): Promise<WatchChangesResponse[]> {
      const out: WatchChangesResponse[] = [];
      while (out.length < n) {
        const m = await take();
        if (m.change) out.push(m);
      }
      return out;
    },
    /** The status the stream failed with. */
    async failure(timeoutMs = 15_000): Promise<grpc.ServiceError> {
      const deadline = Date.now() + timeoutMs;
      while (!failure && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      if (!failure) throw new Error("the stream did not fail");
      return failure;
    },
    close: () => stream.cancel(),
  };
}

interface Expected {
  fileId: string;
  name: string;
  eventType: EventType;
  version: number;
}

const summary = (m: WatchChangesResponse): Expected => ({
  fileId: m.change!.fileId,
  name: m.change!.name,
  eventType: m.change!.eventType,
  version: m.change!.version,
});

async function put(token: string, name: string, data = randomBytes(64)) {
  return upload(clients, token, data, { name });
}

async function remove(token: string, fileId: string) {
  await call(clients.metadata.deleteFile, clients.metadata, { fileId }, token);
}

async function subscribers(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${stack.metricsPorts.sync}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("cfs_sync_feed_subscribers"));
  return Number(line?.split(" ").at(-1));
}

let startCursor = "";
let lastCursor = "";

describe("WatchChanges", () => {
  it("sends the caller's changes in commit order; a reconnect from any cursor gets the rest exactly once", async () => {
    const live = watch(alice, "");
    const first = await live.take();
    expect(first.change).toBeUndefined();
    startCursor = first.cursor;

    // 100 changes of alice: 40 uploads, 30 updates, 30 deletes (to the trash); bob commits in between.
    const expected: Expected[] = [];
    const files: Array<{ fileId: string; name: string; version: number }> = [];
    for (let i = 0; i < 40; i++) {
      const name = `feed/${String(i).padStart(2, "0")}.bin`;
      const f = await put(alice, name);
      files.push({ fileId: f.fileId, name, version: 1 });
      expected.push({ fileId: f.fileId, name, eventType: EventType.EVENT_TYPE_UPLOAD, version: 1 });
      if (i % 8 === 0) await put(bob, `bob/${i}.bin`);
    }
    for (const f of files.slice(0, 30)) {
      await put(alice, f.name);
      expected.push({ fileId: f.fileId, name: f.name, eventType: EventType.EVENT_TYPE_UPDATE, version: ++f.version });
    }
    for (const f of files.slice(10)) {
      await remove(alice, f.fileId);
      expected.push({ fileId: f.fileId, name: f.name, eventType: EventType.EVENT_TYPE_TRASH, version: f.version });
    }
    await remove(bob, (await put(bob, "bob/last.bin")).fileId);
    expect(expected).toHaveLength(100);

    const received = await live.changes(100);
    live.close();
    expect(received.map(summary)).toEqual(expected);
    expect(received.every((m) => m.change!.committedAt instanceof Date && /^[0-9a-f]{64}$/.test(m.change!.sha256))).toBe(true);
    expect(new Set(received.map((m) => m.cursor)).size).toBe(100);

    // Reconnect after the 40th change: exactly the other 60, then a heartbeat (caught up).
    const resumed = watch(alice, received[39]!.cursor);
    expect((await resumed.changes(60)).map(summary)).toEqual(expected.slice(40));
    const caughtUp = await resumed.take();
    expect(caughtUp.change).toBeUndefined();
    // The caught-up cursor is at the scanned head: at or past the last change.
    expect(decodeCursor(caughtUp.cursor)).toBeGreaterThanOrEqual(decodeCursor(received[99]!.cursor));
    // Live again: the next commit arrives once.
    const next = await put(alice, "feed/after.bin");
    const after = await resumed.take();
    expect(after.change).toMatchObject({ fileId: next.fileId, eventType: EventType.EVENT_TYPE_UPLOAD });
    lastCursor = after.cursor;
    resumed.close();

    // From the last cursor: nothing but the caught-up heartbeat.
    const idle = watch(alice, lastCursor);
    const beat = await idle.take();
    expect(beat.change).toBeUndefined();
    expect(decodeCursor(beat.cursor)).toBeGreaterThanOrEqual(decodeCursor(lastCursor));
    idle.close();
  });

  it("never shows one user's changes to another", async () => {
    const feed = watch(bob, startCursor);
    const seen = await feed.changes(7);
    feed.close();
    expect(seen.every((m) => m.change!.name.startsWith("bob/"))).toBe(true);
    expect(seen.map((m) => m.change!.eventType).at(-1)).toBe(EventType.EVENT_TYPE_TRASH);
  });

  it("starts from now with an empty cursor and counts open streams", async () => {
    const before = await subscribers();
    const feed = watch(alice, "");
    const head = await feed.take();
    expect(head.change).toBeUndefined();
    expect(head.cursor).not.toBe(startCursor);
    expect(await subscribers()).toBe(before + 1);
    const f = await put(alice, "feed/now.bin");
    const m = await feed.take();
    expect(m.change).toMatchObject({ fileId: f.fileId, name: "feed/now.bin", version: 1 });
    feed.close();
    await expect.poll(subscribers, { timeout: 5_000 }).toBe(before);
    lastCursor = m.cursor;
  });

  it("gives alice cursors that bob's activity never moves (checklist 42)", async () => {
    const bobFeed = watch(bob, "");
    await bobFeed.take();
    const aliceFeed = watch(alice, lastCursor);
    const caughtUp = await aliceFeed.take();
    expect(caughtUp.change).toBeUndefined();
    for (let i = 0; i < 5; i++) await put(bob, `feed/bob-${i}.bin`);
    // Recorded by sync: bob's own feed has them.
    expect(await bobFeed.changes(5)).toHaveLength(5);
    bobFeed.close();
    // alice, watching from now, stands exactly where she stood.
    const fresh = watch(alice, "");
    expect((await fresh.take()).cursor).toBe(caughtUp.cursor);
    fresh.close();
    const f = await put(alice, "feed/after-bob.bin");
    const [m] = await aliceFeed.changes(1);
    expect(m!.change).toMatchObject({ fileId: f.fileId });
    expect(decodeCursor(m!.cursor)).toBe(decodeCursor(caughtUp.cursor) + 1);
    aliceFeed.close();
    lastCursor = m!.cursor;
  });

  it.each([
    ["garbage", "not a cursor"],
    ["a forged seq", Buffer.from(JSON.stringify({ v: 1, s: -5 })).toString("base64url")],
    ["a page token", Buffer.from(JSON.stringify({ s: 5, f: "" })).toString("base64url")],
  ])("refuses %s with INVALID_ARGUMENT", async (_, cursor) => {
    const err = await watch(alice, cursor).failure();
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it("ends open streams with UNAVAILABLE at shutdown instead of holding it up, and resumes after a restart", async () => {
    const feed = watch(alice, lastCursor);
    await feed.take();
    await stack.kill("sync");
    expect((await feed.failure()).code).toBe(grpc.status.UNAVAILABLE);
    // The open stream did not hold the drain until the grace period forced it.
    expect(await readFile(join(dir, "data", "logs", "sync.log"), "utf8")).not.toContain("grace period over");
    // Committed while sync is down: the relay delivers it once sync is back.
    const f = await put(alice, "feed/while-down.bin");
    await stack.start("sync");
    const resumed = watch(alice, lastCursor);
    const [m] = await resumed.changes(1);
    expect(m!.change).toMatchObject({ fileId: f.fileId, name: "feed/while-down.bin" });
    lastCursor = m!.cursor;
    resumed.close();
  });

  it("refuses a cursor older than the retention window with FAILED_PRECONDITION", async () => {
    // What the service's pruning does once events are older than CFS_SYNC_RETENTION_DAYS, with a cutoff in the future.
    const log = SqliteChangeLog.open(join(dir, "data", "sync.db"));
    try {
      expect(await log.pruneBefore(new Date(Date.now() + 24 * 3600 * 1000))).toBeGreaterThan(100);
    } finally {
      log.close();
    }
    const err = await watch(alice, startCursor).failure();
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(err.details).toMatch(/list your files again/);
    // The newest cursor is still good, and so is starting from now.
    const current = watch(alice, lastCursor);
    expect(decodeCursor((await current.take()).cursor)).toBeGreaterThanOrEqual(decodeCursor(lastCursor));
    current.close();
    const fresh = watch(alice, "");
    expect((await fresh.take()).change).toBeUndefined();
    fresh.close();
  });
});
