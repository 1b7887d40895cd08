import { randomUUID } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Sqlite from "better-sqlite3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadMigrations } from "../../services/sync/src/adapters/sqlite-migrations.js";
import { MIGRATIONS_DIR, SqliteSyncEventStore } from "../../services/sync/src/adapters/sqlite-sync-event-store.js";
import { SyncEvents } from "../../services/sync/src/domain/sync-events.js";
import type { NewSyncEvent } from "../../services/sync/src/domain/types.js";

/** The SQLite adapter of the sync service against real database files. */
let root: string;
const opened: SqliteSyncEventStore[] = [];
const LATEST = loadMigrations(MIGRATIONS_DIR).length;
const relay = { subject: "metadata@clients", isService: true };

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "cfs-sync-store-"));
});

afterEach(() => {
  for (const store of opened.splice(0)) store.close();
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

function freshPath(): string {
  return join(root, randomUUID(), "nested", "sync.db");
}

function open(path: string, migrationsDir?: string): SqliteSyncEventStore {
  const store = SqliteSyncEventStore.open(path, { migrationsDir });
  opened.push(store);
  return store;
}

/** A second connection to inspect the file the way an operator would. */
function inspect<T>(path: string, fn: (db: Sqlite.Database) => T): T {
  const db = new Sqlite(path, { readonly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

let clock = Date.parse("2030-01-01T00:00:00Z");
function newEvent(overrides: Partial<NewSyncEvent> = {}): NewSyncEvent {
  const at = new Date((clock += 1000));
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
    sha256: "0".repeat(64),
    createdAt: at,
    updatedAt: at,
    ...overrides,
  };
}

describe("schema and migrations", () => {
  it("creates the directory and a WAL database at the latest schema version", () => {
    const path = freshPath();
    open(path);
    expect(existsSync(path)).toBe(true);
    inspect(path, (db) => {
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(db.pragma("user_version", { simple: true })).toBe(LATEST);
      const indexes = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sync_events' AND sql IS NOT NULL ORDER BY name")
        .pluck()
        .all();
      expect(indexes).toEqual(["sync_events_owner_file_seq", "sync_events_owner_owner_seq", "sync_events_owner_seq", "sync_events_status"]);
    });
  });

  it("reopens an existing database without re-running migrations or losing rows", async () => {
    const path = freshPath();
    const first = open(path);
    const event = newEvent();
    await first.insertNew([event]);
    first.close();
    const again = open(path);
    open(path).close(); // and a third time, concurrently with the second
    expect(await again.get("alice", event.eventId)).toMatchObject({ eventId: event.eventId });
    inspect(path, (db) => expect(db.pragma("user_version", { simple: true })).toBe(LATEST));
  });

  // Each rebuild of sync_events for new event types (0004: the catalogue's, 0005: damage reports).
  it.each([
    { before: 3, added: "move" },
    { before: 4, added: "damaged" },
  ] as const)("rebuilds sync_events on a database at version $before for $added events, keeping rows, chunk lists, counts and the seq position", async ({ before: version, added }) => {
    const old = join(root, randomUUID());
    mkdirSync(old);
    for (const file of loadMigrations(MIGRATIONS_DIR).slice(0, version).map((m) => m.file)) copyFileSync(join(MIGRATIONS_DIR, file), join(old, file));
    const path = freshPath();
    const before = open(path, old);
    const kept = newEvent({ eventType: "delete", chunkSha256s: ["a".repeat(64), "b".repeat(64)] });
    const dropped = newEvent();
    await before.insertNew([kept, dropped]);
    const droppedSeq = inspect(path, (db) => db.prepare("SELECT seq FROM sync_events WHERE event_id = ?").pluck().get(dropped.eventId) as number);
    const rw = new Sqlite(path);
    rw.prepare("DELETE FROM sync_events WHERE event_id = ?").run(dropped.eventId);
    rw.close();
    before.close();

    const after = open(path);
    expect(await after.get("alice", kept.eventId)).toMatchObject({ eventId: kept.eventId, eventType: "delete" });
    const moved = newEvent({ eventType: added });
    await after.insertNew([moved]);
    inspect(path, (db) => {
      expect(db.prepare("SELECT seq FROM sync_events WHERE event_id = ?").pluck().get(moved.eventId)).toBeGreaterThan(droppedSeq);
      expect(db.prepare("SELECT count(*) FROM sync_event_chunks").pluck().get()).toBe(2);
      expect(db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name").pluck().all()).toEqual([
        "sync_event_counts_insert",
        "sync_event_counts_update",
        "sync_events_assign_owner_seq",
        "sync_events_deleted",
      ]);
      // Per-owner positions carry on from where they were.
      expect(db.prepare("SELECT owner_seq FROM sync_events WHERE event_id = ?").pluck().get(moved.eventId)).toBe(3);
    });
    expect(await after.countsByTypeAndStatus()).toEqual(
      expect.arrayContaining([
        { eventType: "delete", status: "pending", count: 1 },
        { eventType: added, status: "pending", count: 1 },
      ]),
    );
  });

  it("refuses a database written by a newer schema", () => {
    const path = freshPath();
    open(path).close();
    const db = new Sqlite(path);
    db.pragma(`user_version = ${LATEST + 1}`);
    db.close();
    expect(() => open(path)).toThrow(/newer than this build/);
  });

  it("rolls a failing migration back and keeps the previous version", () => {
    const dir = join(root, randomUUID());
    mkdirSync(dir);
    for (const file of readdirSync(MIGRATIONS_DIR)) copyFileSync(join(MIGRATIONS_DIR, file), join(dir, file));
    const next = String(LATEST + 1).padStart(4, "0");
    writeFileSync(join(dir, `${next}_broken.sql`), "CREATE TABLE half_done (x INTEGER);\nTHIS IS NOT SQL;");
    const path = freshPath();
    expect(() => open(path, dir)).toThrow();
    inspect(path, (db) => {
      expect(db.pragma("user_version", { simple: true })).toBe(LATEST);
      expect(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'").pluck().get()).toBe(0);
    });
    // The good migrations stayed applied; the released set still opens it.
    open(path);
  });

  it("rejects migration sets with gaps or badly named files", () => {
    const gap = join(root, randomUUID());
    mkdirSync(gap);
    writeFileSync(join(gap, "0001_a.sql"), "SELECT 1;");
    writeFileSync(join(gap, "0003_c.sql"), "SELECT 1;");
    expect(() => loadMigrations(gap)).toThrow(/expected version 2/);
    const named = join(root, randomUUID());
    mkdirSync(named);
    writeFileSync(join(named, "1-first.sql"), "SELECT 1;");
    expect(() => loadMigrations(named)).toThrow(/name must look like/);
  });
});

describe("recording", () => {
  it("inserts new events once, whether repeated across batches or within one", async () => {
    const store = open(freshPath());
    const a = newEvent();
    const b = newEvent();
    expect(await store.insertNew([a, b])).toBe(2);
    expect(await store.insertNew([a, b])).toBe(0);
    const c = newEvent();
    expect(await store.insertNew([c, { ...c, name: "second copy" }])).toBe(1);
    expect((await store.get("alice", c.eventId))?.name).toBe("a.txt");
  });

  it("round-trips every field", async () => {
    const store = open(freshPath());
    const event = newEvent({
      eventType: "update",
      name: "Fotos/été 2030/🌊.jpg",
      version: 7,
      size: 64 * 1024 ** 3,
      sha256: "f".repeat(64),
      createdAt: new Date("2030-05-06T07:08:09.123Z"),
      updatedAt: new Date("2030-05-06T07:08:10.456Z"),
    });
    await store.insertNew([event]);
    expect(await store.get("alice", event.eventId)).toEqual({ ...event, seq: 1 });
  });

  it("commits a batch entirely or not at all", async () => {
    const store = open(freshPath());
    // The CHECK constraint refuses the second row after the first was inserted.
    const bad = newEvent({ eventType: "rename" as NewSyncEvent["eventType"] });
    const good = newEvent();
    await expect(store.insertNew([good, bad])).rejects.toThrow(/CHECK constraint/);
    expect(await store.get("alice", good.eventId)).toBeUndefined();
  });
});

describe("reading", () => {
  it("keeps each owner's events to that owner", async () => {
    const store = open(freshPath());
    const mine = newEvent({ owner: "alice" });
    const theirs = newEvent({ owner: "bob" });
    await store.insertNew([mine, theirs]);
    expect((await store.list({ owner: "alice", limit: 10 })).map((e) => e.eventId)).toEqual([mine.eventId]);
    expect((await store.list({ owner: "bob", limit: 10 })).map((e) => e.eventId)).toEqual([theirs.eventId]);
    expect(await store.get("alice", theirs.eventId)).toBeUndefined();
    expect(await store.list({ owner: "carol", limit: 10 })).toEqual([]);
  });

  it("lists newest first, below a seq, up to a limit", async () => {
    const store = open(freshPath());
    await store.insertNew(Array.from({ length: 6 }, () => newEvent()));
    expect((await store.list({ owner: "alice", limit: 4 })).map((e) => e.seq)).toEqual([6, 5, 4, 3]);
    expect((await store.list({ owner: "alice", beforeSeq: 3, limit: 4 })).map((e) => e.seq)).toEqual([2, 1]);
  });

  it("filters by file", async () => {
    const store = open(freshPath());
    const fileId = randomUUID();
    await store.insertNew([newEvent({ fileId }), newEvent(), newEvent({ fileId, eventType: "delete" }), newEvent({ fileId, owner: "bob" })]);
    const events = await store.list({ owner: "alice", fileId, limit: 10 });
    expect(events.map((e) => [e.seq, e.eventType])).toEqual([
      [3, "delete"],
      [1, "upload"],
    ]);
  });

  it("serves the listing queries from the owner indexes", () => {
    const path = freshPath();
    open(path);
    inspect(path, (db) => {
      const plan = (sql: string) =>
        (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join("\n");
      expect(plan("SELECT * FROM sync_events WHERE owner = 'a' AND seq < 9 ORDER BY seq DESC LIMIT 5")).toMatch(/sync_events_owner_seq/);
      expect(plan("SELECT * FROM sync_events WHERE owner = 'a' AND file_id = 'f' AND seq < 9 ORDER BY seq DESC LIMIT 5")).toMatch(
        /sync_events_owner_file_seq/,
      );
      // The change feed reads by the owner's own seq.
      expect(plan("SELECT * FROM sync_events WHERE owner = 'a' AND owner_seq > 9 ORDER BY owner_seq LIMIT 5")).toMatch(/sync_events_owner_owner_seq/);
    });
  });

  it("pages stably through the domain while new events arrive", async () => {
    const events = new SyncEvents(open(freshPath()), { isCommitted: async () => false }, { damageOf: async () => ({ kind: "unknown" }) });
    const record = (n: number) =>
      events.record(
        relay,
        Array.from({ length: n }, () => {
          const { eventId, fileId, owner, eventType, name, version, size, sha256 } = newEvent();
          return { eventId, fileId, owner, eventType, name, version, size, sha256 };
        }),
      );
    await record(7);
    const seen: number[] = [];
    let pageToken = "";
    do {
      const page = await events.list({ subject: "alice", isService: false }, { pageSize: 3, pageToken, fileId: "" });
      seen.push(...page.events.map((e) => e.seq));
      pageToken = page.nextPageToken;
      // Newer events land above the cursor: they neither shift nor repeat older pages.
      await record(1);
    } while (pageToken !== "");
    expect(seen).toEqual([7, 6, 5, 4, 3, 2, 1]);
  });
});
