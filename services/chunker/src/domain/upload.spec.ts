import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { CfsError } from "#lib/errors.js";
import type { BlockStore } from "../ports/block-store.js";
import type { Catalogue, CommitRequest } from "../ports/catalogue.js";
import { frames, sha256Hex } from "./chunking.js";
import { Downloader } from "./download.js";
import type { StoredFile } from "./types.js";
import { Uploader } from "./upload.js";

const as = { token: "t" };
const log = pino({ level: "silent" });

/** In-memory fakes of the two ports (unit tests of the domain logic only). */
function fakes(options: { putDelayMs?: number } = {}) {
  const stored = new Map<string, Buffer>();
  const commits: CommitRequest[] = [];
  const released: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const blocks: BlockStore = {
    missing: async (hashes) => new Set(hashes.filter((h) => !stored.has(h))),
    put: async (sha256, data) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, options.putDelayMs ?? 0));
      stored.set(sha256, Buffer.from(data));
      inFlight--;
    },
    get: async (sha256) => {
      const data = stored.get(sha256);
      if (!data) throw new CfsError("not-found", "no chunk");
      return data;
    },
  };
  const catalogue: Catalogue = {
    commit: async (request): Promise<StoredFile> => {
      commits.push(request);
      return { fileId: "f", name: request.name, size: request.size, sha256: request.sha256, contentType: "", numChunks: request.chunks.length, version: 1 };
    },
    getFile: async () => {
      const c = commits.at(-1)!;
      return { fileId: "f", name: c.name, size: c.size, sha256: c.sha256, contentType: "", numChunks: c.chunks.length, version: 1 };
    },
    listChunks: async () => [...commits.at(-1)!.chunks],
    releaseChunks: async (hashes) => {
      released.push(...hashes);
    },
  };
  return { blocks, catalogue, stored, commits, released, maxInFlight: () => maxInFlight };
}

async function* stream(data: Buffer, frameSize = 7): AsyncGenerator<Buffer> {
  yield* frames(data, frameSize);
}

const limits = { chunkSize: 16, maxChunksInFlight: 2, maxFileBytes: 1000 };

