import { createHash } from "node:crypto";
import { CfsError } from "#lib/errors.js";
import type { ChunkStore } from "../ports/chunk-store.js";

/** Who found a chunk bad: a read for a client (a download, sync's verification) or the scrubber. */
export type FoundBy = "read" | "scrub";

/** What becomes of chunks found bad (metrics, logs). */
export interface QuarantineObserver {
  quarantined(ownerKey: string, hash: string, foundBy: FoundBy): void;
  /** Moving a bad chunk out failed (it stays where it was, and is found again by the next read or pass). */
  quarantineFailed(ownerKey: string, hash: string, err: unknown): void;
}

export const isIntact = (data: Buffer, hash: string) => createHash("sha256").update(data).digest("hex") === hash;

/**
 * Takes chunks whose bytes no longer match their hash out of service: moved
 * to the store's quarantine, so they are never served or counted as present,
 * and the next upload of the same content stores them again (the heal).
 */
export class Quarantine {
  /** One isolation per chunk at a time: concurrent readers of a bad chunk wait for the first. */
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(
    private readonly store: ChunkStore,
    private readonly observer: QuarantineObserver,
  ) {}

  /**
   * Quarantines the chunk if it is still bad. It is read once more first: a
   * chunk quarantined by a concurrent reader and stored again by an upload
   * since is intact and stays. Never rejects: a failure is reported.
   */
  isolate(ownerKey: string, hash: string, foundBy: FoundBy): Promise<void> {
    const key = `${ownerKey}/${hash}`;
    const running = this.inFlight.get(key);
    if (running) return running;
    const isolating = this.isolateNow(ownerKey, hash, foundBy)
      .catch((err: unknown) => this.observer.quarantineFailed(ownerKey, hash, err))
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, isolating);
    return isolating;
  }

  private async isolateNow(ownerKey: string, hash: string, foundBy: FoundBy): Promise<void> {
    let data: Buffer | undefined;
    try {
      data = await this.store.get(ownerKey, hash);
      if (data === undefined || isIntact(data, hash)) return;
    } catch (err) {
      // A stored object larger than any chunk: as bad as wrong bytes.
      if (!(err instanceof CfsError && err.kind === "data-loss")) throw err;
    }
    if (await this.store.quarantine(ownerKey, hash)) this.observer.quarantined(ownerKey, hash, foundBy);
  }
}
