import type { DamagedFile, DamageLedger, QuarantinedChunk } from "../../ports/damage-ledger.js";
import type { PostgresDatabase } from "./database.js";
import { insertEvent, ownersByKey } from "./rows.js";

/** Damage reports over the catalogue: quarantine_reports, and "damaged" events in the outbox. */
export class PostgresDamageLedger implements DamageLedger {
  constructor(private readonly db: PostgresDatabase) {}

  ownersOf(ownerKeys: readonly string[]): Promise<Map<string, string>> {
    return ownersByKey(this.db, ownerKeys);
  }

  async latestReported(): Promise<Date | undefined> {
    const { rows } = await this.db.query<{ latest: Date | null }>(`SELECT max(quarantined_at) AS latest FROM quarantine_reports`);
    return rows[0]?.latest ?? undefined;
  }

  report(chunk: QuarantinedChunk, owner: string | undefined): Promise<DamagedFile[] | undefined> {
    return this.db.transaction(async (db) => {
      // Claimed first: of two replicas reporting the same quarantine, the second waits here and then finds it taken.
      const claimed = await db.query(
        `INSERT INTO quarantine_reports (quarantined_at, owner_key, sha256, files) VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING`,
        [chunk.quarantinedAt, chunk.ownerKey, chunk.sha256],
      );
      if (claimed.rowCount === 0) return undefined;
      if (owner === undefined) return [];
      // Served by file_chunks (owner, sha256).
      const { rows } = await db.query<{ file_id: string; name: string; version: number; size: string; sha256: string }>(
        `SELECT DISTINCT f.file_id, f.name, f.current_version AS version, v.size, v.sha256
         FROM file_chunks c
         JOIN files f ON f.file_id = c.file_id AND f.current_version = c.version
         JOIN file_versions v ON v.file_id = f.file_id AND v.version = f.current_version
         WHERE c.owner = $1 AND c.sha256 = $2 AND f.deleted_at IS NULL
         ORDER BY f.name`,
        [owner, chunk.sha256],
      );
      for (const r of rows) {
        await insertEvent(db, {
          owner,
          fileId: r.file_id,
          eventType: "damaged",
          name: r.name,
          version: r.version,
          size: Number(r.size),
          sha256: r.sha256,
          chunkSha256s: [],
        });
      }
      await db.query(`UPDATE quarantine_reports SET files = $4 WHERE quarantined_at = $1 AND owner_key = $2 AND sha256 = $3`, [
        chunk.quarantinedAt,
        chunk.ownerKey,
        chunk.sha256,
        rows.length,
      ]);
      return rows.map((r) => ({ fileId: r.file_id, name: r.name, version: r.version }));
    });
  }
}
