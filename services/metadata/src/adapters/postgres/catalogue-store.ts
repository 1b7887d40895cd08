import { randomUUID } from "node:crypto";
import { NAME_TAKEN, type CatalogueStore, type ChunkListPage, type VersionChunks } from "../../ports/catalogue-store.js";
import { failedPrecondition, notFound } from "#lib/errors.js";
import type {
  CatalogueRules,
  FileRecord,
  FileVersionRecord,
  ListFilesQuery,
  NewFileVersion,
  PurgedFile,
  QuotaChecked,
  TrashKey,
  Usage,
} from "../../domain/types.js";
import { adjustUsage, lockFile, lockUsage, pruneVersions, purgeTrashed, queueUnreferenced, quotaRefusal, type NewestRow } from "./catalogue-writes.js";
import type { PostgresDatabase, Queryable } from "./database.js";
import { insertEvent, insertEventSql, SELECT_FILES, toChunks, toFile, toVersion, type FileRow, type OptionalChunkRow, type VersionRow } from "./rows.js";

/** Files, versions and chunk lists in PostgreSQL (or PGlite). */
export class PostgresCatalogueStore implements CatalogueStore {
  constructor(private readonly db: PostgresDatabase) {}

  async commitFileVersion(v: NewFileVersion, rules: CatalogueRules): Promise<QuotaChecked<FileRecord>> {
    const outcome = await this.commitFileVersions([v], rules);
    return outcome.kind === "done" ? { kind: "done", value: outcome.value[0]! } : outcome;
  }

  commitFileVersions(versions: readonly NewFileVersion[], rules: CatalogueRules): Promise<QuotaChecked<FileRecord[]>> {
    const owner = versions[0]?.owner;
    if (owner === undefined) return Promise.resolve({ kind: "done", value: [] });
    return this.db.transaction(async (tx) => {
      // One round trip: BEGIN, what an earlier commit of each upload left (a
      // retry returns it), the owner's usage lock, then the live file of each
      // name. Separate statements run in that order, each with a snapshot
      // taken when it starts: the names' lookups see whatever the usage lock's
      // last holder committed, and nobody can take or free those names until
      // this transaction ends. Idempotency keys are locked in one order (by
      // key), so that two batches sharing keys cannot deadlock.
      const key = (v: NewFileVersion) => v.idempotencyKey ?? "";
      const byKey = versions.map((v, i) => ({ v, i })).sort((a, b) => (key(a.v) < key(b.v) ? -1 : key(a.v) > key(b.v) ? 1 : 0));
      const earlierInKeyOrder = byKey.map(({ v }) => earlierCommit(tx, v));
      const usageLocked = lockUsage(tx, owner);
      const existingOfEach = versions.map((v) => lockLiveFileNamed(tx, v.owner, v.name));
      const [inKeyOrder, usage, existing] = await Promise.all([Promise.all(earlierInKeyOrder), usageLocked, Promise.all(existingOfEach)]);
      const earlier: (FileRecord | undefined)[] = [];
      byKey.forEach(({ i }, k) => (earlier[i] = inKeyOrder[k]));

      const added = versions.reduce((sum, v, i) => {
        const current = existing[i];
        return earlier[i] || sameContent(current, v) ? sum : sum + v.size - (current ? Number(current.size) : 0);
      }, 0);
      const refused = quotaRefusal(usage, added, rules);
      if (refused) return refused;

      // One round trip: every file's statements, then COMMIT.
      const files = versions.map((v, i) => {
        const done = earlier[i];
        if (done) return { file: Promise.resolve(done), statements: [] };
        return writeCommit(tx, v, existing[i], rules);
      });
      await tx.commit(...files.flatMap((f) => [f.file, ...f.statements]));
      return { kind: "done", value: await Promise.all(files.map((f) => f.file)) };
    });
  }

  async getFile(owner: string, fileId: string): Promise<FileRecord | undefined> {
    const { rows } = await this.db.query<FileRow>(`${SELECT_FILES} WHERE f.owner = $1 AND f.file_id = $2 AND f.deleted_at IS NULL`, [owner, fileId]);
    return rows[0] && toFile(rows[0]);
  }

  async listFiles(owner: string, query: ListFilesQuery): Promise<FileRecord[]> {
    // Keyset pagination on the (owner, name) unique index of live files;
    // `name >= prefix` bounds the index range, starts_with keeps exactly the
    // prefix matches.
    const { rows } = await this.db.query<FileRow>(
      `${SELECT_FILES}
       WHERE f.owner = $1 AND f.deleted_at IS NULL AND f.name > $2 AND f.name >= $3 AND starts_with(f.name, $3)
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
       WHERE f.owner = $1 AND f.file_id = $2 AND f.deleted_at IS NULL
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
       WHERE f.owner = $1 AND f.file_id = $2 AND f.deleted_at IS NULL
       ORDER BY c.chunk_index`,
      [owner, fileId, version ?? null, page.fromIndex, page.limit],
    );
    return rows[0] ? { version: rows[0].v_version, chunks: toChunks(rows) } : undefined;
  }

