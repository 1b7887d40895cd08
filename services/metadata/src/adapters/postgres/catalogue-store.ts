import { randomUUID } from "node:crypto";
import type { CatalogueStore } from "../../ports/catalogue-store.js";
import { failedPrecondition, notFound } from "#lib/errors.js";
import type { ChunkListPage, VersionChunks } from "../../ports/catalogue-store.js";
import type { DeletedFile, FileRecord, FileVersionRecord, ListFilesQuery, NewFileVersion } from "../../domain/types.js";
import type { PostgresDatabase, Queryable } from "./database.js";
import { insertEvent, SELECT_FILES, toChunks, toFile, toVersion, type FileRow, type OptionalChunkRow, type VersionRow } from "./rows.js";

/** Files, versions and chunk lists in PostgreSQL (or PGlite). */
export class PostgresCatalogueStore implements CatalogueStore {
  constructor(private readonly db: PostgresDatabase) {}

  commitFileVersion(v: NewFileVersion): Promise<FileRecord> {
    return this.db.transaction(async (db) => {
      // A retried commit (same idempotency key, or a session committed
      // already) returns what the first one committed.
      const earlier = await earlierCommit(db, v);
      if (earlier) return earlier;
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
      const numChunks = v.session?.chunkCount ?? v.chunks.length;
      await db.query(
        `INSERT INTO file_versions (file_id, version, size, sha256, content_type, num_chunks, chunk_list_digest)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [fileId, version, v.size, v.sha256, v.contentType, numChunks, v.chunkListDigest],
      );
      if (v.session) {
        // The list stays in the database: a session's may be a million chunks.
        await db.query(
          `INSERT INTO file_chunks (file_id, version, chunk_index, owner, sha256, size, "offset")
           SELECT $1, $2, chunk_index, owner, sha256, size, "offset" FROM upload_session_chunks WHERE upload_id = $3`,
          [fileId, version, v.session.uploadId],
        );
        await db.query(
          `DELETE FROM gc_candidates g WHERE g.owner = $1
             AND g.sha256 IN (SELECT sha256 FROM upload_session_chunks WHERE upload_id = $2)`,
          [v.owner, v.session.uploadId],
        );
      } else if (v.chunks.length > 0) {
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
      await recordCommit(db, v, fileId, version);
      return {
        fileId,
        name: v.name,
        size: v.size,
        sha256: v.sha256,
        contentType: v.contentType,
        numChunks,
        version,
        createdAt: file.created_at,
        updatedAt: file.updated_at,
      };
    });
  }

  async getFile(owner: string, fileId: string): Promise<FileRecord | undefined> {
    const { rows } = await this.db.query<FileRow>(`${SELECT_FILES} WHERE f.owner = $1 AND f.file_id = $2`, [owner, fileId]);
    return rows[0] && toFile(rows[0]);
  }

  async listFiles(owner: string, query: ListFilesQuery): Promise<FileRecord[]> {
    // Keyset pagination on the (owner, name) unique index; `name >= prefix`
    // bounds the index range, starts_with keeps exactly the prefix matches.
    const { rows } = await this.db.query<FileRow>(
      `${SELECT_FILES}
       WHERE f.owner = $1 AND f.name > $2 AND f.name >= $3 AND starts_with(f.name, $3)
       ORDER BY f.name
       LIMIT $4`,
      [owner, query.after, query.prefix, query.limit],
    );
    return rows.map(toFile);
  }

  async listFileVersions(owner: string, fileId: string): Promise<FileVersionRecord[]> {
    const { rows } = await this.db.query<VersionRow>(
      `SELECT v.file_id, v.version, v.size, v.sha256, v.content_type, v.num_chunks, v.created_at
       FROM files f JOIN file_versions v ON v.file_id = f.file_id
       WHERE f.owner = $1 AND f.file_id = $2
       ORDER BY v.version DESC`,
      [owner, fileId],
    );
    return rows.map(toVersion);
  }

  async listFileChunks(owner: string, fileId: string, version: number | undefined, page: ChunkListPage): Promise<VersionChunks | undefined> {
    // The LEFT JOIN yields one all-NULL chunk row for an existing version
    // without chunks in the range (an empty file, a page past the end), and
    // no row when there is no such version.
    const { rows } = await this.db.query<OptionalChunkRow & { v_version: number }>(
      `SELECT v.version AS v_version, c.chunk_index, c.sha256 AS c_sha256, c.size AS c_size, c."offset" AS c_offset
       FROM files f
       JOIN file_versions v ON v.file_id = f.file_id AND v.version = COALESCE($3::int, f.current_version)
       LEFT JOIN LATERAL (
         SELECT * FROM file_chunks c
         WHERE c.file_id = v.file_id AND c.version = v.version AND c.chunk_index >= $4
         ORDER BY c.chunk_index
         LIMIT $5
       ) c ON true
       WHERE f.owner = $1 AND f.file_id = $2
       ORDER BY c.chunk_index`,
      [owner, fileId, version ?? null, page.fromIndex, page.limit],
    );
    return rows[0] ? { version: rows[0].v_version, chunks: toChunks(rows) } : undefined;
  }

  deleteFile(owner: string, fileId: string): Promise<DeletedFile | undefined> {
    return this.db.transaction(async (db) => {
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
}

/**
 * What an earlier commit of the same upload left: the version a session
 * committed, or the one committed under the same idempotency key. Taken under
 * a lock (the session's row, or an advisory lock on the key) so that two
 * retries racing each other commit once.
 */
async function earlierCommit(db: Queryable, v: NewFileVersion): Promise<FileRecord | undefined> {
  let earlier: { file_id: string | null; version: number | null } | undefined;
  if (v.session) {
    const { rows } = await db.query<{ file_id: string | null; version: number | null }>(
      `SELECT committed_file_id AS file_id, committed_version AS version FROM upload_sessions
       WHERE upload_id = $1 AND owner = $2 FOR UPDATE`,
      [v.session.uploadId, v.owner],
    );
    if (!rows[0]) throw notFound("upload not found");
    earlier = rows[0];
  } else if (v.idempotencyKey !== undefined) {
    await db.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`commit-key\n${v.owner}\n${v.idempotencyKey}`]);
    const { rows } = await db.query<{ file_id: string; version: number }>(
      `SELECT file_id, version FROM commit_keys WHERE owner = $1 AND key = $2`,
      [v.owner, v.idempotencyKey],
    );
    earlier = rows[0];
  }
  if (!earlier?.file_id || earlier.version === null) return undefined;
  const { rows } = await db.query<FileRow>(
    `SELECT f.file_id, f.name, v.version AS current_version, f.created_at, f.updated_at, v.size, v.sha256, v.content_type, v.num_chunks
     FROM files f JOIN file_versions v ON v.file_id = f.file_id AND v.version = $3
     WHERE f.owner = $1 AND f.file_id = $2`,
    [v.owner, earlier.file_id, earlier.version],
  );
  if (!rows[0]) throw failedPrecondition("this upload was committed already, and the version it committed is gone");
  return toFile(rows[0]);
}

/** Marks the session committed, or records the idempotency key, in the commit's transaction. */
async function recordCommit(db: Queryable, v: NewFileVersion, fileId: string, version: number): Promise<void> {
  if (v.session) {
    await db.query(`UPDATE upload_sessions SET committed_file_id = $2, committed_version = $3 WHERE upload_id = $1`, [
      v.session.uploadId,
      fileId,
      version,
    ]);
  } else if (v.idempotencyKey !== undefined) {
    await db.query(`INSERT INTO commit_keys (owner, key, file_id, version) VALUES ($1, $2, $3, $4)`, [v.owner, v.idempotencyKey, fileId, version]);
  }
}
