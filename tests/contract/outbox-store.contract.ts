import { expect, it } from "vitest";
import { sha, version, type ContractContext } from "./metadata-store-fixtures.js";

/** OutboxStore: see describeMetadataStoreContracts. */
export function outboxStoreContract(ctx: ContractContext): void {
  const { newOwner, eventsOf } = ctx;

  it("writes an outbox event with each commit and delete, removable once delivered", async () => {
    const owner = newOwner();
    const v1 = version(owner, "evented", ["e1"]);
    const v2 = version(owner, "evented", ["e2", "e3"]);
    const first = await ctx.stores.catalogue.commitFileVersion(v1);
    await ctx.stores.catalogue.commitFileVersion(v2);
    await ctx.stores.catalogue.deleteFile(owner, first.fileId);

    const events = await eventsOf(owner);
    expect(events.map((e) => [e.eventType, e.version, e.size, e.sha256])).toEqual([
      ["upload", 1, 1000, v1.sha256],
      ["update", 2, 2000, v2.sha256],
      ["delete", 2, 2000, v2.sha256],
    ]);
    for (const e of events) {
      expect(e).toMatchObject({ owner, fileId: first.fileId, name: "evented" });
      expect(e.eventId).toMatch(/^[0-9a-f-]{36}$/);
      expect(e.createdAt).toBeInstanceOf(Date);
    }
    expect(new Set(events.map((e) => e.eventId)).size).toBe(3);
    const seqs = events.map((e) => BigInt(e.seq));
    expect([...seqs].sort((x, y) => (x < y ? -1 : 1))).toEqual(seqs);

    await ctx.stores.outbox.removeEvents(events.slice(0, 2).map((e) => e.seq));
    expect((await eventsOf(owner)).map((e) => e.eventType)).toEqual(["delete"]);
    await ctx.stores.outbox.removeEvents(events.map((e) => e.seq));
    expect(await eventsOf(owner)).toEqual([]);
    await ctx.stores.outbox.removeEvents([]);
  });

  it("puts the distinct chunk hashes of every version into the delete event, and none into upload or update events", async () => {
    const owner = newOwner();
    const first = await ctx.stores.catalogue.commitFileVersion(version(owner, "hashed", ["h1", "shared", "h1"]));
    await ctx.stores.catalogue.commitFileVersion(version(owner, "hashed", ["h2", "shared"]));
    // Chunks another file still uses are listed too: verification checks each.
    await ctx.stores.catalogue.commitFileVersion(version(owner, "other", ["shared"]));
    const empty = await ctx.stores.catalogue.commitFileVersion(version(owner, "empty", []));
    await ctx.stores.catalogue.deleteFile(owner, first.fileId);
    await ctx.stores.catalogue.deleteFile(owner, empty.fileId);

    const events = await eventsOf(owner);
    expect(events.map((e) => [e.eventType, e.name, e.chunkSha256s])).toEqual([
      ["upload", "hashed", []],
      ["update", "hashed", []],
      ["upload", "other", []],
      ["upload", "empty", []],
      ["delete", "hashed", [sha("h1"), sha("h2"), sha("shared")].sort()],
      ["delete", "empty", []],
    ]);
  });
}
