import { describe, expect, it, vi } from "vitest";
import { createLogger } from "#lib/logger.js";
import type { CallIdentity } from "#lib/grpc-client.js";
import type { ChunkInventory } from "../ports/chunk-inventory.js";
import type { CollectionQueue } from "../ports/collection-queue.js";
import { strictFake } from "../../../../tests/support/strict-fake.js";
import { ChunkCollector } from "./collector.js";
import type { GcCandidate } from "./types.js";

const log = createLogger("test", "silent");
const service: CallIdentity = { token: "service-token" };
const identity = vi.fn(async () => service);
const hash = (n: number) => n.toString(16).padStart(64, "0");

describe("ChunkCollector", () => {
  it("deletes each owner's unreferenced chunks as the service and forgets them with the stale ones", async () => {
    const due: GcCandidate[] = [
      { owner: "alice", sha256: hash(1), stillReferenced: false },
      { owner: "bob", sha256: hash(2), stillReferenced: false },
      { owner: "alice", sha256: hash(3), stillReferenced: true },
      { owner: "alice", sha256: hash(4), stillReferenced: false },
    ];
    const removeGcCandidates = vi.fn(async (_candidates: readonly GcCandidate[]) => undefined);
    const dueGcCandidates = vi.fn(async () => due);
    const deleteChunks = vi.fn(async (_owner: string, hashes: readonly string[]) => hashes.length);
    const inventory: ChunkInventory = { storedSizes: vi.fn(), deleteChunks };
    const collector = new ChunkCollector(strictFake<CollectionQueue>({ dueGcCandidates, removeGcCandidates }), inventory, identity, { graceSeconds: 60, batchSize: 4 }, log);

    expect(await collector.collectOnce(new AbortController().signal)).toBe(true);
    expect(dueGcCandidates).toHaveBeenCalledWith(60, 4);
    expect(deleteChunks.mock.calls).toEqual([
      ["alice", [hash(1), hash(4)], service],
      ["bob", [hash(2)], service],
    ]);
    const removed = removeGcCandidates.mock.calls[0]![0];
    expect(removed).toHaveLength(4);
    expect(removed).toContainEqual({ owner: "alice", sha256: hash(3), stillReferenced: true });
    expect(removed).toContainEqual({ owner: "bob", sha256: hash(2), stillReferenced: false });
  });

  it("keeps a failing owner's candidates queued, still settles the others, and reports the failure", async () => {
    const due: GcCandidate[] = [
      { owner: "alice", sha256: hash(1), stillReferenced: false },
      { owner: "bob", sha256: hash(2), stillReferenced: false },
    ];
    const removeGcCandidates = vi.fn(async () => undefined);
    const deleteChunks = vi.fn(async (owner: string) => {
      if (owner === "alice") throw new Error("block storage down");
      return 1;
    });
    const collector = new ChunkCollector(
      strictFake<CollectionQueue>({ dueGcCandidates: async () => due, removeGcCandidates }),
      { storedSizes: vi.fn(), deleteChunks },
      identity,
      { graceSeconds: 0, batchSize: 100 },
      log,
    );
    await expect(collector.collectOnce(new AbortController().signal)).rejects.toThrow(/1 owner/);
    expect(removeGcCandidates).toHaveBeenCalledWith([{ owner: "bob", sha256: hash(2), stillReferenced: false }]);
  });

  it("does nothing when no candidate is due", async () => {
    identity.mockClear();
    const collector = new ChunkCollector(
      strictFake<CollectionQueue>({ dueGcCandidates: async () => [] }),
      { storedSizes: vi.fn(), deleteChunks: vi.fn() },
      identity,
      { graceSeconds: 3600, batchSize: 100 },
      log,
    );
    expect(await collector.collectOnce(new AbortController().signal)).toBe(false);
    expect(identity).not.toHaveBeenCalled();
  });
});
