import type { CollectionQueue, ReleaseQueue } from "../../ports/collection-queue.js";
import type { GcCandidate } from "../../domain/types.js";
import type { PostgresDatabase } from "./database.js";

/**
 * Whether anything still needs an owner's chunk: a version of a file, or an
 * upload session that has not expired (its chunks may be committed yet).
 */
const STILL_NEEDED = `(
  EXISTS (SELECT 1 FROM file_chunks c WHERE c.owner = g.owner AND c.sha256 = g.sha256)
  OR EXISTS (SELECT 1 FROM upload_session_chunks s JOIN upload_sessions u ON u.upload_id = s.upload_id
             WHERE s.owner = g.owner AND s.sha256 = g.sha256 AND u.expires_at > now()))`;

/** The gc_candidates table: filled by deletes and ReleaseChunks, drained by the collector. */
export class PostgresCollectionQueue implements CollectionQueue, ReleaseQueue {
  constructor(private readonly db: PostgresDatabase) {}

  async queueGcCandidates(owner: string, hashes: readonly string[]): Promise<number> {
    if (hashes.length === 0) return 0;
    const result = await this.db.query(
      `INSERT INTO gc_candidates (owner, sha256)
       SELECT $1, h.sha256 FROM (SELECT DISTINCT unnest($2::text[]) AS sha256) h
       ON CONFLICT DO NOTHING`,
      [owner, [...hashes]],
    );
    return result.rowCount ?? 0;
  }

  async dueGcCandidates(graceSeconds: number, limit: number): Promise<GcCandidate[]> {
    const { rows } = await this.db.query<{ owner: string; sha256: string; still_referenced: boolean }>(
      `SELECT g.owner, g.sha256,
              ${STILL_NEEDED} AS still_referenced
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
    await this.db.query(
      `DELETE FROM gc_candidates g
       USING unnest($1::text[], $2::text[], $3::bool[]) AS d(owner, sha256, still_referenced)
       WHERE g.owner = d.owner AND g.sha256 = d.sha256
         AND (NOT d.still_referenced OR ${STILL_NEEDED})`,
      [candidates.map((c) => c.owner), candidates.map((c) => c.sha256), candidates.map((c) => c.stillReferenced)],
    );
  }
}
