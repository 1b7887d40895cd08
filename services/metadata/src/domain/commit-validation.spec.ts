import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { invalidArgumentMessage } from "../../../../tests/support/refusals.js";
import { MAX_BATCH_BYTES, MAX_CHUNK_BYTES, MAX_FILES_PER_BATCH } from "#lib/limits.js";
import { chunkListDigest } from "./chunk-list-digest.js";
import { validateBatch, validateCommit, type CommitRequest } from "./commit-validation.js";
import type { ChunkRecord } from "./types.js";

const sha = (seed: string) => createHash("sha256").update(seed).digest("hex");

/** A request the tests may break in place. */
type EditableRequest = Omit<CommitRequest, "chunks"> & { chunks: ChunkRecord[] };

function request(sizes: number[], overrides: Partial<Omit<CommitRequest, "chunks">> = {}): EditableRequest {
  let offset = 0;
  const chunks: ChunkRecord[] = sizes.map((size, index) => {
    const chunk = { index, sha256: sha(`chunk-${index}`), size, offset };
    offset += size;
    return chunk;
  });
  return { name: "file.bin", contentType: "application/octet-stream", size: offset, sha256: sha("whole"), chunks, ...overrides };
}

const rejection = (req: CommitRequest): string => invalidArgumentMessage(() => validateCommit("alice", req));

describe("validateCommit", () => {
  it("accepts contiguous chunks 0..n-1 adding up to the size", () => {
    const req = request([1024 * 1024, 1024 * 1024, 7]);
    const version = validateCommit("alice", req);
    expect(version).toEqual({
      owner: "alice",
      name: "file.bin",
      contentType: req.contentType,
      size: req.size,
      sha256: req.sha256,
      chunks: req.chunks,
      chunkListDigest: chunkListDigest(req.chunks),
      idempotencyKey: undefined,
    });
  });

  it("takes an idempotency key of the documented shape only", () => {
    expect(validateCommit("alice", { ...request([3]), idempotencyKey: "upload:2026-12-01.a_b" }).idempotencyKey).toBe("upload:2026-12-01.a_b");
    for (const key of ["", "with space", "x".repeat(129), "ümlaut"]) expect(rejection({ ...request([3]), idempotencyKey: key })).toMatch(/idempotency_key/);
  });

  it("accepts an empty file with no chunks, and only with none", () => {
    expect(validateCommit("alice", request([])).chunks).toEqual([]);
    expect(rejection(request([], { size: 5 }))).toMatch(/add up to 0 bytes but size is 5/);
  });

  it("normalizes and checks the name", () => {
    expect(validateCommit("alice", request([1], { name: "Cafe\u0301" })).name).toBe("Caf\u00e9");
    expect(rejection(request([1], { name: "../x" }))).toMatch(/\.\./);
  });

  it("accepts chunks up to 4 MiB and repeated chunks of equal size", () => {
    const req = request([MAX_CHUNK_BYTES, 10, 10]);
    req.chunks = req.chunks.map((c, i) => (i === 2 ? { ...c, sha256: req.chunks[1]!.sha256 } : c));
    expect(validateCommit("alice", req).chunks).toHaveLength(3);
  });

  it.each<[string, (r: EditableRequest) => void, RegExp]>([
    ["an index out of order", (r) => (r.chunks = [r.chunks[1]!, r.chunks[0]!]), /chunks\[0\]\.index is 1/],
    ["a duplicate index", (r) => (r.chunks[1] = { ...r.chunks[1]!, index: 0 }), /chunks\[1\]\.index is 0/],
    ["a gap in offsets", (r) => (r.chunks[1] = { ...r.chunks[1]!, offset: 101 }), /chunks\[1\]\.offset is 101, expected 100/],
    ["overlapping offsets", (r) => (r.chunks[1] = { ...r.chunks[1]!, offset: 50 }), /expected 100/],
    ["a first offset that is not 0", (r) => (r.chunks[0] = { ...r.chunks[0]!, offset: 1 }), /chunks\[0\]\.offset is 1, expected 0/],
    ["a zero-byte chunk", (r) => (r.chunks[1] = { ...r.chunks[1]!, size: 0 }), /chunks\[1\]\.size must be between 1/],
    ["a chunk over the largest chunk size", (r) => (r.chunks[0] = { ...r.chunks[0]!, size: MAX_CHUNK_BYTES + 1 }), /chunks\[0\]\.size/],
    ["an uppercase chunk hash", (r) => (r.chunks[0] = { ...r.chunks[0]!, sha256: r.chunks[0]!.sha256.toUpperCase() }), /chunks\[0\]\.sha256/],
    ["a short chunk hash", (r) => (r.chunks[0] = { ...r.chunks[0]!, sha256: "abc" }), /chunks\[0\]\.sha256/],
    [
      "one hash with two sizes",
      (r) => {
        r.chunks[1] = { ...r.chunks[1]!, sha256: r.chunks[0]!.sha256, size: 50 };
        r.size = 150;
      },
      /chunks\[1\] repeats an earlier chunk's sha256 with a different size/,
    ],
    ["sizes not adding up", (r) => (r.size = 201), /add up to 200 bytes but size is 201/],
    ["a negative size", (r) => (r.size = -1), /size must be a non-negative integer/],
    ["a fractional size", (r) => (r.size = 1.5), /size must be a non-negative integer/],
    ["a bad file hash", (r) => (r.sha256 = "not-a-hash"), /^sha256 must be/],
    ["an over-long content type", (r) => (r.contentType = "x".repeat(256)), /content_type is longer/],
    ["a content type with a newline", (r) => (r.contentType = "text/plain\r\nX: y"), /content_type must not contain control/],
  ])("rejects %s", (_, mutate, message) => {
    const req = request([100, 100]);
    mutate(req);
    expect(rejection(req)).toMatch(message);
  });
});

