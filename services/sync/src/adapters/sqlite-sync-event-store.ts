import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import Sqlite from "better-sqlite3";
import type { ClaimedEvent, EventStatus, EventType, NewSyncEvent, SyncEventRecord, SyncStatus, Verification, VerificationAction } from "../domain/types.js";
import type { StoredEventsQuery, SyncEventStore } from "../ports/sync-event-store.js";
import type { SyncEventStats, VerificationQueue } from "../ports/verification-queue.js";
import { loadMigrations, migrate } from "./sqlite-migrations.js";

/** services/sync/migrations, wherever the process was started from. */
export const MIGRATIONS_DIR = fileURLToPath(new URL("../../migrations/", import.meta.url));

export interface SqliteOpenOptions {
  migrationsDir?: string;
  /** How long a write waits for another connection's lock. */
  busyTimeoutMs?: number;
}

interface Row {
  seq: number;
  event_id: string;
  file_id: string;
  owner: string;
  event_type: string;
  status: string;
  attempts: number;
  error_message: string;
  name: string;
  version: number;
  size: number;
  sha256: string;
  created_at: number;
  updated_at: number;
  sync_status: string;
  chunks_verified: number;
  total_chunks: number;
  chunks_rehashed: number;
  action: string;
  verified_at: number | null;
}

const COLUMNS = `seq, event_id, file_id, owner, event_type, status, attempts, error_message,
  name, version, size, sha256, created_at, updated_at,
  sync_status, chunks_verified, total_chunks, chunks_rehashed, action, verified_at`;

type Params = Record<string, string | number | null>;

/**
 * Sync events in one SQLite file. better-sqlite3 is synchronous: each call
 * is a short indexed query, so it blocks the event loop for microseconds;
 * the ports stay async so another store could replace it.
 */
export class SqliteSyncEventStore implements SyncEventStore, VerificationQueue, SyncEventStats {
  private readonly insertOne: Sqlite.Statement<[Params]>;
  private readonly insertChunk: Sqlite.Statement<[number, string]>;
  private readonly insertAll: Sqlite.Transaction<(events: readonly NewSyncEvent[]) => number>;
  /** One statement per combination of filters, prepared on first use. */
  private readonly listings = new Map<string, Sqlite.Statement<unknown[], Row>>();
  private readonly getOne: Sqlite.Statement<[string, string], Row>;
  private readonly getBySeq: Sqlite.Statement<[number], Row>;
  private readonly chunksOf: Sqlite.Statement<[number], string>;
  private readonly claim: Sqlite.Transaction<(now: number, limit: number) => ClaimedEvent[]>;
  private readonly recover: Sqlite.Transaction<(maxAttempts: number, message: string, now: number) => { requeued: number; failed: EventType[] }>;
  private readonly toCompleted: Sqlite.Statement<[Params]>;
  private readonly toFailed: Sqlite.Statement<[Params]>;
  private readonly toPending: Sqlite.Statement<[Params]>;
  private readonly laterDelete: Sqlite.Statement<[string, string, number], number>;
  private readonly counts: Sqlite.Statement<[], { event_type: string; status: string; n: number }>;
  private readonly oldest: Sqlite.Statement<[], number | null>;
  private readonly probe: Sqlite.Statement<[], unknown>;

