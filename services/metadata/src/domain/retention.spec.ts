import { describe, expect, it, vi } from "vitest";
import { createLogger } from "#lib/logger.js";
import { strictFake } from "../../../../tests/support/strict-fake.js";
import type { CatalogueRetention } from "../ports/catalogue-retention.js";
import { RetentionSweep } from "./retention.js";

const rules = { defaultQuotaBytes: 0, versionsMax: 100, versionsMaxAgeDays: 180 };
const log = createLogger("retention-spec", "silent");

describe("RetentionSweep", () => {
  it("purges the trash past its retention and prunes aged versions, in batches, asking again while a batch was full", async () => {
    const purgeExpiredTrash = vi.fn(async () => 10);
    const pruneVersions = vi.fn(async () => 0);
    const sweep = new RetentionSweep(strictFake<CatalogueRetention>({ purgeExpiredTrash, pruneVersions }), { rules, trashRetentionDays: 30, batchSize: 10 }, log);
    expect(await sweep.sweepOnce()).toBe(true);
    expect(purgeExpiredTrash).toHaveBeenCalledWith(30, 10);
    expect(pruneVersions).toHaveBeenCalledWith(rules, 10);
    purgeExpiredTrash.mockResolvedValue(3);
    expect(await sweep.sweepOnce()).toBe(false);
    pruneVersions.mockResolvedValue(2);
    expect(await sweep.sweepOnce()).toBe(true);
  });
});
