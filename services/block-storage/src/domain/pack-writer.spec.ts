import { describe, expect, it } from "vitest";
import { PackWriter, type PendingChunk } from "./pack-writer.js";

function chunk(name: string, size: number): PendingChunk {
  return { ownerKey: "o", hash: name, parts: [Buffer.alloc(size)], size };
}

/** A pack write held open until the test finishes it, so what waits meanwhile is visible. */
class HeldWrites {
  readonly packs: { names: string[]; finish: (created?: boolean[]) => void; fail: (err: Error) => void }[] = [];

  readonly write = (chunks: readonly PendingChunk[]): Promise<boolean[]> =>
    new Promise((resolve, reject) => {
      this.packs.push({
        names: chunks.map((c) => c.hash),
        finish: (created) => resolve(created ?? chunks.map(() => true)),
        fail: reject,
      });
    });
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("PackWriter", () => {
  it("writes a chunk put on an idle writer at once, alone", async () => {
    const writes = new HeldWrites();
    const writer = new PackWriter(writes.write, { maxPackBytes: 100, packsInFlight: 1 });
    const put = writer.put(chunk("a", 10));
    expect(writes.packs.map((p) => p.names)).toEqual([["a"]]);
    writes.packs[0]!.finish();
    await expect(put).resolves.toBe(true);
  });

  it("sends the chunks put while every slot is busy together, in order, in the next pack", async () => {
    const writes = new HeldWrites();
    const writer = new PackWriter(writes.write, { maxPackBytes: 100, packsInFlight: 1 });
    const puts = ["a", "b", "c", "d"].map((n) => writer.put(chunk(n, 10)));
    expect(writes.packs.map((p) => p.names)).toEqual([["a"]]);
    expect(writer.backlog).toEqual({ chunks: 3, bytes: 30 });
    writes.packs[0]!.finish();
    await settle();
    expect(writes.packs.map((p) => p.names)).toEqual([["a"], ["b", "c", "d"]]);
    writes.packs[1]!.finish([true, false, true]);
    await expect(Promise.all(puts)).resolves.toEqual([true, true, false, true]);
    expect(writer.backlog).toEqual({ chunks: 0, bytes: 0 });
  });

  it("closes a pack before it would pass maxPackBytes, and sends a larger chunk alone", async () => {
    const writes = new HeldWrites();
    const writer = new PackWriter(writes.write, { maxPackBytes: 25, packsInFlight: 1 });
    void writer.put(chunk("first", 1));
    for (const [n, size] of [["a", 10], ["b", 10], ["c", 10], ["big", 40], ["d", 5]] as const) void writer.put(chunk(n, size));
    for (let i = 0; i < 4; i++) {
      writes.packs[i]!.finish();
      await settle();
    }
    expect(writes.packs.map((p) => p.names)).toEqual([["first"], ["a", "b"], ["c"], ["big"], ["d"]]);
  });

  it("starts another pack while one is being written only once half a pack waits, up to packsInFlight", async () => {
    const writes = new HeldWrites();
    const writer = new PackWriter(writes.write, { maxPackBytes: 40, packsInFlight: 2 });
    void writer.put(chunk("a", 10));
    void writer.put(chunk("b", 10));
    expect(writes.packs.map((p) => p.names)).toEqual([["a"]]);
    void writer.put(chunk("c", 10));
    expect(writes.packs.map((p) => p.names)).toEqual([["a"], ["b", "c"]]);
    for (const n of ["d", "e", "f"]) void writer.put(chunk(n, 10));
    // Both slots busy: d, e and f wait although they are half a pack.
    expect(writes.packs).toHaveLength(2);
    writes.packs[1]!.finish();
    await settle();
    expect(writes.packs.map((p) => p.names)).toEqual([["a"], ["b", "c"], ["d", "e", "f"]]);
  });

  it("fails every put of a failed pack and goes on with the next", async () => {
    const writes = new HeldWrites();
    const writer = new PackWriter(writes.write, { maxPackBytes: 100, packsInFlight: 1 });
    const first = writer.put(chunk("a", 10));
    const second = writer.put(chunk("b", 10));
    const third = writer.put(chunk("c", 10));
    writes.packs[0]!.finish();
    await settle();
    writes.packs[1]!.fail(new Error("store down"));
    await expect(second).rejects.toThrow("store down");
    await expect(third).rejects.toThrow("store down");
    await expect(first).resolves.toBe(true);
    const fourth = writer.put(chunk("d", 10));
    expect(writes.packs.map((p) => p.names)).toEqual([["a"], ["b", "c"], ["d"]]);
    writes.packs[2]!.finish();
    await expect(fourth).resolves.toBe(true);
  });
});
