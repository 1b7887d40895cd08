import type { GcCandidate } from "../domain/types.js";

/** Chunk hashes that lost their last reference, as the collector takes them. */
export interface CollectionQueue {
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

/** The collector's queue as ReleaseChunks fills it with the chunks of failed uploads. */
export interface ReleaseQueue {
  /**
   * Queues chunk hashes of `owner` for the collector; a hash already queued
   * keeps its queue time. Returns how many were newly queued. The collector
   * re-checks references, so queuing a hash that a file uses is harmless.
   */
  queueGcCandidates(owner: string, hashes: readonly string[]): Promise<number>;
}