  moveFile(owner: string, fileId: string, newName: string): Promise<FileRecord | typeof NAME_TAKEN | undefined> {
    return this.db.transaction(async (tx) => {
      const [, file, taken] = await Promise.all([lockUsage(tx, owner), lockFile(tx, owner, fileId, "live"), nameTaken(tx, owner, newName)]);
      if (!file) return undefined;
      if (file.name === newName) return selectFile(tx, owner, fileId);
      if (taken) return NAME_TAKEN;
      const renamed = tx.query(`UPDATE files SET name = $2, updated_at = now() WHERE file_id = $1`, [fileId, newName]);
      const event = insertEvent(tx, {
        owner,
        fileId,
        eventType: "move",
        name: newName,
        version: file.current_version,
        size: Number(file.size),
        sha256: file.sha256,
        chunkSha256s: [],
      });
      const moved = selectFile(tx, owner, fileId);
      await tx.commit(renamed, event, moved);
      return moved;
    });
  }

  restoreFileVersion(owner: string, fileId: string, version: number, rules: CatalogueRules): Promise<QuotaChecked<FileRecord> | undefined> {
    return this.db.transaction(async (tx) => {
      const [usage, file, { rows }] = await Promise.all([
        lockUsage(tx, owner),
        lockFile(tx, owner, fileId, "live"),
        tx.query<{ size: string; sha256: string }>(`SELECT size, sha256 FROM file_versions WHERE file_id = $1 AND version = $2`, [fileId, version]),
      ]);
      const old = rows[0];
      if (!file || !old) return undefined;
      if (old.sha256 === file.sha256 && old.size === file.size) return { kind: "done", value: (await selectFile(tx, owner, fileId))! };
      const added = Number(old.size) - Number(file.size);
      const refused = quotaRefusal(usage, added, rules);
      if (refused) return refused;
      const next = file.current_version + 1;
      // The version and its chunk list are copied row for row: no bytes move.
      const copied = tx.query(
        `INSERT INTO file_versions (file_id, version, size, sha256, content_type, num_chunks, chunk_list_digest)
         SELECT file_id, $3, size, sha256, content_type, num_chunks, chunk_list_digest FROM file_versions
         WHERE file_id = $1 AND version = $2`,
        [fileId, version, next],
      );
      const chunksCopied = tx.query(
        `INSERT INTO file_chunks (file_id, version, chunk_index, owner, sha256, size, "offset")
         SELECT file_id, $3, chunk_index, owner, sha256, size, "offset" FROM file_chunks WHERE file_id = $1 AND version = $2`,
        [fileId, version, next],
      );
      const moved = tx.query(`UPDATE files SET current_version = $2, updated_at = now() WHERE file_id = $1`, [fileId, next]);
      const counted = adjustUsage(tx, owner, { live: added });
      const pruned = pruneVersions(tx, owner, fileId, rules);
      const event = insertEvent(tx, {
        owner,
        fileId,
        eventType: "restore",
        name: file.name,
        version: next,
        size: Number(old.size),
        sha256: old.sha256,
        chunkSha256s: [],
      });
      const restored = selectFile(tx, owner, fileId);
      await tx.commit(copied, chunksCopied, moved, counted, pruned, event, restored);
      return { kind: "done", value: (await restored)! };
    });
  }

  trashFile(owner: string, fileId: string): Promise<FileRecord | undefined> {
    return this.db.transaction(async (tx) => {
      const [, file] = await Promise.all([lockUsage(tx, owner), lockFile(tx, owner, fileId, "live")]);
      if (!file) return undefined;
      // Milliseconds: the ListTrash keyset travels through JavaScript dates.
      const trashed = tx.query(`UPDATE files SET deleted_at = date_trunc('milliseconds', now()) WHERE file_id = $1`, [fileId]);
      const counted = adjustUsage(tx, owner, { live: -Number(file.size), trash: Number(file.size), files: -1 });
      const event = insertEvent(tx, {
        owner,
        fileId,
        eventType: "trash",
        name: file.name,
        version: file.current_version,
        size: Number(file.size),
        sha256: file.sha256,
        chunkSha256s: [],
      });
      const inTrash = selectFile(tx, owner, fileId, true);
      await tx.commit(trashed, counted, event, inTrash);
      return inTrash;
    });
  }

