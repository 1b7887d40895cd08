import type { Logger } from "pino";
import type { ServiceIdentity } from "#lib/grpc-client.js";
import { MAX_HASHES_PER_CALL } from "#lib/limits.js";
import type { ChunkInventory } from "../ports/chunk-inventory.js";
import type { CollectionQueue } from "../ports/collection-queue.js";
import type { GcCandidate } from "./types.js";

export interface CollectorOptions {
  /** How long a chunk stays queued before it may be deleted. */
  graceSeconds: number;
  /** Candidates read per batch. */
  batchSize: number;
}

/**
 * Deletes from block storage the chunks that no file of their owner uses
 * any more.
 *
 * Why the grace period: the chunker asks block storage which chunks it
 * already has and skips uploading those, then commits minutes (or, for a
 * large file, hours) later. If the last file using such a chunk is deleted
 * meanwhile, the chunk is queued here, but the upload in flight still counts
 * on it. Waiting `graceSeconds` before deleting gives that upload time to
 * commit (the commit un-queues the chunk); an upload slower than the grace
 * period is not corrupted either, because CommitFileVersion re-checks with
 * block storage that every chunk exists and fails with FAILED_PRECONDITION
 * if one was collected. Candidates are re-checked against the chunk lists
 * when read, so one that a commit made live again is dropped, not deleted.
 * What remains unguarded is a collection landing between a commit's
 * presence check and its transaction, for a chunk whose grace period ran
 * out at that very moment: milliseconds, or up to RECEIPT_MAX_AGE_MS (5 s)
 * when block storage's receipt for the chunks stands in for the check
 * (lib/chunk-receipts.ts).
 */
export class ChunkCollector {
  constructor(
    private readonly queue: CollectionQueue,
    private readonly inventory: ChunkInventory,
    private readonly identity: ServiceIdentity,
    private readonly options: CollectorOptions,
    private readonly log: Logger,
  ) {}

  /** Collects one batch; true when more candidates may be due. */
  async collectOnce(signal: AbortSignal): Promise<boolean> {
    const due = await this.queue.dueGcCandidates(this.options.graceSeconds, this.options.batchSize);
    if (due.length === 0) return false;
    const stale = due.filter((c) => c.stillReferenced);
    const settled: GcCandidate[] = [...stale];
    const byOwner = new Map<string, string[]>();
    for (const c of due) {
      if (c.stillReferenced) continue;
      const hashes = byOwner.get(c.owner);
      if (hashes) hashes.push(c.sha256);
      else byOwner.set(c.owner, [c.sha256]);
    }

    let deleted = 0;
    let failure: unknown;
    let failedOwners = 0;
    if (byOwner.size > 0) {
      const as = await this.identity(signal);
      for (const [owner, hashes] of byOwner) {
        if (signal.aborted) break;
        try {
          for (let start = 0; start < hashes.length; start += MAX_HASHES_PER_CALL) {
            const batch = hashes.slice(start, start + MAX_HASHES_PER_CALL);
            deleted += await this.inventory.deleteChunks(owner, batch, as);
            settled.push(...batch.map((sha256) => ({ owner, sha256, stillReferenced: false })));
          }
        } catch (err) {
          // Other owners' chunks still go; this owner's stay queued for the next run.
          failure ??= err;
          failedOwners += 1;
        }
      }
    }
    await this.queue.removeGcCandidates(settled);
    this.log.info(
      { due: due.length, stillReferenced: stale.length, deleted, owners: byOwner.size, failedOwners },
      "gc batch",
    );
    if (failure !== undefined) throw new Error(`DeleteChunks failed for ${failedOwners} owner(s)`, { cause: failure });
    return due.length === this.options.batchSize && !signal.aborted;
  }
}
