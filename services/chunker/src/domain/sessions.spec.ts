import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { fastCdcCutPoints } from "#lib/fastcdc.js";
import { sha256Hex } from "./chunking.js";
import { ContentHashes } from "./content-hash.js";
import { fakes, type Fakes } from "./fakes.spec-support.js";
import { UploadSessions, type ChunkBytes } from "./sessions.js";

const as = { token: "t" };
const KiB = 1024;

/** A file cut the way a client cuts it, with its chunk list. */
function file(size: number) {
  const data = randomBytes(size);
  const chunks = [...fastCdcCutPoints(data, 64 * KiB)].map(({ offset, length }, index) => ({
    index,
    offset,
    size: length,
    sha256: sha256Hex(data.subarray(offset, offset + length)),
  }));
  return { data, chunks, sha256: sha256Hex(data) };
}

function setup(f: Fakes = fakes()) {
  return { f, sessions: new UploadSessions(f.sessions, f.blocks, new ContentHashes(100), 1 << 30) };
}

async function* parts(...items: ChunkBytes[]): AsyncGenerator<ChunkBytes> {
  yield* items;
}

/** Chunks from..to-1 of the file as a PutChunks stream starting at `from`, in frames of `frame` bytes. */
function run(content: ReturnType<typeof file>, from: number, to: number, frame = 10_000): ChunkBytes[] {
  const start = content.chunks[from]!.offset;
  const end = content.chunks[to - 1]!.offset + content.chunks[to - 1]!.size;
  const out: ChunkBytes[] = [];
  for (let offset = start; offset < end; offset += frame) {
    out.push({ index: offset === start ? from : undefined, data: content.data.subarray(offset, Math.min(end, offset + frame)) });
  }
  return out;
}

async function started(s: ReturnType<typeof setup>, content: ReturnType<typeof file>, sha256?: string) {
  const header = { name: "a.bin", contentType: "", size: content.data.length, sha256, chunkCount: content.chunks.length };
  return s.sessions.start(header, content.chunks.map((c) => ({ sha256: c.sha256, size: c.size })), as);
}

