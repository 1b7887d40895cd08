import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import Sqlite from "better-sqlite3";
import type { EventStatus, EventType, NewSyncEvent, SyncEventRecord } from "../domain/types.js";
import type { StoredEventsQuery, SyncEventStore } from "../ports/sync-event-store.js";
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
}

const COLUMNS = `seq, event_id, file_id, owner, event_type, status, attempts, error_message,
  name, version, size, sha256, created_at, updated_at`;

/**
 * Sync events in one SQLite file. better-sqlite3 is synchronous: each call
 * is a short indexed query, so it blocks the event loop for microseconds;
 * the port stays async so another store could replace it.
 */
export class SqliteSyncEventStore implements SyncEventStore {
  private readonly insertOne: Sqlite.Statement<[Record<string, string | number>]>;
  private readonly insertAll: Sqlite.Transaction<(events: readonly NewSyncEvent[]) => number>;
  private readonly listAll: Sqlite.Statement<[string, number, number], Row>;
  private readonly listFile: Sqlite.Statement<[string, string, number, number], Row>;
  private readonly getOne: Sqlite.Statement<[string, string], Row>;
  private readonly probe: Sqlite.Statement<[], unknown>;

  private constructor(private readonly db: Sqlite.Database) {
    this.insertOne = db.prepare(
      `INSERT INTO sync_events (event_id, file_id, owner, event_type, status, attempts, error_message,
         name, version, size, sha256, created_at, updated_at)
       VALUES (@eventId, @fileId, @owner, @eventType, @status, @attempts, @errorMessage,
         @name, @version, @size, @sha256, @createdAt, @updatedAt)
       ON CONFLICT (event_id) DO NOTHING`,
    );
    this.insertAll = db.transaction((events: readonly NewSyncEvent[]) => {
      let inserted = 0;
      for (const event of events) inserted += this.insertOne.run(toParams(event)).changes;
      return inserted;
    });
    this.listAll = db.prepare(
      `SELECT ${COLUMNS} FROM sync_events WHERE owner = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
    );
    this.listFile = db.prepare(
      `SELECT ${COLUMNS} FROM sync_events WHERE owner = ? AND file_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
    );
    this.getOne = db.prepare(`SELECT ${COLUMNS} FROM sync_events WHERE event_id = ? AND owner = ?`);
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
    const before = query.beforeSeq ?? Number.MAX_SAFE_INTEGER;
    const rows =
      query.fileId === undefined
        ? this.listAll.all(query.owner, before, query.limit)
        : this.listFile.all(query.owner, query.fileId, before, query.limit);
    return rows.map(fromRow);
  }

  async get(owner: string, eventId: string): Promise<SyncEventRecord | undefined> {
    const row = this.getOne.get(eventId, owner);
    return row && fromRow(row);
  }

  async ping(): Promise<void> {
    this.probe.get();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function toParams(event: NewSyncEvent): Record<string, string | number> {
  return { ...event, createdAt: event.createdAt.getTime(), updatedAt: event.updatedAt.getTime() };
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
  };
}
