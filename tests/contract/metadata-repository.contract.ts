import { createHash, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChunkRecord, NewFileVersion, OutboxEvent } from "../../services/metadata/src/domain/types.js";
import type { MetadataRepository } from "../../services/metadata/src/ports/metadata-repository.js";

export interface RepositoryUnderTest {
  /** On an empty database, not migrated yet. */
  repo: MetadataRepository;
  cleanup: () => Promise<void>;
}

const sha = (seed: string) => createHash("sha256").update(seed).digest("hex");

/** A version whose chunks hash the given seeds, `chunkSize` bytes each. */
function version(owner: string, name: string, seeds: readonly string[], chunkSize = 1000): NewFileVersion {
  const chunks: ChunkRecord[] = seeds.map((seed, index) => ({ index, sha256: sha(seed), size: chunkSize, offset: index * chunkSize }));
  return { owner, name, contentType: "text/plain", size: seeds.length * chunkSize, sha256: sha(`${name}:${seeds.join(",")}`), chunks };
}

/** The order PostgreSQL's COLLATE "C" gives: UTF-8 bytes. */
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/**
 * What every MetadataRepository must do, run against each database the
 * service supports. Each test works as its own random owner, so tests share
 * one database without seeing each other's files.
 */
export function describeMetadataRepositoryContract(name: string, create: () => Promise<RepositoryUnderTest>): void {
  describe(`MetadataRepository contract: ${name}`, () => {
    let repo: MetadataRepository;
    let cleanup: (() => Promise<void>) | undefined;
    const newOwner = () => `user-${randomUUID()}`;
    const eventsOf = async (owner: string): Promise<OutboxEvent[]> => (await repo.pendingEvents(10_000)).filter((e) => e.owner === owner);
    const candidatesOf = async (owner: string, graceSeconds = 0) =>
      (await repo.dueGcCandidates(graceSeconds, 10_000)).filter((c) => c.owner === owner);

    beforeAll(async () => {
      ({ repo, cleanup } = await create());
      // Two replicas starting at once on an empty database.
      await Promise.all([repo.migrate(), repo.migrate()]);
    });

    afterAll(async () => {
      await cleanup?.();
    });

    it("migrates again without touching existing data", async () => {
      const owner = newOwner();
      const file = await repo.commitFileVersion(version(owner, "kept.txt", ["a"]));
      await repo.migrate();
      expect(await repo.getFile(owner, file.fileId)).toEqual(file);
      await repo.ping();
    });

    it("commits a new file and reads it back through every read path", async () => {
      const owner = newOwner();
      const v = version(owner, "docs/report.pdf", ["r0", "r1", "r2"]);
      const file = await repo.commitFileVersion(v);
      expect(file).toMatchObject({ name: "docs/report.pdf", size: 3000, sha256: v.sha256, contentType: "text/plain", numChunks: 3, version: 1 });
      expect(file.fileId).toMatch(/^[0-9a-f-]{36}$/);
      expect(file.createdAt).toBeInstanceOf(Date);

      expect(await repo.getFile(owner, file.fileId)).toEqual(file);
      expect(await repo.listFiles(owner, { prefix: "", after: "", limit: 10 })).toEqual([file]);
      expect(await repo.listFileVersions(owner, file.fileId)).toEqual([
        { fileId: file.fileId, version: 1, size: 3000, sha256: v.sha256, contentType: "text/plain", numChunks: 3, createdAt: expect.any(Date) },
      ]);
      expect(await repo.listFileChunks(owner, file.fileId, undefined)).toEqual(v.chunks);
      expect(await repo.listFileChunks(owner, file.fileId, 1)).toEqual(v.chunks);
      expect(await repo.listFileChunks(owner, file.fileId, 2)).toBeUndefined();
      expect(await repo.getFile(owner, randomUUID())).toBeUndefined();
    });

    it("stores an empty file with no chunks, distinct from a missing version", async () => {
      const owner = newOwner();
      const file = await repo.commitFileVersion(version(owner, "empty", []));
      expect(file).toMatchObject({ size: 0, numChunks: 0, version: 1 });
      expect(await repo.listFileChunks(owner, file.fileId, undefined)).toEqual([]);
      expect(await repo.listFileChunks(owner, file.fileId, 3)).toBeUndefined();
    });

    it("commits the same name again as version 2 of the same file", async () => {
      const owner = newOwner();
      const v1 = version(owner, "notes.md", ["n1"]);
      const v2 = version(owner, "notes.md", ["n2a", "n2b"], 500);
      const first = await repo.commitFileVersion(v1);
      const second = await repo.commitFileVersion(v2);
      expect(second).toMatchObject({ fileId: first.fileId, version: 2, size: 1000, sha256: v2.sha256, numChunks: 2 });
      expect(second.createdAt).toEqual(first.createdAt);
      expect(second.updatedAt.getTime()).toBeGreaterThanOrEqual(first.updatedAt.getTime());
      expect(await repo.getFile(owner, first.fileId)).toEqual(second);
      expect((await repo.listFileVersions(owner, first.fileId)).map((x) => [x.version, x.sha256])).toEqual([
        [2, v2.sha256],
        [1, v1.sha256],
      ]);
      expect(await repo.listFileChunks(owner, first.fileId, undefined)).toEqual(v2.chunks);
      expect(await repo.listFileChunks(owner, first.fileId, 1)).toEqual(v1.chunks);
      expect(await repo.listFiles(owner, { prefix: "", after: "", limit: 10 })).toHaveLength(1);
    });

    it("serializes concurrent commits of one new name into versions 1 and 2", async () => {
      const owner = newOwner();
      const [a, b] = await Promise.all([
        repo.commitFileVersion(version(owner, "race", ["x"])),
        repo.commitFileVersion(version(owner, "race", ["y"])),
      ]);
      expect(a.fileId).toBe(b.fileId);
      expect([a.version, b.version].sort()).toEqual([1, 2]);
    });

    it("keeps owners apart", async () => {
      const alice = newOwner();
      const bob = newOwner();
      const file = await repo.commitFileVersion(version(alice, "same-name", ["a"]));
      const bobs = await repo.commitFileVersion(version(bob, "same-name", ["b"]));
      expect(bobs.fileId).not.toBe(file.fileId);
      expect(bobs.version).toBe(1);
      expect(await repo.getFile(bob, file.fileId)).toBeUndefined();
      expect(await repo.listFileVersions(bob, file.fileId)).toEqual([]);
      expect(await repo.listFileChunks(bob, file.fileId, undefined)).toBeUndefined();
      expect(await repo.listFileChunks(bob, file.fileId, 1)).toBeUndefined();
      expect(await repo.deleteFile(bob, file.fileId)).toBeUndefined();
      expect(await repo.listFiles(bob, { prefix: "", after: "", limit: 10 })).toEqual([bobs]);
      expect(await repo.getFile(alice, file.fileId)).toEqual(file);
    });

    it("pages through names in byte order with a keyset and a prefix", async () => {
      const owner = newOwner();
      const inside = ["docs/B", "docs/a", "docs/a/z", "docs/é", "docs/Z", "docs/a-b", "docs/0", "docs/😀", "docs/~"];
      const outside = ["doc", "docs", "docsx", "Docs/a", "e/docs/a"];
      for (const n of [...inside, ...outside]) await repo.commitFileVersion(version(owner, n, []));

      const pageThrough = async (prefix: string, limit: number) => {
        const names: string[] = [];
        for (let after = "", pages = 0; ; pages += 1) {
          expect(pages).toBeLessThan(50);
          const page = await repo.listFiles(owner, { prefix, after, limit });
          names.push(...page.map((f) => f.name));
          if (page.length < limit) return names;
          after = page.at(-1)!.name;
        }
      };
      expect(await pageThrough("docs/", 2)).toEqual([...inside].sort(byteOrder));
      expect(await pageThrough("docs/", 1000)).toEqual([...inside].sort(byteOrder));
      expect(await pageThrough("", 3)).toEqual([...inside, ...outside].sort(byteOrder));
      expect(await repo.listFiles(owner, { prefix: "docs/a", after: "docs/a", limit: 10 })).toMatchObject([
        { name: "docs/a-b" },
        { name: "docs/a/z" },
      ]);
      expect(await repo.listFiles(owner, { prefix: "nothing/", after: "", limit: 10 })).toEqual([]);
    });

    it("deletes a file from every read path and queues only the chunks no other file of the owner uses", async () => {
      const owner = newOwner();
      const other = newOwner();
      const gone = await repo.commitFileVersion(version(owner, "old.bin", ["only-v1", "shared"]));
      await repo.commitFileVersion(version(owner, "old.bin", ["only-v2", "shared", "only-v2"]));
      await repo.commitFileVersion(version(owner, "keeps-shared.bin", ["shared"]));
      // Another owner's copy of a chunk does not keep this owner's copy alive.
      await repo.commitFileVersion(version(other, "theirs.bin", ["only-v1"]));

      const deleted = await repo.deleteFile(owner, gone.fileId);
      expect(deleted).toEqual({ fileId: gone.fileId, name: "old.bin", version: 2, queuedChunks: 2 });
      expect(await repo.getFile(owner, gone.fileId)).toBeUndefined();
      expect(await repo.listFileVersions(owner, gone.fileId)).toEqual([]);
      expect(await repo.listFileChunks(owner, gone.fileId, undefined)).toBeUndefined();
      expect(await repo.listFileChunks(owner, gone.fileId, 1)).toBeUndefined();
      expect((await repo.listFiles(owner, { prefix: "", after: "", limit: 10 })).map((f) => f.name)).toEqual(["keeps-shared.bin"]);
      expect(await repo.deleteFile(owner, gone.fileId)).toBeUndefined();

      const queued = await candidatesOf(owner);
      expect(queued.map((c) => c.sha256).sort()).toEqual([sha("only-v1"), sha("only-v2")].sort());
      expect(queued.every((c) => !c.stillReferenced)).toBe(true);
      expect(await candidatesOf(other)).toEqual([]);
      // Inside the grace period nothing is due yet.
      expect(await candidatesOf(owner, 3600)).toEqual([]);
    });

    it("un-queues a chunk that a new commit uses again, and re-checks stale candidates", async () => {
      const owner = newOwner();
      const a = await repo.commitFileVersion(version(owner, "a", ["reused", "dropped"]));
      await repo.deleteFile(owner, a.fileId);
      expect((await candidatesOf(owner)).map((c) => c.sha256).sort()).toEqual([sha("dropped"), sha("reused")].sort());

      const b = await repo.commitFileVersion(version(owner, "b", ["reused"]));
      expect((await candidatesOf(owner)).map((c) => c.sha256)).toEqual([sha("dropped")]);

      // Collected candidates go; a candidate read as still referenced goes only while it still is.
      const c = await repo.commitFileVersion(version(owner, "c", ["dropped"]));
      await repo.deleteFile(owner, b.fileId);
      const due = await candidatesOf(owner);
      expect(due).toEqual([{ owner, sha256: sha("reused"), stillReferenced: false }]);
      await repo.removeGcCandidates([
        { owner, sha256: sha("reused"), stillReferenced: true },
        { owner, sha256: sha("never-queued"), stillReferenced: false },
      ]);
      expect(await candidatesOf(owner)).toEqual(due);
      await repo.removeGcCandidates(due);
      expect(await candidatesOf(owner)).toEqual([]);
      expect(await repo.getFile(owner, c.fileId)).toBeDefined();
    });

    it("writes an outbox event with each commit and delete, removable once delivered", async () => {
      const owner = newOwner();
      const v1 = version(owner, "evented", ["e1"]);
      const v2 = version(owner, "evented", ["e2", "e3"]);
      const first = await repo.commitFileVersion(v1);
      await repo.commitFileVersion(v2);
      await repo.deleteFile(owner, first.fileId);

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

      await repo.removeEvents(events.slice(0, 2).map((e) => e.seq));
      expect((await eventsOf(owner)).map((e) => e.eventType)).toEqual(["delete"]);
      await repo.removeEvents(events.map((e) => e.seq));
      expect(await eventsOf(owner)).toEqual([]);
      await repo.removeEvents([]);
    });

    it("puts the distinct chunk hashes of every version into the delete event, and none into upload or update events", async () => {
      const owner = newOwner();
      const first = await repo.commitFileVersion(version(owner, "hashed", ["h1", "shared", "h1"]));
      await repo.commitFileVersion(version(owner, "hashed", ["h2", "shared"]));
      // Chunks another file still uses are listed too: verification checks each.
      await repo.commitFileVersion(version(owner, "other", ["shared"]));
      const empty = await repo.commitFileVersion(version(owner, "empty", []));
      await repo.deleteFile(owner, first.fileId);
      await repo.deleteFile(owner, empty.fileId);

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

    it("inspects a version with its chunks, newest by default, for its owner only", async () => {
      const owner = newOwner();
      const v1 = version(owner, "inspected", ["i1", "i2"]);
      const v2 = version(owner, "inspected", ["i3"], 700);
      const first = await repo.commitFileVersion(v1);
      const second = await repo.commitFileVersion(v2);

      const newest = await repo.inspectFileVersion(owner, first.fileId, undefined);
      expect(newest).toEqual({
        file: second,
        version: { fileId: first.fileId, version: 2, size: 700, sha256: v2.sha256, contentType: "text/plain", numChunks: 1, createdAt: expect.any(Date) },
        chunks: v2.chunks,
      });
      const old = await repo.inspectFileVersion(owner, first.fileId, 1);
      expect(old?.file).toEqual(second);
      expect(old?.version).toMatchObject({ version: 1, size: 2000, sha256: v1.sha256, numChunks: 2 });
      expect(old?.chunks).toEqual(v1.chunks);

      const empty = await repo.commitFileVersion(version(owner, "inspected-empty", []));
      expect(await repo.inspectFileVersion(owner, empty.fileId, undefined)).toMatchObject({ version: { numChunks: 0, size: 0 }, chunks: [] });

      expect(await repo.inspectFileVersion(owner, first.fileId, 3)).toBeUndefined();
      expect(await repo.inspectFileVersion(newOwner(), first.fileId, undefined)).toBeUndefined();
      expect(await repo.inspectFileVersion(owner, randomUUID(), undefined)).toBeUndefined();
      await repo.deleteFile(owner, first.fileId);
      expect(await repo.inspectFileVersion(owner, first.fileId, undefined)).toBeUndefined();
      expect(await repo.inspectFileVersion(owner, first.fileId, 1)).toBeUndefined();
    });

    it("tells which chunks the owner's files reference and which are queued, per owner", async () => {
      const owner = newOwner();
      const other = newOwner();
      const gone = await repo.commitFileVersion(version(owner, "gone", ["only-gone", "kept"]));
      await repo.commitFileVersion(version(owner, "stays", ["kept"]));
      await repo.commitFileVersion(version(other, "theirs", ["theirs"]));
      await repo.deleteFile(owner, gone.fileId);

      const hashes = [sha("only-gone"), sha("kept"), sha("theirs"), sha("never"), sha("kept")];
      const refs = await repo.chunkReferences(owner, hashes);
      expect(refs.referenced).toEqual([sha("kept")]);
      expect(refs.queued).toEqual([sha("only-gone")]);
      expect(await repo.chunkReferences(other, hashes)).toEqual({ referenced: [sha("theirs")], queued: [] });
      expect(await repo.chunkReferences(owner, [])).toEqual({ referenced: [], queued: [] });
    });

    it("queues released chunks once, keeping the first queue time, and the collector re-checks them", async () => {
      const owner = newOwner();
      const used = await repo.commitFileVersion(version(owner, "in-use", ["used"]));
      expect(await repo.queueGcCandidates(owner, [sha("orphan"), sha("used"), sha("orphan")])).toBe(2);
      expect(await repo.queueGcCandidates(owner, [sha("orphan")])).toBe(0);
      expect(await repo.queueGcCandidates(owner, [])).toBe(0);
      const due = await candidatesOf(owner);
      expect(due.map((c) => [c.sha256, c.stillReferenced]).sort()).toEqual(
        [
          [sha("orphan"), false],
          [sha("used"), true],
        ].sort(),
      );
      expect((await repo.chunkReferences(owner, [sha("orphan"), sha("used")])).queued.sort()).toEqual([sha("orphan"), sha("used")].sort());
      // A commit that uses a released chunk takes it off the queue.
      await repo.commitFileVersion(version(owner, "adopts", ["orphan"]));
      expect((await candidatesOf(owner)).map((c) => c.sha256)).toEqual([sha("used")]);
      expect(await repo.getFile(owner, used.fileId)).toBeDefined();
      expect(await candidatesOf(newOwner())).toEqual([]);
    });

    it("leaves nothing behind when a commit fails half-way", async () => {
      const owner = newOwner();
      const queued = await repo.commitFileVersion(version(owner, "queued", ["q"]));
      await repo.deleteFile(owner, queued.fileId);
      await repo.removeEvents((await eventsOf(owner)).map((e) => e.seq));

      const broken = version(owner, "broken", ["q", "z"]);
      const duplicateIndex = { ...broken, chunks: [broken.chunks[0]!, { ...broken.chunks[1]!, index: 0 }] };
      await expect(repo.commitFileVersion(duplicateIndex)).rejects.toThrow();
      expect(await repo.listFiles(owner, { prefix: "", after: "", limit: 10 })).toEqual([]);
      expect(await eventsOf(owner)).toEqual([]);
      // The candidate the failed commit would have un-queued is still queued.
      expect((await candidatesOf(owner)).map((c) => c.sha256)).toEqual([sha("q")]);

      const existing = await repo.commitFileVersion(version(owner, "existing", ["ok"]));
      await repo.removeEvents((await eventsOf(owner)).map((e) => e.seq));
      const brokenUpdate = version(owner, "existing", ["a", "b"]);
      await expect(
        repo.commitFileVersion({ ...brokenUpdate, chunks: [brokenUpdate.chunks[0]!, { ...brokenUpdate.chunks[1]!, index: 0 }] }),
      ).rejects.toThrow();
      expect(await repo.getFile(owner, existing.fileId)).toEqual(existing);
      expect((await repo.listFileVersions(owner, existing.fileId)).map((v) => v.version)).toEqual([1]);
      expect(await eventsOf(owner)).toEqual([]);
    });

    it("stores a long chunk list in one commit", async () => {
      const owner = newOwner();
      const seeds = Array.from({ length: 5000 }, (_, i) => `long-${i}`);
      const v = version(owner, "long", seeds, 1024 * 1024);
      const file = await repo.commitFileVersion(v);
      expect(file.size).toBe(5000 * 1024 * 1024);
      expect(await repo.listFileChunks(owner, file.fileId, undefined)).toEqual(v.chunks);
      expect(await repo.deleteFile(owner, file.fileId)).toMatchObject({ queuedChunks: 5000 });
    });
  });
}
