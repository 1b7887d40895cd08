import { randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import { NAME_TAKEN } from "../../services/metadata/src/ports/catalogue-store.js";
import type { FileRecord } from "../../services/metadata/src/domain/types.js";
import { chunksOf, commit, RULES, sha, version, type ContractContext } from "./metadata-store-fixtures.js";

/** Moves, restores, identical re-uploads, the trash, usage, quotas and retention: see describeMetadataStoreContracts. */
export function catalogueLifecycleContract(ctx: ContractContext): void {
  const { newOwner, eventsOf, candidatesOf } = ctx;
  const names = async (owner: string) => (await ctx.stores.catalogue.listFiles(owner, { prefix: "", after: "", limit: 100 })).map((f) => f.name);

  it("adds no version for content identical to the newest, and queues a differently cut list's unused chunks", async () => {
    const owner = newOwner();
    const v1 = version(owner, "same.bin", ["s0", "s1"]);
    const first = await commit(ctx.stores.catalogue, v1);
    const again = await commit(ctx.stores.catalogue, { ...v1, contentType: "application/octet-stream" });
    expect(again).toEqual(first);
    // Same bytes (size and hash), cut differently: still no version.
    const recut = { ...version(owner, "same.bin", ["r0", "r1", "r2", "r3"], 500), sha256: v1.sha256 };
    expect(await commit(ctx.stores.catalogue, recut)).toEqual(first);
    expect((await ctx.stores.catalogue.listFileVersions(owner, first.fileId)).map((v) => v.version)).toEqual([1]);
    expect((await eventsOf(owner)).map((e) => e.eventType)).toEqual(["upload"]);
    expect((await candidatesOf(owner)).map((c) => c.sha256).sort()).toEqual(["r0", "r1", "r2", "r3"].map(sha).sort());
    // Identical to an older version only: a new version.
    await commit(ctx.stores.catalogue, version(owner, "same.bin", ["other"]));
    expect((await commit(ctx.stores.catalogue, v1)).version).toBe(3);
  });

  it("moves a file to a new name keeping its id, versions and chunks; a taken name changes nothing", async () => {
    const owner = newOwner();
    const a = await commit(ctx.stores.catalogue, version(owner, "a.txt", ["a1"]));
    await commit(ctx.stores.catalogue, version(owner, "a.txt", ["a2"]));
    const b = await commit(ctx.stores.catalogue, version(owner, "b.txt", ["b1"]));
    const moved = await ctx.stores.catalogue.moveFile(owner, a.fileId, "dir/c.txt");
    expect(moved).toMatchObject({ fileId: a.fileId, name: "dir/c.txt", version: 2 });
    expect(await names(owner)).toEqual(["b.txt", "dir/c.txt"]);
    expect((await ctx.stores.catalogue.listFileVersions(owner, a.fileId)).map((v) => v.version)).toEqual([2, 1]);
    expect(await chunksOf(ctx.stores.catalogue, owner, a.fileId, 1)).toEqual(version(owner, "x", ["a1"]).chunks);

    expect(await ctx.stores.catalogue.moveFile(owner, a.fileId, "b.txt")).toBe(NAME_TAKEN);
    expect(await ctx.stores.catalogue.getFile(owner, b.fileId)).toEqual(b);
    expect(await ctx.stores.catalogue.moveFile(owner, a.fileId, "dir/c.txt")).toEqual(moved);
    expect(await ctx.stores.catalogue.moveFile(newOwner(), a.fileId, "stolen")).toBeUndefined();
    expect(await ctx.stores.catalogue.moveFile(owner, randomUUID(), "x")).toBeUndefined();
    // The old name is free: an upload there is a new file.
    expect((await commit(ctx.stores.catalogue, version(owner, "a.txt", ["a3"]))).fileId).not.toBe(a.fileId);
    expect((await eventsOf(owner)).filter((e) => e.eventType === "move").map((e) => [e.fileId, e.name])).toEqual([[a.fileId, "dir/c.txt"]]);
  });

  it("restores an old version as a new newest version with its chunk list", async () => {
    const owner = newOwner();
    const v1 = version(owner, "r.txt", ["r1a", "r1b"]);
    const file = await commit(ctx.stores.catalogue, v1);
    await commit(ctx.stores.catalogue, version(owner, "r.txt", ["r2"]));
    const restored = await ctx.stores.catalogue.restoreFileVersion(owner, file.fileId, 1, RULES);
    expect(restored).toMatchObject({ kind: "done", value: { fileId: file.fileId, version: 3, size: 2000, sha256: v1.sha256, numChunks: 2 } });
    expect(await chunksOf(ctx.stores.catalogue, owner, file.fileId, undefined)).toEqual(v1.chunks);
    // Restoring what the newest already is adds nothing.
    expect(await ctx.stores.catalogue.restoreFileVersion(owner, file.fileId, 1, RULES)).toMatchObject({ value: { version: 3 } });
    expect(await ctx.stores.catalogue.restoreFileVersion(owner, file.fileId, 9, RULES)).toBeUndefined();
    expect(await ctx.stores.catalogue.restoreFileVersion(newOwner(), file.fileId, 1, RULES)).toBeUndefined();
    expect((await eventsOf(owner)).map((e) => [e.eventType, e.version])).toEqual([
      ["upload", 1],
      ["update", 2],
      ["restore", 3],
    ]);
  });

  it("keeps a trashed file out of every read path, lists it in the trash, and frees its name", async () => {
    const owner = newOwner();
    const gone = await commit(ctx.stores.catalogue, version(owner, "gone.txt", ["g1"]));
    const trashed = await ctx.stores.catalogue.trashFile(owner, gone.fileId);
    expect(trashed).toMatchObject({ fileId: gone.fileId, name: "gone.txt", deletedAt: expect.any(Date) });
    expect(await ctx.stores.catalogue.getFile(owner, gone.fileId)).toBeUndefined();
    expect(await ctx.stores.catalogue.listFileVersions(owner, gone.fileId)).toEqual([]);
    expect(await chunksOf(ctx.stores.catalogue, owner, gone.fileId, undefined)).toBeUndefined();
    expect(await ctx.stores.catalogue.moveFile(owner, gone.fileId, "x")).toBeUndefined();
    expect(await ctx.stores.catalogue.trashFile(owner, gone.fileId)).toBeUndefined();
    expect(await names(owner)).toEqual([]);
    expect(await ctx.stores.catalogue.listTrash(owner, undefined, 10)).toEqual([trashed]);
    expect(await ctx.stores.catalogue.listTrash(newOwner(), undefined, 10)).toEqual([]);
    // Its chunks stay referenced: nothing is queued until it is purged.
    expect(await candidatesOf(owner)).toEqual([]);

    const reuse = await commit(ctx.stores.catalogue, version(owner, "gone.txt", ["g2"]));
    expect(reuse.fileId).not.toBe(gone.fileId);
    expect(await ctx.stores.catalogue.undeleteFile(owner, gone.fileId, RULES)).toBe(NAME_TAKEN);
    await ctx.stores.catalogue.moveFile(owner, reuse.fileId, "other.txt");
    expect(await ctx.stores.catalogue.undeleteFile(owner, gone.fileId, RULES)).toMatchObject({ kind: "done", value: { fileId: gone.fileId, name: "gone.txt" } });
    expect(await names(owner)).toEqual(["gone.txt", "other.txt"]);
    expect(await ctx.stores.catalogue.listTrash(owner, undefined, 10)).toEqual([]);
    expect(await ctx.stores.catalogue.undeleteFile(owner, gone.fileId, RULES)).toBeUndefined();
  });

  it("pages through the trash newest first with a keyset", async () => {
    const owner = newOwner();
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      const f = await commit(ctx.stores.catalogue, version(owner, `t${i}`, [`t${i}`]));
      await ctx.stores.catalogue.trashFile(owner, f.fileId);
      ids.push(f.fileId);
    }
    const seen: string[] = [];
    let after: { deletedAt: Date; fileId: string } | undefined;
    for (let pages = 0; pages < 10; pages += 1) {
      const page = await ctx.stores.catalogue.listTrash(owner, after, 2);
      seen.push(...page.map((f) => f.fileId));
      if (page.length < 2) break;
      after = { deletedAt: page.at(-1)!.deletedAt!, fileId: page.at(-1)!.fileId };
    }
    expect(seen).toHaveLength(5);
    expect(new Set(seen)).toEqual(new Set(ids));
    expect(seen.at(-1)).toBe(ids[0]);
  });

  it("purges only from the trash, queueing the chunks nothing else uses", async () => {
    const owner = newOwner();
    const file = await commit(ctx.stores.catalogue, version(owner, "p.txt", ["p1", "shared"]));
    await commit(ctx.stores.catalogue, version(owner, "keep.txt", ["shared"]));
    expect(await ctx.stores.catalogue.purgeFile(owner, file.fileId)).toBeUndefined();
    await ctx.stores.catalogue.trashFile(owner, file.fileId);
    expect(await ctx.stores.catalogue.purgeFile(newOwner(), file.fileId)).toBeUndefined();
    expect(await ctx.stores.catalogue.purgeFile(owner, file.fileId)).toEqual({ fileId: file.fileId, name: "p.txt", version: 1, queuedChunks: 1 });
    expect((await candidatesOf(owner)).map((c) => c.sha256)).toEqual([sha("p1")]);
    expect(await ctx.stores.catalogue.listTrash(owner, undefined, 10)).toEqual([]);
    expect(await ctx.stores.catalogue.undeleteFile(owner, file.fileId, RULES)).toBeUndefined();
  });

  it("counts the newest version of every file plus the trash, not older versions", async () => {
    const owner = newOwner();
    expect(await ctx.stores.catalogue.getUsage(owner, 5000)).toEqual({ usedBytes: 0, quotaBytes: 5000, fileCount: 0, trashBytes: 0 });
    const a = await commit(ctx.stores.catalogue, version(owner, "a", ["a1", "a2"]));
    await commit(ctx.stores.catalogue, version(owner, "a", ["a3"]));
    const b = await commit(ctx.stores.catalogue, version(owner, "b", ["b1", "b2", "b3"]));
    expect(await ctx.stores.catalogue.getUsage(owner, 0)).toEqual({ usedBytes: 4000, quotaBytes: 0, fileCount: 2, trashBytes: 0 });
    await ctx.stores.catalogue.restoreFileVersion(owner, a.fileId, 1, RULES);
    await ctx.stores.catalogue.trashFile(owner, b.fileId);
    expect(await ctx.stores.catalogue.getUsage(owner, 0)).toEqual({ usedBytes: 5000, quotaBytes: 0, fileCount: 1, trashBytes: 3000 });
    await ctx.stores.catalogue.purgeFile(owner, b.fileId);
    expect(await ctx.stores.catalogue.getUsage(owner, 0)).toEqual({ usedBytes: 2000, quotaBytes: 0, fileCount: 1, trashBytes: 0 });
    await ctx.stores.catalogue.setQuota(owner, 7000);
    expect(await ctx.stores.catalogue.getUsage(owner, 0)).toMatchObject({ quotaBytes: 7000 });
    await ctx.stores.catalogue.setQuota(owner, undefined);
    expect(await ctx.stores.catalogue.getUsage(owner, 123)).toMatchObject({ quotaBytes: 123 });
  });

  it("refuses what would exceed the quota with nothing changed, and lets a file shrink", async () => {
    const owner = newOwner();
    const rules = { ...RULES, defaultQuotaBytes: 3000 };
    const file = await commit(ctx.stores.catalogue, version(owner, "q", ["q1", "q2"]), rules);
    await ctx.stores.outbox.removeEvents((await eventsOf(owner)).map((e) => e.seq));
    const refused = await ctx.stores.catalogue.commitFileVersion(version(owner, "other", ["o1", "o2"]), rules);
    expect(refused).toEqual({ kind: "over-quota", usedBytes: 2000, quotaBytes: 3000, addedBytes: 2000 });
    expect(await names(owner)).toEqual(["q"]);
    expect(await eventsOf(owner)).toEqual([]);
    // A new version counts what it adds over the newest.
    expect((await ctx.stores.catalogue.commitFileVersion(version(owner, "q", ["q1", "q2", "q3"]), rules)).kind).toBe("done");
    expect((await ctx.stores.catalogue.restoreFileVersion(owner, file.fileId, 1, rules))?.kind).toBe("done");
    // An override wins over the default; 0 is unlimited.
    await ctx.stores.catalogue.setQuota(owner, 2500);
    expect((await ctx.stores.catalogue.commitFileVersion(version(owner, "q", ["q1", "q2", "q3"]), rules)).kind).toBe("over-quota");
    expect((await ctx.stores.catalogue.commitFileVersion(version(owner, "q", ["small"], 10), rules)).kind).toBe("done");
    await ctx.stores.catalogue.setQuota(owner, 0);
    expect((await ctx.stores.catalogue.commitFileVersion(version(owner, "big", ["b1", "b2", "b3", "b4"]), rules)).kind).toBe("done");
  });

  it("never commits past the quota under concurrent uploads", async () => {
    const owner = newOwner();
    const rules = { ...RULES, defaultQuotaBytes: 5000 };
    const outcomes = await Promise.all(
      Array.from({ length: 12 }, (_, i) => ctx.stores.catalogue.commitFileVersion(version(owner, `c${i}`, [`c${i}`]), rules)),
    );
    expect(outcomes.filter((o) => o.kind === "done")).toHaveLength(5);
    expect(await ctx.stores.catalogue.getUsage(owner, 5000)).toMatchObject({ usedBytes: 5000, fileCount: 5 });
    expect(await names(owner)).toHaveLength(5);
  });

  it("commits a batch in one transaction: new files, a new version, the same content again and a retried key, answered in order", async () => {
    const owner = newOwner();
    const updated = await commit(ctx.stores.catalogue, version(owner, "batch/old.txt", ["o1"]));
    const unchanged = await commit(ctx.stores.catalogue, version(owner, "batch/same.txt", ["s1"]));
    const keyed = await commit(ctx.stores.catalogue, { ...version(owner, "batch/keyed.txt", ["k1"]), idempotencyKey: "batch-key" });
    await ctx.stores.outbox.removeEvents((await eventsOf(owner)).map((e) => e.seq));
    const outcome = await ctx.stores.catalogue.commitFileVersions(
      [
        version(owner, "batch/new-1.txt", ["n1", "shared"]),
        version(owner, "batch/old.txt", ["o2"]),
        version(owner, "batch/same.txt", ["s1"]),
        { ...version(owner, "batch/keyed-retry.txt", ["k2"]), idempotencyKey: "batch-key" },
        version(owner, "batch/new-2.txt", ["shared"]),
      ],
      RULES,
    );
    if (outcome.kind !== "done") throw new Error(`batch refused: ${JSON.stringify(outcome)}`);
    const [n1, old, same, retried, n2] = outcome.value;
    expect(n1).toMatchObject({ name: "batch/new-1.txt", version: 1, size: 2000, numChunks: 2 });
    expect(old).toMatchObject({ fileId: updated.fileId, version: 2, size: 1000 });
    expect(same).toEqual(unchanged);
    expect(retried).toEqual(keyed);
    expect(n2).toMatchObject({ name: "batch/new-2.txt", version: 1, size: 1000 });
    expect(await chunksOf(ctx.stores.catalogue, owner, n2!.fileId, undefined)).toEqual(version(owner, "x", ["shared"]).chunks);
    expect(await names(owner)).toEqual(["batch/keyed.txt", "batch/new-1.txt", "batch/new-2.txt", "batch/old.txt", "batch/same.txt"]);
    expect((await eventsOf(owner)).map((e) => [e.eventType, e.name])).toEqual([
      ["upload", "batch/new-1.txt"],
      ["update", "batch/old.txt"],
      ["upload", "batch/new-2.txt"],
    ]);
    expect(await ctx.stores.catalogue.getUsage(owner, 0)).toMatchObject({ usedBytes: 1000 + 1000 + 1000 + 2000 + 1000, fileCount: 5 });
    expect(await ctx.stores.catalogue.commitFileVersions([], RULES)).toEqual({ kind: "done", value: [] });
  });

  it("refuses a batch whose files together exceed the quota, committing none of them", async () => {
    const owner = newOwner();
    const rules = { ...RULES, defaultQuotaBytes: 3000 };
    await commit(ctx.stores.catalogue, version(owner, "first", ["f1"]), rules);
    await ctx.stores.outbox.removeEvents((await eventsOf(owner)).map((e) => e.seq));
    const batch = [version(owner, "b1", ["b1"]), version(owner, "b2", ["b2"]), version(owner, "b3", ["b3"])];
    expect(await ctx.stores.catalogue.commitFileVersions(batch, rules)).toEqual({ kind: "over-quota", usedBytes: 1000, quotaBytes: 3000, addedBytes: 3000 });
    expect(await names(owner)).toEqual(["first"]);
    expect(await eventsOf(owner)).toEqual([]);
    expect(await ctx.stores.catalogue.getUsage(owner, 3000)).toMatchObject({ usedBytes: 1000, fileCount: 1 });
    expect((await ctx.stores.catalogue.commitFileVersions(batch.slice(0, 2), rules)).kind).toBe("done");
  });

  it("commits batches that share idempotency keys, listed in opposite orders, concurrently without deadlock, each key once", async () => {
    const owner = newOwner();
    const keyed = (name: string, key: string) => ({ ...version(owner, name, [name]), idempotencyKey: key });
    const outcomes = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        ctx.stores.catalogue.commitFileVersions(i % 2 === 0 ? [keyed(`a${i}`, "ka"), keyed(`b${i}`, "kb")] : [keyed(`b${i}`, "kb"), keyed(`a${i}`, "ka")], RULES),
      ),
    );
    const committed = outcomes.map((o) => (o.kind === "done" ? o.value.map((f) => f.fileId).sort() : []));
    // Every batch answers the files the first one committed under those keys.
    expect(new Set(committed.map((ids) => ids.join()))).toHaveProperty("size", 1);
    expect(await names(owner)).toHaveLength(2);
  });

  it("serializes an owner's concurrent commits, moves, restores, trash and undeletes without deadlock, keeping usage exact", async () => {
    const owner = newOwner();
    const files = await Promise.all(Array.from({ length: 4 }, (_, i) => commit(ctx.stores.catalogue, version(owner, `mix-${i}`, [`m${i}`]))));
    const ops = files.flatMap((f, i) => [
      () => commit(ctx.stores.catalogue, version(owner, `mix-${i}`, [`m${i}`, `n${i}`])),
      () => ctx.stores.catalogue.moveFile(owner, f.fileId, `moved-${i}`),
      () => ctx.stores.catalogue.restoreFileVersion(owner, f.fileId, 1, RULES),
      () => ctx.stores.catalogue.trashFile(owner, f.fileId),
      () => ctx.stores.catalogue.undeleteFile(owner, f.fileId, RULES),
      () => commit(ctx.stores.catalogue, version(owner, `new-${i}`, [`x${i}`])),
    ]);
    await Promise.all(ops.map((op) => op()));
    // Whatever order they ran in, the counters agree with the files.
    const live = await ctx.stores.catalogue.listFiles(owner, { prefix: "", after: "", limit: 100 });
    const trashed = await ctx.stores.catalogue.listTrash(owner, undefined, 100);
    const sum = (list: readonly { size: number }[]) => list.reduce((t, f) => t + f.size, 0);
    expect(await ctx.stores.catalogue.getUsage(owner, 0)).toEqual({
      usedBytes: sum(live) + sum(trashed),
      quotaBytes: 0,
      fileCount: live.length,
      trashBytes: sum(trashed),
    });
  });

  it("commits a batch of new versions of several files, each pruned, and answers its retry by key with the same files", async () => {
    const owner = newOwner();
    const rules = { ...RULES, versionsMax: 2 };
    const batch = (round: number) =>
      ["a", "b", "c"].map((name) => ({ ...version(owner, `multi/${name}`, [`${name}${round}`, "common"]), idempotencyKey: `multi-${name}-${round}` }));
    const answers: FileRecord[][] = [];
    for (const round of [1, 2, 3]) {
      const outcome = await ctx.stores.catalogue.commitFileVersions(batch(round), rules);
      if (outcome.kind !== "done") throw new Error(`batch refused: ${JSON.stringify(outcome)}`);
      answers.push(outcome.value);
    }
    expect(answers[2]!.map((f) => [f.name, f.version])).toEqual([
      ["multi/a", 3],
      ["multi/b", 3],
      ["multi/c", 3],
    ]);
    for (const f of answers[2]!) {
      expect((await ctx.stores.catalogue.listFileVersions(owner, f.fileId)).map((v) => v.version)).toEqual([3, 2]);
      expect(await chunksOf(ctx.stores.catalogue, owner, f.fileId, undefined)).toEqual(version(owner, "x", [`${f.name.slice(-1)}3`, "common"]).chunks);
    }
    // Round 1's own chunks went with its versions; the chunk every version shares stays.
    expect((await candidatesOf(owner)).map((c) => c.sha256).sort()).toEqual([sha("a1"), sha("b1"), sha("c1")].sort());
    const events = (await eventsOf(owner)).length;
    const retried = await ctx.stores.catalogue.commitFileVersions(batch(3), rules);
    expect(retried).toEqual({ kind: "done", value: answers[2] });
    expect((await eventsOf(owner)).length).toBe(events);
    expect(await ctx.stores.catalogue.getUsage(owner, 0)).toMatchObject({ usedBytes: 6000, fileCount: 3 });
  });

  it("keeps at most versionsMax versions, the newest always, and queues the pruned versions' unused chunks", async () => {
    const owner = newOwner();
    const rules = { ...RULES, versionsMax: 2 };
    let file = await commit(ctx.stores.catalogue, version(owner, "v", ["v1", "keep"]), rules);
    for (const seed of ["v2", "v3", "v4"]) file = await commit(ctx.stores.catalogue, version(owner, "v", [seed, "keep"]), rules);
    expect((await ctx.stores.catalogue.listFileVersions(owner, file.fileId)).map((v) => v.version)).toEqual([4, 3]);
    expect((await candidatesOf(owner)).map((c) => c.sha256).sort()).toEqual([sha("v1"), sha("v2")].sort());
    expect(await ctx.stores.catalogue.restoreFileVersion(owner, file.fileId, 1, rules)).toBeUndefined();
  });

  it("empties the trash after the retention, as a purge, and leaves younger trash alone", async () => {
    const owner = newOwner();
    const old = await commit(ctx.stores.catalogue, version(owner, "old", ["o1"]));
    const young = await commit(ctx.stores.catalogue, version(owner, "young", ["y1"]));
    await ctx.stores.catalogue.trashFile(owner, old.fileId);
    await ctx.stores.catalogue.trashFile(owner, young.fileId);
    await ctx.stores.database.query(`UPDATE files SET deleted_at = deleted_at - interval '31 days' WHERE file_id = $1`, [old.fileId]);
    let purged = 0;
    for (let i = 0; i < 50 && (await ctx.stores.catalogue.listTrash(owner, undefined, 10)).length > 1; i += 1) {
      purged += await ctx.stores.retention.purgeExpiredTrash(30, 1000);
    }
    expect(purged).toBeGreaterThanOrEqual(1);
    expect((await ctx.stores.catalogue.listTrash(owner, undefined, 10)).map((f) => f.fileId)).toEqual([young.fileId]);
    expect((await eventsOf(owner)).map((e) => [e.eventType, e.name])).toEqual([
      ["upload", "old"],
      ["upload", "young"],
      ["trash", "old"],
      ["trash", "young"],
      ["purge", "old"],
    ]);
    expect((await candidatesOf(owner)).map((c) => c.sha256)).toEqual([sha("o1")]);
    expect(await ctx.stores.catalogue.getUsage(owner, 0)).toMatchObject({ usedBytes: 1000, trashBytes: 1000 });
  });

  it("prunes versions older than versionsMaxAgeDays but never the newest, and queues their unused chunks", async () => {
    const owner = newOwner();
    await commit(ctx.stores.catalogue, version(owner, "aged", ["a1", "shared"]));
    await commit(ctx.stores.catalogue, version(owner, "aged", ["a2", "shared"]));
    const file = await commit(ctx.stores.catalogue, version(owner, "aged", ["a3", "shared"]));
    const lonely = await commit(ctx.stores.catalogue, version(owner, "lonely", ["l1"]));
    await ctx.stores.database.query(`UPDATE file_versions SET created_at = now() - interval '200 days' WHERE file_id = ANY($1::uuid[])`, [
      [file.fileId, lonely.fileId],
    ]);
    const rules = { ...RULES, versionsMaxAgeDays: 180 };
    let pruned = 0;
    for (let i = 0; i < 50 && (await ctx.stores.catalogue.listFileVersions(owner, file.fileId)).length > 1; i += 1) {
      pruned += await ctx.stores.retention.pruneVersions(rules, 1000);
    }
    expect(pruned).toBeGreaterThanOrEqual(2);
    expect((await ctx.stores.catalogue.listFileVersions(owner, file.fileId)).map((v) => v.version)).toEqual([3]);
    expect((await ctx.stores.catalogue.listFileVersions(owner, lonely.fileId)).map((v) => v.version)).toEqual([1]);
    expect((await candidatesOf(owner)).map((c) => c.sha256).sort()).toEqual([sha("a1"), sha("a2")].sort());
    expect(await chunksOf(ctx.stores.catalogue, owner, file.fileId, undefined)).toEqual(version(owner, "x", ["a3", "shared"]).chunks);
    expect(await ctx.stores.retention.pruneVersions({ ...RULES, versionsMaxAgeDays: 0 }, 10)).toBe(0);
  });
}
