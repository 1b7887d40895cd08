import { expect, it } from "vitest";
import { ownerKeyOf } from "../../services/block-storage/src/domain/block-service.js";
import { commit, sha, version, type ContractContext } from "./metadata-store-fixtures.js";

/** DamageLedger: a quarantined chunk becomes one "damaged" event per file whose newest version lists it, once. */
export function damageLedgerContract(ctx: ContractContext): void {
  const { newOwner, eventsOf } = ctx;
  /** A quarantine time of its own: the table is shared by every test on this database. */
  const uniqueTime = () => new Date(Date.parse("2100-01-01") + Math.floor(Math.random() * 1e12));

  it("writes a damaged event for each live file whose newest version lists the chunk, and remembers the quarantine", async () => {
    const owner = newOwner();
    const other = newOwner();
    const a = await commit(ctx.stores.catalogue, version(owner, "b/a.txt", ["bad", "good"]));
    const twice = await commit(ctx.stores.catalogue, version(owner, "twice.txt", ["bad", "x", "bad"]));
    // Only an older version lists it, and a file in the trash: neither is reported.
    await commit(ctx.stores.catalogue, version(owner, "older.txt", ["bad"]));
    await commit(ctx.stores.catalogue, version(owner, "older.txt", ["new"]));
    const trashed = await commit(ctx.stores.catalogue, version(owner, "trashed.txt", ["bad", "t"]));
    await ctx.stores.catalogue.trashFile(owner, trashed.fileId);
    await commit(ctx.stores.catalogue, version(other, "theirs.txt", ["bad"]));
    const before = (await eventsOf(owner)).length;

    const chunk = { ownerKey: ownerKeyOf(owner), sha256: sha("bad"), quarantinedAt: uniqueTime() };
    const files = await ctx.stores.damage.report(chunk, owner);
    expect(files).toEqual([
      { fileId: a.fileId, name: "b/a.txt", version: 1 },
      { fileId: twice.fileId, name: "twice.txt", version: 1 },
    ]);
    const events = (await eventsOf(owner)).slice(before);
    expect(events.map((e) => [e.eventType, e.fileId, e.name, e.version, e.size, e.sha256, e.chunkSha256s])).toEqual([
      ["damaged", a.fileId, "b/a.txt", 1, a.size, a.sha256, []],
      ["damaged", twice.fileId, "twice.txt", 1, twice.size, twice.sha256, []],
    ]);
    expect((await eventsOf(other)).map((e) => e.eventType)).toEqual(["upload"]);

    // The same quarantine again (a second replica, a run reading back): nothing more.
    expect(await ctx.stores.damage.report(chunk, owner)).toBeUndefined();
    expect(await eventsOf(owner)).toHaveLength(before + 2);
    expect(await ctx.stores.damage.latestReported()).toEqual(chunk.quarantinedAt);
    // Quarantined again later (stored again, corrupt again): reported again.
    const again = { ...chunk, quarantinedAt: new Date(chunk.quarantinedAt.getTime() + 1) };
    expect(await ctx.stores.damage.report(again, owner)).toHaveLength(2);
  });

  it("remembers a quarantine of an owner the catalogue does not know, and finds owners by key", async () => {
    const owner = newOwner();
    await commit(ctx.stores.catalogue, version(owner, "f", ["a"]));
    const stranger = ownerKeyOf(newOwner());
    expect(Object.fromEntries(await ctx.stores.damage.ownersOf([ownerKeyOf(owner), stranger]))).toEqual({ [ownerKeyOf(owner)]: owner });
    const chunk = { ownerKey: stranger, sha256: sha("lost"), quarantinedAt: uniqueTime() };
    expect(await ctx.stores.damage.report(chunk, undefined)).toEqual([]);
    expect(await ctx.stores.damage.report(chunk, undefined)).toBeUndefined();
  });
}
