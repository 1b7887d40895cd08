import { randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import { commit, deleteForGood, chunksOf, sha, version, type ContractContext } from "./metadata-store-fixtures.js";

/** The order PostgreSQL's COLLATE "C" gives: UTF-8 bytes. */
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** CatalogueStore: see describeMetadataStoreContracts. */
export function catalogueStoreContract(ctx: ContractContext): void {
  const { newOwner, eventsOf, candidatesOf } = ctx;

  it("commits a new file and reads it back through every read path", async () => {
    const owner = newOwner();
    const v = version(owner, "docs/report.pdf", ["r0", "r1", "r2"]);
    const file = await commit(ctx.stores.catalogue, v);
    expect(file).toMatchObject({ name: "docs/report.pdf", size: 3000, sha256: v.sha256, contentType: "text/plain", numChunks: 3, version: 1 });
    expect(file.fileId).toMatch(/^[0-9a-f-]{36}$/);
    expect(file.createdAt).toBeInstanceOf(Date);

    expect(await ctx.stores.catalogue.getFile(owner, file.fileId)).toEqual(file);
    expect(await ctx.stores.catalogue.listFiles(owner, { prefix: "", after: "", limit: 10 })).toEqual([file]);
    expect(await ctx.stores.catalogue.listFileVersions(owner, file.fileId)).toEqual([
      { fileId: file.fileId, version: 1, size: 3000, sha256: v.sha256, contentType: "text/plain", numChunks: 3, createdAt: expect.any(Date) },
    ]);
    expect(await chunksOf(ctx.stores.catalogue, owner, file.fileId, undefined)).toEqual(v.chunks);
    expect(await chunksOf(ctx.stores.catalogue, owner, file.fileId, 1)).toEqual(v.chunks);
    expect(await chunksOf(ctx.stores.catalogue, owner, file.fileId, 2)).toBeUndefined();
    expect(await ctx.stores.catalogue.getFile(owner, randomUUID())).toBeUndefined();
  });

  it("stores an empty file with no chunks, distinct from a missing version", async () => {
    const owner = newOwner();
    const file = await commit(ctx.stores.catalogue, version(owner, "empty", []));
    expect(file).toMatchObject({ size: 0, numChunks: 0, version: 1 });
    expect(await chunksOf(ctx.stores.catalogue, owner, file.fileId, undefined)).toEqual([]);
    expect(await chunksOf(ctx.stores.catalogue, owner, file.fileId, 3)).toBeUndefined();
  });

  it("commits the same name again as version 2 of the same file", async () => {
    const owner = newOwner();
    const v1 = version(owner, "notes.md", ["n1"]);
    const v2 = version(owner, "notes.md", ["n2a", "n2b"], 500);
    const first = await commit(ctx.stores.catalogue, v1);
    const second = await commit(ctx.stores.catalogue, v2);
    expect(second).toMatchObject({ fileId: first.fileId, version: 2, size: 1000, sha256: v2.sha256, numChunks: 2 });
    expect(second.createdAt).toEqual(first.createdAt);
    expect(second.updatedAt.getTime()).toBeGreaterThanOrEqual(first.updatedAt.getTime());
    expect(await ctx.stores.catalogue.getFile(owner, first.fileId)).toEqual(second);
    expect((await ctx.stores.catalogue.listFileVersions(owner, first.fileId)).map((x) => [x.version, x.sha256])).toEqual([
      [2, v2.sha256],
      [1, v1.sha256],
    ]);
    expect(await chunksOf(ctx.stores.catalogue, owner, first.fileId, undefined)).toEqual(v2.chunks);
    expect(await chunksOf(ctx.stores.catalogue, owner, first.fileId, 1)).toEqual(v1.chunks);
    expect(await ctx.stores.catalogue.listFiles(owner, { prefix: "", after: "", limit: 10 })).toHaveLength(1);
  });

  it("serializes concurrent commits of one new name into versions 1 and 2", async () => {
    const owner = newOwner();
    const [a, b] = await Promise.all([
      commit(ctx.stores.catalogue, version(owner, "race", ["x"])),
      commit(ctx.stores.catalogue, version(owner, "race", ["y"])),
    ]);
    expect(a.fileId).toBe(b.fileId);
    expect([a.version, b.version].sort()).toEqual([1, 2]);
  });

  it("keeps owners apart", async () => {
    const alice = newOwner();
    const bob = newOwner();
    const file = await commit(ctx.stores.catalogue, version(alice, "same-name", ["a"]));
    const bobs = await commit(ctx.stores.catalogue, version(bob, "same-name", ["b"]));
    expect(bobs.fileId).not.toBe(file.fileId);
    expect(bobs.version).toBe(1);
    expect(await ctx.stores.catalogue.getFile(bob, file.fileId)).toBeUndefined();
    expect(await ctx.stores.catalogue.listFileVersions(bob, file.fileId)).toEqual([]);
    expect(await chunksOf(ctx.stores.catalogue, bob, file.fileId, undefined)).toBeUndefined();
    expect(await chunksOf(ctx.stores.catalogue, bob, file.fileId, 1)).toBeUndefined();
    expect(await deleteForGood(ctx.stores.catalogue, bob, file.fileId)).toBeUndefined();
    expect(await ctx.stores.catalogue.listFiles(bob, { prefix: "", after: "", limit: 10 })).toEqual([bobs]);
    expect(await ctx.stores.catalogue.getFile(alice, file.fileId)).toEqual(file);
  });

  it("pages through names in byte order with a keyset and a prefix", async () => {
    const owner = newOwner();
    const inside = ["docs/B", "docs/a", "docs/a/z", "docs/é", "docs/Z", "docs/a-b", "docs/0", "docs/😀", "docs/~"];
    const outside = ["doc", "docs", "docsx", "Docs/a", "e/docs/a"];
    for (const n of [...inside, ...outside]) await commit(ctx.stores.catalogue, version(owner, n, []));

    const pageThrough = async (prefix: string, limit: number) => {
      const names: string[] = [];
      for (let after = "", pages = 0; ; pages += 1) {
        expect(pages).toBeLessThan(50);
        const page = await ctx.stores.catalogue.listFiles(owner, { prefix, after, limit });
        names.push(...page.map((f) => f.name));
        if (page.length < limit) return names;
        after = page.at(-1)!.name;
      }
    };
    expect(await pageThrough("docs/", 2)).toEqual([...inside].sort(byteOrder));
    expect(await pageThrough("docs/", 1000)).toEqual([...inside].sort(byteOrder));
    expect(await pageThrough("", 3)).toEqual([...inside, ...outside].sort(byteOrder));
    expect(await ctx.stores.catalogue.listFiles(owner, { prefix: "docs/a", after: "docs/a", limit: 10 })).toMatchObject([
      { name: "docs/a-b" },
      { name: "docs/a/z" },
    ]);
    expect(await ctx.stores.catalogue.listFiles(owner, { prefix: "nothing/", after: "", limit: 10 })).toEqual([]);
  });

  it("deletes a file from every read path and queues only the chunks no other file of the owner uses", async () => {
    const owner = newOwner();
    const other = newOwner();
    const gone = await commit(ctx.stores.catalogue, version(owner, "old.bin", ["only-v1", "shared"]));
    await commit(ctx.stores.catalogue, version(owner, "old.bin", ["only-v2", "shared", "only-v2"]));
    await commit(ctx.stores.catalogue, version(owner, "keeps-shared.bin", ["shared"]));
    // Another owner's copy of a chunk does not keep this owner's copy alive.
    await commit(ctx.stores.catalogue, version(other, "theirs.bin", ["only-v1"]));

    const deleted = await deleteForGood(ctx.stores.catalogue, owner, gone.fileId);
    expect(deleted).toEqual({ fileId: gone.fileId, name: "old.bin", version: 2, queuedChunks: 2 });
    expect(await ctx.stores.catalogue.getFile(owner, gone.fileId)).toBeUndefined();
    expect(await ctx.stores.catalogue.listFileVersions(owner, gone.fileId)).toEqual([]);
    expect(await chunksOf(ctx.stores.catalogue, owner, gone.fileId, undefined)).toBeUndefined();
    expect(await chunksOf(ctx.stores.catalogue, owner, gone.fileId, 1)).toBeUndefined();
    expect((await ctx.stores.catalogue.listFiles(owner, { prefix: "", after: "", limit: 10 })).map((f) => f.name)).toEqual(["keeps-shared.bin"]);
    expect(await deleteForGood(ctx.stores.catalogue, owner, gone.fileId)).toBeUndefined();

    const queued = await candidatesOf(owner);
    expect(queued.map((c) => c.sha256).sort()).toEqual([sha("only-v1"), sha("only-v2")].sort());
    expect(queued.every((c) => !c.stillReferenced)).toBe(true);
    expect(await candidatesOf(other)).toEqual([]);
    // Inside the grace period nothing is due yet.
    expect(await candidatesOf(owner, 3600)).toEqual([]);
  });

  it("leaves nothing behind when a commit fails half-way", async () => {
    const owner = newOwner();
    const queued = await commit(ctx.stores.catalogue, version(owner, "queued", ["q"]));
    await deleteForGood(ctx.stores.catalogue, owner, queued.fileId);
    await ctx.stores.outbox.removeEvents((await eventsOf(owner)).map((e) => e.seq));

    const broken = version(owner, "broken", ["q", "z"]);
    const duplicateIndex = { ...broken, chunks: [broken.chunks[0]!, { ...broken.chunks[1]!, index: 0 }] };
    await expect(commit(ctx.stores.catalogue, duplicateIndex)).rejects.toThrow();
    expect(await ctx.stores.catalogue.listFiles(owner, { prefix: "", after: "", limit: 10 })).toEqual([]);
    expect(await eventsOf(owner)).toEqual([]);
    // The candidate the failed commit would have un-queued is still queued.
    expect((await candidatesOf(owner)).map((c) => c.sha256)).toEqual([sha("q")]);

    const existing = await commit(ctx.stores.catalogue, version(owner, "existing", ["ok"]));
    await ctx.stores.outbox.removeEvents((await eventsOf(owner)).map((e) => e.seq));
    const brokenUpdate = version(owner, "existing", ["a", "b"]);
    await expect(
      commit(ctx.stores.catalogue, { ...brokenUpdate, chunks: [brokenUpdate.chunks[0]!, { ...brokenUpdate.chunks[1]!, index: 0 }] }),
    ).rejects.toThrow();
    expect(await ctx.stores.catalogue.getFile(owner, existing.fileId)).toEqual(existing);
    expect((await ctx.stores.catalogue.listFileVersions(owner, existing.fileId)).map((v) => v.version)).toEqual([1]);
    expect(await eventsOf(owner)).toEqual([]);
  });

  it("stores a long chunk list in one commit", async () => {
    const owner = newOwner();
    const seeds = Array.from({ length: 5000 }, (_, i) => `long-${i}`);
    const v = version(owner, "long", seeds, 1024 * 1024);
    const file = await commit(ctx.stores.catalogue, v);
    expect(file.size).toBe(5000 * 1024 * 1024);
    expect(await chunksOf(ctx.stores.catalogue, owner, file.fileId, undefined)).toEqual(v.chunks);
    expect(await deleteForGood(ctx.stores.catalogue, owner, file.fileId)).toMatchObject({ queuedChunks: 5000 });
  });
}
