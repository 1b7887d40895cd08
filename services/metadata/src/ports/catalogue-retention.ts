import type { CatalogueRules } from "../domain/types.js";

/** The catalogue as the retention loop sweeps it. */
export interface CatalogueRetention {
  /** Purges (as PurgeFile does) up to `limit` files in the trash for longer than `retentionDays`; returns how many. */
  purgeExpiredTrash(retentionDays: number, limit: number): Promise<number>;
  /** Prunes the versions the rules no longer keep of up to `limit` files; returns how many versions went. */
  pruneVersions(rules: CatalogueRules, limit: number): Promise<number>;
}
