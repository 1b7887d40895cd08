import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { runner } from "node-pg-migrate";
import pg from "pg";
import type { Logger } from "pino";
import { CfsError, unavailable } from "#lib/errors.js";
import type { MetadataRepository } from "../ports/metadata-repository.js";
import type {
  ChunkRecord,
  ChunkReferences,
  DeletedFile,
  EventType,
  FileRecord,
  FileVersionRecord,
  GcCandidate,
  InspectedVersion,
  ListFilesQuery,
  NewFileVersion,
  OutboxEvent,
} from "../domain/types.js";

const MIGRATIONS_DIR = fileURLToPath(new URL("../../migrations", import.meta.url));
/** Only `*.sql` files are migrations (node-pg-migrate would load anything else as a JS module). */
const NOT_A_MIGRATION = "(?:\\..*|(?!.*\\.sql$).*)";

export interface PoolOptions {
  url: string;
  /** 1 on PGlite, which runs one query at a time on a single session. */
  max: number;
}

/** A pg pool whose idle-connection errors are logged instead of crashing the process. */
export function createPool(options: PoolOptions, log: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  pool.on("error", (err) => log.warn({ err }, "idle database connection failed"));
  return pool;
}

/**
 * The catalogue in PostgreSQL (or PGlite through the same wire protocol).
 * Each write is one transaction on one pooled connection, which does
 * nothing else until COMMIT: with PGlite's single connection another query
 * awaited inside a transaction would wait forever.
 */
export class PostgresMetadataRepository implements MetadataRepository {
  constructor(
    private readonly pool: pg.Pool,
    private readonly log: Logger,
  ) {}

  async migrate(): Promise<void> {
    const client = await this.connect();
    const log = this.log.child({ component: "migrations" });
    let failure: Error | undefined;
    try {
      await runner({
        dbClient: client,
        dir: MIGRATIONS_DIR,
        ignorePattern: NOT_A_MIGRATION,
        migrationsTable: "schema_migrations",
        direction: "up",
        // Each file in its own transaction: a failure keeps the earlier ones.
        singleTransaction: false,
        // A second replica starting at the same time waits, then finds nothing to do.
        advisoryLockMode: "wait",
        checkOrder: true,
        logger: {
          info: (msg) => log.info(msg.trim()),
          warn: (msg) => log.warn(msg.trim()),
          error: (msg) => log.error(msg.trim()),
        },
      });
    } catch (err) {
      failure = err instanceof Error ? err : new Error(String(err));
      throw failure;
    } finally {
      // After a failure the session may sit in an aborted transaction or still
      // hold the advisory lock: destroy it rather than return it to the pool.
      client.release(failure);
    }
  }

  async ping(): Promise<void> {
    await this.query("SELECT 1");
  }

