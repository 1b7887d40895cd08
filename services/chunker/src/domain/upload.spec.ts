import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { fastCdcCutPoints } from "#lib/fastcdc.js";
import { frames, sha256Hex } from "./chunking.js";
import { Downloader } from "./download.js";
import { fakes, type Fakes } from "./fakes.spec-support.js";
import { Uploader, type UploadLimits } from "./upload.js";

const as = { token: "t" };
const log = pino({ level: "silent" });
const KiB = 1024;
/** The smallest FastCDC average, so a few hundred KiB make several chunks. */
const limits: UploadLimits = { chunkAvgBytes: 64 * KiB, chunksPerBatch: 4, maxFileBytes: 4 * 1024 * KiB };

async function* stream(data: Buffer, frameSize = 7_777): AsyncGenerator<Buffer> {
  yield* frames(data, frameSize);
}

function upload(f: Fakes, data: Buffer, header: object = {}, limitsOverride: Partial<UploadLimits> = {}, identity = as) {
  return new Uploader(f.blocks, f.catalogue, { ...limits, ...limitsOverride }).upload({ name: "a", contentType: "", ...header }, stream(data), identity, log);
}

describe("Uploader", () => {
  it("commits the FastCDC chunks of the content, contiguous, with their hashes and the file's", async () => {
    const f = fakes();
    const data = randomBytes(700 * KiB);
    const file = await upload(f, data);
    expect(file.sha256).toBe(sha256Hex(data));
    const { chunks } = f.commits[0]!;
    // The same cut points every client computes from the same bytes.
    expect(chunks.map((c) => ({ offset: c.offset, length: c.size }))).toEqual([...fastCdcCutPoints(data, limits.chunkAvgBytes)]);
    expect(chunks.length).toBeGreaterThan(3);
    chunks.forEach((c, i) => {
      expect(c.index).toBe(i);
      expect(c.sha256).toBe(sha256Hex(data.subarray(c.offset, c.offset + c.size)));
    });
  });

  it("cuts the same chunks whatever frames the bytes arrive in", async () => {
    const data = randomBytes(500 * KiB);
    const lists = [];
    for (const frameSize of [1_000, 65_536, 500 * KiB]) {
      const f = fakes();
      await new Uploader(f.blocks, f.catalogue, limits).upload({ name: "a", contentType: "" }, stream(data, frameSize), as, log);
      lists.push(f.commits[0]!.chunks);
    }
    expect(lists[1]).toEqual(lists[0]);
    expect(lists[2]).toEqual(lists[0]);
  });

  it("tells of every frame once its bytes are cut, and what it stores survives the frames' memory used again at once", async () => {
    const f = fakes();
    const data = randomBytes(700 * KiB);
    const sent = [...frames(data, 50 * KiB)].map((frame) => Buffer.from(frame));
    const told: Uint8Array[] = [];
    const uploader = new Uploader(f.blocks, f.catalogue, limits, (frame) => {
      told.push(frame);
      frame.fill(0);
    });
    const file = await uploader.upload({ name: "a", contentType: "" }, (async function* () { yield* sent; })(), as, log);
    expect(told).toHaveLength(sent.length);
    expect(told.every((frame, i) => frame === sent[i])).toBe(true);
    expect(file.sha256).toBe(sha256Hex(data));
    for (const c of f.commits[0]!.chunks) expect(f.stored.get(c.sha256)!.equals(data.subarray(c.offset, c.offset + c.size))).toBe(true);
  });

  it("stores each distinct chunk once, and none that block storage has", async () => {
    const f = fakes();
    const block = randomBytes(300 * KiB);
    await upload(f, Buffer.concat([block, block]));
    const first = f.writes.length;
    expect(new Set(f.writes).size).toBe(first);
    // The same bytes again store nothing new.
    await upload(f, Buffer.concat([block, block]));
    expect(f.writes).toHaveLength(first);
  });

  it("sends a small file without asking first, a large one after asking per batch", async () => {
    const f = fakes();
    await upload(f, randomBytes(10 * KiB));
    expect(f.missingCalls()).toBe(0);
    expect(f.writes).toHaveLength(1);
    await upload(f, randomBytes(1024 * KiB));
    expect(f.missingCalls()).toBeGreaterThan(0);
  });

  it.each([
    [{ size: 10 }, "declared size 10"],
    [{ size: 200 * KiB }, "declared size"],
    [{ sha256: "0".repeat(64) }, "declared sha256"],
  ])("rejects a mismatch with %j and commits nothing", async (declared, message) => {
    const f = fakes();
    await expect(upload(f, randomBytes(150 * KiB), declared)).rejects.toMatchObject({ kind: "invalid-argument", message: expect.stringContaining(message) });
    expect(f.commits).toHaveLength(0);
  });

  it("hands the chunks it sent to the collector when the upload fails", async () => {
    const f = fakes();
    await expect(upload(f, randomBytes(400 * KiB), { size: 400 * KiB + 1 })).rejects.toMatchObject({ kind: "invalid-argument" });
    // Every chunk that may have reached block storage (all that were sent).
    expect(f.released.length).toBeGreaterThan(0);
    for (const hash of f.stored.keys()) expect(f.released).toContain(hash);
  });

  it("commits nothing when the call was cancelled after a complete-looking stream, and still releases", async () => {
    const f = fakes();
    const abort = new AbortController();
    async function* endsThenCancels() {
      yield* stream(randomBytes(300 * KiB));
      abort.abort(); // the client's reset arrives after its half-close
    }
    const cancelled = new Uploader(f.blocks, f.catalogue, limits).upload({ name: "a", contentType: "" }, endsThenCancels(), { ...as, signal: abort.signal }, log);
    await expect(cancelled).rejects.toMatchObject({ kind: "cancelled" });
    expect(f.commits).toEqual([]);
    expect(new Set(f.released)).toEqual(new Set(f.stored.keys()));
  });

  it("hands block storage's receipt to the commit with the chunks the stream carried, in order", async () => {
    const f = fakes({ receipts: true });
    const block = randomBytes(300 * KiB);
    // Asked first (over 256 KiB): chunks block storage has are not sent, nor a repeated one.
    await upload(f, block);
    await upload(f, Buffer.concat([randomBytes(200 * KiB), block, block]));
    const [first, second] = f.commits;
    for (const commit of [first!, second!]) {
      const [receipt] = commit.chunkReceipts!;
      const listed = receipt!.chunks.map((c) => `${c.sha256} ${c.size}`);
      expect(receipt!.mac.toString()).toBe(listed.join("\n"));
      expect(receipt!.issuedAtMs).toBe(42);
      expect(new Set(listed).size).toBe(listed.length);
      expect(receipt!.chunks.every((c) => commit.chunks.some((k) => k.sha256 === c.sha256 && k.size === c.size))).toBe(true);
    }
    expect(second!.chunkReceipts![0]!.chunks.length).toBeLessThan(second!.chunks.length);
    // No receipt from block storage, none passed on.
    const plain = fakes();
    await upload(plain, randomBytes(10 * KiB));
    expect(plain.commits[0]!.chunkReceipts).toBeUndefined();
  });

  it("releases nothing on success, and passes the idempotency key to the commit", async () => {
    const f = fakes();
    await upload(f, randomBytes(40 * KiB), { idempotencyKey: "retry-1" });
    expect(f.released).toEqual([]);
    expect(f.commits[0]!.idempotencyKey).toBe("retry-1");
  });

  it("rejects bad headers before reading data", async () => {
    const f = fakes();
    for (const header of [{ name: "" }, { sha256: "XYZ" }, { size: -1 }, { size: 5 * 1024 * KiB }, { idempotencyKey: "no spaces" }, { idempotencyKey: "x".repeat(129) }]) {
      await expect(upload(f, Buffer.alloc(0), header)).rejects.toMatchObject({ kind: "invalid-argument" });
    }
  });

  it("refuses a name the catalogue would refuse before storing any of the content, with the catalogue's reason", async () => {
    const f = fakes();
    const refused: Array<[string, RegExp]> = [
      [`photos/${"a".repeat(256)}.jpg`, /a path segment of the name is 260 bytes of UTF-8/],
      ["lone \ud800 surrogate", /not valid UTF-8/],
      ["a/../b", /"\.\." path segment/],
      ["trailing/", /empty path segment/],
      ["tab\tname", /control characters/],
    ];
    for (const [name, reason] of refused) {
      await expect(upload(f, randomBytes(40 * KiB), { name })).rejects.toMatchObject({ kind: "invalid-argument", message: expect.stringMatching(reason) });
    }
    expect([f.stored.size, f.commits.length, f.released.length]).toEqual([0, 0, 0]);
  });

  it("stops a file over the size cap as soon as it exceeds it", async () => {
    const f = fakes();
    await expect(upload(f, randomBytes(600 * KiB), {}, { maxFileBytes: 500 * KiB })).rejects.toMatchObject({ kind: "invalid-argument", message: expect.stringContaining("limit") });
    expect(f.commits).toHaveLength(0);
    for (const hash of f.stored.keys()) expect(f.released).toContain(hash);
  });
});

