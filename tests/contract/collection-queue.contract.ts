import { expect, it } from "vitest";
import { commit, deleteForGood, sha, version, type ContractContext } from "./metadata-store-fixtures.js";

/** CollectionQueue and ReleaseQueue: see describeMetadataStoreContracts. */
export function collectionQueueContract(ctx: ContractContext): void {
  const { newOwner, candidatesOf } = ctx;

  it("un-queues a chunk that a new commit uses again, and re-checks stale candidates", async () => {
    const owner = newOwner();
    const a = await commit(ctx.stores.catalogue, version(owner, "a", ["reused", "dropped"]));
    await deleteForGood(ctx.stores.catalogue, owner, a.fileId);
    expect((await candidatesOf(owner)).map((c) => c.sha256).sort()).toEqual([sha("dropped"), sha("reused")].sort());

    const b = await commit(ctx.stores.catalogue, version(owner, "b", ["reused"]));
    expect((await candidatesOf(owner)).map((c) => c.sha256)).toEqual([sha("dropped")]);

    // Collected candidates go; a candidate read as still referenced goes only while it still is.
    const c = await commit(ctx.stores.catalogue, version(owner, "c", ["dropped"]));
    await deleteForGood(ctx.stores.catalogue, owner, b.fileId);
    const due = await candidatesOf(owner);
    expect(due).toEqual([{ owner, sha256: sha("reused"), stillReferenced: false }]);
    await ctx.stores.collection.removeGcCandidates([
      { owner, sha256: sha("reused"), stillReferenced: true },
      { owner, sha256: sha("never-queued"), stillReferenced: false },
    ]);
    expect(await candidatesOf(owner)).toEqual(due);
    await ctx.stores.collection.removeGcCandidates(due);
    expect(await candidatesOf(owner)).toEqual([]);
    expect(await ctx.stores.catalogue.getFile(owner, c.fileId)).toBeDefined();
  });

  it("queues released chunks once, keeping the first queue time, and the collector re-checks them", async () => {
    const owner = newOwner();
    const used = await commit(ctx.stores.catalogue, version(owner, "in-use", ["used"]));
    expect(await ctx.stores.collection.queueGcCandidates(owner, [sha("orphan"), sha("used"), sha("orphan")])).toBe(2);
    expect(await ctx.stores.collection.queueGcCandidates(owner, [sha("orphan")])).toBe(0);
    expect(await ctx.stores.collection.queueGcCandidates(owner, [])).toBe(0);
    const due = await candidatesOf(owner);
    expect(due.map((c) => [c.sha256, c.stillReferenced]).sort()).toEqual(
      [
        [sha("orphan"), false],
        [sha("used"), true],
      ].sort(),
    );
    expect((await ctx.stores.verification.chunkReferences(owner, [sha("orphan"), sha("used")])).queued.sort()).toEqual([sha("orphan"), sha("used")].sort());
    // A commit that uses a released chunk takes it off the queue.
    await commit(ctx.stores.catalogue, version(owner, "adopts", ["orphan"]));
    expect((await candidatesOf(owner)).map((c) => c.sha256)).toEqual([sha("used")]);
    expect(await ctx.stores.catalogue.getFile(owner, used.fileId)).toBeDefined();
    expect(await candidatesOf(newOwner())).toEqual([]);
  });
}
