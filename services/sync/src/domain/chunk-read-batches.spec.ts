import { describe, expect, it, vi } from "vitest";
import { CfsError } from "#lib/errors.js";
import type { CallIdentity } from "#lib/grpc-client.js";
import type { ChunkToRead } from "../ports/peers.js";
import { BatchedChunkReads } from "./chunk-read-batches.js";

/**
 * Block storage as a map of owner -> hash -> bytes; a hash starting with
 * "bad" is corrupt, and "down" fails the stream the way a peer going away does.
 */
function storage(chunks: Record<string, Record<string, string>>) {
  const streams: Array<{ owner: string; hashes: string[] }> = [];
  let open = 0;
  let mostOpen = 0;
  const readChunks = vi.fn(async function* (owner: string, wanted: readonly ChunkToRead[], _as: CallIdentity) {
    streams.push({ owner, hashes: wanted.map((c) => c.sha256) });
    mostOpen = Math.max(mostOpen, ++open);
    try {
      for (const { sha256 } of wanted) {
        // Each chunk takes a turn of the event loop, as a network read does.
        await new Promise((next) => setImmediate(next));
        if (sha256 === "down") throw new CfsError("unavailable", "block storage went away");
        if (sha256.startsWith("bad")) throw new CfsError("data-loss", `chunk ${sha256} does not match its hash`);
        const data = chunks[owner]?.[sha256];
        if (data === undefined) throw new CfsError("not-found", `chunk ${sha256} not found`);
        yield Buffer.from(data);
      }
    } finally {
      open--;
    }
  });
  const storedSizes = vi.fn(async () => new Map([["a", 1]]));
  return { inner: { readChunks, storedSizes }, streams, mostOpen: () => mostOpen };
}

const settle = (reads: Array<Promise<Buffer | undefined>>) =>
  Promise.allSettled(reads).then((all) => all.map((o) => (o.status === "fulfilled" ? o.value?.toString() : `${(o.reason as CfsError).kind}`)));

describe("BatchedChunkReads", () => {
  it("reads the chunks asked in one turn on one stream per owner, one stream at a time, each caller getting its own bytes", async () => {
    const s = storage({ alice: { a: "A", b: "B" }, bob: { c: "C" } });
    const reads = new BatchedChunkReads(s.inner);
    const as = { token: "t" };
    const later = { token: "t" };
    const asked = [reads.read("alice", "a", 10, as), reads.read("bob", "c", 10, as), reads.read("alice", "b", 10, as), reads.read("bob", "c", 10, later)];
    expect(await settle(asked)).toEqual(["A", "C", "B", "C"]);
    expect(s.streams).toEqual([
      { owner: "alice", hashes: ["a", "b"] },
      { owner: "bob", hashes: ["c"] },
      { owner: "bob", hashes: ["c"] },
    ]);
    expect(s.mostOpen()).toBe(1);
    expect(s.inner.readChunks.mock.calls[0]![1]).toEqual([
      { sha256: "a", maxBytes: 10 },
      { sha256: "b", maxBytes: 10 },
    ]);
  });

  it("answers a missing chunk undefined and a corrupt one data-loss, reading the ones after each on a new stream", async () => {
    const s = storage({ alice: { a: "A", c: "C", d: "D" } });
    const reads = new BatchedChunkReads(s.inner);
    const as = { token: "t" };
    const asked = ["a", "missing", "c", "bad-1", "d"].map((h) => reads.read("alice", h, 10, as));
    expect(await settle(asked)).toEqual(["A", undefined, "C", "data-loss", "D"]);
    expect(s.streams.map((x) => x.hashes)).toEqual([["a", "missing", "c", "bad-1", "d"], ["c", "bad-1", "d"], ["d"]]);
  });

  it("fails the reads not answered yet when the stream fails otherwise, and keeps those answered", async () => {
    const s = storage({ alice: { a: "A", b: "B" } });
    const reads = new BatchedChunkReads(s.inner);
    const as = { token: "t" };
    expect(await settle(["a", "down", "b"].map((h) => reads.read("alice", h, 10, as)))).toEqual(["A", "unavailable", "unavailable"]);
    expect(s.streams).toHaveLength(1);
  });

  it("shares a stream only among reads of one identity, and passes size checks through", async () => {
    const s = storage({ alice: { a: "A" } });
    const reads = new BatchedChunkReads(s.inner);
    await Promise.all([reads.read("alice", "a", 10, { token: "t" }), reads.read("alice", "a", 10, { token: "t" })]);
    expect(s.streams).toHaveLength(2);
    const as = { token: "t" };
    expect(await reads.storedSizes("alice", ["a"], as)).toEqual(new Map([["a", 1]]));
    expect(s.inner.storedSizes).toHaveBeenCalledWith("alice", ["a"], as);
  });
});
