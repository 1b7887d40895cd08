import { randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import { chunkListDigest } from "../../services/metadata/src/domain/chunk-list-digest.js";
import type { ChunkSpec } from "../../services/metadata/src/domain/types.js";
import type { NewUploadSession } from "../../services/metadata/src/ports/upload-session-store.js";
import { waitFor } from "../support/net.js";
import { commit, chunksOf, sha, version, type ContractContext } from "./metadata-store-fixtures.js";

const specs = (seeds: readonly string[], size = 1000): ChunkSpec[] => seeds.map((seed) => ({ sha256: sha(seed), size }));

/** UploadSessionStore, and the CatalogueStore commits that take a session's list or an idempotency key. */
export function uploadSessionStoreContract(ctx: ContractContext): void {
  const { newOwner } = ctx;
  const session = (owner: string, chunkCount: number, size = chunkCount * 1000, extra: Partial<NewUploadSession> = {}): NewUploadSession => ({
    uploadId: randomUUID(),
    owner,
    name: `uploads/${randomUUID()}.bin`,
    contentType: "application/octet-stream",
    size,
    sha256: undefined,
    chunkCount,
    expiresAt: new Date(Date.now() + 3_600_000),
    ...extra,
  });

  it("declares a list page by page, with offsets, and knows its digest once complete", async () => {
    const owner = newOwner();
    const s = session(owner, 4);
    const created = await ctx.stores.uploads.create(s, specs(["a", "b"]));
    expect(created).toMatchObject({ kind: "appended", session: { uploadId: s.uploadId, chunksDeclared: 2, bytesDeclared: 2000, chunkListDigest: undefined, committed: undefined } });
    const appended = await ctx.stores.uploads.append(owner, s.uploadId, 2, specs(["c", "a"]));
    expect(appended).toMatchObject({ kind: "appended", session: { chunksDeclared: 4, chunkListDigest: chunkListDigest(specs(["a", "b", "c", "a"])) } });
    expect(await ctx.stores.uploads.chunks(owner, s.uploadId, 1, 2)).toEqual([
      { index: 1, sha256: sha("b"), size: 1000, offset: 1000 },
      { index: 2, sha256: sha("c"), size: 1000, offset: 2000 },
    ]);
    expect((await ctx.stores.uploads.distinctChunks(owner, s.uploadId)).map((c) => c.sha256).sort()).toEqual([sha("a"), sha("b"), sha("c")].sort());
  });

  it("takes a repeated page again, and refuses a conflicting one, a gap, and more than was announced", async () => {
    const owner = newOwner();
    const s = session(owner, 3);
    await ctx.stores.uploads.create(s, specs(["a", "b"]));
    expect((await ctx.stores.uploads.append(owner, s.uploadId, 0, specs(["a", "b"])))?.kind).toBe("repeated");
    expect((await ctx.stores.uploads.append(owner, s.uploadId, 1, specs(["x"])))?.kind).toBe("conflict");
    expect((await ctx.stores.uploads.append(owner, s.uploadId, 3, specs(["c"])))?.kind).toBe("gap");
    expect((await ctx.stores.uploads.append(owner, s.uploadId, 2, specs(["c", "d"])))?.kind).toBe("overflow");
    // A last page whose sizes do not add up to the file's size changes nothing.
    expect((await ctx.stores.uploads.append(owner, s.uploadId, 2, specs(["c"], 999)))?.kind).toBe("overflow");
    expect(await ctx.stores.uploads.get(owner, s.uploadId)).toMatchObject({ chunksDeclared: 2, bytesDeclared: 2000 });
    // A first page that does not fit leaves no session behind.
    const bad = session(owner, 1);
    expect((await ctx.stores.uploads.create(bad, specs(["a", "b"])))?.kind).toBe("overflow");
    expect(await ctx.stores.uploads.get(owner, bad.uploadId)).toBeUndefined();
  });

  it("keeps a session its owner's: another owner and an expired session see nothing", async () => {
    const owner = newOwner();
    const s = session(owner, 1);
    await ctx.stores.uploads.create(s, specs(["a"]));
    expect(await ctx.stores.uploads.get(newOwner(), s.uploadId)).toBeUndefined();
    expect(await ctx.stores.uploads.append(newOwner(), s.uploadId, 1, [])).toBeUndefined();
    expect(await ctx.stores.uploads.chunks(newOwner(), s.uploadId, 0, 10)).toEqual([]);
    expect(await ctx.stores.uploads.delete(newOwner(), s.uploadId)).toBe(false);
    const old = session(owner, 1, 1000, { expiresAt: new Date(Date.now() + 300) });
    await ctx.stores.uploads.create(old, specs(["a"]));
    await waitFor(async () => (await ctx.stores.uploads.get(owner, old.uploadId)) === undefined, 10_000, "the session to expire");
  });

  it("deletes expired sessions, queuing their chunks for the collector", async () => {
    const owner = newOwner();
    const old = session(owner, 2, 2000, { expiresAt: new Date(Date.now() + 300) });
    await ctx.stores.uploads.create(old, specs(["expired-a", "expired-b"]));
    await ctx.stores.uploads.create(session(owner, 1), specs(["live"]));
    await waitFor(async () => (await ctx.stores.uploads.get(owner, old.uploadId)) === undefined, 10_000, "the session to expire");
    expect(await ctx.stores.uploads.deleteExpired(10_000)).toBeGreaterThanOrEqual(1);
    const due = await ctx.candidatesOf(owner);
    expect(due.map((c) => c.sha256).sort()).toEqual([sha("expired-a"), sha("expired-b")].sort());
    expect(due.every((c) => !c.stillReferenced)).toBe(true);
  });

  it("counts a live session's chunks as still referenced by the collector", async () => {
    const owner = newOwner();
    await ctx.stores.uploads.create(session(owner, 1), specs(["pending"]));
    await ctx.stores.collection.queueGcCandidates(owner, [sha("pending")]);
    expect(await ctx.candidatesOf(owner)).toEqual([{ owner, sha256: sha("pending"), stillReferenced: true }]);
  });

  it("commits a session's list once: a retried commit returns the same version", async () => {
    const owner = newOwner();
    const s = session(owner, 3);
    await ctx.stores.uploads.create(s, specs(["s1", "s2", "s1"]));
    const digest = chunkListDigest(specs(["s1", "s2", "s1"]));
    const request = {
      owner,
      name: s.name,
      contentType: s.contentType,
      size: 3000,
      sha256: sha("content"),
      chunks: [],
      chunkListDigest: digest,
      session: { uploadId: s.uploadId, chunkCount: 3 },
    };
    const [first, second] = await Promise.all([commit(ctx.stores.catalogue, request), commit(ctx.stores.catalogue, request)]);
    expect(second).toEqual(first);
    expect(first).toMatchObject({ name: s.name, size: 3000, numChunks: 3, version: 1 });
    expect((await ctx.stores.catalogue.listFileVersions(owner, first.fileId)).length).toBe(1);
    expect(await chunksOf(ctx.stores.catalogue, owner, first.fileId, undefined)).toEqual([
      { index: 0, sha256: sha("s1"), size: 1000, offset: 0 },
      { index: 1, sha256: sha("s2"), size: 1000, offset: 1000 },
      { index: 2, sha256: sha("s1"), size: 1000, offset: 2000 },
    ]);
    expect((await ctx.stores.uploads.get(owner, s.uploadId))?.committed).toEqual(first);
    expect(await ctx.stores.uploads.knownContentHash(owner, digest)).toBe(sha("content"));
    expect(await ctx.stores.uploads.knownContentHash(newOwner(), digest)).toBeUndefined();
  });

  it("commits under an idempotency key once, per owner", async () => {
    const owner = newOwner();
    const v = { ...version(owner, "keyed.txt", ["k1"]), idempotencyKey: "key-1" };
    const [a, b] = await Promise.all([commit(ctx.stores.catalogue, v), commit(ctx.stores.catalogue, v)]);
    expect(b).toEqual(a);
    const again = await commit(ctx.stores.catalogue, { ...version(owner, "keyed.txt", ["k2"]), idempotencyKey: "key-1" });
    expect(again).toEqual(a);
    expect(await ctx.stores.catalogue.listFileVersions(owner, a.fileId)).toHaveLength(1);
    // Another key, or another owner with the same key, commits.
    expect((await commit(ctx.stores.catalogue, { ...version(owner, "keyed.txt", ["k3"]), idempotencyKey: "key-2" })).version).toBe(2);
    const other = newOwner();
    expect((await commit(ctx.stores.catalogue, { ...version(other, "keyed.txt", ["k1"]), idempotencyKey: "key-1" })).version).toBe(1);
    expect(await ctx.stores.uploads.deleteCommitKeysOlderThan(0, 100_000)).toBeGreaterThanOrEqual(3);
    expect((await commit(ctx.stores.catalogue, v)).version).toBe(3);
  });

  it("commits a key whose version is gone anew, refuses a session's retry whose version is gone, and an unknown session", async () => {
    const owner = newOwner();
    const keepOne = { defaultQuotaBytes: 0, versionsMax: 1, versionsMaxAgeDays: 0 };
    const keyed = { ...version(owner, "keyed.txt", ["p1"]), idempotencyKey: "key-p" };
    await commit(ctx.stores.catalogue, keyed);
    await commit(ctx.stores.catalogue, version(owner, "keyed.txt", ["p2"]), keepOne);
    // The key went with its version (commit_keys never outlive it).
    expect((await commit(ctx.stores.catalogue, keyed)).version).toBe(3);

    const s = session(owner, 1);
    await ctx.stores.uploads.create(s, specs(["s1"]));
    const request = {
      owner,
      name: s.name,
      contentType: s.contentType,
      size: 1000,
      sha256: sha("s1-content"),
      chunks: [],
      chunkListDigest: chunkListDigest(specs(["s1"])),
      session: { uploadId: s.uploadId, chunkCount: 1 },
    };
    const committed = await commit(ctx.stores.catalogue, request);
    await commit(ctx.stores.catalogue, version(owner, s.name, ["other"]), keepOne);
    await expect(commit(ctx.stores.catalogue, request)).rejects.toMatchObject({ kind: "failed-precondition" });
    const unknown = { ...request, name: "never.txt", session: { uploadId: randomUUID(), chunkCount: 1 } };
    await expect(commit(ctx.stores.catalogue, unknown)).rejects.toMatchObject({ kind: "not-found", message: "upload not found" });
    expect((await ctx.stores.catalogue.listFileVersions(owner, committed.fileId)).map((v) => v.version)).toEqual([2]);
    expect((await ctx.stores.catalogue.listFiles(owner, { prefix: "", after: "", limit: 10 })).map((f) => f.name)).toEqual(["keyed.txt", s.name].sort());
  });

  it("pages through a chunk list from an index", async () => {
    const owner = newOwner();
    const file = await commit(ctx.stores.catalogue, version(owner, "paged", ["p0", "p1", "p2", "p3", "p4"]));
    const page = await ctx.stores.catalogue.listFileChunks(owner, file.fileId, undefined, { fromIndex: 2, limit: 2 });
    expect(page).toEqual({ version: 1, chunks: [expect.objectContaining({ index: 2 }), expect.objectContaining({ index: 3 })] });
    expect(await ctx.stores.catalogue.listFileChunks(owner, file.fileId, 1, { fromIndex: 9, limit: 2 })).toEqual({ version: 1, chunks: [] });
  });
}
