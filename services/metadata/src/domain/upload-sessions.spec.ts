import { createHash, randomUUID } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import type { CatalogueStore } from "../ports/catalogue-store.js";
import type { ChunkInventory } from "../ports/chunk-inventory.js";
import type { UploadSessionStore } from "../ports/upload-session-store.js";
import { failure, strictFake } from "../../../../tests/support/strict-fake.js";
import { UploadSessions } from "./upload-sessions.js";
import type { FileRecord, UploadSessionRecord } from "./types.js";

const sha = (seed: string) => createHash("sha256").update(seed).digest("hex");
const as = { token: "t" };

function record(overrides: Partial<UploadSessionRecord> = {}): UploadSessionRecord {
  return {
    uploadId: randomUUID(),
    owner: "alice",
    name: "a.bin",
    contentType: "",
    size: 2000,
    sha256: undefined,
    chunkCount: 2,
    chunksDeclared: 2,
    bytesDeclared: 2000,
    chunkListDigest: "d".repeat(64),
    createdAt: new Date(),
    expiresAt: new Date(Date.now() + 60_000),
    committed: undefined,
    ...overrides,
  };
}

const file: FileRecord = { fileId: randomUUID(), name: "a.bin", size: 2000, sha256: sha("content"), contentType: "", numChunks: 2, version: 1, createdAt: new Date(), updatedAt: new Date() };

function inventory(stored: Map<string, number>): ChunkInventory {
  return strictFake<ChunkInventory>({ storedSizes: async (hashes) => new Map(hashes.flatMap((h) => (stored.has(h) ? [[h, stored.get(h)!] as const] : []))) });
}

const RULES = { defaultQuotaBytes: 0, versionsMax: 100, versionsMaxAgeDays: 0 };

describe("UploadSessions.create and append", () => {
  it("normalizes the name and refuses bad input before anything is stored", async () => {
    const create = vi.fn(async () => ({ kind: "appended" as const, session: record() }));
    const sessions = new UploadSessions(strictFake<UploadSessionStore>({ create, knownContentHash: async () => undefined }), strictFake<CatalogueStore>({}), inventory(new Map()), 60, RULES);
    const good = { name: "Cafe\u0301.txt", contentType: "", size: 10, chunkCount: 1, chunks: [{ sha256: sha("a"), size: 10 }] };
    await sessions.create("alice", good);
    expect(create).toHaveBeenCalledWith(expect.objectContaining({ owner: "alice", name: "Caf\u00e9.txt", expiresAt: expect.any(Date) }), good.chunks);
    for (const bad of [
      { ...good, name: "../x" },
      { ...good, size: -1 },
      { ...good, sha256: "XYZ" },
      { ...good, chunkCount: 2 ** 21 },
      { ...good, size: 0 },
      { ...good, contentType: "a\nb" },
      { ...good, chunks: [{ sha256: sha("a"), size: 0 }] },
    ]) {
      expect((await failure(sessions.create("alice", bad))).kind).toBe("invalid-argument");
    }
    expect(create).toHaveBeenCalledTimes(1);
  });

  it("says what is wrong with a page that does not continue the list", async () => {
    const session = record({ chunksDeclared: 1 });
    const outcomes = [
      [{ kind: "conflict", session }, "failed-precondition", /declared before/],
      [{ kind: "gap", session }, "failed-precondition", /next page starts at index 1/],
      [{ kind: "overflow", session, what: "too big" }, "invalid-argument", /too big/],
    ] as const;
    for (const [outcome, kind, message] of outcomes) {
      const sessions = new UploadSessions(strictFake<UploadSessionStore>({ append: async () => outcome }), strictFake<CatalogueStore>({}), inventory(new Map()), 60, RULES);
      const err = await failure(sessions.append("alice", session.uploadId, 5, []));
      expect(err.kind).toBe(kind);
      expect(err.message).toMatch(message);
    }
    const unknown = new UploadSessions(strictFake<UploadSessionStore>({ append: async () => undefined }), strictFake<CatalogueStore>({}), inventory(new Map()), 60, RULES);
    expect((await failure(unknown.append("alice", randomUUID(), 0, []))).kind).toBe("not-found");
    expect((await failure(unknown.append("alice", "not-a-uuid", 0, []))).kind).toBe("invalid-argument");
  });
});

describe("UploadSessions.commit", () => {
  const chunks = [
    { sha256: sha("c0"), size: 1000 },
    { sha256: sha("c1"), size: 1000 },
  ];

  function setup(session: UploadSessionRecord | undefined, options: { stored?: Map<string, number>; known?: string } = {}) {
    const commitFileVersion = vi.fn(async () => ({ kind: "done" as const, value: file }));
    const store = strictFake<UploadSessionStore>({ get: async () => session, distinctChunks: async () => chunks, knownContentHash: async () => options.known });
    const stored = options.stored ?? new Map(chunks.map((c) => [c.sha256, c.size]));
    return { sessions: new UploadSessions(store, strictFake<CatalogueStore>({ commitFileVersion }), inventory(stored), 60, RULES), commitFileVersion };
  }

  it("commits the session's list with the chunker's content hash, once every chunk is stored", async () => {
    const session = record();
    const { sessions, commitFileVersion } = setup(session);
    await sessions.commit("alice", session.uploadId, sha("content"), as);
    expect(commitFileVersion).toHaveBeenCalledWith(
      expect.objectContaining({ owner: "alice", sha256: sha("content"), chunks: [], chunkListDigest: session.chunkListDigest, session: { uploadId: session.uploadId, chunkCount: 2 } }),
      RULES,
    );
  });

  it("uses the content hash of a version with the same chunk list when the chunker sends none", async () => {
    const session = record();
    const { sessions, commitFileVersion } = setup(session, { known: sha("known") });
    await sessions.commit("alice", session.uploadId, "", as);
    expect(commitFileVersion).toHaveBeenCalledWith(expect.objectContaining({ sha256: sha("known") }), RULES);
    const unknown = setup(session);
    expect((await failure(unknown.sessions.commit("alice", session.uploadId, "", as))).kind).toBe("failed-precondition");
  });

  it("returns what a committed session committed, and commits nothing more", async () => {
    const session = record({ committed: file });
    const { sessions, commitFileVersion } = setup(session);
    expect(await sessions.commit("alice", session.uploadId, sha("other"), as)).toEqual(file);
    expect(commitFileVersion).not.toHaveBeenCalled();
  });

  it.each([
    ["an incomplete list", record({ chunksDeclared: 1 }), {}, "failed-precondition", /1 of the 2 chunks/],
    ["a content hash other than the declared one", record({ sha256: sha("declared") }), {}, "invalid-argument", /declared sha256/],
    ["a missing chunk", record(), { stored: new Map([[sha("c0"), 1000]]) }, "failed-precondition", /not in block storage/],
    ["a chunk stored with another size", record(), { stored: new Map([[sha("c0"), 1000], [sha("c1"), 999]]) }, "failed-precondition", /999 bytes/],
    ["an unknown or expired session", undefined, {}, "not-found", /upload not found/],
  ] as const)("refuses %s and commits nothing", async (_label, session, options, kind, message) => {
    const { sessions, commitFileVersion } = setup(session, options);
    const err = await failure(sessions.commit("alice", session?.uploadId ?? randomUUID(), sha("content"), as));
    expect(err.kind).toBe(kind);
    expect(err.message).toMatch(message);
    expect(commitFileVersion).not.toHaveBeenCalled();
  });
});
