import { describe, expect, it, vi } from "vitest";
import { createLogger } from "#lib/logger.js";
import type { CallIdentity } from "#lib/grpc-client.js";
import type { ChunkInventory } from "../ports/chunk-inventory.js";
import type { EventSink } from "../ports/event-sink.js";
import type { MetadataRepository } from "../ports/metadata-repository.js";
import { ChunkCollector } from "./collector.js";
import { estimatedBytes, OutboxRelay } from "./outbox-relay.js";
import type { GcCandidate, OutboxEvent } from "./types.js";

const log = createLogger("test", "silent");
const service: CallIdentity = { token: "service-token" };
const identity = vi.fn(async () => service);

function fakeRepo(impl: Partial<MetadataRepository>): MetadataRepository {
  return new Proxy(impl, {
    get: (target, key) =>
      target[key as keyof MetadataRepository] ??
      (() => {
        throw new Error(`unexpected repository call ${String(key)}`);
      }),
  }) as MetadataRepository;
}

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
    const collector = new ChunkCollector(fakeRepo({ dueGcCandidates, removeGcCandidates }), inventory, identity, { graceSeconds: 60, batchSize: 4 }, log);

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
      fakeRepo({ dueGcCandidates: async () => due, removeGcCandidates }),
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
      fakeRepo({ dueGcCandidates: async () => [] }),
      { storedSizes: vi.fn(), deleteChunks: vi.fn() },
      identity,
      { graceSeconds: 3600, batchSize: 100 },
      log,
    );
    expect(await collector.collectOnce(new AbortController().signal)).toBe(false);
    expect(identity).not.toHaveBeenCalled();
  });
});

describe("OutboxRelay", () => {
  const event = (seq: number): OutboxEvent => ({
    seq: String(seq),
    eventId: `00000000-0000-4000-8000-${String(seq).padStart(12, "0")}`,
    owner: "alice",
    fileId: "00000000-0000-4000-8000-000000000000",
    eventType: "upload",
    name: "a",
    version: 1,
    size: 1,
    sha256: hash(seq),
    chunkSha256s: [],
    createdAt: new Date(),
  });

  it("sends the oldest batch as the service, then removes exactly those events", async () => {
    const events = [event(1), event(2)];
    const removeEvents = vi.fn(async () => undefined);
    const recordEvents = vi.fn(async () => 2);
    const relay = new OutboxRelay(fakeRepo({ pendingEvents: async () => events, removeEvents }), { recordEvents }, identity, log, 2);
    expect(await relay.relayOnce()).toBe(true);
    expect(recordEvents).toHaveBeenCalledWith(events, service);
    expect(removeEvents).toHaveBeenCalledWith(["1", "2"]);
  });

  it("keeps the events when the sync service fails", async () => {
    const removeEvents = vi.fn();
    const sink: EventSink = { recordEvents: async () => Promise.reject(new Error("unavailable")) };
    const relay = new OutboxRelay(fakeRepo({ pendingEvents: async () => [event(1)], removeEvents }), sink, identity, log);
    await expect(relay.relayOnce()).rejects.toThrow("unavailable");
    expect(removeEvents).not.toHaveBeenCalled();
  });

  it("splits a batch whose delete events list many chunks, in order, under the byte budget", async () => {
    const big = (seq: number): OutboxEvent => ({ ...event(seq), eventType: "delete", chunkSha256s: Array.from({ length: 20 }, (_, i) => hash(seq * 100 + i)) });
    const events = [big(1), big(2), big(3)];
    const removeEvents = vi.fn(async () => undefined);
    const recordEvents = vi.fn(async (batch: readonly OutboxEvent[]) => batch.length);
    const budget = estimatedBytes(events[0]!) * 2;
    const relay = new OutboxRelay(fakeRepo({ pendingEvents: async () => events, removeEvents }), { recordEvents }, identity, log, 100, budget);
    expect(await relay.relayOnce()).toBe(true);
    expect(recordEvents).toHaveBeenCalledWith(events.slice(0, 2), service);
    expect(removeEvents).toHaveBeenCalledWith(["1", "2"]);
    // An event alone over the budget still goes, by itself.
    const tiny = new OutboxRelay(fakeRepo({ pendingEvents: async () => events, removeEvents }), { recordEvents }, identity, log, 100, 10);
    expect(await tiny.relayOnce()).toBe(true);
    expect(recordEvents).toHaveBeenLastCalledWith(events.slice(0, 1), service);
  });

  it("reports no more work on an empty or partial batch", async () => {
    const relay = new OutboxRelay(fakeRepo({ pendingEvents: async () => [] }), { recordEvents: vi.fn() }, identity, log);
    expect(await relay.relayOnce()).toBe(false);
  });
});
