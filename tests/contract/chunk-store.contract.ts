import { createHash, randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ownerKeyOf } from "../../services/block-storage/src/domain/block-service.js";
import type { ChunkStore } from "../../services/block-storage/src/ports/chunk-store.js";

export interface ChunkStoreUnderTest {
  store: ChunkStore;
  cleanup(): Promise<void>;
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
const ALICE = ownerKeyOf("alice");
const BOB = ownerKeyOf("bob");

/**
 * What every ChunkStore adapter must do, whatever it stores chunks in. Each
 * case gets a fresh, empty store from `create`.
 */
export function describeChunkStoreContract(name: string, create: () => Promise<ChunkStoreUnderTest>): void {
  describe(`ChunkStore contract: ${name}`, () => {
    let subject: ChunkStoreUnderTest;
    let store: ChunkStore;

    beforeEach(async () => {
      subject = await create();
      store = subject.store;
    });

    afterEach(async () => {
      await subject.cleanup();
    });

    it("returns exactly the bytes that were put", async () => {
      const data = randomBytes(70_000);
      expect(await store.put(ALICE, sha256(data), [data])).toBe(true);
      expect(await store.get(ALICE, sha256(data))).toEqual(data);
    });

    it("reads many chunks in their order: repeats read twice, an absent one undefined, none for no hashes", async () => {
      const chunks = [randomBytes(5000), randomBytes(1), Buffer.alloc(0), randomBytes(70_000)];
      await Promise.all(chunks.map((c) => store.put(ALICE, sha256(c), [c])));
      const absent = sha256(randomBytes(10));
      const wanted = [chunks[3]!, chunks[0]!, chunks[2]!, chunks[0]!, chunks[1]!];
      const got: Array<Buffer | undefined> = [];
      for await (const chunk of store.getMany(ALICE, [...wanted.map(sha256), absent], 2)) got.push(chunk);
      expect(got).toEqual([...wanted, undefined]);
      for await (const chunk of store.getMany(BOB, [sha256(chunks[0]!)], 2)) expect(chunk).toBeUndefined();
      for await (const chunk of store.getMany(ALICE, [], 2)) throw new Error(`read ${chunk?.length} bytes of no hash`);
    });

    it("stops reading many when the caller stops, and reads again after", async () => {
      const chunks = Array.from({ length: 6 }, () => randomBytes(3000));
      await Promise.all(chunks.map((c) => store.put(ALICE, sha256(c), [c])));
      for await (const chunk of store.getMany(ALICE, chunks.map(sha256), 2)) {
        expect(chunk).toEqual(chunks[0]);
        break;
      }
      expect(await store.get(ALICE, sha256(chunks[5]!))).toEqual(chunks[5]);
    });

    it("answers created=false for a second put and keeps the first bytes", async () => {
      const data = randomBytes(1000);
      expect(await store.put(ALICE, sha256(data), [data])).toBe(true);
      expect(await store.put(ALICE, sha256(data), [data])).toBe(false);
      expect(await store.get(ALICE, sha256(data))).toEqual(data);
    });

    it("keeps a chunk whole when the same chunk is put concurrently", async () => {
      const data = randomBytes(200_000);
      const created = await Promise.all([1, 2, 3, 4].map(() => store.put(ALICE, sha256(data), [data])));
      expect(created).toContain(true);
      expect(await store.get(ALICE, sha256(data))).toEqual(data);
    });

    it("answers has() with sizes for the present hashes only", async () => {
      const a = randomBytes(10);
      const b = randomBytes(2000);
      await store.put(ALICE, sha256(a), [a]);
      await store.put(ALICE, sha256(b), [b]);
      const absent = sha256(randomBytes(8));
      const present = await store.has(ALICE, [sha256(a), absent, sha256(b), sha256(a)]);
      expect(Object.fromEntries(present)).toEqual({ [sha256(a)]: 10, [sha256(b)]: 2000 });
      expect((await store.has(ALICE, [absent])).size).toBe(0);
      expect((await store.has(ALICE, [])).size).toBe(0);
    });

    it("keeps owners apart: the same hash under one owner is invisible to another", async () => {
      const data = randomBytes(500);
      const hash = sha256(data);
      await store.put(ALICE, hash, [data]);
      expect((await store.has(BOB, [hash])).size).toBe(0);
      expect(await store.get(BOB, hash)).toBeUndefined();
      expect(await store.delete(BOB, [hash])).toBe(0);
      expect(await store.get(ALICE, hash)).toEqual(data);
      // Bob storing it too is a separate copy: deleting his leaves Alice's.
      expect(await store.put(BOB, hash, [data])).toBe(true);
      expect(await store.delete(BOB, [hash])).toBe(1);
      expect(await store.get(ALICE, hash)).toEqual(data);
    });

    it("deletes present chunks, counts them and ignores absent hashes", async () => {
      const a = randomBytes(100);
      const b = randomBytes(100);
      const kept = randomBytes(100);
      for (const d of [a, b, kept]) await store.put(ALICE, sha256(d), [d]);
      const absent = sha256(randomBytes(8));
      expect(await store.delete(ALICE, [sha256(a), absent, sha256(b)])).toBe(2);
      expect(await store.get(ALICE, sha256(a))).toBeUndefined();
      expect((await store.has(ALICE, [sha256(a), sha256(b), sha256(kept)])).size).toBe(1);
      expect(await store.delete(ALICE, [sha256(a), sha256(b)])).toBe(0);
      expect(await store.delete(ALICE, [])).toBe(0);
      // A deleted chunk can be stored again.
      expect(await store.put(ALICE, sha256(a), [a])).toBe(true);
    });

    it("answers undefined for a chunk that was never stored", async () => {
      expect(await store.get(ALICE, sha256(randomBytes(8)))).toBeUndefined();
    });

    it("stores a 0-byte chunk given as no parts or as one empty part", async () => {
      const empty = Buffer.alloc(0);
      expect(await store.put(ALICE, sha256(empty), [])).toBe(true);
      expect(await store.put(BOB, sha256(empty), [empty])).toBe(true);
      for (const owner of [ALICE, BOB]) {
        expect(await store.get(owner, sha256(empty))).toEqual(empty);
        expect(Object.fromEntries(await store.has(owner, [sha256(empty)]))).toEqual({ [sha256(empty)]: 0 });
      }
    });

    it("stores a chunk given in parts (empty ones and odd sizes among them) as their concatenation", async () => {
      const data = randomBytes(1024 * 1024 + 12_345);
      const cuts = [0, 1, 1, 4098, 70_001, 70_001, 600_004, data.length];
      const parts = cuts.slice(1).map((end, i) => data.subarray(cuts[i], end));
      expect(await store.put(ALICE, sha256(data), parts)).toBe(true);
      expect(Object.fromEntries(await store.has(ALICE, [sha256(data)]))).toEqual({ [sha256(data)]: data.length });
      expect(sha256((await store.get(ALICE, sha256(data)))!)).toBe(sha256(data));
      expect(await store.put(ALICE, sha256(data), parts)).toBe(false);
    });

    it("stores a 1 MiB chunk", async () => {
      const data = randomBytes(1024 * 1024);
      expect(await store.put(ALICE, sha256(data), [data])).toBe(true);
      expect(Object.fromEntries(await store.has(ALICE, [sha256(data)]))).toEqual({ [sha256(data)]: 1024 * 1024 });
      expect(sha256((await store.get(ALICE, sha256(data)))!)).toBe(sha256(data));
    });

    it("answers has() for many hashes at once", async () => {
      const stored = Array.from({ length: 40 }, () => randomBytes(16));
      await Promise.all(stored.map((d) => store.put(ALICE, sha256(d), [d])));
      const asked = [...stored.map(sha256), ...Array.from({ length: 200 }, () => sha256(randomBytes(8)))];
      expect([...(await store.has(ALICE, asked)).keys()].sort()).toEqual(stored.map(sha256).sort());
    });

    it("refuses keys that are not hex digests instead of touching them", async () => {
      const data = randomBytes(4);
      await expect(store.put("../../etc", sha256(data), [data])).rejects.toThrow();
      await expect(store.get(ALICE, "../" + sha256(data).slice(3))).rejects.toThrow();
    });

    it("lists every stored chunk once, in key order, a page at a time from the last entry", async () => {
      const started = Date.now() - 2_000;
      const stored: Array<{ ownerKey: string; hash: string; size: number }> = [];
      for (const [owner, n] of [[ALICE, 4], [BOB, 3]] as const) {
        for (let i = 0; i < n; i++) {
          const data = randomBytes(100 + i);
          await store.put(owner, sha256(data), [data]);
          stored.push({ ownerKey: owner, hash: sha256(data), size: data.length });
        }
      }
      stored.sort((a, b) => (a.ownerKey === b.ownerKey ? (a.hash < b.hash ? -1 : 1) : a.ownerKey < b.ownerKey ? -1 : 1));
      const listed = [];
      let page = await store.list(undefined, 3);
      while (page.length > 0) {
        expect(page.length).toBeLessThanOrEqual(3);
        listed.push(...page);
        page = await store.list(page.at(-1), 3);
      }
      expect(listed.map(({ ownerKey, hash, size }) => ({ ownerKey, hash, size }))).toEqual(stored);
      for (const entry of listed) expect(entry.storedAt.getTime()).toBeGreaterThan(started);
      expect(await store.list(undefined, 100)).toHaveLength(7);
    });

    it("quarantines a chunk: never read, counted or listed again, and the next put stores it anew", async () => {
      const data = randomBytes(3000);
      const other = randomBytes(10);
      await store.put(ALICE, sha256(data), [data]);
      await store.put(ALICE, sha256(other), [other]);
      expect(await store.quarantine(ALICE, sha256(data))).toBe(true);
      expect(await store.get(ALICE, sha256(data))).toBeUndefined();
      expect((await store.has(ALICE, [sha256(data)])).size).toBe(0);
      expect((await store.list(undefined, 100)).map((e) => e.hash)).toEqual([sha256(other)]);
      expect(await store.quarantine(ALICE, sha256(data))).toBe(false);
      expect(await store.quarantine(BOB, sha256(other))).toBe(false);
      expect(await store.put(ALICE, sha256(data), [data])).toBe(true);
      expect(await store.get(ALICE, sha256(data))).toEqual(data);
    });

    it("lists quarantined chunks in the order they were quarantined, a page at a time, from a place or a time", async () => {
      const chunks = [randomBytes(100), randomBytes(200), randomBytes(300)];
      const owners = [ALICE, BOB, ALICE];
      for (const [i, data] of chunks.entries()) await store.put(owners[i]!, sha256(data), [data]);
      const epoch = { quarantinedAt: new Date(0), ownerKey: "", hash: "" };
      expect(await store.listQuarantined(epoch, 10)).toEqual([]);
      const before = Date.now();
      await store.quarantine(ALICE, sha256(chunks[0]!));
      await store.quarantine(BOB, sha256(chunks[1]!));
      // The clock moves on (a millisecond), so the third has a later time than the first two.
      const second = Date.now();
      while (Date.now() === second) await new Promise((resolve) => setImmediate(resolve));
      const later = new Date();
      await store.quarantine(ALICE, sha256(chunks[2]!));
      const after = Date.now();

      const all = await store.listQuarantined(epoch, 10);
      expect(all.map((e) => e.hash).sort()).toEqual(chunks.map(sha256).sort());
      expect(all.at(-1)).toMatchObject({ ownerKey: ALICE, hash: sha256(chunks[2]!) });
      for (const entry of all) {
        expect(entry.quarantinedAt.getTime()).toBeGreaterThanOrEqual(before);
        expect(entry.quarantinedAt.getTime()).toBeLessThanOrEqual(after);
      }
      const inOrder = [...all].sort((a, b) => a.quarantinedAt.getTime() - b.quarantinedAt.getTime() || (a.ownerKey + a.hash < b.ownerKey + b.hash ? -1 : 1));
      expect(all).toEqual(inOrder);
      const paged = [];
      for (let page = await store.listQuarantined(epoch, 2); page.length > 0; page = await store.listQuarantined(page.at(-1)!, 2)) paged.push(...page);
      expect(paged).toEqual(all);
      expect(await store.listQuarantined({ quarantinedAt: later, ownerKey: "", hash: "" }, 10)).toEqual([all.at(-1)]);
      expect(await store.listQuarantined({ quarantinedAt: new Date(after + 1), ownerKey: "", hash: "" }, 10)).toEqual([]);

      // Stored again and found corrupt again: listed once more, after the rest.
      await store.put(BOB, sha256(chunks[1]!), [chunks[1]!]);
      while (Date.now() <= after) await new Promise((resolve) => setImmediate(resolve));
      await store.quarantine(BOB, sha256(chunks[1]!));
      const again = await store.listQuarantined(all.at(-1)!, 10);
      expect(again).toMatchObject([{ ownerKey: BOB, hash: sha256(chunks[1]!) }]);
    });

    it("passes its health check", async () => {
      await expect(store.check()).resolves.toBeUndefined();
    });
  });
}
