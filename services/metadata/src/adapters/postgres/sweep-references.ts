import type { SweepReferences } from "../../ports/sweep-references.js";
import type { PostgresDatabase } from "./database.js";
import { ownersByKey } from "./rows.js";

/** The sweep's questions, over the catalogue's tables. */
export class PostgresSweepReferences implements SweepReferences {
  constructor(private readonly db: PostgresDatabase) {}

  ownersOf(ownerKeys: readonly string[]): Promise<Map<string, string>> {
    return ownersByKey(this.db, ownerKeys);
  }

  async unreferenced(owner: string, hashes: readonly string[]): Promise<string[]> {
    if (hashes.length === 0) return [];
    const { rows } = await this.db.query<{ sha256: string }>(
      `SELECT h.sha256 FROM (SELECT DISTINCT unnest($2::text[]) AS sha256) h
       WHERE NOT EXISTS (SELECT 1 FROM file_chunks c WHERE c.owner = $1 AND c.sha256 = h.sha256)
         AND NOT EXISTS (SELECT 1 FROM upload_session_chunks s WHERE s.owner = $1 AND s.sha256 = h.sha256)
         AND NOT EXISTS (SELECT 1 FROM gc_candidates g WHERE g.owner = $1 AND g.sha256 = h.sha256)`,
      [owner, [...hashes]],
    );
    return rows.map((r) => r.sha256);
  }
}
