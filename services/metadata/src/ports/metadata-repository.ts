import type {
  ChunkRecord,
  ChunkReferences,
  DeletedFile,
  FileRecord,
  FileVersionRecord,
  GcCandidate,
  InspectedVersion,
  ListFilesQuery,
  NewFileVersion,
  OutboxEvent,
} from "../domain/types.js";

/**
 * The catalogue's storage. Every read and delete is scoped to an owner: a
 * file id of another owner behaves exactly like one that does not exist.
 * Implementations run each write in one transaction and never need two
 * database connections at once (PGlite has only one).
 */
export interface MetadataRepository {
  /** Applies pending schema migrations; safe to repeat and to run from several replicas at once. */
  migrate(): Promise<void>;
  /** Resolves when the database answers. */
  ping(): Promise<void>;

  /**
   * In one transaction: creates the file (version 1) or adds the next
   * version of the owner's file with that name, stores its chunk list,
   * un-queues those chunks from garbage collection and writes an "upload"
   * or "update" outbox event.
   */
  commitFileVersion(version: NewFileVersion): Promise<FileRecord>;
  getFile(owner: string, fileId: string): Promise<FileRecord | undefined>;
  /** Ordered by name (byte order), at most `limit` files. */
  listFiles(owner: string, query: ListFilesQuery): Promise<FileRecord[]>;
  /** Newest first; empty when the owner has no such file. */
  listFileVersions(owner: string, fileId: string): Promise<FileVersionRecord[]>;
  /** The chunks of `version` (the newest when undefined); undefined when there is no such file or version. */
  listFileChunks(owner: string, fileId: string, version: number | undefined): Promise<ChunkRecord[] | undefined>;
  /**
   * In one transaction: deletes the file with all its versions, queues for
   * the collector every chunk hash of it that no other file of the owner
   * uses, and writes a "delete" outbox event that lists the distinct chunk
   * hashes of all its versions. Undefined when not found.
   */
  deleteFile(owner: string, fileId: string): Promise<DeletedFile | undefined>;
  /**
   * The file, one version of it (the newest when undefined) and that
   * version's chunks, read in one snapshot; undefined when there is no such
   * file or version.
   */
  inspectFileVersion(owner: string, fileId: string, version: number | undefined): Promise<InspectedVersion | undefined>;
  /** Of `hashes`, which the owner's files reference and which are queued for the collector (one snapshot). */
  chunkReferences(owner: string, hashes: readonly string[]): Promise<ChunkReferences>;

  /** The oldest outbox events, in the order they were written. */
  pendingEvents(limit: number): Promise<OutboxEvent[]>;
  /** Forgets delivered events. */
  removeEvents(seqs: readonly string[]): Promise<void>;

  /**
   * Queues chunk hashes of `owner` for the collector; a hash already queued
   * keeps its queue time. Returns how many were newly queued. The collector
   * re-checks references, so queuing a hash that a file uses is harmless.
   */
  queueGcCandidates(owner: string, hashes: readonly string[]): Promise<number>;
  /**
   * The oldest candidates queued at least `graceSeconds` ago, each re-checked
   * against the chunk lists at read time.
   */
  dueGcCandidates(graceSeconds: number, limit: number): Promise<GcCandidate[]>;
  /**
   * Forgets candidates: collected ones (stillReferenced false)
   * unconditionally; ones read as still referenced only while they still
   * are, since their last file may have been deleted since then and the
   * chunk must then stay queued.
   */
  removeGcCandidates(candidates: readonly GcCandidate[]): Promise<void>;
}
