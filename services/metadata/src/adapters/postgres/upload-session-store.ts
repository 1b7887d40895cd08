import { chunkListDigest } from "../../domain/chunk-list-digest.js";
import type { AppendOutcome, ChunkRecord, ChunkSpec, UploadSessionRecord } from "../../domain/types.js";
import type { NewUploadSession, UploadSessionStore } from "../../ports/upload-session-store.js";
import type { PostgresDatabase, Queryable } from "./database.js";
import { toFile, type FileRow } from "./rows.js";

interface SessionRow {
  upload_id: string;
  owner: string;
  name: string;
  content_type: string;
  size: string;
  sha256: string | null;
  chunk_count: number;
  chunks_declared: number;
  bytes_declared: string;
  chunk_list_digest: string | null;
  created_at: Date;
  expires_at: Date;
  committed_file_id: string | null;
  committed_version: number | null;
}

/**
 * The session with, once committed, the file as its commit left it (the
 * committed version's attributes, the file's current name). Its columns are
 * named, not `s.*`: the statement is prepared per connection, and a column a
 * later release adds would change its result under a running replica.
 */
const SELECT_SESSION = `
  SELECT s.upload_id, s.owner, s.name, s.content_type, s.size, s.sha256, s.chunk_count, s.chunks_declared, s.bytes_declared,
         s.chunk_list_digest, s.created_at, s.expires_at, s.committed_file_id, s.committed_version, f.name AS f_name, v.version AS f_version, f.created_at AS f_created_at, f.updated_at AS f_updated_at,
         v.size AS f_size, v.sha256 AS f_sha256, v.content_type AS f_content_type, v.num_chunks AS f_num_chunks
  FROM upload_sessions s
  LEFT JOIN files f ON f.file_id = s.committed_file_id
  LEFT JOIN file_versions v ON v.file_id = s.committed_file_id AND v.version = s.committed_version`;

type JoinedRow = SessionRow & {
  f_name: string | null;
  f_version: number | null;
  f_created_at: Date | null;
  f_updated_at: Date | null;
  f_size: string | null;
  f_sha256: string | null;
  f_content_type: string | null;
  f_num_chunks: number | null;
};

function toSession(r: JoinedRow): UploadSessionRecord {
  const committed =
    r.committed_file_id && r.f_version !== null
      ? toFile({
          file_id: r.committed_file_id,
          name: r.f_name!,
          current_version: r.f_version,
          created_at: r.f_created_at!,
          updated_at: r.f_updated_at!,
          size: r.f_size!,
          sha256: r.f_sha256!,
          content_type: r.f_content_type!,
          num_chunks: r.f_num_chunks!,
        } satisfies FileRow)
      : undefined;
  return {
    uploadId: r.upload_id,
    owner: r.owner,
    name: r.name,
    contentType: r.content_type,
    size: Number(r.size),
    sha256: r.sha256 ?? undefined,
    chunkCount: r.chunk_count,
    chunksDeclared: r.chunks_declared,
    bytesDeclared: Number(r.bytes_declared),
    chunkListDigest: r.chunk_list_digest ?? undefined,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    committed,
  };
}

/** Upload sessions in PostgreSQL (or PGlite). */
export class PostgresUploadSessionStore implements UploadSessionStore {
  constructor(private readonly db: PostgresDatabase) {}