  private constructor(private readonly db: Sqlite.Database) {
    this.insertOne = db.prepare(
      `INSERT INTO sync_events (event_id, file_id, owner, event_type, status, attempts, error_message,
         name, version, size, sha256, created_at, updated_at)
       VALUES (@eventId, @fileId, @owner, @eventType, @status, @attempts, @errorMessage,
         @name, @version, @size, @sha256, @createdAt, @updatedAt)
       ON CONFLICT (event_id) DO NOTHING`,
    );
    this.insertChunk = db.prepare(`INSERT OR IGNORE INTO sync_event_chunks (event_seq, sha256) VALUES (?, ?)`);
    this.insertAll = db.transaction((events: readonly NewSyncEvent[]) => {
      let inserted = 0;
      for (const event of events) {
        const result = this.insertOne.run(toParams(event));
        if (result.changes === 0) continue;
        inserted += 1;
        for (const hash of event.chunkSha256s ?? []) this.insertChunk.run(Number(result.lastInsertRowid), hash);
      }
      return inserted;
    });
    this.getOne = db.prepare(`SELECT ${COLUMNS} FROM sync_events WHERE event_id = ? AND owner = ?`);
    this.getBySeq = db.prepare(`SELECT ${COLUMNS} FROM sync_events WHERE seq = ?`);
    this.chunksOf = db.prepare(`SELECT sha256 FROM sync_event_chunks WHERE event_seq = ? ORDER BY sha256`).pluck() as Sqlite.Statement<
      [number],
      string
    >;

    // sync_events_status holds (status, seq) in order: the due pending
    // events come out oldest first without a sort.
    const due = db.prepare(`SELECT seq FROM sync_events WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY seq LIMIT ?`).pluck();
    const take = db.prepare(`UPDATE sync_events SET status = 'processing', attempts = attempts + 1, updated_at = ? WHERE seq = ? AND status = 'pending'`);
    this.claim = db.transaction((now: number, limit: number) => {
      const seqs = due.all(now, limit) as number[];
      return seqs.map((seq) => {
        take.run(now, seq);
        return { ...fromRow(this.getBySeq.get(seq)!), chunkSha256s: this.chunksOf.all(seq) };
      });
    });

    const interrupted = db.prepare(`SELECT seq, event_type, attempts FROM sync_events WHERE status = 'processing'`);
    const giveUp = db.prepare(`UPDATE sync_events SET status = 'failed', error_message = ?, updated_at = ? WHERE seq = ?`);
    const requeue = db.prepare(`UPDATE sync_events SET status = 'pending', next_attempt_at = 0, updated_at = ? WHERE seq = ?`);
    this.recover = db.transaction((maxAttempts: number, message: string, now: number) => {
      let requeued = 0;
      const failed: EventType[] = [];
      for (const row of interrupted.all() as Array<{ seq: number; event_type: EventType; attempts: number }>) {
        if (row.attempts >= maxAttempts) {
          giveUp.run(message, now, row.seq);
          failed.push(row.event_type);
        } else {
          requeue.run(now, row.seq);
          requeued += 1;
        }
      }
      return { requeued, failed };
    });

    const result = `sync_status = @syncStatus, chunks_verified = @chunksVerified, total_chunks = @totalChunks,
      chunks_rehashed = @chunksRehashed, action = @action, verified_at = @verifiedAt`;
    this.toCompleted = db.prepare(
      `UPDATE sync_events SET status = 'completed', error_message = '', ${result}, updated_at = @now
       WHERE seq = @seq AND status = 'processing'`,
    );
    this.toFailed = db.prepare(
      `UPDATE sync_events SET status = 'failed', error_message = @message, ${result}, updated_at = @now
       WHERE seq = @seq AND status = 'processing'`,
    );
    this.toPending = db.prepare(
      `UPDATE sync_events SET status = 'pending', error_message = @message, next_attempt_at = @nextAttemptAt, updated_at = @now
       WHERE seq = @seq AND status = 'processing'`,
    );
    this.laterDelete = db
      .prepare(`SELECT 1 FROM sync_events WHERE owner = ? AND file_id = ? AND seq > ? AND event_type IN ('delete', 'purge') LIMIT 1`)
      .pluck() as Sqlite.Statement<[string, string, number], number>;
    this.counts = db.prepare(`SELECT event_type, status, n FROM sync_event_counts ORDER BY event_type, status`);
    this.oldest = db
      .prepare(`SELECT min(created_at) FROM sync_events WHERE status IN ('pending', 'processing')`)
      .pluck() as Sqlite.Statement<[], number | null>;
    this.probe = db.prepare("SELECT 1");
  }