describe("UploadSessions", () => {
  it("says which chunks are missing, receives them in any framing, and commits the content's hash without reading back", async () => {
    const s = setup();
    const content = file(600 * KiB);
    const { session, missing } = await started(s, content, undefined);
    expect(missing).toEqual([{ start: 0, count: content.chunks.length }]);
    const stored = await s.sessions.put(session.uploadId, parts(...run(content, 0, content.chunks.length, 3_333)), as);
    expect(stored).toEqual({ chunksStored: content.chunks.length, bytesStored: content.data.length });
    const committed = await s.sessions.finish(session.uploadId, as);
    expect(committed.sha256).toBe(content.sha256);
    expect(s.f.sessionCommits).toEqual([{ uploadId: session.uploadId, sha256: content.sha256 }]);
    expect(s.f.reads).toEqual([]);
  });

  it("counts only chunks block storage holds for the caller as present", async () => {
    const s = setup();
    const content = file(400 * KiB);
    s.f.stored.set(content.chunks[1]!.sha256, content.data.subarray(content.chunks[1]!.offset, content.chunks[1]!.offset + content.chunks[1]!.size));
    const { missing } = await started(s, content);
    expect(missing).toEqual([
      { start: 0, count: 1 },
      { start: 2, count: content.chunks.length - 2 },
    ]);
  });

  it("resumes where a cut-off stream stopped: chunks completed before the cut stay, the running hash too", async () => {
    const s = setup();
    const content = file(700 * KiB);
    const { session } = await started(s, content);
    const all = run(content, 0, content.chunks.length);
    // The connection drops halfway through a chunk.
    const cut = all.slice(0, Math.floor(all.length / 2));
    await expect(s.sessions.put(session.uploadId, parts(...cut), as)).rejects.toMatchObject({ kind: "invalid-argument", message: expect.stringContaining("ended inside chunk") });
    const status = await s.sessions.status(session.uploadId, as);
    const firstMissing = status.missing[0]!.start;
    expect(firstMissing).toBeGreaterThan(0);
    expect(status.missingBytes).toBeLessThan(content.data.length);
    await s.sessions.put(session.uploadId, parts(...run(content, firstMissing, content.chunks.length)), as);
    expect((await s.sessions.finish(session.uploadId, as)).sha256).toBe(content.sha256);
    expect(s.f.reads).toEqual([]);
  });

  it("reads the chunks a client skipped to keep hashing, and commits the right hash", async () => {
    const s = setup();
    const content = file(700 * KiB);
    const skipped = content.chunks.slice(0, 2);
    for (const c of skipped) s.f.stored.set(c.sha256, content.data.subarray(c.offset, c.offset + c.size));
    const { session, missing } = await started(s, content);
    expect(missing[0]!.start).toBe(2);
    await s.sessions.put(session.uploadId, parts(...run(content, 2, content.chunks.length)), as);
    expect((await s.sessions.finish(session.uploadId, as)).sha256).toBe(content.sha256);
    expect(s.f.reads).toEqual(skipped.map((c) => c.sha256));
  });

  it("hashes everything from block storage at the finish when the running hash is lost (another replica, a restart)", async () => {
    const f = fakes();
    const content = file(500 * KiB);
    const first = setup(f);
    const { session } = await started(first, content);
    await first.sessions.put(session.uploadId, parts(...run(content, 0, content.chunks.length)), as);
    const restarted = setup(f);
    expect((await restarted.sessions.finish(session.uploadId, as)).sha256).toBe(content.sha256);
    expect(f.reads).toHaveLength(content.chunks.length);
  });

  it("refuses bytes that do not match the declared hash, and stores nothing of that chunk", async () => {
    const s = setup();
    const content = file(300 * KiB);
    const { session } = await started(s, content);
    const lie = run(content, 0, 1).map((p) => ({ ...p, data: Buffer.from(p.data) }));
    lie[0]!.data[0] = lie[0]!.data[0]! ^ 1;
    await expect(s.sessions.put(session.uploadId, parts(...lie), as)).rejects.toMatchObject({ kind: "invalid-argument", message: expect.stringContaining("do not match") });
    expect(s.f.stored.has(content.chunks[0]!.sha256)).toBe(false);
    await expect(s.sessions.finish(session.uploadId, as)).rejects.toMatchObject({ kind: "failed-precondition" });
    expect(s.f.sessionCommits).toEqual([]);
    // The right bytes afterwards are taken, and the content hash is right.
    await s.sessions.put(session.uploadId, parts(...run(content, 0, content.chunks.length)), as);
    expect((await s.sessions.finish(session.uploadId, as)).sha256).toBe(content.sha256);
  });

  it("refuses a stream without an index, an index outside the list, and a chunk left incomplete where the next starts", async () => {
    const s = setup();
    const content = file(300 * KiB);
    const { session } = await started(s, content);
    await expect(s.sessions.put(session.uploadId, parts({ data: Buffer.alloc(1) }), as)).rejects.toMatchObject({ kind: "invalid-argument" });
    await expect(s.sessions.put(session.uploadId, parts({ index: content.chunks.length, data: Buffer.alloc(1) }), as)).rejects.toMatchObject({
      kind: "invalid-argument",
      message: expect.stringContaining("not in the declared chunk list"),
    });
    await expect(s.sessions.put(session.uploadId, parts({ index: 0, data: Buffer.alloc(1) }, { index: 1, data: Buffer.alloc(1) }), as)).rejects.toMatchObject({
      kind: "invalid-argument",
      message: expect.stringContaining("incomplete"),
    });
  });

  it("commits without reading when the catalogue knows the content of this chunk list", async () => {
    const s = setup();
    const content = file(300 * KiB);
    for (const c of content.chunks) s.f.stored.set(c.sha256, content.data.subarray(c.offset, c.offset + c.size));
    const { session } = await started(s, content);
    s.f.sessionRows.get(session.uploadId)!.record.knownSha256 = content.sha256;
    await s.sessions.finish(session.uploadId, as);
    expect(s.f.sessionCommits).toEqual([{ uploadId: session.uploadId, sha256: content.sha256 }]);
    expect(s.f.reads).toEqual([]);
  });

  it("answers a finish retried after the commit with the same file, committing once", async () => {
    const s = setup();
    const content = file(200 * KiB);
    const { session } = await started(s, content);
    await s.sessions.put(session.uploadId, parts(...run(content, 0, content.chunks.length)), as);
    const first = await s.sessions.finish(session.uploadId, as);
    expect(await s.sessions.finish(session.uploadId, as)).toEqual(first);
    expect(s.f.sessionCommits).toHaveLength(1);
  });

  it("refuses to finish while the chunk list is incomplete", async () => {
    const s = setup();
    const content = file(400 * KiB);
    const header = { name: "a.bin", contentType: "", size: content.data.length, chunkCount: content.chunks.length };
    const { session } = await s.sessions.start(header, content.chunks.slice(0, 1), as);
    await expect(s.sessions.finish(session.uploadId, as)).rejects.toMatchObject({ kind: "failed-precondition", message: expect.stringContaining("declared") });
  });

  it("checks the header and pages before anything is stored", async () => {
    const s = setup();
    const good = { name: "a", contentType: "", size: 10, chunkCount: 1 };
    for (const [header, page] of [
      [{ ...good, name: "" }, [{ sha256: "a".repeat(64), size: 10 }]],
      [{ ...good, chunkCount: -1 }, []],
      [good, [{ sha256: "A".repeat(64), size: 10 }]],
      [good, [{ sha256: "a".repeat(64), size: 0 }]],
      [good, Array.from({ length: 1001 }, () => ({ sha256: "a".repeat(64), size: 1 }))],
    ] as const) {
      await expect(s.sessions.start(header, page, as)).rejects.toMatchObject({ kind: "invalid-argument" });
    }
    expect(s.f.sessionRows.size).toBe(0);
  });
});
