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
import { insertEvent, SELECT_FILES, toChunks, toFile, toVersion, type FileRow, type OptionalChunkRow, type VersionRow } from "./rows.js";

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
      // retry returns it), the owner's usage lock, then the live files of the
      // names. Separate statements run in that order, each with a snapshot
      // taken when it starts: the names' lookup sees whatever the usage lock's
      // last holder committed, and nobody can take or free those names until
      // this transaction ends. Idempotency keys are locked in one order (by
      // key), so that two batches sharing keys cannot deadlock.
      const key = (v: NewFileVersion) => v.idempotencyKey ?? "";
      const byKey = versions.map((v, i) => ({ v, i })).sort((a, b) => (key(a.v) < key(b.v) ? -1 : key(a.v) > key(b.v) ? 1 : 0));
      const earlierInKeyOrder = byKey.map(({ v }) => earlierCommit(tx, v));
      const usageLocked = lockUsage(tx, owner);
      const liveNamed = lockLiveFilesNamed(
        tx,
        owner,
        versions.map((v) => v.name),
      );
      const [inKeyOrder, usage, named] = await Promise.all([Promise.all(earlierInKeyOrder), usageLocked, liveNamed]);
      const earlier: (FileRecord | undefined)[] = [];
      byKey.forEach(({ i }, k) => (earlier[i] = inKeyOrder[k]));

      // Each upload a retry answers (earlier), the same content again, or a new version.
      const written: { at: number; target: VersionTarget }[] = [];
      const sameAgain: { at: number; live: NewestRow }[] = [];
      versions.forEach((v, at) => {
        const live = named.get(v.name);
        if (earlier[at]) return;
        if (live && sameContent(live, v)) sameAgain.push({ at, live });
        else written.push({ at, target: nextVersion(v, live) });
      });
      const refused = quotaRefusal(
        usage,
        written.reduce((sum, w) => sum + w.target.addedBytes, 0),
        rules,
      );
      if (refused) return refused;

      // One round trip: one statement writes every new version, then what
      // the rest need (the same content again, versions to prune), then COMMIT.
      const writing = writeVersions(
        tx,
        written.map(({ at, target }) => ({ v: versions[at]!, target })),
      );
      const statements: Promise<unknown>[] = [writing];
      const files = new Map<number, Promise<FileRecord>>(written.map(({ at }, k) => [at, writing.then((rows) => rows[k]!)]));
      for (const { at, live } of sameAgain) {
        const again = commitSameContent(tx, versions[at]!, live);
        files.set(at, again.file);
        statements.push(...again.statements);
      }
      for (const { target } of written) if (!target.isNewFile) statements.push(pruneVersions(tx, owner, target.fileId, rules));
      const committed = versions.map((_, i) => (earlier[i] ? Promise.resolve(earlier[i]) : files.get(i)!));
      await tx.commit(...committed, ...statements);
      return { kind: "done", value: await Promise.all(committed) };
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
 * Committing the content the live file holds already adds no version: the
 * new list's unused chunks are queued for the collector and the commit is
 * recorded (a retry returns the file). Returns the file and the other
 * statements, for the COMMIT to wait on.
 */
function commitSameContent(tx: Queryable, v: NewFileVersion, existing: NewestRow) {
  const queued = v.session
    ? queueUnreferenced(tx, v.owner, `SELECT sha256 FROM upload_session_chunks WHERE upload_id = $2`, [v.session.uploadId])
    : queueUnreferenced(tx, v.owner, `SELECT unnest($2::text[]) AS sha256`, [v.chunks.map((c) => c.sha256)]);
  const recorded = recordCommit(tx, v, existing.file_id, existing.current_version);
  const file = selectFile(tx, v.owner, existing.file_id).then((f) => f!);
  return { file, statements: [queued, recorded] };
}

