import { expect, it } from "vitest";
import { commit, deleteForGood, RULES, version, type ContractContext } from "./metadata-store-fixtures.js";

/** OutboxStore: see describeMetadataStoreContracts. */
export function outboxStoreContract(ctx: ContractContext): void {
  const { newOwner, eventsOf } = ctx;

  it("writes an outbox event with each commit, trash and purge, removable once delivered", async () => {
    const owner = newOwner();
    const v1 = version(owner, "evented", ["e1"]);
    const v2 = version(owner, "evented", ["e2", "e3"]);
    const first = await commit(ctx.stores.catalogue, v1);
    await commit(ctx.stores.catalogue, v2);
    await deleteForGood(ctx.stores.catalogue, owner, first.fileId);

    const events = await eventsOf(owner);
    expect(events.map((e) => [e.eventType, e.version, e.size, e.sha256])).toEqual([
      ["upload", 1, 1000, v1.sha256],
      ["update", 2, 2000, v2.sha256],
      ["trash", 2, 2000, v2.sha256],
      ["purge", 2, 2000, v2.sha256],
    ]);
    for (const e of events) {
      expect(e).toMatchObject({ owner, fileId: first.fileId, name: "evented" });
      expect(e.eventId).toMatch(/^[0-9a-f-]{36}$/);
      expect(e.createdAt).toBeInstanceOf(Date);
    }
    expect(new Set(events.map((e) => e.eventId)).size).toBe(4);
    const seqs = events.map((e) => BigInt(e.seq));
    expect([...seqs].sort((x, y) => (x < y ? -1 : 1))).toEqual(seqs);

    await ctx.stores.outbox.removeEvents(events.slice(0, 2).map((e) => e.seq));
    expect((await eventsOf(owner)).map((e) => e.eventType)).toEqual(["trash", "purge"]);
    await ctx.stores.outbox.removeEvents(events.map((e) => e.seq));
    expect(await eventsOf(owner)).toEqual([]);
    await ctx.stores.outbox.removeEvents([]);
  });

  it("writes bounded events: no chunk hashes in any of them, however long the file's history", async () => {
    const owner = newOwner();
    const first = await commit(ctx.stores.catalogue, version(owner, "hashed", ["h1", "shared", "h1"]));
    await commit(ctx.stores.catalogue, version(owner, "hashed", ["h2", "shared"]));
    await ctx.stores.catalogue.moveFile(owner, first.fileId, "moved");
    await ctx.stores.catalogue.restoreFileVersion(owner, first.fileId, 1, RULES);
    await ctx.stores.catalogue.trashFile(owner, first.fileId);
    await ctx.stores.catalogue.undeleteFile(owner, first.fileId, RULES);
    await deleteForGood(ctx.stores.catalogue, owner, first.fileId);

    const events = await eventsOf(owner);
    expect(events.map((e) => [e.eventType, e.name, e.version, e.chunkSha256s])).toEqual([
      ["upload", "hashed", 1, []],
      ["update", "hashed", 2, []],
      ["move", "moved", 2, []],
      ["restore", "moved", 3, []],
      ["trash", "moved", 3, []],
      ["undelete", "moved", 3, []],
      ["trash", "moved", 3, []],
      ["purge", "moved", 3, []],
    ]);
  });

  it("sets a refused event aside with its reason, counts it, and puts it back at the end of the outbox on retry (checklist 40)", async () => {
    const owner = newOwner();
    await commit(ctx.stores.catalogue, version(owner, "refused", ["r1"]));
    await commit(ctx.stores.catalogue, version(owner, "fine", ["f1"]));
    const [refused, fine] = await eventsOf(owner);
    const before = await ctx.stores.outbox.deadLetterCount();
    await ctx.stores.outbox.setAside(refused!, "events[0].name is not valid UTF-8");
    await ctx.stores.outbox.setAside(refused!, "set aside twice: no-op");
    expect((await eventsOf(owner)).map((e) => e.eventId)).toEqual([fine!.eventId]);
    expect(await ctx.stores.outbox.deadLetterCount()).toBe(before + 1);
    const listed = (await ctx.stores.outbox.listDeadLetters(10_000)).filter((l) => l.owner === owner);
    expect(listed).toEqual([
      expect.objectContaining({ seq: refused!.seq, eventId: refused!.eventId, eventType: "upload", name: "refused", reason: "events[0].name is not valid UTF-8" }),
    ]);
    expect(listed[0]!.setAsideAt).toBeInstanceOf(Date);

    expect(await ctx.stores.outbox.retryDeadLetters([refused!.seq])).toBe(1);
    const after = await eventsOf(owner);
    // Back behind the event that had been behind it, with the same event id (sync records it once).
    expect(after.map((e) => e.eventId)).toEqual([fine!.eventId, refused!.eventId]);
    expect(after[1]).toMatchObject({ name: "refused", version: 1, sha256: refused!.sha256, createdAt: refused!.createdAt });
    expect(await ctx.stores.outbox.deadLetterCount()).toBe(before);
    expect(await ctx.stores.outbox.retryDeadLetters("all")).toBe(0);
  });
}
