import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Sqlite from "better-sqlite3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadMigrations, migrate } from "../adapters/sqlite-migrations.js";
import { MIGRATIONS_DIR } from "../adapters/sqlite-sync-event-store.js";
import { SqliteChangeLog } from "./sqlite-change-log.js";

/** The feed's SQLite queries and retention against a real, migrated database file. */
let root: string;
const cleanup: Array<() => void> = [];

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "cfs-feed-log-"));
});

afterEach(() => {
  for (const close of cleanup.splice(0)) close();
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

const DAY = 24 * 60 * 60 * 1000;

function setup() {
  const path = join(root, `${randomUUID()}.db`);
  // The writer side, as the event store opens it.
  const db = new Sqlite(path);
  db.pragma("journal_mode = WAL");
  migrate(db, loadMigrations(MIGRATIONS_DIR));
  const log = SqliteChangeLog.open(path);
  cleanup.push(() => log.close(), () => db.close());
  const insert = db.prepare(
    `INSERT INTO sync_events (event_id, file_id, owner, event_type, name, version, size, sha256, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const record = (owner: string, createdAt: number, eventType = "upload") => {
    const name = `f-${randomUUID().slice(0, 8)}`;
    const info = insert.run(randomUUID(), randomUUID(), owner, eventType, name, 1, 3, "b".repeat(64), createdAt, createdAt);
    return Number(info.lastInsertRowid);
  };
  return { db, log, record };
}

describe("SqliteChangeLog", () => {
  it("reads an owner's changes after a seq of the owner's own, in order, a page at a time, with the bounds of the same snapshot", async () => {
    const { log, record } = setup();
    const now = Date.now();
    for (let i = 0; i < 8; i++) record(i % 2 ? "bob" : "alice", now + i);
    const page = await log.changesAfter("alice", 0, 3);
    // alice's events are her 1, 2, 3, 4 whatever bob did in between.
    expect(page.changes.map((c) => c.seq)).toEqual([1, 2, 3]);
    expect(page).toMatchObject({ oldest: 0, head: 4 });
    expect(page.changes[0]).toMatchObject({ eventType: "upload", version: 1, size: 3, sha256: "b".repeat(64), committedAt: new Date(now) });
    expect((await log.changesAfter("alice", 3, 3)).changes.map((c) => c.seq)).toEqual([4]);
    expect(await log.changesAfter("carol", 0, 3)).toEqual({ oldest: 0, head: 0, changes: [] });
    expect(await log.latest()).toBe(8);
  });

  it("leaves damage reports out of the changes, while the head counts them", async () => {
    const { log, record } = setup();
    const now = Date.now();
    record("alice", now);
    record("alice", now, "damaged");
    record("alice", now, "damaged");
    record("alice", now, "update");
    record("alice", now, "damaged");
    const page = await log.changesAfter("alice", 0, 2);
    expect(page.changes.map((c) => [c.seq, c.eventType])).toEqual([
      [1, "upload"],
      [4, "update"],
    ]);
    expect(await log.changesAfter("alice", 4, 2)).toMatchObject({ head: 5, changes: [] });
  });

  it("reports an empty log as head 0", async () => {
    const { log } = setup();
    expect(await log.bounds("alice")).toEqual({ oldest: 0, head: 0 });
    expect(await log.latest()).toBe(0);
  });

  it("prunes the oldest events as a contiguous prefix and keeps each owner's head", async () => {
    const { log, record } = setup();
    const now = Date.now();
    record("alice", now - 40 * DAY);
    record("bob", now - 35 * DAY);
    record("alice", now - 1 * DAY);
    // Relayed late: old commit time, but after a young event; it stays so the tail has no hole.
    record("alice", now - 50 * DAY);
    expect(await log.pruneBefore(new Date(now - 30 * DAY))).toBe(2);
    expect(await log.bounds("alice")).toEqual({ oldest: 1, head: 3 });
    expect(await log.bounds("bob")).toEqual({ oldest: 1, head: 1 });
    expect((await log.changesAfter("alice", 1, 10)).changes.map((c) => c.seq)).toEqual([2, 3]);
    // Nothing is young any more: everything goes, and the heads stay where they were.
    expect(await log.pruneBefore(new Date(now))).toBe(2);
    expect(await log.bounds("alice")).toEqual({ oldest: 3, head: 3 });
    record("alice", now);
    expect(await log.bounds("alice")).toEqual({ oldest: 3, head: 4 });
    expect((await log.changesAfter("alice", 3, 10)).changes.map((c) => c.seq)).toEqual([4]);
  });

  it("prunes large backlogs in batches", async () => {
    const { db, log, record } = setup();
    const old = Date.now() - 100 * DAY;
    db.transaction(() => {
      for (let i = 0; i < 4_500; i++) record("alice", old);
    })();
    expect(await log.pruneBefore(new Date(old + 1))).toBe(4_500);
    expect(await log.bounds("alice")).toEqual({ oldest: 4_500, head: 4_500 });
  });

  it("numbers the events already recorded when the per-owner numbering is added (migration 3)", () => {
    const path = join(root, `${randomUUID()}.db`);
    const db = new Sqlite(path);
    cleanup.push(() => db.close());
    const migrations = loadMigrations(MIGRATIONS_DIR);
    migrate(db, migrations.filter((m) => m.version < 3));
    const insert = db.prepare(
      `INSERT INTO sync_events (event_id, file_id, owner, event_type, name, version, size, sha256, created_at, updated_at)
       VALUES (?, ?, ?, 'upload', 'n', 1, 1, ?, 1, 1)`,
    );
    for (const owner of ["alice", "bob", "alice"]) insert.run(randomUUID(), randomUUID(), owner, "b".repeat(64));
    migrate(db, migrations);
    expect(db.prepare(`SELECT owner, owner_seq FROM sync_events ORDER BY seq`).all()).toEqual([
      { owner: "alice", owner_seq: 1 },
      { owner: "bob", owner_seq: 1 },
      { owner: "alice", owner_seq: 2 },
    ]);
    insert.run(randomUUID(), randomUUID(), "alice", "b".repeat(64));
    expect(db.prepare(`SELECT owner_seq FROM sync_events ORDER BY seq DESC LIMIT 1`).get()).toEqual({ owner_seq: 3 });
  });

  it("cascades pruning into tables that reference events", async () => {
    const { db, log, record } = setup();
    const hasChunks = db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'sync_event_chunks'`).get() !== undefined;
    if (!hasChunks) return;
    const seq = record("alice", Date.now() - 40 * DAY, "delete");
    db.prepare(`INSERT INTO sync_event_chunks (event_seq, sha256) VALUES (?, ?)`).run(seq, "c".repeat(64));
    await log.pruneBefore(new Date(Date.now() - 30 * DAY));
    expect(db.prepare(`SELECT count(*) AS n FROM sync_event_chunks`).get()).toEqual({ n: 0 });
  });
});
