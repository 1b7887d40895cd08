import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { fixedSizeChunks, frames, sha256Hex } from "./chunking.js";

async function* fromFrames(parts: Buffer[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield p;
}

async function collect(parts: Buffer[], chunkSize: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of fixedSizeChunks(fromFrames(parts), chunkSize)) out.push(Buffer.from(c));
  return out;
}

describe("fixedSizeChunks", () => {
  it("yields nothing for an empty stream", async () => {
    expect(await collect([], 8)).toEqual([]);
    expect(await collect([Buffer.alloc(0)], 8)).toEqual([]);
  });

  it.each([1, 7, 8, 9, 16, 17, 100])("re-frames %i bytes into 8-byte chunks whatever the frame sizes", async (total) => {
    const data = randomBytes(total);
    for (const frameSize of [1, 3, 8, 13, 64]) {
      const parts = [...frames(data, frameSize)];
      const chunks = await collect(parts, 8);
      expect(Buffer.concat(chunks).equals(data)).toBe(true);
      expect(chunks.length).toBe(Math.ceil(total / 8));
      chunks.slice(0, -1).forEach((c) => expect(c.length).toBe(8));
    }
  });

  it("keeps earlier chunks intact while later ones fill (no shared buffer)", async () => {
    const data = randomBytes(40);
    const kept: Buffer[] = [];
    for await (const c of fixedSizeChunks(fromFrames([...frames(data, 5)]), 16)) kept.push(c);
    expect(Buffer.concat(kept).equals(data)).toBe(true);
  });
});

describe("sha256Hex", () => {
  it("matches the SHA-256 test vector of 'abc'", () => {
    expect(sha256Hex(Buffer.from("abc"))).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });
  it("agrees with an incremental hash", () => {
    const data = randomBytes(3000);
    expect(sha256Hex(data)).toBe(createHash("sha256").update(data.subarray(0, 10)).update(data.subarray(10)).digest("hex"));
  });
});

describe("frames", () => {
  it("splits without copying and covers every byte", () => {
    const data = randomBytes(10);
    const parts = [...frames(data, 4)];
    expect(parts.map((p) => p.length)).toEqual([4, 4, 2]);
    expect(parts[0]!.buffer).toBe(data.buffer);
  });
});