describe("validateBatch", () => {
  const file = (name: string, seeds: string[], overrides: Partial<Omit<CommitRequest, "chunks">> = {}): CommitRequest => {
    const chunks = seeds.map((seed, index) => ({ index, sha256: sha(seed), size: 10, offset: index * 10 }));
    return { name, contentType: "", size: chunks.length * 10, sha256: sha(name), chunks, ...overrides };
  };
  const refusal = (requests: CommitRequest[]) => invalidArgumentMessage(() => validateBatch("alice", requests));

  it("validates each file as a commit, in order", () => {
    const versions = validateBatch("alice", [file("a.txt", ["x"]), file("b.txt", ["x", "y"]), file("empty", [])]);
    expect(versions.map((v) => [v.owner, v.name, v.size, v.chunks.length])).toEqual([
      ["alice", "a.txt", 10, 1],
      ["alice", "b.txt", 20, 2],
      ["alice", "empty", 0, 0],
    ]);
    expect(validateBatch("alice", [])).toEqual([]);
  });

  it("names the file a refusal is about", () => {
    expect(refusal([file("a.txt", ["x"]), file("../up", ["y"])])).toMatch(/^files\[1\]: /);
    expect(refusal([file("a.txt", ["x"]), file("b.txt", ["y"], { size: 11 })])).toBe("files[1]: the chunk sizes add up to 10 bytes but size is 11");
  });

  it("refuses a name or idempotency key twice, also when the names differ only in normalization", () => {
    expect(refusal([file("é.txt", ["x"]), file("e\u0301.txt", ["y"])])).toBe('files[1]: name "é.txt" is also the name of files[0]');
    expect(refusal([file("a", ["x"], { idempotencyKey: "k" }), file("b", ["y"]), file("c", ["z"], { idempotencyKey: "k" })])).toBe(
      'files[2]: idempotency_key "k" is also that of files[0]',
    );
  });

  it("refuses one hash with two sizes across files", () => {
    const other = file("b", ["x"]);
    const resized = { ...other, size: 11, chunks: [{ ...other.chunks[0]!, size: 11 }] };
    expect(refusal([file("a", ["x"]), resized])).toBe(`files[1]: chunk ${sha("x")} has another size in an earlier file`);
  });

  it("holds a batch to MAX_FILES_PER_BATCH files and MAX_BATCH_BYTES", () => {
    expect(refusal(Array.from({ length: MAX_FILES_PER_BATCH + 1 }, (_, i) => file(`f${i}`, [])))).toBe(
      `a batch holds at most ${MAX_FILES_PER_BATCH} files, not ${MAX_FILES_PER_BATCH + 1}`,
    );
    const big = (name: string): CommitRequest => {
      const chunks = Array.from({ length: 3 }, (_, index) => ({ index, sha256: sha(`${name}${index}`), size: MAX_CHUNK_BYTES, offset: index * MAX_CHUNK_BYTES }));
      return { name, contentType: "", size: 3 * MAX_CHUNK_BYTES, sha256: sha(name), chunks };
    };
    expect(validateBatch("alice", [big("one")])).toHaveLength(1);
    expect(refusal([big("one"), big("two")])).toBe(`files[1]: the batch's sizes add up to more than ${MAX_BATCH_BYTES} bytes; send large files one by one (UploadFile)`);
  });
});
