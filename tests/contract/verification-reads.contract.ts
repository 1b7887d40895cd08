import { randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import { commit, deleteForGood, sha, version, type ContractContext } from "./metadata-store-fixtures.js";

/** VerificationReads: see describeMetadataStoreContracts. */
export function verificationReadsContract(ctx: ContractContext): void {
  const { newOwner } = ctx;

  it("inspects a version with its chunks, newest by default, for its owner only", async () => {
    const owner = newOwner();
    const v1 = version(owner, "inspected", ["i1", "i2"]);
    const v2 = version(owner, "inspected", ["i3"], 700);
    const first = await commit(ctx.stores.catalogue, v1);
    const second = await commit(ctx.stores.catalogue, v2);

    const newest = await ctx.stores.verification.inspectFileVersion(owner, first.fileId, undefined);
    expect(newest).toEqual({
      file: second,
      version: { fileId: first.fileId, version: 2, size: 700, sha256: v2.sha256, contentType: "text/plain", numChunks: 1, createdAt: expect.any(Date) },
      chunks: v2.chunks,
    });
    const old = await ctx.stores.verification.inspectFileVersion(owner, first.fileId, 1);
    expect(old?.file).toEqual(second);
    expect(old?.version).toMatchObject({ version: 1, size: 2000, sha256: v1.sha256, numChunks: 2 });
    expect(old?.chunks).toEqual(v1.chunks);

    const empty = await commit(ctx.stores.catalogue, version(owner, "inspected-empty", []));
    expect(await ctx.stores.verification.inspectFileVersion(owner, empty.fileId, undefined)).toMatchObject({ version: { numChunks: 0, size: 0 }, chunks: [] });

    expect(await ctx.stores.verification.inspectFileVersion(owner, first.fileId, 3)).toBeUndefined();
    expect(await ctx.stores.verification.inspectFileVersion(newOwner(), first.fileId, undefined)).toBeUndefined();
    expect(await ctx.stores.verification.inspectFileVersion(owner, randomUUID(), undefined)).toBeUndefined();
    await deleteForGood(ctx.stores.catalogue, owner, first.fileId);
    expect(await ctx.stores.verification.inspectFileVersion(owner, first.fileId, undefined)).toBeUndefined();
    expect(await ctx.stores.verification.inspectFileVersion(owner, first.fileId, 1)).toBeUndefined();
  });

  it("inspects several versions in one call, in order, as each alone would be, with undefined for those that do not exist", async () => {
    const owner = newOwner();
    const other = newOwner();
    const a = await commit(ctx.stores.catalogue, version(owner, "batch-a", ["ba1", "ba2"]));
    await commit(ctx.stores.catalogue, version(owner, "batch-a", ["ba3"], 700));
    const empty = await commit(ctx.stores.catalogue, version(owner, "batch-empty", []));
    const theirs = await commit(ctx.stores.catalogue, version(other, "batch-theirs", ["bt"]));
    const requests = [
      { owner, fileId: a.fileId, version: 1 },
      { owner, fileId: randomUUID(), version: undefined },
      { owner, fileId: empty.fileId, version: undefined },
      { owner, fileId: theirs.fileId, version: undefined },
      { owner, fileId: a.fileId, version: undefined },
      { owner: other, fileId: theirs.fileId, version: undefined },
      { owner, fileId: a.fileId, version: 3 },
    ];
    const alone = await Promise.all(requests.map((r) => ctx.stores.verification.inspectFileVersion(r.owner, r.fileId, r.version)));
    const together = await ctx.stores.verification.inspectFileVersions(requests);
    expect(together).toEqual(alone);
    expect(together.map((v) => v && [v.version.version, v.chunks.length])).toEqual([[1, 2], undefined, [1, 0], undefined, [2, 1], [1, 1], undefined]);
    expect(await ctx.stores.verification.inspectFileVersions([])).toEqual([]);
  });

  it("tells which chunks the owner's files reference and which are queued, per owner", async () => {
    const owner = newOwner();
    const other = newOwner();
    const gone = await commit(ctx.stores.catalogue, version(owner, "gone", ["only-gone", "kept"]));
    await commit(ctx.stores.catalogue, version(owner, "stays", ["kept"]));
    await commit(ctx.stores.catalogue, version(other, "theirs", ["theirs"]));
    await deleteForGood(ctx.stores.catalogue, owner, gone.fileId);

    const hashes = [sha("only-gone"), sha("kept"), sha("theirs"), sha("never"), sha("kept")];
    const refs = await ctx.stores.verification.chunkReferences(owner, hashes);
    expect(refs.referenced).toEqual([sha("kept")]);
    expect(refs.queued).toEqual([sha("only-gone")]);
    expect(await ctx.stores.verification.chunkReferences(other, hashes)).toEqual({ referenced: [sha("theirs")], queued: [] });
    expect(await ctx.stores.verification.chunkReferences(owner, [])).toEqual({ referenced: [], queued: [] });
  });
}