  async listTrash(owner: string, after: TrashKey | undefined, limit: number): Promise<FileRecord[]> {
    const { rows } = await this.db.query<FileRow>(
      `${SELECT_FILES}
       WHERE f.owner = $1 AND f.deleted_at IS NOT NULL
         AND ($2::timestamptz IS NULL OR (f.deleted_at, f.file_id) < ($2::timestamptz, $3::uuid))
       ORDER BY f.deleted_at DESC, f.file_id DESC
       LIMIT $4`,
      [owner, after?.deletedAt ?? null, after?.fileId ?? null, limit],
    );
    return rows.map(toFile);
  }

  undeleteFile(owner: string, fileId: string, rules: CatalogueRules): Promise<QuotaChecked<FileRecord> | typeof NAME_TAKEN | undefined> {
    return this.db.transaction(async (tx) => {
      const [usage, file] = await Promise.all([lockUsage(tx, owner), lockFile(tx, owner, fileId, "trashed")]);
      if (!file) return undefined;
      if (await nameTaken(tx, owner, file.name)) return NAME_TAKEN;
      // The trash counts already: undeleting adds nothing to the usage.
      const refused = quotaRefusal(usage, 0, rules);
      if (refused) return refused;
      const restored = tx.query(`UPDATE files SET deleted_at = NULL WHERE file_id = $1`, [fileId]);
      const size = Number(file.size);
      const counted = adjustUsage(tx, owner, { live: size, trash: -size, files: 1 });
      const event = insertEvent(tx, {
        owner,
        fileId,
        eventType: "undelete",
        name: file.name,
        version: file.current_version,
        size,
        sha256: file.sha256,
        chunkSha256s: [],
      });
      const live = selectFile(tx, owner, fileId);
      await tx.commit(restored, counted, event, live);
      return { kind: "done", value: (await live)! };
    });
  }

  purgeFile(owner: string, fileId: string): Promise<PurgedFile | undefined> {
    return this.db.transaction((tx) => purgeTrashed(tx, owner, fileId));
  }

  async getUsage(owner: string, defaultQuotaBytes: number): Promise<Usage> {
    const { rows } = await this.db.query<{ live_bytes: string; trash_bytes: string; file_count: string; quota_bytes: string | null }>(
      `SELECT live_bytes, trash_bytes, file_count, quota_bytes FROM owner_usage WHERE owner = $1`,
      [owner],
    );
    const r = rows[0];
    if (!r) return { usedBytes: 0, quotaBytes: defaultQuotaBytes, fileCount: 0, trashBytes: 0 };
    return {
      usedBytes: Number(r.live_bytes) + Number(r.trash_bytes),
      quotaBytes: r.quota_bytes === null ? defaultQuotaBytes : Number(r.quota_bytes),
      fileCount: Number(r.file_count),
      trashBytes: Number(r.trash_bytes),
    };
  }

  async setQuota(owner: string, quotaBytes: number | undefined): Promise<void> {
    await this.db.query(
      `INSERT INTO owner_usage (owner, quota_bytes) VALUES ($1, $2)
       ON CONFLICT (owner) DO UPDATE SET quota_bytes = EXCLUDED.quota_bytes`,
      [owner, quotaBytes ?? null],
    );
  }
}

/** Whether the live file already holds exactly this content (size and SHA-256): committing it again adds no version. */
function sameContent(existing: NewestRow | undefined, v: NewFileVersion): boolean {
  return existing !== undefined && Number(existing.size) === v.size && existing.sha256 === v.sha256;
}

/**
 * Issues what committing one version writes, under locks the caller holds:
 * the next version of the live file of its name (or a new file), or — for
 * the same content again — no version, with the new list's unused chunks
 * queued for the collector. Returns the file as committed and the other
 * statements, for the COMMIT to wait on.
 */
function writeCommit(tx: Queryable, v: NewFileVersion, existing: NewestRow | undefined, rules: CatalogueRules) {
  if (existing && sameContent(existing, v)) {
    const queued = v.session
      ? queueUnreferenced(tx, v.owner, `SELECT sha256 FROM upload_session_chunks WHERE upload_id = $2`, [v.session.uploadId])
      : queueUnreferenced(tx, v.owner, `SELECT unnest($2::text[]) AS sha256`, [v.chunks.map((c) => c.sha256)]);
    const recorded = recordCommit(tx, v, existing.file_id, existing.current_version);
    const file = selectFile(tx, v.owner, existing.file_id).then((f) => f!);
    return { file, statements: [queued, recorded] };
  }
  const fileId = existing ? existing.file_id : randomUUID();
  const version = existing ? existing.current_version + 1 : 1;
  const addedBytes = v.size - (existing ? Number(existing.size) : 0);
  const file = writeVersion(tx, v, { fileId, version, isNewFile: !existing, addedBytes });
  return { file, statements: existing ? [pruneVersions(tx, v.owner, fileId, rules)] : [] };
}

