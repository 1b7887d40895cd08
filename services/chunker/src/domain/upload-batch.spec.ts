import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { fastCdcCutPoints } from "#lib/fastcdc.js";
import { MAX_BATCH_BYTES, MAX_FILES_PER_BATCH } from "#lib/limits.js";
import { frames, sha256Hex } from "./chunking.js";
import { fakes, type Fakes } from "./fakes.spec-support.js";
import type { UploadHeader } from "./types.js";
import { Uploader, type BatchFile, type UploadLimits } from "./upload.js";

const as = { token: "t" };
const log = pino({ level: "silent" });
const KiB = 1024;
const MiB = 1024 * KiB;
const limits: UploadLimits = { chunkAvgBytes: 64 * KiB, chunksPerBatch: 4, maxFileBytes: 4 * MiB };
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

async function* stream(data: Buffer): AsyncGenerator<Buffer> {
  yield* frames(data, 7_777);
}

/** A file declaring its size, unless the header says otherwise. */
function file(name: string, data: Buffer, header: Partial<UploadHeader> = {}): BatchFile {
  return { header: { name, contentType: "", size: data.length, ...header }, data: stream(data) };
}

/** A file whose bytes must never be read: `read()` tells whether they were. */
function unread(header: UploadHeader): BatchFile & { read: () => boolean } {
  let read = false;
  async function* data(): AsyncGenerator<Buffer> {
    read = true;
    yield Buffer.alloc(header.size ?? 1);
  }
  return { header, data: data(), read: () => read };
}

async function* batch(files: Iterable<BatchFile>): AsyncGenerator<BatchFile> {
  yield* files;
}

function uploadBatch(f: Fakes, files: Iterable<BatchFile>, limitsOverride: Partial<UploadLimits> = {}, identity: { token: string; signal?: AbortSignal } = as) {
  return new Uploader(f.blocks, f.catalogue, { ...limits, ...limitsOverride }).uploadBatch(batch(files), identity, log);
}

/** Nothing committed, and every chunk sent handed to the collector. */
function expectNothingCommitted(f: Fakes) {
  expect(f.batchCommits).toEqual([]);
  expect(f.commits).toEqual([]);
  expect(new Set(f.released)).toEqual(new Set(f.sends));
}

