import type { VerificationReads, VersionRequest } from "../../ports/verification-reads.js";
import type { ChunkReferences, InspectedVersion } from "../../domain/types.js";
import type { PostgresDatabase } from "./database.js";
import { toChunks, toFile, toVersion, type FileRow, type OptionalChunkRow, type VersionRow } from "./rows.js";

type VersionColumns = { [K in keyof VersionRow as `v_${K}`]: VersionRow[K] };

/** The snapshots sync verification reads, each one statement. */
export class PostgresVerificationReads implements VerificationReads {
  constructor(private readonly db: PostgresDatabase) {}

  async inspectFileVersion(owner: string, fileId: string, version: number | undefined): Promise<InspectedVersion | undefined> {
    const [found] = await this.inspectFileVersions([{ owner, fileId, version }]);
    return found;
  }

  async inspectFileVersions(requests: readonly VersionRequest[]): Promise<Array<InspectedVersion | undefined>> {
    if (requests.length === 0) return [];
    // One statement, so every file, version and chunk list comes from one
    // snapshot. The LEFT JOIN yields one all-NULL chunk row for a version
    // without chunks (an empty file), and no row when there is no version.
    const { rows } = await this.db.query<{ ord: string } & FileRow & VersionColumns & OptionalChunkRow>(
      `SELECT r.ord, f.file_id, f.name, f.current_version, f.created_at, f.updated_at,
              cv.size, cv.sha256, cv.content_type, cv.num_chunks,
              v.file_id AS v_file_id, v.version AS v_version, v.size AS v_size, v.sha256 AS v_sha256,
              v.content_type AS v_content_type, v.num_chunks AS v_num_chunks, v.created_at AS v_created_at,
              c.chunk_index, c.sha256 AS c_sha256, c.size AS c_size, c."offset" AS c_offset
       FROM unnest($1::text[], $2::uuid[], $3::int[]) WITH ORDINALITY AS r(owner, file_id, version, ord)
       JOIN files f ON f.owner = r.owner AND f.file_id = r.file_id
       JOIN file_versions cv ON cv.file_id = f.file_id AND cv.version = f.current_version
       JOIN file_versions v ON v.file_id = f.file_id AND v.version = COALESCE(r.version, f.current_version)
       LEFT JOIN file_chunks c ON c.file_id = v.file_id AND c.version = v.version
       ORDER BY r.ord, c.chunk_index`,
      [requests.map((r) => r.owner), requests.map((r) => r.fileId), requests.map((r) => r.version ?? null)],
    );
    const rowsOf = new Map<number, typeof rows>();
    for (const row of rows) {
      const at = Number(row.ord) - 1;
      const list = rowsOf.get(at);
      if (list) list.push(row);
      else rowsOf.set(at, [row]);
    }
    return requests.map((_, i) => {
      const mine = rowsOf.get(i);
      return mine && inspected(mine);
    });
  }

  async chunkReferences(owner: string, hashes: readonly string[]): Promise<ChunkReferences> {
    if (hashes.length === 0) return { referenced: [], queued: [] };
    // One statement: both answers describe the same moment.
    const { rows } = await this.db.query<{ sha256: string; referenced: boolean; queued: boolean }>(
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
}

/** A version's rows (one per chunk, or one all-NULL chunk row for an empty file) as the inspection. */
function inspected(rows: ReadonlyArray<FileRow & VersionColumns & OptionalChunkRow>): InspectedVersion {
  const first = rows[0]!;
  return {
    file: toFile(first),
    version: toVersion({
      file_id: first.v_file_id,
      version: first.v_version,
      size: first.v_size,
      sha256: first.v_sha256,
      content_type: first.v_content_type,
      num_chunks: first.v_num_chunks,
      created_at: first.v_created_at,
    }),
    chunks: toChunks(rows),
  };
}