/** Where writeVersion puts a new version: a new file (version 1), or the next version of a live file the caller locked. */
interface VersionTarget {
  fileId: string;
  version: number;
  isNewFile: boolean;
  /** What the owner's usage grows by (negative when the file shrinks). */
  addedBytes: number;
}

/**
 * Writes a committed version in one statement: the file row (new, or moved
 * on to the version), the version, its chunk list (from the request, or
 * copied from the upload session), the chunks taken back from the
 * collector's queue, the owner's usage, the sync event and the idempotency
 * record. Data-modifying CTEs run as one statement (foreign keys are checked
 * at its end), so a small upload's version is one statement for the
 * database instead of eight, and it travels with the COMMIT.
 */
async function writeVersion(db: Queryable, v: NewFileVersion, t: VersionTarget): Promise<FileRecord> {
  const params: unknown[] = [];
  const p = (value: unknown, cast = "") => `$${params.push(value)}${cast}`;
  const fileId = p(t.fileId, "::uuid");
  const owner = p(v.owner);
  const version = p(t.version, "::int");
  const fileRow = t.isNewFile
    ? `INSERT INTO files (file_id, owner, name, current_version) VALUES (${fileId}, ${owner}, ${p(v.name)}, ${version})`
    : `UPDATE files SET current_version = ${version}, updated_at = now() WHERE file_id = ${fileId}`;
  const parts = [
    `file AS (${fileRow} RETURNING file_id, name, current_version, created_at, updated_at)`,
    `version AS (
       INSERT INTO file_versions (file_id, version, size, sha256, content_type, num_chunks, chunk_list_digest)
       VALUES (${fileId}, ${version}, ${p(v.size)}, ${p(v.sha256)}, ${p(v.contentType)}, ${p(v.session?.chunkCount ?? v.chunks.length)}, ${p(v.chunkListDigest)})
       RETURNING size, sha256, content_type, num_chunks)`,
  ];
  if (v.session) {
    // The list stays in the database: a session's may be a million chunks.
    const uploadId = p(v.session.uploadId);
    parts.push(
      `chunks AS (
         INSERT INTO file_chunks (file_id, version, chunk_index, owner, sha256, size, "offset")
         SELECT ${fileId}, ${version}, chunk_index, owner, sha256, size, "offset" FROM upload_session_chunks WHERE upload_id = ${uploadId})`,
      // These chunks are in use again: the collector must not take them.
      `reused AS (
         DELETE FROM gc_candidates g WHERE g.owner = ${owner}
           AND g.sha256 IN (SELECT sha256 FROM upload_session_chunks WHERE upload_id = ${uploadId}))`,
      `session AS (UPDATE upload_sessions SET committed_file_id = ${fileId}, committed_version = ${version} WHERE upload_id = ${uploadId})`,
    );
  } else if (v.chunks.length > 0) {
    parts.push(
      `chunks AS (
         INSERT INTO file_chunks (file_id, version, chunk_index, owner, sha256, size, "offset")
         SELECT ${fileId}, ${version}, c.chunk_index, ${owner}, c.sha256, c.size, c."offset"
         FROM unnest(${p(v.chunks.map((c) => c.index))}::int[], ${p(v.chunks.map((c) => c.sha256))}::text[],
                     ${p(v.chunks.map((c) => c.size))}::int[], ${p(v.chunks.map((c) => c.offset))}::bigint[]) AS c(chunk_index, sha256, size, "offset"))`,
      `reused AS (DELETE FROM gc_candidates WHERE owner = ${owner} AND sha256 = ANY(${p([...new Set(v.chunks.map((c) => c.sha256))])}::text[]))`,
    );
  }
  if (!v.session && v.idempotencyKey !== undefined) {
    parts.push(`commit_key AS (INSERT INTO commit_keys (owner, key, file_id, version) VALUES (${owner}, ${p(v.idempotencyKey)}, ${fileId}, ${version}))`);
  }
  parts.push(
    `usage AS (
       UPDATE owner_usage SET live_bytes = live_bytes + ${p(t.addedBytes)}, file_count = file_count + ${t.isNewFile ? 1 : 0}
       WHERE owner = ${owner})`,
    `event AS (${insertEventSql(p, {
      owner: v.owner,
      fileId: t.fileId,
      eventType: t.isNewFile ? "upload" : "update",
      name: v.name,
      version: t.version,
      size: v.size,
      sha256: v.sha256,
      chunkSha256s: [],
    })})`,
  );
  const { rows } = await db.query<FileRow>(`WITH ${parts.join(",\n")}\nSELECT file.*, version.* FROM file, version`, params);
  return toFile(rows[0]!);
}