describe("Uploader.uploadBatch", () => {
  it("hands the stream's one receipt to the batch's commit with its first file, covering every file's chunks", async () => {
    const f = fakes({ receipts: true });
    const [a, b] = [randomBytes(5 * KiB), randomBytes(6 * KiB)];
    await uploadBatch(f, [file("a.bin", a), file("b.bin", b)]);
    const [first, second] = f.batchCommits[0]!;
    expect(first!.chunkReceipts!.map((r) => r.chunks)).toEqual([
      [
        { sha256: sha256Hex(a), size: a.length },
        { sha256: sha256Hex(b), size: b.length },
      ],
    ]);
    expect(second!.chunkReceipts).toBeUndefined();
  });

  it("stores the files on one stream, sends a chunk they share once, and commits them together in order", async () => {
    const f = fakes();
    const shared = randomBytes(300 * KiB);
    const contents = [shared, Buffer.alloc(0), Buffer.concat([shared, randomBytes(100 * KiB)])];
    const names = ["a.bin", "empty.txt", "b.bin"];
    const files = await uploadBatch(f, [
      file(names[0]!, contents[0]!, { contentType: "application/octet-stream", idempotencyKey: "k-a" }),
      file(names[1]!, contents[1]!, { sha256: EMPTY_SHA256 }),
      file(names[2]!, contents[2]!, { sha256: sha256Hex(contents[2]!) }),
    ]);

    expect(f.writersOpened()).toBe(1);
    expect(f.commits).toEqual([]);
    expect(f.batchCommits).toHaveLength(1);
    const requests = f.batchCommits[0]!;
    expect(requests.map((r) => [r.name, r.size, r.sha256, r.contentType, r.idempotencyKey])).toEqual([
      ["a.bin", 300 * KiB, sha256Hex(contents[0]!), "application/octet-stream", "k-a"],
      ["empty.txt", 0, EMPTY_SHA256, "", undefined],
      ["b.bin", 400 * KiB, sha256Hex(contents[2]!), "", undefined],
    ]);
    requests.forEach((r, i) => {
      const data = contents[i]!;
      expect(r.chunks.map((c) => ({ offset: c.offset, length: c.size }))).toEqual([...fastCdcCutPoints(data, limits.chunkAvgBytes)]);
      r.chunks.forEach((c, index) => {
        expect(c.index).toBe(index);
        expect(c.sha256).toBe(sha256Hex(data.subarray(c.offset, c.offset + c.size)));
      });
    });
    expect(requests[1]!.chunks).toEqual([]);

    // Content-defined cuts: b.bin starts with a.bin's chunks, and they went once.
    const firstChunks = new Set(requests[0]!.chunks.map((c) => c.sha256));
    const sharedChunks = requests[2]!.chunks.filter((c) => firstChunks.has(c.sha256));
    expect(sharedChunks.length).toBeGreaterThan(0);
    expect(f.sends).toHaveLength(new Set(f.sends).size);
    expect(new Set(f.sends)).toEqual(new Set(requests.flatMap((r) => r.chunks.map((c) => c.sha256))));

    expect(files.map((x) => [x.name, x.size, x.sha256, x.numChunks])).toEqual(requests.map((r) => [r.name, r.size, r.sha256, r.chunks.length]));
    expect(f.released).toEqual([]);
  });

  it("answers [] for a batch of no files, without calling block storage or the catalogue", async () => {
    const f = fakes();
    expect(await uploadBatch(f, [])).toEqual([]);
    expect([f.writersOpened(), f.missingCalls(), f.batchCommits.length, f.commits.length, f.released.length]).toEqual([0, 0, 0, 0, 0]);
  });

  it("fails the batch on a size mismatch, naming the file, and releases what was sent", async () => {
    const f = fakes();
    const third = unread({ name: "c", contentType: "", size: 1 });
    const failing = uploadBatch(f, [file("a", randomBytes(40 * KiB)), file("b", randomBytes(9), { size: 10 }), third]);
    await expect(failing).rejects.toMatchObject({ kind: "invalid-argument", message: "files[1]: declared size 10 but received 9 bytes" });
    expect(f.sends.length).toBeGreaterThan(0);
    expectNothingCommitted(f);
    expect(third.read()).toBe(false);
  });

  it("stops reading a file as soon as it exceeds its declared size", async () => {
    const f = fakes();
    let readPast = false;
    async function* tooLong(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(5, 1);
      yield Buffer.alloc(1, 2);
      readPast = true;
      yield Buffer.alloc(100, 3);
    }
    const failing = uploadBatch(f, [file("a", randomBytes(10)), { header: { name: "b", contentType: "", size: 5 }, data: tooLong() }]);
    await expect(failing).rejects.toMatchObject({ kind: "invalid-argument", message: "files[1]: declared size 5 but more bytes were sent" });
    expect(readPast).toBe(false);
    expectNothingCommitted(f);
  });

  it("fails the batch on a declared sha256 the content does not hash to", async () => {
    const f = fakes();
    const data = randomBytes(20 * KiB);
    const failing = uploadBatch(f, [file("a", data, { sha256: "0".repeat(64) })]);
    await expect(failing).rejects.toMatchObject({
      kind: "invalid-argument",
      message: `files[0]: declared sha256 ${"0".repeat(64)} but the content hashes to ${sha256Hex(data)}`,
    });
    expectNothingCommitted(f);
  });

  it("requires every file to declare its size, before reading its bytes", async () => {
    const f = fakes();
    const undeclared = unread({ name: "b", contentType: "" });
    await expect(uploadBatch(f, [file("a", randomBytes(10)), undeclared])).rejects.toMatchObject({
      kind: "invalid-argument",
      message: "files[1]: size is required in a batch",
    });
    expect(undeclared.read()).toBe(false);
    expectNothingCommitted(f);
  });

  it("refuses a header the single upload would refuse, naming the file", async () => {
    const f = fakes();
    const cases: Array<[Partial<UploadHeader>, string]> = [
      [{ name: "" }, "files[1]: name must not be empty"],
      [{ name: "x/../y" }, 'files[1]: name must not contain a ".." path segment'],
      [{ size: 5 * MiB }, `files[1]: size ${5 * MiB} exceeds the limit of ${4 * MiB} bytes`],
      [{ sha256: "XYZ" }, "files[1]: sha256 must be 64 lowercase hex characters"],
    ];
    for (const [header, message] of cases) {
      const bad = unread({ name: "b", contentType: "", size: 1, ...header });
      await expect(uploadBatch(f, [file("a", randomBytes(10)), bad])).rejects.toMatchObject({ kind: "invalid-argument", message });
      expect(bad.read()).toBe(false);
    }
    expectNothingCommitted(f);
  });

  it.each([
    ["the same name", "a.txt", "a.txt", 'files[2]: name "a.txt" is also the name of files[0]'],
    ["the same name after NFC normalization", "e\u0301.txt", "\u00e9.txt", 'files[2]: name "\u00e9.txt" is also the name of files[0]'],
  ])("refuses %s twice in a batch, at the second file's header", async (_case, first, second, message) => {
    const f = fakes();
    const again = unread({ name: second, contentType: "", size: 3 });
    await expect(uploadBatch(f, [file(first, randomBytes(10)), file("other", randomBytes(10)), again])).rejects.toMatchObject({
      kind: "invalid-argument",
      message,
    });
    expect(again.read()).toBe(false);
    expectNothingCommitted(f);
  });

  it("refuses an idempotency key twice in a batch; files without keys do not collide", async () => {
    const f = fakes();
    const again = unread({ name: "d", contentType: "", size: 3, idempotencyKey: "k1" });
    const files = [file("a", randomBytes(10), { idempotencyKey: "k1" }), file("b", randomBytes(10)), file("c", randomBytes(10), { idempotencyKey: "k2" }), again];
    await expect(uploadBatch(f, files)).rejects.toMatchObject({ kind: "invalid-argument", message: 'files[3]: idempotency_key "k1" is also that of files[0]' });
    expect(again.read()).toBe(false);
    expectNothingCommitted(f);
  });

  it(`commits ${MAX_FILES_PER_BATCH} files in one call and refuses one more`, async () => {
    const emptyFiles = (n: number) => Array.from({ length: n }, (_, i) => file(`f${i}`, Buffer.alloc(0)));
    const f = fakes();
    expect(await uploadBatch(f, emptyFiles(MAX_FILES_PER_BATCH))).toHaveLength(MAX_FILES_PER_BATCH);
    expect(f.batchCommits.map((requests) => requests.length)).toEqual([MAX_FILES_PER_BATCH]);

    const over = fakes();
    await expect(uploadBatch(over, emptyFiles(MAX_FILES_PER_BATCH + 1))).rejects.toMatchObject({
      kind: "invalid-argument",
      message: `files[${MAX_FILES_PER_BATCH}]: a batch carries at most ${MAX_FILES_PER_BATCH} files`,
    });
    expectNothingCommitted(over);
  });

  it("refuses the file whose declared size takes the batch over MAX_BATCH_BYTES, before reading its bytes", async () => {
    const f = fakes();
    const over = unread({ name: "b", contentType: "", size: MAX_BATCH_BYTES - 10 + 1 });
    await expect(uploadBatch(f, [file("a", randomBytes(10)), over], { maxFileBytes: MAX_BATCH_BYTES })).rejects.toMatchObject({
      kind: "invalid-argument",
      message: `files[1]: the batch's sizes add up to more than ${MAX_BATCH_BYTES} bytes; send large files one by one (UploadFile)`,
    });
    expect(over.read()).toBe(false);
    expectNothingCommitted(f);
  });

  it("accepts a batch of exactly MAX_BATCH_BYTES", async () => {
    const f = fakes();
    const rest = MAX_BATCH_BYTES - 10;
    // Zeros: every full chunk is the same one, so block storage holds little.
    const zeros = Buffer.alloc(MiB);
    async function* zeroFrames(): AsyncGenerator<Buffer> {
      for (let left = rest; left > 0; left -= zeros.length) yield zeros.subarray(0, Math.min(left, zeros.length));
    }
    const files = await uploadBatch(f, [file("a", randomBytes(10)), { header: { name: "b", contentType: "", size: rest }, data: zeroFrames() }], {
      maxFileBytes: MAX_BATCH_BYTES,
    });
    expect(files.map((x) => x.size)).toEqual([10, rest]);
  });

  it("commits nothing when the call was cancelled after a complete-looking stream, and still releases", async () => {
    const f = fakes();
    const abort = new AbortController();
    async function* endsThenCancels(): AsyncGenerator<BatchFile> {
      yield file("a", randomBytes(40 * KiB));
      yield file("b", randomBytes(300 * KiB));
      abort.abort(); // the client's reset arrives after its half-close
    }
    const cancelled = new Uploader(f.blocks, f.catalogue, limits).uploadBatch(endsThenCancels(), { ...as, signal: abort.signal }, log);
    await expect(cancelled).rejects.toMatchObject({ kind: "cancelled" });
    expect(f.sends.length).toBeGreaterThan(0);
    expectNothingCommitted(f);
  });

  it("passes a refusal from the catalogue through as it is", async () => {
    const f = fakes();
    const refusal = Object.assign(new Error("files[0]: quota exceeded"), { kind: "resource-exhausted" });
    f.catalogue.commitMany = async () => {
      throw refusal;
    };
    await expect(uploadBatch(f, [file("a", randomBytes(10))])).rejects.toBe(refusal);
    expect(new Set(f.released)).toEqual(new Set(f.sends));
  });
});
