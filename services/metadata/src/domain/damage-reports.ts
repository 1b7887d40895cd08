import type { ServiceIdentity } from "#lib/grpc-client.js";
import { MAX_HASHES_PER_CALL } from "#lib/limits.js";
import type { DamagedFile, DamageLedger, QuarantinedChunk, QuarantineListing } from "../ports/damage-ledger.js";

export interface DamageReportSettings {
  /** Quarantined chunks listed per block-storage call (at most MAX_HASHES_PER_CALL). */
  pageSize: number;
  /**
   * How far before the newest quarantine reported the listing starts again.
   * A quarantine is named by the time it began and becomes visible when its
   * copy is done; another block-storage replica's clock may lag: one that
   * shows up late, behind a newer one reported already, is still found.
   * Reports already made are recognised and not made twice.
   */
  lookBackMs: number;
}

/** What the reporter did (metrics, logs). */
export interface DamageReportObserver {
  reported(chunk: QuarantinedChunk, owner: string | undefined, files: readonly DamagedFile[]): void;
}

/**
 * Turns block storage's quarantine into sync events: for each chunk found
 * corrupt (by the scrubber, a download or sync's verification) and not
 * reported yet, a "damaged" event per file whose newest version lists it,
 * written to the outbox like every other event. Sync fails each one naming
 * the file, until an upload of the content heals it.
 */
export class DamageReporter {
  constructor(
    private readonly listing: QuarantineListing,
    private readonly ledger: DamageLedger,
    private readonly identity: ServiceIdentity,
    private readonly settings: DamageReportSettings,
    private readonly observer: DamageReportObserver,
  ) {}

  /** Reports what was quarantined since the last run; resolves false (the loop waits an interval). */
  async reportOnce(signal: AbortSignal): Promise<boolean> {
    const pageSize = Math.min(this.settings.pageSize, MAX_HASHES_PER_CALL);
    const latest = await this.ledger.latestReported();
    let after: QuarantinedChunk = {
      quarantinedAt: new Date(latest ? latest.getTime() - this.settings.lookBackMs : 0),
      ownerKey: "",
      sha256: "",
    };
    const owners = new Map<string, string | undefined>();
    for (;;) {
      if (signal.aborted) return false;
      const page = await this.listing.listQuarantined(after, pageSize, await this.identity(signal));
      const unknown = [...new Set(page.map((c) => c.ownerKey))].filter((k) => !owners.has(k));
      const found = await this.ledger.ownersOf(unknown);
      for (const key of unknown) owners.set(key, found.get(key));
      for (const chunk of page) {
        const owner = owners.get(chunk.ownerKey);
        const files = await this.ledger.report(chunk, owner);
        if (files) this.observer.reported(chunk, owner, files);
      }
      if (page.length < pageSize) return false;
      after = page.at(-1)!;
    }
  }
}
