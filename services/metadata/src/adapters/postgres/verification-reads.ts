import type { VerificationReads } from "../../ports/verification-reads.js";
import type { ChunkReferences, InspectedVersion } from "../../domain/types.js";
import type { PostgresDatabase } from "./database.js";
import { toChunks, toFile, toVersion, type FileRow, type OptionalChunkRow, type VersionRow } from "./rows.js";

type VersionColumns = { [K in keyof VersionRow as `v_${K}`]: VersionRow[K] };

/** The snapshots sync verification reads, each one statement. */
export class PostgresVerificationReads implements VerificationReads {
  constructor(private readonly db: PostgresDatabase) {}

  async inspectFileVersion(owner: string, fileId: string, version: number | undefined): Promise<InspectedVersion | undefined> {
    // One statement, so the file, the version and its chunks come from one
    // snapshot. The LEFT JOIN yields one all-NULL chunk row for a version
    // without chunks (an empty file), and no row when there is no version.
    const { rows } = await this.db.query<FileRow & VersionColumns & OptionalChunkRow>(
      `SELECT f.file_id, f.name, f.current_version, f.created_at, f.updated_at,
              cv.size, cv.sha256, cv.content_type, cv.num_chunks,
              v.file_id AS v_file_id, v.version AS v_version, v.size AS v_size, v.sha256 AS v_sha256,
              v.content_type AS v_content_type, v.num_chunks AS v_num_chunks, v.created_at AS v_created_at,
              c.chunk_index, c.sha256 AS c_sha256, c.size AS c_size, c."offset" AS c_offset
       FROM files f
       JOIN file_versions cv ON cv.file_id = f.file_id AND cv.version = f.current_version
       JOIN file_versions v ON v.file_id = f.file_id AND v.version = COALESCE($3::int, f.current_version)
       LEFT JOIN file_chunks c ON c.file_id = v.file_id AND c.version = v.version
       WHERE f.owner = $1 AND f.file_id = $2
       ORDER BY c.chunk_index`,
      [owner, fileId, version ?? null],
    );
    const first = rows[0];
    if (!first) return undefined;
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