  commitFileVersion(v: NewFileVersion): Promise<FileRecord> {
    return this.transaction(async (db) => {
      // New name: version 1 under a fresh id. Existing name: the next version
      // of the same file; the row lock taken here serializes concurrent
      // commits (and a delete) of that name until COMMIT.
      const { rows: fileRows } = await db.query<{ file_id: string; current_version: number; created_at: Date; updated_at: Date }>(
        `INSERT INTO files AS f (file_id, owner, name, current_version)
         VALUES ($1, $2, $3, 1)
         ON CONFLICT (owner, name) DO UPDATE SET current_version = f.current_version + 1, updated_at = now()
         RETURNING file_id, current_version, created_at, updated_at`,
        [randomUUID(), v.owner, v.name],
      );
      const file = fileRows[0]!;
      const fileId = file.file_id;
      const version = file.current_version;
      await db.query(
        `INSERT INTO file_versions (file_id, version, size, sha256, content_type, num_chunks)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [fileId, version, v.size, v.sha256, v.contentType, v.chunks.length],
      );
      if (v.chunks.length > 0) {
        // One statement for the whole list, however many chunks.
        await db.query(
          `INSERT INTO file_chunks (file_id, version, chunk_index, owner, sha256, size, "offset")
           SELECT $1, $2, c.chunk_index, $3, c.sha256, c.size, c."offset"
           FROM unnest($4::int[], $5::text[], $6::int[], $7::bigint[]) AS c(chunk_index, sha256, size, "offset")`,
          [
            fileId,
            version,
            v.owner,
            v.chunks.map((c) => c.index),
            v.chunks.map((c) => c.sha256),
            v.chunks.map((c) => c.size),
            v.chunks.map((c) => c.offset),
          ],
        );
        // These chunks are in use again: the collector must not take them.
        await db.query(`DELETE FROM gc_candidates WHERE owner = $1 AND sha256 = ANY($2::text[])`, [
          v.owner,
          [...new Set(v.chunks.map((c) => c.sha256))],
        ]);
      }
      await insertEvent(db, {
        owner: v.owner,
        fileId,
        eventType: version === 1 ? "upload" : "update",
        name: v.name,
        version,
        size: v.size,
        sha256: v.sha256,
        chunkSha256s: [],
      });
      return {
        fileId,
        name: v.name,
        size: v.size,
        sha256: v.sha256,
        contentType: v.contentType,
        numChunks: v.chunks.length,
        version,
        createdAt: file.created_at,
        updatedAt: file.updated_at,
      };
    });
  }

  async getFile(owner: string, fileId: string): Promise<FileRecord | undefined> {
    const { rows } = await this.query<FileRow>(`${SELECT_FILES} WHERE f.owner = $1 AND f.file_id = $2`, [owner, fileId]);
    return rows[0] && toFile(rows[0]);
  }

  async listFiles(owner: string, query: ListFilesQuery): Promise<FileRecord[]> {
    // Keyset pagination on the (owner, name) unique index; `name >= prefix`
    // bounds the index range, starts_with keeps exactly the prefix matches.
    const { rows } = await this.query<FileRow>(
      `${SELECT_FILES}
       WHERE f.owner = $1 AND f.name > $2 AND f.name >= $3 AND starts_with(f.name, $3)
       ORDER BY f.name
       LIMIT $4`,
      [owner, query.after, query.prefix, query.limit],
    );
    return rows.map(toFile);
  }

  async listFileVersions(owner: string, fileId: string): Promise<FileVersionRecord[]> {
    const { rows } = await this.query<VersionRow>(
      `SELECT v.file_id, v.version, v.size, v.sha256, v.content_type, v.num_chunks, v.created_at
       FROM files f JOIN file_versions v ON v.file_id = f.file_id
       WHERE f.owner = $1 AND f.file_id = $2
       ORDER BY v.version DESC`,
      [owner, fileId],
    );
    return rows.map((r) => ({
      fileId: r.file_id,
      version: r.version,
      size: Number(r.size),
      sha256: r.sha256,
      contentType: r.content_type,
      numChunks: r.num_chunks,
      createdAt: r.created_at,
    }));
  }

  async listFileChunks(owner: string, fileId: string, version: number | undefined): Promise<ChunkRecord[] | undefined> {
    // The LEFT JOIN yields one all-NULL chunk row for an existing version
    // without chunks (an empty file), and no row when there is no version.
    const { rows } = await this.query<{ chunk_index: number | null; sha256: string | null; size: number | null; offset: string | null }>(
      `SELECT c.chunk_index, c.sha256, c.size, c."offset"
       FROM files f
       JOIN file_versions v ON v.file_id = f.file_id AND v.version = COALESCE($3::int, f.current_version)
       LEFT JOIN file_chunks c ON c.file_id = v.file_id AND c.version = v.version
       WHERE f.owner = $1 AND f.file_id = $2
       ORDER BY c.chunk_index`,
      [owner, fileId, version ?? null],
    );
    if (rows.length === 0) return undefined;
    return rows
      .filter((r) => r.chunk_index !== null)
      .map((r) => ({ index: r.chunk_index!, sha256: r.sha256!, size: r.size!, offset: Number(r.offset) }));
  }

  deleteFile(owner: string, fileId: string): Promise<DeletedFile | undefined> {
    return this.transaction(async (db) => {
      // Locking the row makes a concurrent commit of the same name wait for
      // this delete (it then starts a new file at version 1).
      const { rows } = await db.query<{ name: string; version: number; size: string; sha256: string }>(
        `SELECT f.name, f.current_version AS version, v.size, v.sha256
         FROM files f JOIN file_versions v ON v.file_id = f.file_id AND v.version = f.current_version
         WHERE f.owner = $1 AND f.file_id = $2
         FOR UPDATE OF f`,
        [owner, fileId],
      );
      const file = rows[0];
      if (!file) return undefined;
      // Every chunk any version used, for the delete event: sync verification
      // checks that each is still needed elsewhere, queued, or collected.
      const { rows: hashRows } = await db.query<{ hashes: string[] }>(
        `SELECT COALESCE(array_agg(DISTINCT sha256 ORDER BY sha256), '{}') AS hashes FROM file_chunks WHERE file_id = $1`,
        [fileId],
      );
      // Before the rows go: every hash of this file (any version) that no
      // other file of the owner lists.
      const queued = await db.query(
        `INSERT INTO gc_candidates (owner, sha256)
         SELECT DISTINCT $1::text, c.sha256 FROM file_chunks c
         WHERE c.file_id = $2
           AND NOT EXISTS (
             SELECT 1 FROM file_chunks o WHERE o.owner = $1 AND o.sha256 = c.sha256 AND o.file_id <> $2)
         ON CONFLICT DO NOTHING`,
        [owner, fileId],
      );
      await db.query(`DELETE FROM files WHERE file_id = $1`, [fileId]);
      await insertEvent(db, {
        owner,
        fileId,
        eventType: "delete",
        name: file.name,
        version: file.version,
        size: Number(file.size),
        sha256: file.sha256,
        chunkSha256s: hashRows[0]?.hashes ?? [],
      });
      return { fileId, name: file.name, version: file.version, queuedChunks: queued.rowCount ?? 0 };
    });
  }

  async inspectFileVersion(owner: string, fileId: string, version: number | undefined): Promise<InspectedVersion | undefined> {
    // One statement, so the file, the version and its chunks come from one
    // snapshot. The LEFT JOIN yields one all-NULL chunk row for a version
    // without chunks (an empty file), and no row when there is no version.
    const { rows } = await this.query<
      FileRow & {
        v_version: number;
        v_size: string;
        v_sha256: string;
        v_content_type: string;
        v_num_chunks: number;
        v_created_at: Date;
        chunk_index: number | null;
        c_sha256: string | null;
        c_size: number | null;
        c_offset: string | null;
      }
    >(
      `SELECT f.file_id, f.name, f.current_version, f.created_at, f.updated_at,
              cv.size, cv.sha256, cv.content_type, cv.num_chunks,
              v.version AS v_version, v.size AS v_size, v.sha256 AS v_sha256, v.content_type AS v_content_type,
              v.num_chunks AS v_num_chunks, v.created_at AS v_created_at,
              c.chunk_index, c.sha256 AS c_sha256, c.size AS c_size, c."offset" AS c_offset
       FROM files f
       JOIN file_versions cv ON cv.file_id = f.file_id AND cv.version = f.current_version
       JOIN file_versions v ON v.file_id = f.file_id AND v.version = COALESCE($3::int, f.current_version)
       LEFT JOIN file_chunks c ON c.file_id = v.file_id AND c.version = v.version
       WHERE f.owner = $1 AND f.file_id = $2
       ORDER BY c.chunk_index`,
      [owner, fileId, version ?? null],
    );
    const first = rows[0];
    if (!first) return undefined;
    return {
      file: toFile(first),
      version: {
        fileId: first.file_id,
        version: first.v_version,
        size: Number(first.v_size),
        sha256: first.v_sha256,
        contentType: first.v_content_type,
        numChunks: first.v_num_chunks,
        createdAt: first.v_created_at,
      },
      chunks: rows
        .filter((r) => r.chunk_index !== null)
        .map((r) => ({ index: r.chunk_index!, sha256: r.c_sha256!, size: r.c_size!, offset: Number(r.c_offset) })),
    };
  }

  async chunkReferences(owner: string, hashes: readonly string[]): Promise<ChunkReferences> {
    if (hashes.length === 0) return { referenced: [], queued: [] };
    // One statement: both answers describe the same moment.
    const { rows } = await this.query<{ sha256: string; referenced: boolean; queued: boolean }>(
      `SELECT h.sha256,
              EXISTS (SELECT 1 FROM file_chunks c WHERE c.owner = $1 AND c.sha256 = h.sha256) AS referenced,
              EXISTS (SELECT 1 FROM gc_candidates g WHERE g.owner = $1 AND g.sha256 = h.sha256) AS queued
       FROM (SELECT DISTINCT unnest($2::text[]) AS sha256) h
       ORDER BY h.sha256`,
      [owner, [...hashes]],
    );
    return {
      referenced: rows.filter((r) => r.referenced).map((r) => r.sha256),
      queued: rows.filter((r) => r.queued).map((r) => r.sha256),
    };
  }

  async pendingEvents(limit: number): Promise<OutboxEvent[]> {
    const { rows } = await this.query<{
      seq: string;
      event_id: string;
      owner: string;
      file_id: string;
      event_type: EventType;
      name: string;
      version: number;
      size: string;
      sha256: string;
      chunk_sha256s: string[];
      created_at: Date;
    }>(
      `SELECT seq, event_id, owner, file_id, event_type, name, version, size, sha256, chunk_sha256s, created_at
       FROM sync_outbox ORDER BY seq LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({
      seq: String(r.seq),
      eventId: r.event_id,
      owner: r.owner,
      fileId: r.file_id,
      eventType: r.event_type,
      name: r.name,
      version: r.version,
      size: Number(r.size),
      sha256: r.sha256,
      chunkSha256s: r.chunk_sha256s,
      createdAt: r.created_at,
    }));
  }

  async removeEvents(seqs: readonly string[]): Promise<void> {
    if (seqs.length === 0) return;
    await this.query(`DELETE FROM sync_outbox WHERE seq = ANY($1::bigint[])`, [[...seqs]]);
  }

  async queueGcCandidates(owner: string, hashes: readonly string[]): Promise<number> {
    if (hashes.length === 0) return 0;
    const result = await this.query(
      `INSERT INTO gc_candidates (owner, sha256)
       SELECT $1, h.sha256 FROM (SELECT DISTINCT unnest($2::text[]) AS sha256) h
       ON CONFLICT DO NOTHING`,
      [owner, [...hashes]],
    );
    return result.rowCount ?? 0;
  }

  async dueGcCandidates(graceSeconds: number, limit: number): Promise<GcCandidate[]> {
    const { rows } = await this.query<{ owner: string; sha256: string; still_referenced: boolean }>(
      `SELECT g.owner, g.sha256,
              EXISTS (SELECT 1 FROM file_chunks c WHERE c.owner = g.owner AND c.sha256 = g.sha256) AS still_referenced
       FROM gc_candidates g
       WHERE g.queued_at <= now() - make_interval(secs => $1)
       ORDER BY g.queued_at
       LIMIT $2`,
      [graceSeconds, limit],
    );
    return rows.map((r) => ({ owner: r.owner, sha256: r.sha256, stillReferenced: r.still_referenced }));
  }

  async removeGcCandidates(candidates: readonly GcCandidate[]): Promise<void> {
    if (candidates.length === 0) return;
    await this.query(
      `DELETE FROM gc_candidates g
       USING unnest($1::text[], $2::text[], $3::bool[]) AS d(owner, sha256, still_referenced)
       WHERE g.owner = d.owner AND g.sha256 = d.sha256
         AND (NOT d.still_referenced
              OR EXISTS (SELECT 1 FROM file_chunks c WHERE c.owner = g.owner AND c.sha256 = g.sha256))`,
      [candidates.map((c) => c.owner), candidates.map((c) => c.sha256), candidates.map((c) => c.stillReferenced)],
    );
  }

  private async query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (err) {
      throw translate(err);
    }
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw translate(err);
    }
  }

