import type { AppendOutcome, ChunkRecord, ChunkSpec, UploadSessionRecord } from "../domain/types.js";

export interface NewUploadSession {
  uploadId: string;
  owner: string;
  name: string;
  contentType: string;
  size: number;
  sha256: string | undefined;
  chunkCount: number;
  expiresAt: Date;
}

/**
 * Upload sessions as the session use cases keep them. Every call is scoped
 * to an owner, and a session past its expiry is gone: another owner's
 * session and an expired one answer undefined, exactly like an unknown id.
 * Each write is one transaction.
 */
export interface UploadSessionStore {
  /** Creates the session with the first page of its list (which must fit it). */
  create(session: NewUploadSession, firstPage: readonly ChunkSpec[]): Promise<AppendOutcome>;
  /**
   * Appends a page at `firstIndex` (locking the session against a concurrent
   * append). When the list becomes complete, its chunkListDigest() is stored.
   */
  append(owner: string, uploadId: string, firstIndex: number, page: readonly ChunkSpec[]): Promise<AppendOutcome | undefined>;
  get(owner: string, uploadId: string): Promise<UploadSessionRecord | undefined>;
  /** Entries `fromIndex`.. of the session's list, at most `limit`. */
  chunks(owner: string, uploadId: string, fromIndex: number, limit: number): Promise<ChunkRecord[]>;
  /** Each distinct chunk of the session's list once, with its size. */
  distinctChunks(owner: string, uploadId: string): Promise<ChunkSpec[]>;
  /** The content SHA-256 of an owner's version with this chunk list digest, if any. */
  knownContentHash(owner: string, chunkListDigest: string): Promise<string | undefined>;
  /** Deletes the session and queues its chunks for the collector (which keeps those still used). */
  delete(owner: string, uploadId: string): Promise<boolean>;
  /** Deletes up to `limit` sessions past their expiry the same way; returns how many. */
  deleteExpired(limit: number): Promise<number>;
  /** Forgets idempotency keys older than `seconds`; returns how many. */
  deleteCommitKeysOlderThan(seconds: number, limit: number): Promise<number>;
}
