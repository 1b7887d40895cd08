import type { Logger } from "pino";
import type { ServiceIdentity } from "#lib/grpc-client.js";
import { MAX_HASHES_PER_CALL } from "#lib/limits.js";
import type { ChunkListing, ListedChunk } from "../ports/chunk-listing.js";
import type { SweepReferences } from "../ports/sweep-references.js";

export interface SweepSettings {
  /** Chunks stored more recently than this are left alone (CFS_GC_GRACE_SECONDS). */
  graceSeconds: number;
  /** Count and log what would go, delete nothing (CFS_GC_SWEEP_DRY_RUN). */
  dryRun: boolean;
  /** Chunks listed per block-storage call (at most MAX_HASHES_PER_CALL). */
  pageSize: number;
}

export interface SweepResult {
  /** Chunks looked at. */
  listed: number;
  /** Unreferenced chunks older than the grace period: deleted, or in a dry run would be. */
  swept: number;
  bytes: number;
}

export interface SweepObserver {
  swept(chunks: number, bytes: number, dryRun: boolean): void;
  completed(result: SweepResult, seconds: number): void;
}

/**
 * Mark and sweep of block storage against every reference the catalogue
 * holds: each stored chunk older than the grace period that no version of
 * a file (trash included), no upload session and no collector queue entry
 * refers to is deleted. It catches what no delete queued: the chunks of an
 * upload whose process was killed, of a release that failed, of an owner
 * the catalogue never saw.
 *
 * Safe against uploads in flight as the collector is (see ChunkCollector):
 * a chunk younger than the grace period is never touched, a session's
 * chunks are referenced from their declaration, and a streamed upload that
 * outlives the grace period and finds a chunk swept fails its commit's
 * presence check (FAILED_PRECONDITION) instead of committing a hole. Set
 * CFS_GC_GRACE_SECONDS above the longest upload you expect.
 */
export class ChunkSweep {
  constructor(
    private readonly listing: ChunkListing,
    private readonly references: SweepReferences,
    private readonly identity: ServiceIdentity,
    private readonly settings: SweepSettings,
    private readonly observer: SweepObserver,
    private readonly log: Logger,
  ) {}

  /** One sweep over the whole store; resolves false (the loop waits a whole interval before the next). */
  async sweepOnce(signal: AbortSignal): Promise<boolean> {
    const started = Date.now();
    const cutoff = started - this.settings.graceSeconds * 1000;
    const pageSize = Math.min(this.settings.pageSize, MAX_HASHES_PER_CALL);
    const owners = new Map<string, string | undefined>();
    const result: SweepResult = { listed: 0, swept: 0, bytes: 0 };
    let after: ListedChunk | undefined;
    for (;;) {
      if (signal.aborted) return false;
      // A token per page: a sweep of a large store outlives one.
      const as = await this.identity(signal);
      const page = await this.listing.listChunks(after, pageSize, as);
      result.listed += page.length;
      const due = page.filter((c) => c.storedAt.getTime() <= cutoff);
      const byOwnerKey = new Map<string, ListedChunk[]>();
      for (const c of due) byOwnerKey.set(c.ownerKey, [...(byOwnerKey.get(c.ownerKey) ?? []), c]);
      const unknown = [...byOwnerKey.keys()].filter((k) => !owners.has(k));
      const found = await this.references.ownersOf(unknown);
      for (const key of unknown) owners.set(key, found.get(key));
      for (const [ownerKey, chunks] of byOwnerKey) {
        const owner = owners.get(ownerKey);
        const hashes = chunks.map((c) => c.sha256);
        // An owner the catalogue does not know has no file that could refer to a chunk.
        const orphans = new Set(owner === undefined ? hashes : await this.references.unreferenced(owner, hashes));
        if (orphans.size === 0) continue;
        const bytes = chunks.filter((c) => orphans.has(c.sha256)).reduce((sum, c) => sum + c.size, 0);
        const swept = this.settings.dryRun ? orphans.size : await this.listing.deleteByOwnerKey(ownerKey, [...orphans], as);
        result.swept += swept;
        result.bytes += bytes;
        this.observer.swept(swept, bytes, this.settings.dryRun);
        this.log.info({ ownerKey, chunks: swept, bytes, dryRun: this.settings.dryRun }, this.settings.dryRun ? "sweep would delete" : "sweep deleted orphan chunks");
      }
      if (page.length < pageSize) break;
      after = page.at(-1);
    }
    this.observer.completed(result, (Date.now() - started) / 1000);
    return false;
  }
}