  /** Opens (creating the file and its directory if needed) and migrates the database. */
  static open(path: string, options: SqliteOpenOptions = {}): SqliteSyncEventStore {
    // The file holds users' file names: keep a directory we create private.
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const db = new Sqlite(path);
    try {
      db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5_000)}`);
      // WAL lets reads run while the relay writes. With WAL, synchronous
      // NORMAL survives process crashes; only a power loss may roll back
      // the last commits (never corrupting the file), in exchange for no
      // fsync per RecordEvents.
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      // sync_event_chunks rows go with their event.
      db.pragma("foreign_keys = ON");
      migrate(db, loadMigrations(options.migrationsDir ?? MIGRATIONS_DIR));
      return new SqliteSyncEventStore(db);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  async insertNew(events: readonly NewSyncEvent[]): Promise<number> {
    return this.insertAll.immediate(events);
  }

  async list(query: StoredEventsQuery): Promise<SyncEventRecord[]> {
    const filters: string[] = [];
    const values: unknown[] = [query.owner];
    for (const [column, value] of [
      ["file_id", query.fileId],
      ["status", query.status],
      ["event_type", query.eventType],
    ] as const) {
      if (value === undefined) continue;
      filters.push(`AND ${column} = ?`);
      values.push(value);
    }
    values.push(query.beforeSeq ?? Number.MAX_SAFE_INTEGER, query.limit);
    const key = filters.join(" ");
    let statement = this.listings.get(key);
    if (!statement) {
      // Served by sync_events_owner_file_seq or sync_events_owner_seq; the
      // status and type filters are checked on the rows the index yields.
      statement = this.db.prepare<unknown[], Row>(
        `SELECT ${COLUMNS} FROM sync_events WHERE owner = ? ${key} AND seq < ? ORDER BY seq DESC LIMIT ?`,
      );
      this.listings.set(key, statement);
    }
    return statement.all(...values).map(fromRow);
  }

  async get(owner: string, eventId: string): Promise<SyncEventRecord | undefined> {
    const row = this.getOne.get(eventId, owner);
    return row && fromRow(row);
  }

  async recoverInterrupted(maxAttempts: number, message: string, now: Date): Promise<{ requeued: number; failed: EventType[] }> {
    return this.recover.immediate(maxAttempts, message, now.getTime());
  }

  async claimDue(now: Date, limit: number): Promise<ClaimedEvent[]> {
    // IMMEDIATE: the write lock is taken before reading, so two claimers
    // (there should be one) could never take the same event.
    return this.claim.immediate(now.getTime(), limit);
  }

  async complete(seq: number, verification: Verification, now: Date): Promise<boolean> {
    return this.toCompleted.run({ seq, now: now.getTime(), ...resultParams(verification) }).changes === 1;
  }

  async fail(seq: number, message: string, verification: Verification | undefined, now: Date): Promise<boolean> {
    const result = verification
      ? resultParams(verification)
      : { syncStatus: "", chunksVerified: 0, totalChunks: 0, chunksRehashed: 0, action: "", verifiedAt: null };
    return this.toFailed.run({ seq, message, now: now.getTime(), ...result }).changes === 1;
  }

  async retryLater(seq: number, message: string, nextAttemptAt: Date, now: Date): Promise<boolean> {
    return this.toPending.run({ seq, message, nextAttemptAt: nextAttemptAt.getTime(), now: now.getTime() }).changes === 1;
  }

  async hasLaterDelete(owner: string, fileId: string, afterSeq: number): Promise<boolean> {
    return this.laterDelete.get(owner, fileId, afterSeq) !== undefined;
  }

  async countsByTypeAndStatus(): Promise<Array<{ eventType: EventType; status: EventStatus; count: number }>> {
    return this.counts.all().map((r) => ({ eventType: r.event_type as EventType, status: r.status as EventStatus, count: r.n }));
  }

  async oldestUnverified(): Promise<Date | undefined> {
    const at = this.oldest.get();
    return at === null || at === undefined ? undefined : new Date(at);
  }

  async ping(): Promise<void> {
    this.probe.get();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function toParams(event: NewSyncEvent): Params {
  return {
    eventId: event.eventId,
    fileId: event.fileId,
    owner: event.owner,
    eventType: event.eventType,
    status: event.status,
    attempts: event.attempts,
    errorMessage: event.errorMessage,
    name: event.name,
    version: event.version,
    size: event.size,
    sha256: event.sha256,
    createdAt: event.createdAt.getTime(),
    updatedAt: event.updatedAt.getTime(),
  };
}

function resultParams(v: Verification): Params {
  return {
    syncStatus: v.syncStatus,
    chunksVerified: v.chunksVerified,
    totalChunks: v.totalChunks,
    chunksRehashed: v.chunksRehashed,
    action: v.action,
    verifiedAt: v.verifiedAt.getTime(),
  };
}

function fromRow(row: Row): SyncEventRecord {
  return {
    seq: row.seq,
    eventId: row.event_id,
    fileId: row.file_id,
    owner: row.owner,
    // CHECK constraints keep these columns within the known values.
    eventType: row.event_type as EventType,
    status: row.status as EventStatus,
    attempts: row.attempts,
    errorMessage: row.error_message,
    name: row.name,
    version: row.version,
    size: row.size,
    sha256: row.sha256,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    // Left out (not undefined-valued) until verification concluded.
    ...(row.verified_at === null
      ? {}
      : {
          verification: {
            syncStatus: row.sync_status as SyncStatus,
            chunksVerified: row.chunks_verified,
            totalChunks: row.total_chunks,
            chunksRehashed: row.chunks_rehashed,
            action: row.action as VerificationAction,
            verifiedAt: new Date(row.verified_at),
          },
        }),
  };
}
