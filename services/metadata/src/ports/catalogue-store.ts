import type { ChunkRecord, DeletedFile, FileRecord, FileVersionRecord, ListFilesQuery, NewFileVersion } from "../domain/types.js";

/** A page of a chunk list: chunks with index from `fromIndex` on, at most `limit`. */
export interface ChunkListPage {
  fromIndex: number;
  limit: number;
}

export interface VersionChunks {
  /** The version the chunks belong to (the newest, resolved, when none was named). */
  version: number;
  chunks: ChunkRecord[];
}

/**
 * The files, versions and chunk lists as the catalogue's use cases read and
 * change them. Every read and delete is scoped to an owner: a file id of
 * another owner behaves exactly like one that does not exist. Each write is
 * one transaction, and writes the sync event describing it in that
 * transaction.
 */
export interface CatalogueStore {
  /**
   * In one transaction: creates the file (version 1) or adds the next
   * version of the owner's file with that name, stores its chunk list (or
   * copies the session's), un-queues those chunks from garbage collection
   * and writes an "upload" or "update" outbox event. A commit of a session
   * committed before, or under an idempotency key used before, changes
   * nothing and returns the version that one committed.
   */
  commitFileVersion(version: NewFileVersion): Promise<FileRecord>;
  getFile(owner: string, fileId: string): Promise<FileRecord | undefined>;
  /** Ordered by name (byte order), at most `limit` files. */
  listFiles(owner: string, query: ListFilesQuery): Promise<FileRecord[]>;
  /** Newest first; empty when the owner has no such file. */
  listFileVersions(owner: string, fileId: string): Promise<FileVersionRecord[]>;
  /** A page of the chunks of `version` (the newest when undefined); undefined when there is no such file or version. */
  listFileChunks(owner: string, fileId: string, version: number | undefined, page: ChunkListPage): Promise<VersionChunks | undefined>;
  /**
   * In one transaction: deletes the file with all its versions, queues for
   * the collector every chunk hash of it that no other file of the owner
   * uses, and writes a "delete" outbox event that lists the distinct chunk
   * hashes of all its versions. Undefined when not found.
   */
  deleteFile(owner: string, fileId: string): Promise<DeletedFile | undefined>;
}
