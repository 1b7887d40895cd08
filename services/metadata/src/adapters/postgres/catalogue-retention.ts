import type { CatalogueRetention } from "../../ports/catalogue-retention.js";
import type { CatalogueRules } from "../../domain/types.js";
import { lockUsage, pruneVersions, purgeTrashed } from "./catalogue-writes.js";
import type { PostgresDatabase } from "./database.js";

/** The trash and version retention sweeps, each file in its own transaction like the user's own writes. */
export class PostgresCatalogueRetention implements CatalogueRetention {
  constructor(private readonly db: PostgresDatabase) {}

  async purgeExpiredTrash(retentionDays: number, limit: number): Promise<number> {
    const { rows } = await this.db.query<{ owner: string; file_id: string }>(
      `SELECT owner, file_id FROM files
       WHERE deleted_at IS NOT NULL AND deleted_at < now() - make_interval(days => $1)
       ORDER BY deleted_at LIMIT $2`,
      [retentionDays, limit],
    );
    let purged = 0;
    for (const { owner, file_id } of rows) {
      // Re-read under the lock: undeleted or purged meanwhile is skipped.
      const gone = await this.db.transaction((tx) => purgeTrashed(tx, owner, file_id));
      if (gone) purged += 1;
    }
    return purged;
  }

  async pruneVersions(rules: CatalogueRules, limit: number): Promise<number> {
    // Commits prune by count as they add versions; what remains for the
    // sweep is age: files with a version (not the newest) older than the limit.
    if (rules.versionsMaxAgeDays === 0) return 0;
    const { rows } = await this.db.query<{ owner: string; file_id: string }>(
      `SELECT DISTINCT f.owner, f.file_id
       FROM file_versions v JOIN files f ON f.file_id = v.file_id AND f.current_version <> v.version
       WHERE v.created_at < now() - make_interval(days => $1)
       LIMIT $2`,
      [rules.versionsMaxAgeDays, limit],
    );
    let pruned = 0;
    for (const { owner, file_id } of rows) {
      pruned += await this.db.transaction(async (tx) => {
        const [, { rows: locked }] = await Promise.all([lockUsage(tx, owner), tx.query(`SELECT 1 FROM files WHERE file_id = $1 FOR UPDATE`, [file_id])]);
        if (locked.length === 0) return 0;
        const versions = pruneVersions(tx, owner, file_id, rules);
        await tx.commit(versions);
        return versions;
      });
    }
    return pruned;
  }
}