/** The next version of the live file of the name (locked by the caller), or version 1 of a new file. */
function nextVersion(v: NewFileVersion, existing: NewestRow | undefined): VersionTarget {
  return existing
    ? { fileId: existing.file_id, version: existing.current_version + 1, isNewFile: false, addedBytes: v.size - Number(existing.size) }
    : { fileId: randomUUID(), version: 1, isNewFile: true, addedBytes: v.size };
}

/** Where writeVersions puts a new version: a new file (version 1), or the next version of a live file the caller locked. */
interface VersionTarget {
  fileId: string;
  version: number;
  isNewFile: boolean;
  /** What the owner's usage grows by (negative when the file shrinks). */
  addedBytes: number;
}

/** One version for writeVersions to write, and where. */
interface VersionWrite {
  v: NewFileVersion;
  target: VersionTarget;
}

/**
 * Writes committed versions of one owner in one statement, whatever their
 * number: the file rows (new, or moved on to the version), the versions,
 * their chunk lists (from the requests, or copied from an upload session,
 * which commits alone), the chunks taken back from the collector's queue,
 * the owner's usage, the sync events (in the versions' order) and the
 * idempotency records. Data-modifying CTEs run as one statement (foreign
 * keys are checked at its end) over the versions as rows of arrays, so a
 * group of uploads is one statement for the database instead of one each
 * (and a small upload one instead of eight), and it travels with the
 * COMMIT. Resolves with the files as committed, in the order given.
 */
