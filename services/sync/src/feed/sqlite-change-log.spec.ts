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
  it("reads an owner's changes after a seq, in order, a page at a time, with the bounds of the same snapshot", async () => {
    const { log, record } = setup();
    const now = Date.now();
    const seqs = Array.from({ length: 8 }, (_, i) => record(i % 2 ? "bob" : "alice", now + i));
    const alice = seqs.filter((_, i) => i % 2 === 0);
    const page = await log.changesAfter("alice", 0, 3);
    expect(page.changes.map((c) => c.seq)).toEqual(alice.slice(0, 3));
    expect(page).toMatchObject({ oldest: 0, head: 8 });
    expect(page.changes[0]).toMatchObject({ eventType: "upload", version: 1, size: 3, sha256: "b".repeat(64), committedAt: new Date(now) });
    expect((await log.changesAfter("alice", alice[2]!, 3)).changes.map((c) => c.seq)).toEqual(alice.slice(3));
    expect((await log.changesAfter("carol", 0, 3)).changes).toEqual([]);
  });

  it("reports an empty log as head 0", async () => {
    expect(await setup().log.bounds()).toEqual({ oldest: 0, head: 0 });
  });

  it("prunes the oldest events as a contiguous prefix and keeps the head", async () => {
    const { log, record } = setup();
    const now = Date.now();
    record("alice", now - 40 * DAY);
    record("bob", now - 35 * DAY);
    const young = record("alice", now - 1 * DAY);
    // Relayed late: old commit time, but after a young event; it stays so the tail has no hole.
    const late = record("alice", now - 50 * DAY);
    expect(await log.pruneBefore(new Date(now - 30 * DAY))).toBe(2);
    expect(await log.bounds()).toEqual({ oldest: young - 1, head: late });
    expect((await log.changesAfter("alice", 0, 10)).changes.map((c) => c.seq)).toEqual([young, late]);
    // Nothing is young any more: everything goes, and the head stays where it was.
    expect(await log.pruneBefore(new Date(now))).toBe(2);
    expect(await log.bounds()).toEqual({ oldest: late, head: late });
    const next = record("alice", now);
    expect(next).toBe(late + 1);
    expect(await log.bounds()).toEqual({ oldest: late, head: next });
  });

  it("prunes large backlogs in batches", async () => {
    const { db, log, record } = setup();
    const old = Date.now() - 100 * DAY;
    db.transaction(() => {
      for (let i = 0; i < 4_500; i++) record("alice", old);
    })();
    expect(await log.pruneBefore(new Date(old + 1))).toBe(4_500);
    expect(await log.bounds()).toEqual({ oldest: 4_500, head: 4_500 });
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