  private async transaction<T>(work: (db: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.connect();
    try {
      await client.query("BEGIN");
      const result = await work(client);
      await client.query("COMMIT");
      client.release();
      return result;
    } catch (err) {
      // A connection that cannot even roll back is broken: drop it from the pool.
      await client.query("ROLLBACK").then(
        () => client.release(),
        (rollbackError: Error) => client.release(rollbackError),
      );
      throw translate(err);
    }
  }
}

const SELECT_FILES = `
  SELECT f.file_id, f.name, f.current_version, f.created_at, f.updated_at,
         v.size, v.sha256, v.content_type, v.num_chunks
  FROM files f JOIN file_versions v ON v.file_id = f.file_id AND v.version = f.current_version`;

interface FileRow {
  file_id: string;
  name: string;
  current_version: number;
  created_at: Date;
  updated_at: Date;
  /** bigint columns arrive as strings. */
  size: string;
  sha256: string;
  content_type: string;
  num_chunks: number;
}

interface VersionRow {
  file_id: string;
  version: number;
  size: string;
  sha256: string;
  content_type: string;
  num_chunks: number;
  created_at: Date;
}

function toFile(r: FileRow): FileRecord {
  return {
    fileId: r.file_id,
    name: r.name,
    size: Number(r.size),
    sha256: r.sha256,
    contentType: r.content_type,
    numChunks: r.num_chunks,
    version: r.current_version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function insertEvent(db: pg.PoolClient, e: Omit<OutboxEvent, "seq" | "eventId" | "createdAt">): Promise<pg.QueryResult> {
  return db.query(
    `INSERT INTO sync_outbox (event_id, owner, file_id, event_type, name, version, size, sha256, chunk_sha256s)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text[])`,
    [randomUUID(), e.owner, e.fileId, e.eventType, e.name, e.version, e.size, e.sha256, e.chunkSha256s],
  );
}

/** SQLSTATE classes and socket errors that mean "the database is unreachable", not "the request is wrong". */
const CONNECTION_ERRORS = new Set(["57P01", "57P02", "57P03", "53300", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND"]);

/** Connection failures become UNAVAILABLE (clients retry); anything else stays internal. */
function translate(err: unknown): unknown {
  if (err instanceof CfsError || !(err instanceof Error)) return err;
  const code = (err as { code?: unknown }).code;
  const lost =
    (typeof code === "string" && (code.startsWith("08") || CONNECTION_ERRORS.has(code))) ||
    /Connection terminated|timeout exceeded when trying to connect/.test(err.message);
  return lost ? unavailable("database unavailable", err) : err;
}