describe("Downloader", () => {
  async function uploaded(data: Buffer, pageSize?: number) {
    const f = fakes({ pageSize });
    const file = await upload(f, data);
    return { f, fileId: file.fileId };
  }
  async function read(f: Fakes, fileId: string, offset: number, length: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const part of new Downloader(f.blocks, f.catalogue, 5_000).download(fileId, { offset, length }, as)) {
      if (part.kind === "data") parts.push(part.data);
    }
    return Buffer.concat(parts);
  }

  it("returns the whole file and any byte range, across chunk list pages", async () => {
    const data = randomBytes(600 * KiB);
    const { f, fileId } = await uploaded(data, 2);
    const size = data.length;
    expect((await read(f, fileId, 0, 0)).equals(data)).toBe(true);
    const [first, second] = f.commits[0]!.chunks;
    for (const [offset, length] of [[0, 1], [first!.size - 1, 2], [second!.offset, second!.size], [17, 100_000], [size - 1, 0], [size, 0], [3, size - 3]] as const) {
      const end = length === 0 ? size : Math.min(size, offset + length);
      expect((await read(f, fileId, offset, length)).equals(data.subarray(offset, end))).toBe(true);
    }
  });

  it("names each chunk it read with the last part sent of it, and no other part", async () => {
    const data = randomBytes(600 * KiB);
    const { f, fileId } = await uploaded(data);
    const chunks = f.commits[0]!.chunks;
    const ends: Array<{ at: number; chunk: Buffer }> = [];
    let at = 0;
    for await (const part of new Downloader(f.blocks, f.catalogue, 5_000).download(fileId, { offset: 10, length: 0 }, as)) {
      if (part.kind !== "data") continue;
      at += part.data.length;
      if (part.lastOf) ends.push({ at, chunk: part.lastOf });
    }
    // Parts of 5000 bytes: a chunk's last part is where its bytes end (the first chunk sent from offset 10 on).
    expect(ends.map((e) => e.at)).toEqual(chunks.map((c) => c.offset + c.size - 10));
    ends.forEach(({ chunk }, i) => expect(chunk.equals(data.subarray(chunks[i]!.offset, chunks[i]!.offset + chunks[i]!.size)), `chunk ${i}`).toBe(true));
  });

  it("reads only the chunks a range needs", async () => {
    const data = randomBytes(600 * KiB);
    const { f, fileId } = await uploaded(data);
    const last = f.commits[0]!.chunks.at(-1)!;
    await read(f, fileId, last.offset, 10);
    expect(f.reads).toEqual([last.sha256]);
  });

  it("rejects ranges outside the file", async () => {
    const { f, fileId } = await uploaded(randomBytes(10));
    await expect(read(f, fileId, 11, 0)).rejects.toMatchObject({ kind: "out-of-range" });
    await expect(read(f, fileId, -1, 0)).rejects.toMatchObject({ kind: "invalid-argument" });
  });

  it("fails with DATA_LOSS instead of sending a corrupted chunk", async () => {
    const { f, fileId } = await uploaded(randomBytes(40 * KiB));
    const [first] = f.stored.values();
    first![0] = first![0]! ^ 0xff;
    await expect(read(f, fileId, 0, 0)).rejects.toMatchObject({ kind: "data-loss" });
  });
});
