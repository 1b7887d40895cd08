import type { CatalogueRules, PurgedFile, QuotaChecked } from "../../domain/types.js";
import type { Queryable, Transaction } from "./database.js";
import { insertEvent } from "./rows.js";

/** An owner's usage row, locked until the transaction ends. */
export interface LockedUsage {
  liveBytes: number;
  trashBytes: number;
  fileCount: number;
  /** SetQuota's override; undefined: the default. */
  quotaBytes: number | undefined;
}

/** A file's row with its newest version's content. */
export interface NewestRow {
  file_id: string;
  name: string;
  current_version: number;
  size: string;
  sha256: string;
}

/** Locks a file, outside the trash ("live") or in it ("trashed"), until the transaction ends. */
export async function lockFile(db: Queryable, owner: string, fileId: string, where: "live" | "trashed"): Promise<NewestRow | undefined> {
  const { rows } = await db.query<NewestRow>(
    `SELECT f.file_id, f.name, f.current_version, v.size, v.sha256
     FROM files f JOIN file_versions v ON v.file_id = f.file_id AND v.version = f.current_version
     WHERE f.owner = $1 AND f.file_id = $2 AND f.deleted_at IS ${where === "live" ? "NULL" : "NOT NULL"}
     FOR UPDATE OF f`,
    [owner, fileId],
  );
  return rows[0];
}

/**
 * Locks (creating it if need be) the owner's usage row. Every catalogue
 * write takes this lock first, so an owner's writes are serialized and see
 * each other's usage: concurrent uploads near the quota cannot both pass.
 */
export async function lockUsage(db: Queryable, owner: string): Promise<LockedUsage> {
  const { rows } = await db.query<{ live_bytes: string; trash_bytes: string; file_count: string; quota_bytes: string | null }>(
    `INSERT INTO owner_usage AS u (owner) VALUES ($1)
     ON CONFLICT (owner) DO UPDATE SET owner = u.owner
     RETURNING live_bytes, trash_bytes, file_count, quota_bytes`,
    [owner],
  );
  const r = rows[0]!;
  return {
    liveBytes: Number(r.live_bytes),
    trashBytes: Number(r.trash_bytes),
    fileCount: Number(r.file_count),
    quotaBytes: r.quota_bytes === null ? undefined : Number(r.quota_bytes),
  };
}

/** Adds the deltas to the owner's (locked) usage row. */
export async function adjustUsage(db: Queryable, owner: string, delta: { live?: number; trash?: number; files?: number }): Promise<void> {
  await db.query(
    `UPDATE owner_usage SET live_bytes = live_bytes + $2, trash_bytes = trash_bytes + $3, file_count = file_count + $4 WHERE owner = $1`,
    [owner, delta.live ?? 0, delta.trash ?? 0, delta.files ?? 0],
  );
}

/**
 * Whether adding `addedBytes` keeps the owner within the quota (an override,
 * or the default; 0 is unlimited). A write that does not grow the usage is
 * always allowed, so a user over a lowered quota can still shrink files.
 */
export function quotaRefusal(usage: LockedUsage, addedBytes: number, rules: CatalogueRules): QuotaChecked<never> | undefined {
  const quotaBytes = usage.quotaBytes ?? rules.defaultQuotaBytes;
  const usedBytes = usage.liveBytes + usage.trashBytes;
  if (quotaBytes === 0 || addedBytes <= 0 || usedBytes + addedBytes <= quotaBytes) return undefined;
  return { kind: "over-quota", usedBytes, quotaBytes, addedBytes };
}

/**
 * Queues for the collector the given hashes of the owner that no chunk list
 * of the owner references (the collector re-checks when it reads them).
 */
