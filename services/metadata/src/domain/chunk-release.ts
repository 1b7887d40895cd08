import type { ReleaseQueue } from "../ports/collection-queue.js";
import { checkHashes } from "./request-fields.js";

/**
 * Chunks an upload stored before it failed: queued for the collector, which
 * deletes them after the grace period unless a file references them by then.
 */
export class ChunkRelease {
  constructor(private readonly queue: ReleaseQueue) {}

  /** Only the caller's own chunks (owner is the token's subject). Returns how many were newly queued. */
  async releaseChunks(owner: string, sha256s: readonly string[]): Promise<number> {
    const hashes = checkHashes(sha256s);
    if (hashes.length === 0) return 0;
    return this.queue.queueGcCandidates(owner, hashes);
  }
}
