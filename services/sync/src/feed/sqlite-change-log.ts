import { setImmediate as nextTick } from "node:timers/promises";
import Sqlite from "better-sqlite3";
import type { EventType } from "../domain/types.js";
import type { ChangeLog, ChangePage, LogBounds } from "./change-log.js";

interface ChangeRow {
  owner_seq: number;
  file_id: string;
  name: string;
  event_type: string;
  version: number;
  size: number;
  sha256: string;
  created_at: number;
}

/** Rows deleted per transaction, so pruning a large backlog never holds the write lock for long. */
const PRUNE_BATCH = 2_000;

/**
 * The change feed's own connection to the sync database (which the event
 * store created and migrated). Reads take one snapshot per page; WAL lets
 * them run beside the relay's writes.
 */
export class SqliteChangeLog implements ChangeLog {
  private readonly selectChanges: Sqlite.Statement<[string, number, number], ChangeRow>;
  private readonly selectHead: Sqlite.Statement<[], { head: number }>;
  private readonly selectOwnerHead: Sqlite.Statement<[string], { head: number }>;
  private readonly selectOwnerMin: Sqlite.Statement<[string], { min: number | null }>;
  private readonly selectFirstKept: Sqlite.Statement<[number], { seq: number }>;
  private readonly deleteBatch: Sqlite.Statement<[number, number]>;
  private readonly readPage: Sqlite.Transaction<(owner: string, afterSeq: number, limit: number) => ChangePage>;
  private readonly readBounds: Sqlite.Transaction<(owner: string) => LogBounds>;

  private constructor(private readonly db: Sqlite.Database) {
    // Uses the (owner, owner_seq) index. Damage reports change nothing of a
    // file (isDamageReport): a mirror has nothing to apply, so the feed skips
    // them, and a page of fewer than `limit` still means nothing else is left.
    this.selectChanges = db.prepare(
      `SELECT owner_seq, file_id, name, event_type, version, size, sha256, created_at
       FROM sync_events WHERE owner = ? AND owner_seq > ? AND event_type <> 'damaged' ORDER BY owner_seq LIMIT ?`,
    );
    // AUTOINCREMENT keeps the highest seq ever assigned here, even once those rows are pruned.
    this.selectHead = db.prepare(`SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'sync_events'), 0) AS head`);
    // owner_heads keeps an owner's highest owner_seq, even once those rows are pruned.
    this.selectOwnerHead = db.prepare(`SELECT COALESCE((SELECT seq FROM owner_heads WHERE owner = ?), 0) AS head`);
    this.selectOwnerMin = db.prepare(`SELECT MIN(owner_seq) AS min FROM sync_events WHERE owner = ?`);
    // Walks the log from its oldest row and stops at the first young one: reads only what pruning removes.
    this.selectFirstKept = db.prepare(`SELECT seq FROM sync_events WHERE created_at >= ? ORDER BY seq LIMIT 1`);
    this.deleteBatch = db.prepare(
      `DELETE FROM sync_events WHERE seq IN (SELECT seq FROM sync_events WHERE seq < ? ORDER BY seq LIMIT ?)`,
    );
    const bounds = (owner: string): LogBounds => {
      const head = this.selectOwnerHead.get(owner)!.head;
      const min = this.selectOwnerMin.get(owner)!.min;
      // Pruning removes a prefix of the log, so every row of the owner from
      // MIN(owner_seq) to its head is kept: a client may resume after MIN - 1.
      return { oldest: min === null ? head : min - 1, head };
    };
    // A deferred transaction: one read snapshot for the page and the bounds it is checked against.
    this.readBounds = db.transaction(bounds);
    this.readPage = db.transaction((owner: string, afterSeq: number, limit: number) => ({
      ...bounds(owner),
      changes: this.selectChanges.all(owner, afterSeq, limit).map((row) => ({
        seq: row.owner_seq,
        fileId: row.file_id,
        name: row.name,
        // A CHECK constraint keeps event_type within the known values.
        eventType: row.event_type as EventType,
        version: row.version,
        size: row.size,
        sha256: row.sha256,
        committedAt: new Date(row.created_at),
      })),
    }));
  }

  /** Opens a second connection to a sync database the event store already migrated. */
  static open(path: string, options: { busyTimeoutMs?: number } = {}): SqliteChangeLog {
    const db = new Sqlite(path, { fileMustExist: true });
    try {
      db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5_000)}`);
      // Per connection: pruning must cascade into tables that reference events.
      db.pragma("foreign_keys = ON");
      return new SqliteChangeLog(db);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  async bounds(owner: string): Promise<LogBounds> {
    return this.readBounds(owner);
  }

  async latest(): Promise<number> {
    return this.selectHead.get()!.head;
  }

  async changesAfter(owner: string, afterSeq: number, limit: number): Promise<ChangePage> {
    return this.readPage(owner, afterSeq, limit);
  }

  async pruneBefore(cutoff: Date): Promise<number> {
    const firstKept = this.selectFirstKept.get(cutoff.getTime())?.seq;
    const below = firstKept ?? this.selectHead.get()!.head + 1;
    let deleted = 0;
    for (;;) {
      const { changes } = this.db.transaction(() => this.deleteBatch.run(below, PRUNE_BATCH)).immediate();
      deleted += changes;
      if (changes < PRUNE_BATCH) return deleted;
      // Let RPCs run between batches.
      await nextTick();
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
