import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { ChunkRecord, FileRecord, FileVersionRecord, OutboxEvent } from "../../domain/types.js";
import type { PostgresDatabase, Queryable } from "./database.js";

/** A file joined with its newest version: what every file read selects. */
export const SELECT_FILES = `
  SELECT f.file_id, f.name, f.current_version, f.created_at, f.updated_at, f.deleted_at,
         v.size, v.sha256, v.content_type, v.num_chunks
  FROM files f JOIN file_versions v ON v.file_id = f.file_id AND v.version = f.current_version`;

export interface FileRow {
  file_id: string;
  name: string;
  current_version: number;
  created_at: Date;
  updated_at: Date;
  /** bigint columns arrive as strings. */
  size: string;
  sha256: string;
  content_type: string;
  num_chunks: number;
  /** Selected by SELECT_FILES; NULL outside the trash. */
  deleted_at?: Date | null;
}

export function toFile(r: FileRow): FileRecord {
  const file: FileRecord = {
    fileId: r.file_id,
    name: r.name,
    size: Number(r.size),
    sha256: r.sha256,
    contentType: r.content_type,
    numChunks: r.num_chunks,
    version: r.current_version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
  if (r.deleted_at) file.deletedAt = r.deleted_at;
  return file;
}

export interface VersionRow {
  file_id: string;
  version: number;
  size: string;
  sha256: string;
  content_type: string;
  num_chunks: number;
  created_at: Date;
}

export function toVersion(r: VersionRow): FileVersionRecord {
  return {
    fileId: r.file_id,
    version: r.version,
    size: Number(r.size),
    sha256: r.sha256,
    contentType: r.content_type,
    numChunks: r.num_chunks,
    createdAt: r.created_at,
  };
}

/**
 * A chunk row of a LEFT JOIN from file_versions: all NULL for a version
 * without chunks (an empty file).
 */
export interface OptionalChunkRow {
  chunk_index: number | null;
  c_sha256: string | null;
  c_size: number | null;
  c_offset: string | null;
}

/** The chunks of LEFT JOIN rows, in order, skipping the all-NULL row of an empty version. */
export function toChunks(rows: readonly OptionalChunkRow[]): ChunkRecord[] {
  return rows
    .filter((r) => r.chunk_index !== null)
    .map((r) => ({ index: r.chunk_index!, sha256: r.c_sha256!, size: r.c_size!, offset: Number(r.c_offset) }));
}

type NewEvent = Omit<OutboxEvent, "seq" | "eventId" | "createdAt">;

/** Writes a sync event in the caller's transaction, so it exists exactly when the change does. */
export function insertEvent(db: Queryable, e: NewEvent): Promise<pg.QueryResult> {
  return db.query(
    `INSERT INTO sync_outbox (event_id, owner, file_id, event_type, name, version, size, sha256, chunk_sha256s)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text[])`,
    [randomUUID(), e.owner, e.fileId, e.eventType, e.name, e.version, e.size, e.sha256, e.chunkSha256s],
  );
}

/**
 * The owners behind block storage's keys that the catalogue knows (files,
 * upload sessions, collector entries); unknown keys are left out.
 */
export async function ownersByKey(db: Pick<PostgresDatabase, "query">, ownerKeys: readonly string[]): Promise<Map<string, string>> {
  if (ownerKeys.length === 0) return new Map();
  // Block storage keys an owner by the hex SHA-256 of its UTF-8 name (ownerKeyOf).
  const { rows } = await db.query<{ owner: string; owner_key: string }>(
    `SELECT owner, owner_key FROM (
       SELECT owner, encode(sha256(convert_to(owner, 'UTF8')), 'hex') AS owner_key
       FROM (SELECT owner FROM files UNION SELECT owner FROM upload_sessions UNION SELECT owner FROM gc_candidates) o
     ) k
     WHERE owner_key = ANY($1::text[])`,
    [[...ownerKeys]],
  );
  return new Map(rows.map((r) => [r.owner_key, r.owner]));
}
