import type { Logger } from "pino";
import type { CatalogueRetention } from "../ports/catalogue-retention.js";
import type { CatalogueRules } from "./types.js";

export interface RetentionOptions {
  rules: CatalogueRules;
  /** Files stay in the trash this many days (CFS_TRASH_RETENTION_DAYS). */
  trashRetentionDays: number;
  /** Files handled per batch. */
  batchSize: number;
}

/**
 * Empties the trash of files deleted longer ago than the retention, and
 * prunes versions that grew older than CFS_VERSIONS_MAX_AGE_DAYS (commits
 * prune by count as they go). Their chunks go to the collector.
 */
export class RetentionSweep {
  constructor(
    private readonly store: CatalogueRetention,
    private readonly options: RetentionOptions,
    private readonly log: Logger,
  ) {}

  /** One batch of each; true when more may be due. */
  async sweepOnce(): Promise<boolean> {
    const { batchSize } = this.options;
    const purged = await this.store.purgeExpiredTrash(this.options.trashRetentionDays, batchSize);
    const pruned = await this.store.pruneVersions(this.options.rules, batchSize);
    if (purged + pruned > 0) this.log.info({ purgedFiles: purged, prunedVersions: pruned }, "retention sweep");
    // Pruned versions are gone for good, so another run finds only what is left.
    return purged === batchSize || pruned > 0;
  }
}