/** Locks the owner's live file of that name (under the usage lock: nobody can take or free the name meanwhile). */
async function lockLiveFileNamed(db: Queryable, owner: string, name: string): Promise<NewestRow | undefined> {
  const { rows } = await db.query<NewestRow>(
    `SELECT f.file_id, f.name, f.current_version, v.size, v.sha256
     FROM files f JOIN file_versions v ON v.file_id = f.file_id AND v.version = f.current_version
     WHERE f.owner = $1 AND f.name = $2 AND f.deleted_at IS NULL
     FOR UPDATE OF f`,
    [owner, name],
  );
  return rows[0];
}

async function selectFile(db: Queryable, owner: string, fileId: string, trashed = false): Promise<FileRecord | undefined> {
  const { rows } = await db.query<FileRow>(
    `${SELECT_FILES} WHERE f.owner = $1 AND f.file_id = $2 AND f.deleted_at IS ${trashed ? "NOT NULL" : "NULL"}`,
    [owner, fileId],
  );
  return rows[0] && toFile(rows[0]);
}

async function nameTaken(db: Queryable, owner: string, name: string): Promise<boolean> {
  const { rows } = await db.query(`SELECT 1 FROM files WHERE owner = $1 AND name = $2 AND deleted_at IS NULL`, [owner, name]);
  return rows.length > 0;
}

/** The version an earlier commit recorded (a session's, or an idempotency key's), with that version of the file when it still exists. */
interface EarlierCommitRow extends Partial<FileRow> {
  committed_file_id: string | null;
  committed_version: number | null;
}

/** Joined to a row `r` holding committed_file_id and committed_version: the file at that version. */
const COMMITTED_FILE = `
  f.file_id, f.name, v.version AS current_version, f.created_at, f.updated_at, v.size, v.sha256, v.content_type, v.num_chunks
  FROM committed r
  LEFT JOIN (files f JOIN file_versions v ON v.file_id = f.file_id)
    ON f.owner = r.owner AND f.file_id = r.committed_file_id AND v.version = r.committed_version`;

/**
 * What an earlier commit of the same upload left: the version a session
 * committed, or the one committed under the same idempotency key. Taken under
 * a lock (the session's row, or an advisory lock on the key) so that two
 * retries racing each other commit once. Both statements are issued at once:
 * the lookup, a statement of its own, reads after the lock is granted.
 */
function earlierCommit(tx: Queryable, v: NewFileVersion): Promise<FileRecord | undefined> {
  let locked: Promise<boolean>;
  let lookup: Promise<EarlierCommitRow | undefined>;
  if (v.session) {
    const session = [v.session.uploadId, v.owner];
    locked = tx.query(`SELECT 1 FROM upload_sessions WHERE upload_id = $1 AND owner = $2 FOR UPDATE`, session).then((r) => r.rows.length > 0);
    lookup = tx
      .query<EarlierCommitRow>(
        `WITH committed AS (SELECT owner, committed_file_id, committed_version FROM upload_sessions WHERE upload_id = $1 AND owner = $2)
         SELECT r.committed_file_id, r.committed_version, ${COMMITTED_FILE}`,
        session,
      )
      .then((r) => r.rows[0]);
  } else if (v.idempotencyKey !== undefined) {
    locked = tx.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`commit-key\n${v.owner}\n${v.idempotencyKey}`]).then(() => true);
    lookup = tx
      .query<EarlierCommitRow>(
        `WITH committed AS (SELECT owner, file_id AS committed_file_id, version AS committed_version FROM commit_keys WHERE owner = $1 AND key = $2)
         SELECT r.committed_file_id, r.committed_version, ${COMMITTED_FILE}`,
        [v.owner, v.idempotencyKey],
      )
      .then((r) => r.rows[0]);
  } else {
    return Promise.resolve(undefined);
  }
  return Promise.all([locked, lookup]).then(([found, earlier]) => {
    if (!found) throw notFound("upload not found");
    if (!earlier?.committed_file_id || earlier.committed_version === null) return undefined;
    if (!earlier.file_id) throw failedPrecondition("this upload was committed already, and the version it committed is gone");
    return toFile(earlier as FileRow);
  });
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