export async function queueUnreferenced(db: Queryable, owner: string, hashesSql: string, values: unknown[]): Promise<number> {
  const result = await db.query(
    `INSERT INTO gc_candidates (owner, sha256)
     SELECT DISTINCT $1::text, h.sha256 FROM (${hashesSql}) h
     WHERE NOT EXISTS (SELECT 1 FROM file_chunks o WHERE o.owner = $1 AND o.sha256 = h.sha256)
     ON CONFLICT DO NOTHING`,
    [owner, ...values],
  );
  return result.rowCount ?? 0;
}

/**
 * Deletes the versions of a (locked) file that the rules no longer keep:
 * beyond the newest `versionsMax`, or older than `versionsMaxAgeDays`; the
 * newest always stays. Their chunks that nothing else of the owner uses are
 * queued for the collector. Returns how many versions went. One statement,
 * so that it can travel with the version it prunes for and the COMMIT: its
 * snapshot still shows the chunk lists it deletes (they go with the versions,
 * ON DELETE CASCADE, at its end), so a chunk counts as used only by what stays.
 */
export async function pruneVersions(db: Queryable, owner: string, fileId: string, rules: CatalogueRules): Promise<number> {
  const { rows } = await db.query<{ pruned: number }>(
    `WITH doomed AS (
       SELECT r.version FROM (
         SELECT v.version, v.created_at, row_number() OVER (ORDER BY v.version DESC) AS rank
         FROM file_versions v WHERE v.file_id = $1) r
       WHERE r.rank > 1
         AND (r.rank > $2 OR ($3 > 0 AND r.created_at < now() - make_interval(days => $3)))),
     gone AS (DELETE FROM file_versions v USING doomed d WHERE v.file_id = $1 AND v.version = d.version RETURNING v.version),
     queued AS (
       INSERT INTO gc_candidates (owner, sha256)
       SELECT DISTINCT $4::text, c.sha256 FROM file_chunks c
       WHERE c.file_id = $1 AND c.version IN (SELECT version FROM doomed)
         AND NOT EXISTS (
           SELECT 1 FROM file_chunks o
           WHERE o.owner = $4 AND o.sha256 = c.sha256
             AND NOT (o.file_id = $1 AND o.version IN (SELECT version FROM doomed)))
       ON CONFLICT DO NOTHING)
     SELECT count(*)::int AS pruned FROM gone`,
    [fileId, rules.versionsMax, rules.versionsMaxAgeDays, owner],
  );
  return rows[0]!.pruned;
}

/**
 * Deletes a file in the trash for good, as the whole of the transaction `tx`:
 * under the owner's usage lock, its chunks that no other file of the owner
 * lists are queued for the collector, and a "purge" event is written.
 */
export async function purgeTrashed(tx: Transaction, owner: string, fileId: string): Promise<PurgedFile | undefined> {
  const [, file] = await Promise.all([lockUsage(tx, owner), lockFile(tx, owner, fileId, "trashed")]);
  if (!file) return undefined;
  // Before the rows go: every hash of this file (any version) that no other
  // file of the owner lists.
  const queued = tx.query(
    `INSERT INTO gc_candidates (owner, sha256)
     SELECT DISTINCT $1::text, c.sha256 FROM file_chunks c
     WHERE c.file_id = $2
       AND NOT EXISTS (
         SELECT 1 FROM file_chunks o WHERE o.owner = $1 AND o.sha256 = c.sha256 AND o.file_id <> $2)
     ON CONFLICT DO NOTHING`,
    [owner, fileId],
  );
  const deleted = tx.query(`DELETE FROM files WHERE file_id = $1`, [fileId]);
  const counted = adjustUsage(tx, owner, { trash: -Number(file.size) });
  const event = insertEvent(tx, {
    owner,
    fileId,
    eventType: "purge",
    name: file.name,
    version: file.current_version,
    size: Number(file.size),
    sha256: file.sha256,
    chunkSha256s: [],
  });
  await tx.commit(queued, deleted, counted, event);
  return { fileId, name: file.name, version: file.current_version, queuedChunks: (await queued).rowCount ?? 0 };
}
