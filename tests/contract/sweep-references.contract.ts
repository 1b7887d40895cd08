import { randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import { ownerKeyOf } from "../../services/block-storage/src/domain/block-service.js";
import { commit, deleteForGood, sha, version, type ContractContext } from "./metadata-store-fixtures.js";

/** SweepReferences: whose a chunk is by its block-storage key, and whether anything refers to it. */
export function sweepReferencesContract(ctx: ContractContext): void {
  const { newOwner } = ctx;

  it("finds the owners behind block storage's keys (files, sessions, collector entries), and no one for an unknown key", async () => {
    const withFile = `${newOwner()}/ünïcode`;
    const withSession = newOwner();
    await commit(ctx.stores.catalogue, version(withFile, "f", ["a"]));
    await ctx.stores.uploads.create(
      { uploadId: randomUUID(), owner: withSession, name: "s", contentType: "", size: 1000, sha256: undefined, chunkCount: 1, expiresAt: new Date(Date.now() + 3_600_000) },
      [{ sha256: sha("s"), size: 1000 }],
    );
    const stranger = ownerKeyOf(newOwner());
    const found = await ctx.stores.sweep.ownersOf([ownerKeyOf(withFile), ownerKeyOf(withSession), stranger]);
    expect(Object.fromEntries(found)).toEqual({ [ownerKeyOf(withFile)]: withFile, [ownerKeyOf(withSession)]: withSession });
    expect((await ctx.stores.sweep.ownersOf([])).size).toBe(0);
  });

  it("calls a chunk unreferenced only when no version, trashed file, session or collector entry of its owner needs it", async () => {
    const owner = newOwner();
    const other = newOwner();
    await commit(ctx.stores.catalogue, version(owner, "live", ["live"]));
    const trashed = await commit(ctx.stores.catalogue, version(owner, "trashed", ["trashed"]));
    await ctx.stores.catalogue.trashFile(owner, trashed.fileId);
    const purged = await commit(ctx.stores.catalogue, version(owner, "purged", ["queued"]));
    await deleteForGood(ctx.stores.catalogue, owner, purged.fileId);
    await ctx.stores.uploads.create(
      { uploadId: randomUUID(), owner, name: "s", contentType: "", size: 1000, sha256: undefined, chunkCount: 1, expiresAt: new Date(Date.now() + 3_600_000) },
      [{ sha256: sha("session"), size: 1000 }],
    );
    await commit(ctx.stores.catalogue, version(other, "theirs", ["orphan"]));
    const asked = ["live", "trashed", "queued", "session", "orphan", "orphan"].map(sha);
    expect(await ctx.stores.sweep.unreferenced(owner, asked)).toEqual([sha("orphan")]);
    expect(await ctx.stores.sweep.unreferenced(owner, [])).toEqual([]);
  });
}