  create(session: NewUploadSession, firstPage: readonly ChunkSpec[]): Promise<AppendOutcome> {
    return this.db.transaction(async (db) => {
      await db.query(
        `INSERT INTO upload_sessions (upload_id, owner, name, content_type, size, sha256, chunk_count, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [session.uploadId, session.owner, session.name, session.contentType, session.size, session.sha256 ?? null, session.chunkCount, session.expiresAt],
      );
      const outcome = await appendLocked(db, session.owner, session.uploadId, 0, firstPage);
      // A first page that does not fit the session leaves no session behind.
      if (outcome?.kind !== "appended" && outcome?.kind !== "repeated") throw new RefusedFirstPage(outcome!);
      return outcome;
    }).catch((err: unknown) => {
      if (err instanceof RefusedFirstPage) return err.outcome;
      throw err;
    });
  }

  append(owner: string, uploadId: string, firstIndex: number, page: readonly ChunkSpec[]): Promise<AppendOutcome | undefined> {
    return this.db.transaction((db) => appendLocked(db, owner, uploadId, firstIndex, page));
  }

  async get(owner: string, uploadId: string): Promise<UploadSessionRecord | undefined> {
    const { rows } = await this.db.query<JoinedRow>(`${SELECT_SESSION} WHERE s.upload_id = $1 AND s.owner = $2 AND s.expires_at > now()`, [uploadId, owner]);
    return rows[0] && toSession(rows[0]);
  }

  async chunks(owner: string, uploadId: string, fromIndex: number, limit: number): Promise<ChunkRecord[]> {
    const { rows } = await this.db.query<{ chunk_index: number; sha256: string; size: number; offset: string }>(
      `SELECT chunk_index, sha256, size, "offset" FROM upload_session_chunks
       WHERE upload_id = $1 AND owner = $2 AND chunk_index >= $3
       ORDER BY chunk_index LIMIT $4`,
      [uploadId, owner, fromIndex, limit],
    );
    return rows.map((r) => ({ index: r.chunk_index, sha256: r.sha256, size: r.size, offset: Number(r.offset) }));
  }

  async distinctChunks(owner: string, uploadId: string): Promise<ChunkSpec[]> {
    const { rows } = await this.db.query<{ sha256: string; size: number }>(
      `SELECT DISTINCT sha256, size FROM upload_session_chunks WHERE upload_id = $1 AND owner = $2`,
      [uploadId, owner],
    );
    return rows;
  }

  async knownContentHash(owner: string, digest: string): Promise<string | undefined> {
    const { rows } = await this.db.query<{ sha256: string }>(
      `SELECT v.sha256 FROM file_versions v JOIN files f ON f.file_id = v.file_id
       WHERE v.chunk_list_digest = $2 AND f.owner = $1 LIMIT 1`,
      [owner, digest],
    );
    return rows[0]?.sha256;
  }

  delete(owner: string, uploadId: string): Promise<boolean> {
    return this.db.transaction(async (db) => (await deleteSessions(db, `upload_id = $1 AND owner = $2`, [uploadId, owner])) > 0);
  }

  deleteExpired(limit: number): Promise<number> {
    return this.db.transaction((db) =>
      deleteSessions(db, `upload_id IN (SELECT upload_id FROM upload_sessions WHERE expires_at <= now() ORDER BY expires_at LIMIT $1)`, [limit]),
    );
  }

  async deleteCommitKeysOlderThan(seconds: number, limit: number): Promise<number> {
    const result = await this.db.query(
      `DELETE FROM commit_keys WHERE ctid IN (
         SELECT ctid FROM commit_keys WHERE created_at <= now() - make_interval(secs => $1) LIMIT $2)`,
      [seconds, limit],
    );
    return result.rowCount ?? 0;
  }
}

/** Carries a refused first page out of create()'s transaction, which it rolls back. */
class RefusedFirstPage extends Error {
  constructor(readonly outcome: AppendOutcome) {
    super("the first page does not fit the session");
  }
}

/**
 * Appends a page to a session's list under the session's row lock. A page
 * that overlaps what is declared is compared, not appended: identical is a
 * retry (nothing changes), anything else a conflict.
 */
async function appendLocked(db: Queryable, owner: string, uploadId: string, firstIndex: number, page: readonly ChunkSpec[]): Promise<AppendOutcome | undefined> {
  const { rows } = await db.query<JoinedRow>(`${SELECT_SESSION} WHERE s.upload_id = $1 AND s.owner = $2 AND s.expires_at > now() FOR UPDATE OF s`, [
    uploadId,
    owner,
  ]);
  if (!rows[0]) return undefined;
  let session = toSession(rows[0]);
  if (firstIndex < session.chunksDeclared) {
    const { rows: declared } = await db.query<{ sha256: string; size: number }>(
      `SELECT sha256, size FROM upload_session_chunks WHERE upload_id = $1 AND chunk_index >= $2 ORDER BY chunk_index LIMIT $3`,
      [uploadId, firstIndex, page.length],
    );
    const same = declared.length === page.length && declared.every((d, i) => d.sha256 === page[i]!.sha256 && d.size === page[i]!.size);
    return { kind: same ? "repeated" : "conflict", session };
  }
  if (firstIndex > session.chunksDeclared) return { kind: "gap", session };
  if (page.length === 0) return { kind: "appended", session };
  if (session.chunksDeclared + page.length > session.chunkCount) {
    return { kind: "overflow", session, what: `the list would have more than the ${session.chunkCount} chunks declared` };
  }
  const pageBytes = page.reduce((total, c) => total + c.size, 0);
  const declared = session.chunksDeclared + page.length;
  const complete = declared === session.chunkCount;
  if (session.bytesDeclared + pageBytes > session.size || (complete && session.bytesDeclared + pageBytes !== session.size)) {
    return { kind: "overflow", session, what: `the chunks would add up to ${session.bytesDeclared + pageBytes} bytes, not the file's ${session.size}` };
  }
  const offsets: number[] = [];
  let offset = session.bytesDeclared;
  for (const chunk of page) {
    offsets.push(offset);
    offset += chunk.size;
  }
  await db.query(
    `INSERT INTO upload_session_chunks (upload_id, chunk_index, owner, sha256, size, "offset")
     SELECT $1, c.chunk_index, $2, c.sha256, c.size, c."offset"
     FROM unnest($3::int[], $4::text[], $5::int[], $6::bigint[]) AS c(chunk_index, sha256, size, "offset")`,
    [uploadId, owner, page.map((_, i) => firstIndex + i), page.map((c) => c.sha256), page.map((c) => c.size), offsets],
  );
  let digest: string | null = null;
  if (complete) {
    const { rows: all } = await db.query<{ sha256: string; size: number }>(
      `SELECT sha256, size FROM upload_session_chunks WHERE upload_id = $1 ORDER BY chunk_index`,
      [uploadId],
    );
    digest = chunkListDigest(all);
  }
  await db.query(`UPDATE upload_sessions SET chunks_declared = $2, bytes_declared = $3, chunk_list_digest = $4 WHERE upload_id = $1`, [
    uploadId,
    declared,
    offset,
    digest,
  ]);
  session = { ...session, chunksDeclared: declared, bytesDeclared: offset, chunkListDigest: digest ?? undefined };
  return { kind: "appended", session };
}

/** Deletes the sessions `where` selects, first queuing their chunks for the collector; returns how many. */
async function deleteSessions(db: Queryable, where: string, values: unknown[]): Promise<number> {
  await db.query(
    `INSERT INTO gc_candidates (owner, sha256)
     SELECT DISTINCT c.owner, c.sha256 FROM upload_session_chunks c
     WHERE c.upload_id IN (SELECT upload_id FROM upload_sessions WHERE ${where})
     ON CONFLICT DO NOTHING`,
    values,
  );
  const result = await db.query(`DELETE FROM upload_sessions WHERE ${where}`, values);
  return result.rowCount ?? 0;
}