describe("Uploader", () => {
  it("commits contiguous chunks whose hashes and sizes describe the content", async () => {
    const f = fakes();
    const data = randomBytes(50);
    const file = await new Uploader(f.blocks, f.catalogue, limits).upload({ name: "a", contentType: "" }, stream(data), as, log);
    expect(file.sha256).toBe(sha256Hex(data));
    const { chunks } = f.commits[0]!;
    expect(chunks.map((c) => [c.index, c.offset, c.size])).toEqual([[0, 0, 16], [1, 16, 16], [2, 32, 16], [3, 48, 2]]);
    chunks.forEach((c) => expect(c.sha256).toBe(sha256Hex(data.subarray(c.offset, c.offset + c.size))));
  });

  it("stores a chunk repeated within the file once", async () => {
    const f = fakes();
    const block = randomBytes(16);
    await new Uploader(f.blocks, f.catalogue, limits).upload({ name: "a", contentType: "" }, stream(Buffer.concat([block, block, block])), as, log);
    expect(f.stored.size).toBe(1);
    expect(f.commits[0]!.chunks).toHaveLength(3);
  });

  it("never has more chunks in flight than allowed", async () => {
    const f = fakes({ putDelayMs: 5 });
    await new Uploader(f.blocks, f.catalogue, limits).upload({ name: "a", contentType: "" }, stream(randomBytes(300)), as, log);
    expect(f.maxInFlight()).toBeLessThanOrEqual(2);
  });

  it.each([
    [{ size: 10 }, "declared size 10"],
    [{ size: 60 }, "declared size 60"],
    [{ sha256: "0".repeat(64) }, "declared sha256"],
  ])("rejects a mismatch with %j and commits nothing", async (declared, message) => {
    const f = fakes();
    const upload = new Uploader(f.blocks, f.catalogue, limits).upload({ name: "a", contentType: "", ...declared }, stream(randomBytes(50)), as, log);
    await expect(upload).rejects.toMatchObject({ kind: "invalid-argument", message: expect.stringContaining(message) });
    expect(f.commits).toHaveLength(0);
  });

  it("hands the chunks it stored to the collector when the upload fails", async () => {
    const f = fakes();
    const data = randomBytes(40);
    const upload = new Uploader(f.blocks, f.catalogue, limits).upload({ name: "a", contentType: "", size: 41 }, stream(data), as, log);
    await expect(upload).rejects.toMatchObject({ kind: "invalid-argument" });
    expect(new Set(f.released)).toEqual(new Set(f.stored.keys()));
    expect(f.released).toHaveLength(3);
  });

  it("commits nothing when the call was cancelled after a complete-looking stream", async () => {
    const f = fakes();
    const abort = new AbortController();
    async function* endsThenCancels() {
      yield* stream(randomBytes(40));
      abort.abort(); // the client's reset arrives after its half-close
    }
    const upload = new Uploader(f.blocks, f.catalogue, limits).upload({ name: "a", contentType: "" }, endsThenCancels(), { ...as, signal: abort.signal }, log);
    await expect(upload).rejects.toMatchObject({ kind: "cancelled" });
    expect(f.commits).toEqual([]);
    expect(new Set(f.released)).toEqual(new Set(f.stored.keys()));
  });

  it("releases nothing on success", async () => {
    const f = fakes();
    await new Uploader(f.blocks, f.catalogue, limits).upload({ name: "a", contentType: "" }, stream(randomBytes(40)), as, log);
    expect(f.released).toEqual([]);
  });

  it("rejects bad headers before reading data", async () => {
    const f = fakes();
    const up = new Uploader(f.blocks, f.catalogue, limits);
    for (const header of [{ name: "" }, { name: "a", sha256: "XYZ" }, { name: "a", size: -1 }, { name: "a", size: 5000 }]) {
      await expect(up.upload({ contentType: "", ...header }, stream(Buffer.alloc(0)), as, log)).rejects.toMatchObject({ kind: "invalid-argument" });
    }
  });

  it("stops a file over the size cap as soon as it exceeds it", async () => {
    const f = fakes();
    const upload = new Uploader(f.blocks, f.catalogue, { ...limits, maxFileBytes: 40 }).upload({ name: "a", contentType: "" }, stream(randomBytes(100)), as, log);
    await expect(upload).rejects.toMatchObject({ kind: "invalid-argument", message: expect.stringContaining("limit") });
    expect(f.commits).toHaveLength(0);
    expect(f.released.length).toBeGreaterThan(0);
    expect(new Set(f.released)).toEqual(new Set(f.stored.keys()));
  });
});

describe("Downloader", () => {
  async function uploaded(data: Buffer) {
    const f = fakes();
    await new Uploader(f.blocks, f.catalogue, limits).upload({ name: "a", contentType: "" }, stream(data), as, log);
    return f;
  }
  async function read(f: ReturnType<typeof fakes>, offset: number, length: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const part of new Downloader(f.blocks, f.catalogue, 5, 2).download("f", { offset, length }, as)) {
      if (part.kind === "data") parts.push(part.data);
    }
    return Buffer.concat(parts);
  }

  it("returns the whole file and any byte range", async () => {
    const data = randomBytes(50);
    const f = await uploaded(data);
    expect((await read(f, 0, 0)).equals(data)).toBe(true);
    for (const [offset, length] of [[0, 1], [15, 2], [16, 16], [17, 100], [49, 0], [50, 0], [3, 47]] as const) {
      const end = length === 0 ? 50 : Math.min(50, offset + length);
      expect((await read(f, offset, length)).equals(data.subarray(offset, end))).toBe(true);
    }
  });

  it("rejects ranges outside the file", async () => {
    const f = await uploaded(randomBytes(10));
    await expect(read(f, 11, 0)).rejects.toMatchObject({ kind: "out-of-range" });
    await expect(read(f, -1, 0)).rejects.toMatchObject({ kind: "invalid-argument" });
  });

  it("fails with DATA_LOSS instead of sending a corrupted chunk", async () => {
    const data = randomBytes(40);
    const f = await uploaded(data);
    const [first] = f.stored.values();
    first![0] = first![0]! ^ 0xff;
    await expect(read(f, 0, 0)).rejects.toMatchObject({ kind: "data-loss" });
  });
});
