import { describe, expect, it } from "vitest";
import { createLogger } from "#lib/logger.js";
import type { ChunkListing, ListedChunk } from "../ports/chunk-listing.js";
import type { SweepReferences } from "../ports/sweep-references.js";
import { ChunkSweep, type SweepResult } from "./sweep.js";

const hash = (n: number) => n.toString(16).padStart(64, "0");
const key = (n: number) => `f${n}`.padStart(64, "0");
const log = createLogger("test", "silent");
const old = new Date(Date.now() - 3600_000);

function setup(chunks: ListedChunk[], referenced: Record<string, string[]>, owners: Record<string, string>, dryRun = false) {
  let stored = [...chunks];
  const pages: number[] = [];
  const listing: ChunkListing = {
    async listChunks(after, limit) {
      const page = stored.filter((c) => !after || c.ownerKey > after.ownerKey || (c.ownerKey === after.ownerKey && c.sha256 > after.sha256)).slice(0, limit);
      pages.push(page.length);
      return page;
    },
    async deleteByOwnerKey(ownerKey, hashes) {
      const before = stored.length;
      stored = stored.filter((c) => c.ownerKey !== ownerKey || !hashes.includes(c.sha256));
      return before - stored.length;
    },
  };
  const references: SweepReferences = {
    async ownersOf(keys) {
      return new Map(keys.filter((k) => owners[k]).map((k) => [k, owners[k]!]));
    },
    async unreferenced(owner, hashes) {
      return hashes.filter((h) => !(referenced[owner] ?? []).includes(h));
    },
  };
  const results: SweepResult[] = [];
  const sweep = new ChunkSweep(
    listing,
    references,
    async () => ({ token: "service" }),
    { graceSeconds: 60, dryRun, pageSize: 2 },
    { swept: () => undefined, completed: (r) => results.push(r) },
    log,
  );
  return { sweep, stored: () => stored, results, pages };
}

describe("ChunkSweep", () => {
  const chunks: ListedChunk[] = [
    { ownerKey: key(1), sha256: hash(1), size: 10, storedAt: old },
    { ownerKey: key(1), sha256: hash(2), size: 20, storedAt: old },
    { ownerKey: key(1), sha256: hash(3), size: 30, storedAt: new Date() },
    { ownerKey: key(2), sha256: hash(4), size: 40, storedAt: old },
    { ownerKey: key(3), sha256: hash(5), size: 50, storedAt: old },
  ];

  it("deletes unreferenced chunks older than the grace period, page by page, of known and unknown owners alike", async () => {
    const { sweep, stored, results, pages } = setup(chunks, { alice: [hash(1)], bob: [hash(4)] }, { [key(1)]: "alice", [key(2)]: "bob" });
    expect(await sweep.sweepOnce(new AbortController().signal)).toBe(false);
    // hash 1 and 4 are referenced, hash 3 is young; hash 2 (alice's) and 5 (an owner the catalogue never saw) go.
    expect(stored().map((c) => c.sha256)).toEqual([hash(1), hash(3), hash(4)]);
    expect(results).toEqual([{ listed: 5, swept: 2, bytes: 70 }]);
    expect(pages).toEqual([2, 2, 1]);
  });

  it("deletes nothing in a dry run, and says what it would have", async () => {
    const { sweep, stored, results } = setup(chunks, {}, {}, true);
    await sweep.sweepOnce(new AbortController().signal);
    expect(stored()).toHaveLength(5);
    expect(results).toEqual([{ listed: 5, swept: 4, bytes: 120 }]);
  });
});