async function writeVersions(db: Queryable, writes: readonly VersionWrite[]): Promise<FileRecord[]> {
  const first = writes[0];
  if (!first) return [];
  const session = first.v.session;
  if (session && writes.length > 1) throw new Error("an upload session's version is committed alone");
  const params: unknown[] = [];
  const p = (value: unknown, cast = "") => `$${params.push(value)}${cast}`;
  const column = <T>(value: (w: VersionWrite) => T) => writes.map(value);
  const owner = p(first.v.owner);
  const parts = [
    `input AS (
       SELECT * FROM unnest(${p(column((w) => w.target.fileId))}::uuid[], ${p(column((w) => w.target.version))}::int[],
                            ${p(column((w) => w.target.isNewFile))}::bool[], ${p(column((w) => w.v.name))}::text[],
                            ${p(column((w) => w.v.size))}::bigint[], ${p(column((w) => w.v.sha256))}::text[],
                            ${p(column((w) => w.v.contentType))}::text[], ${p(column((w) => w.v.session?.chunkCount ?? w.v.chunks.length))}::int[],
                            ${p(column((w) => w.v.chunkListDigest))}::text[], ${p(column((w) => w.v.idempotencyKey ?? null))}::text[],
                            ${p(column(() => randomUUID()))}::uuid[])
         WITH ORDINALITY AS i(file_id, version, is_new, name, size, sha256, content_type, num_chunks, chunk_list_digest, idempotency_key, event_id, ord))`,
    `new_file AS (
       INSERT INTO files (file_id, owner, name, current_version)
       SELECT file_id, ${owner}, name, version FROM input WHERE is_new
       RETURNING file_id, name, current_version, created_at, updated_at)`,
    `next_version AS (
       UPDATE files f SET current_version = i.version, updated_at = now() FROM input i WHERE f.file_id = i.file_id AND NOT i.is_new
       RETURNING f.file_id, f.name, f.current_version, f.created_at, f.updated_at)`,
    `version AS (
       INSERT INTO file_versions (file_id, version, size, sha256, content_type, num_chunks, chunk_list_digest)
       SELECT file_id, version, size, sha256, content_type, num_chunks, chunk_list_digest FROM input
       RETURNING file_id, size, sha256, content_type, num_chunks)`,
  ];
  if (session) {
    // The list stays in the database: a session's may be a million chunks.
    const uploadId = p(session.uploadId);
    parts.push(
      `chunks AS (
         INSERT INTO file_chunks (file_id, version, chunk_index, owner, sha256, size, "offset")
         SELECT i.file_id, i.version, c.chunk_index, c.owner, c.sha256, c.size, c."offset" FROM input i, upload_session_chunks c WHERE c.upload_id = ${uploadId})`,
      // These chunks are in use again: the collector must not take them.
      `reused AS (
         DELETE FROM gc_candidates g WHERE g.owner = ${owner}
           AND g.sha256 IN (SELECT sha256 FROM upload_session_chunks WHERE upload_id = ${uploadId}))`,
      `session AS (UPDATE upload_sessions s SET committed_file_id = i.file_id, committed_version = i.version FROM input i WHERE s.upload_id = ${uploadId})`,
    );
  } else {
    const chunks = writes.flatMap((w, k) => w.v.chunks.map((c) => ({ ord: k + 1, c })));
    if (chunks.length > 0) {
      parts.push(
        `chunks AS (
           INSERT INTO file_chunks (file_id, version, chunk_index, owner, sha256, size, "offset")
           SELECT i.file_id, i.version, c.chunk_index, ${owner}, c.sha256, c.size, c."offset"
           FROM unnest(${p(chunks.map((x) => x.ord))}::int[], ${p(chunks.map((x) => x.c.index))}::int[], ${p(chunks.map((x) => x.c.sha256))}::text[],
                       ${p(chunks.map((x) => x.c.size))}::int[], ${p(chunks.map((x) => x.c.offset))}::bigint[]) AS c(ord, chunk_index, sha256, size, "offset")
           JOIN input i ON i.ord = c.ord)`,
        `reused AS (DELETE FROM gc_candidates WHERE owner = ${owner} AND sha256 = ANY(${p([...new Set(chunks.map((x) => x.c.sha256))])}::text[]))`,
      );
    }
    parts.push(
      `commit_key AS (
         INSERT INTO commit_keys (owner, key, file_id, version)
         SELECT ${owner}, idempotency_key, file_id, version FROM input WHERE idempotency_key IS NOT NULL)`,
    );
  }
  const addedBytes = writes.reduce((sum, w) => sum + w.target.addedBytes, 0);
  const newFiles = writes.filter((w) => w.target.isNewFile).length;
  parts.push(
    `usage AS (
       UPDATE owner_usage SET live_bytes = live_bytes + ${p(addedBytes)}, file_count = file_count + ${p(newFiles)}
       WHERE owner = ${owner})`,
    // In the versions' order: the relay hands events on by seq.
    `event AS (
       INSERT INTO sync_outbox (event_id, owner, file_id, event_type, name, version, size, sha256, chunk_sha256s)
       SELECT event_id, ${owner}, file_id, CASE WHEN is_new THEN 'upload' ELSE 'update' END, name, version, size, sha256, '{}'::text[]
       FROM input ORDER BY ord)`,
  );
  const { rows } = await db.query<FileRow>(
    `WITH ${parts.join(",\n")}
     SELECT f.*, v.size, v.sha256, v.content_type, v.num_chunks
     FROM input i
     JOIN (SELECT * FROM new_file UNION ALL SELECT * FROM next_version) f ON f.file_id = i.file_id
     JOIN version v ON v.file_id = i.file_id
     ORDER BY i.ord`,
    params,
  );
  if (rows.length !== writes.length) throw new Error(`wrote ${rows.length} of ${writes.length} versions`);
  return rows.map(toFile);
}

/** Locks the owner's live files of those names (under the usage lock: nobody can take or free a name meanwhile), by name. */
async function lockLiveFilesNamed(db: Queryable, owner: string, names: readonly string[]): Promise<Map<string, NewestRow>> {
  const { rows } = await db.query<NewestRow>(
    `SELECT f.file_id, f.name, f.current_version, v.size, v.sha256
     FROM files f JOIN file_versions v ON v.file_id = f.file_id AND v.version = f.current_version
     WHERE f.owner = $1 AND f.name = ANY($2::text[]) AND f.deleted_at IS NULL
     FOR UPDATE OF f`,
    [owner, names],
  );
  return new Map(rows.map((r) => [r.name, r]));
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
