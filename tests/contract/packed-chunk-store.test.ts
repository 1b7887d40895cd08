import { createHash, randomBytes, randomUUID } from "node:crypto";
import { Client } from "minio";
import pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MinioChunkStore } from "../../services/block-storage/src/adapters/minio-chunk-store.js";
import { PostgresPackIndex } from "../../services/block-storage/src/adapters/postgres-pack-index.js";
import { ownerKeyOf } from "../../services/block-storage/src/domain/block-service.js";
import { LOOSE_RECHECK_MS, PackedChunkStore, type PackedStoreOptions } from "../../services/block-storage/src/domain/packed-chunk-store.js";
import { Repacker, type RepackSettings } from "../../services/block-storage/src/domain/repacker.js";
import type { ChunkStore } from "../../services/block-storage/src/ports/chunk-store.js";
import type { PackIndex } from "../../services/block-storage/src/ports/pack-index.js";
import type { PackObjects } from "../../services/block-storage/src/ports/pack-objects.js";
import { startMinio, type MinioServer } from "../support/minio.js";
import { createTestDatabase } from "../support/postgres.js";
import { describeChunkStoreContract } from "./chunk-store.contract.js";

const MAX_CHUNK_BYTES = 4 * 1024 * 1024;
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
const ALICE = ownerKeyOf("alice");
const silent = pino({ level: "silent" });
const unobserved = { packWritten: () => undefined, repacked: () => undefined };

let minio: MinioServer;

beforeAll(async () => {
  minio = await startMinio();
});

afterAll(async () => {
  await minio?.stop();
});

interface Packed {
  store: PackedChunkStore;
  bucket: MinioChunkStore;
  index: PostgresPackIndex;
  bucketName: string;
  databaseUrl: string;
  close(): Promise<void>;
}

/**
 * A packed store over a fresh bucket and a fresh index database (a repack
 * looks at every pack of its index). Every pack is an object unless
 * `inlinePackBytes` says otherwise.
 */
async function openPacked(
  options: {
    packsInFlight?: number;
    inlinePackBytes?: number;
    index?: (index: PostgresPackIndex) => PackIndex;
    objects?: (bucket: MinioChunkStore) => PackObjects;
    loose?: (bucket: MinioChunkStore) => ChunkStore;
    store?: PackedStoreOptions;
  } = {},
): Promise<Packed> {
  const bucketName = `cfs-packs-${randomUUID()}`;
  const database = await createTestDatabase();
  const bucket = await MinioChunkStore.open({
    endpoint: minio.endpoint,
    accessKey: minio.accessKey,
    secretKey: minio.secretKey,
    bucket: bucketName,
    region: "us-east-1",
    maxChunkBytes: MAX_CHUNK_BYTES,
  });
  const index = await PostgresPackIndex.open({ url: database.url, poolMax: 4, preparedStatements: true }, silent);
  const store = new PackedChunkStore(
    options.index?.(index) ?? index,
    options.objects?.(bucket) ?? bucket,
    options.loose?.(bucket) ?? bucket,
    { maxPackBytes: 16 * 1024 * 1024, packsInFlight: options.packsInFlight ?? 2, inlinePackBytes: options.inlinePackBytes ?? 0 },
    unobserved,
    options.store,
  );
  return {
    store,
    bucket,
    index,
    bucketName,
    databaseUrl: database.url,
    close: async () => {
      await store.close();
      await index.close();
      await database.drop();
    },
  };
}

/** Runs `test` on a packed store of its own, closed (and its database dropped) after it whatever happens. */
async function withPacked(options: Parameters<typeof openPacked>[0], test: (packed: Packed) => Promise<void>): Promise<void> {
  const packed = await openPacked(options);
  try {
    await test(packed);
  } finally {
    await packed.close();
  }
}

/** The bucket as an operator sees it. */
function inspector(): Client {
  const url = new URL(minio.endpoint);
  return new Client({ endPoint: url.hostname, port: Number(url.port), useSSL: false, accessKey: minio.accessKey, secretKey: minio.secretKey });
}

async function objectNames(bucket: string, prefix = ""): Promise<string[]> {
  const names: string[] = [];
  for await (const item of inspector().listObjectsV2(bucket, prefix, true)) if (item.name) names.push(item.name);
  return names;
}

const settings = (overrides: Partial<RepackSettings> = {}): RepackSettings => ({
  maxLiveRatio: 0.5,
  minAgeMs: 0,
  claimMs: 60_000,
  packsPerRun: 1000,
  orphanAgeMs: 60 * 60_000,
  sweepPageSize: 1000,
  ...overrides,
});

describeChunkStoreContract("MinIO, packed (PostgreSQL index)", async () => {
  const packed = await openPacked();
  return { store: packed.store, cleanup: () => packed.close() };
});

describeChunkStoreContract("MinIO, packed, packs up to 64 KiB kept in the index", async () => {
  const packed = await openPacked({ inlinePackBytes: 64 * 1024 });
  return { store: packed.store, cleanup: () => packed.close() };
});

describe("PackedChunkStore", () => {
  it("writes chunks put at the same time as one pack object, each read back by its range", async () => {
    await withPacked({ packsInFlight: 1 }, async (packed) => {
    const chunks = Array.from({ length: 20 }, (_, i) => randomBytes(1000 + i));
    expect(await Promise.all(chunks.map((c) => packed.store.put(ALICE, sha256(c), [c.subarray(0, 10), c.subarray(10)])))).toEqual(chunks.map(() => true));
    // The first left alone at once; the other 19 waited for it and left together.
    const packs = await objectNames(packed.bucketName, "packs/");
    expect(packs).toHaveLength(2);
    expect(await objectNames(packed.bucketName)).toEqual(packs);
    for (const c of chunks) expect((await packed.store.get(ALICE, sha256(c)))!.equals(c)).toBe(true);
    });
  });

  it("keeps the chunks stored one object each before packing readable, listed, counted and deletable", async () => {
    await withPacked({}, async (packed) => {
    const old = randomBytes(5000);
    await packed.bucket.put(ALICE, sha256(old), [old]);
    const fresh = randomBytes(3000);
    await packed.store.put(ALICE, sha256(fresh), [fresh]);
    expect(Object.fromEntries(await packed.store.has(ALICE, [sha256(old), sha256(fresh)]))).toEqual({ [sha256(old)]: 5000, [sha256(fresh)]: 3000 });
    expect((await packed.store.get(ALICE, sha256(old)))!.equals(old)).toBe(true);
    const listed = await packed.store.list(undefined, 10);
    expect(listed.map((c) => c.hash).sort()).toEqual([sha256(old), sha256(fresh)].sort());
    // Put again, it is packed as well; deleting it removes both copies.
    await packed.store.put(ALICE, sha256(old), [old]);
    expect(await packed.store.list(undefined, 10)).toHaveLength(2);
    expect(await packed.store.delete(ALICE, [sha256(old), sha256(fresh)])).toBe(2);
    expect((await packed.store.has(ALICE, [sha256(old), sha256(fresh)])).size).toBe(0);
    expect(await objectNames(packed.bucketName, `${ALICE}/`)).toEqual([]);
    });
  });

  it("asks a loose store that holds no chunk nothing, and looks again for loose chunks after the recheck interval", async () => {
    let now = 0;
    const asked: string[] = [];
    const counted = (bucket: MinioChunkStore): ChunkStore => ({
      ...bound(bucket, LOOSE_METHODS),
      has: (ownerKey, hashes) => {
        asked.push(...hashes);
        return bucket.has(ownerKey, hashes);
      },
      list: (after, limit) => {
        asked.push("list");
        return bucket.list(after, limit);
      },
    });
    await withPacked({ loose: counted, store: { clock: () => now } }, async (packed) => {
      const fresh = randomBytes(3000);
      const absent = sha256(randomBytes(10));
      await packed.store.put(ALICE, sha256(fresh), [fresh]);
      // One listing of the loose store, then neither has() nor delete() asks it about a chunk.
      expect(Object.fromEntries(await packed.store.has(ALICE, [sha256(fresh), absent]))).toEqual({ [sha256(fresh)]: 3000 });
      expect((await packed.store.has(ALICE, [absent])).size).toBe(0);
      expect(await packed.store.delete(ALICE, [absent])).toBe(0);
      expect(asked).toEqual(["list"]);
      // A replica that does not pack yet stores a chunk loose: seen once the interval is over.
      const old = randomBytes(5000);
      await packed.bucket.put(ALICE, sha256(old), [old]);
      now += LOOSE_RECHECK_MS;
      expect(Object.fromEntries(await packed.store.has(ALICE, [sha256(old), absent]))).toEqual({ [sha256(old)]: 5000 });
      expect(asked).toEqual(["list", "list", sha256(old), absent]);
      expect(await packed.store.delete(ALICE, [sha256(old)])).toBe(1);
      expect(await objectNames(packed.bucketName, `${ALICE}/`)).toEqual([]);
    });
  });

  it("frees the space of deleted chunks: a mostly dead pack is rewritten, an empty one deleted", async () => {
    await withPacked({ packsInFlight: 1 }, async (packed) => {
    const owner = ownerKeyOf(`repack-${randomUUID()}`);
    const first = randomBytes(100);
    const group = Array.from({ length: 10 }, () => randomBytes(10_000));
    await Promise.all([first, ...group].map((c) => packed.store.put(owner, sha256(c), [c])));
    const [alone, shared] = await packsBySize(packed.bucketName);
    // The lone chunk's pack empties; 8 of the other 10 chunks go.
    await packed.store.delete(owner, [sha256(first), ...group.slice(0, 8).map(sha256)]);
    const repacker = new Repacker(packed.index, packed.bucket, settings(), unobserved);
    const result = await repacker.runOnce(new AbortController().signal);
    expect(result).toMatchObject({ packsRepacked: 1, packsEmptied: 1, chunksMoved: 2, bytesMoved: 20_000, chunksBad: 0 });
    const after = await objectNames(packed.bucketName, "packs/");
    expect(after).toHaveLength(1);
    expect(after).not.toContain(alone);
    expect(after).not.toContain(shared);
    for (const c of group.slice(8)) expect((await packed.store.get(owner, sha256(c)))!.equals(c)).toBe(true);
    expect(Object.fromEntries(await packed.store.has(owner, group.map(sha256)))).toEqual(Object.fromEntries(group.slice(8).map((c) => [sha256(c), 10_000])));
    // Nothing left to do: the new pack is all live.
    expect(await repacker.runOnce(new AbortController().signal)).toMatchObject({ packsRepacked: 0, packsEmptied: 0, chunksMoved: 0 });
    });
  });

  it("leaves a pack that is still mostly live, and an emptied one younger than the minimum age", async () => {
    await withPacked({ packsInFlight: 1 }, async (packed) => {
    const owner = ownerKeyOf(`repack-${randomUUID()}`);
    const lead = randomBytes(100);
    const group = Array.from({ length: 4 }, () => randomBytes(1000));
    await Promise.all([lead, ...group].map((c) => packed.store.put(owner, sha256(c), [c])));
    // The lead's pack empties, the group's keeps 3 of 4.
    await packed.store.delete(owner, [sha256(lead), sha256(group[0]!)]);
    const packs = await objectNames(packed.bucketName, "packs/");
    expect(packs).toHaveLength(2);
    const patient = new Repacker(packed.index, packed.bucket, settings({ minAgeMs: 60 * 60_000 }), unobserved);
    expect(await patient.runOnce(new AbortController().signal)).toMatchObject({ packsRepacked: 0, packsEmptied: 0, chunksMoved: 0 });
    expect(await objectNames(packed.bucketName, "packs/")).toEqual(packs);
    const eager = new Repacker(packed.index, packed.bucket, settings(), unobserved);
    expect(await eager.runOnce(new AbortController().signal)).toMatchObject({ packsRepacked: 0, packsEmptied: 1, chunksMoved: 0 });
    expect(await objectNames(packed.bucketName, "packs/")).toHaveLength(1);
    for (const c of group.slice(1)) expect((await packed.store.get(owner, sha256(c)))!.equals(c)).toBe(true);
    });
  });

  it("deletes a pack object the index does not know once it is old enough, and no recorded one", async () => {
    await withPacked({}, async (packed) => {
    const kept = randomBytes(100);
    await packed.store.put(ALICE, sha256(kept), [kept]);
    const orphan = randomBytes(16).toString("hex");
    await packed.bucket.putPack(orphan, [randomBytes(500)]);
    const patient = new Repacker(packed.index, packed.bucket, settings(), unobserved);
    expect(await patient.runOnce(new AbortController().signal)).toMatchObject({ orphansDeleted: 0 });
    const eager = new Repacker(packed.index, packed.bucket, settings({ orphanAgeMs: -1 }), unobserved);
    expect(await eager.runOnce(new AbortController().signal)).toMatchObject({ orphansDeleted: 1 });
    expect(await objectNames(packed.bucketName, `packs/${orphan.slice(0, 2)}/${orphan}`)).toEqual([]);
    expect((await packed.store.get(ALICE, sha256(kept)))!.equals(kept)).toBe(true);
    });
  });

  it("reads chunks that a repack moved between their lookup and their read from the new pack", async () => {
    let interleave: (() => Promise<void>) | undefined;
    const runStep = async () => {
      const step = interleave;
      interleave = undefined;
      await step?.();
    };
    await withPacked({
      packsInFlight: 1,
      index: (index) => ({
        ...bound(index, INDEX_METHODS),
        locate: async (ownerKey, hash) => {
          const at = await index.locate(ownerKey, hash);
          await runStep();
          return at;
        },
        locateMany: async (ownerKey, hashes) => {
          const located = await index.locateMany(ownerKey, hashes);
          await runStep();
          return located;
        },
      }),
    }, async (packed) => {
      const owner = ownerKeyOf(`moved-${randomUUID()}`);
      const [lead, keep1, keep2, ...drop] = Array.from({ length: 7 }, () => randomBytes(2000));
      await Promise.all([lead!, keep1!, keep2!, ...drop].map((c) => packed.store.put(owner, sha256(c), [c])));
      const repack = async () => {
        await new Repacker(packed.index, packed.bucket, settings(), unobserved).runOnce(new AbortController().signal);
      };
      // A pack at most half live is repacked: 3 of its 6 chunks go.
      await packed.store.delete(owner, drop.slice(0, 3).map(sha256));
      interleave = repack;
      expect(await collect(packed.store.getMany(owner, [sha256(keep1!), sha256(keep2!)], 4))).toEqual([keep1, keep2]);
      expect(interleave).toBeUndefined();
      await packed.store.delete(owner, [sha256(keep2!), ...drop.slice(3).map(sha256)]);
      interleave = repack;
      expect((await packed.store.get(owner, sha256(keep1!)))!.equals(keep1!)).toBe(true);
      expect(interleave).toBeUndefined();
    });
  });

  it("fails a put whose pack cannot be recorded, and takes the pack object back", async () => {
    await withPacked({
      index: (index) => ({ ...bound(index, INDEX_METHODS), addPack: () => Promise.reject(Object.assign(new Error("block index unavailable (ECONNREFUSED)"), { kind: "unavailable" })) }),
    }, async (packed) => {
      const data = randomBytes(400);
      await expect(packed.store.put(ALICE, sha256(data), [data])).rejects.toMatchObject({ kind: "unavailable" });
      expect(await objectNames(packed.bucketName)).toEqual([]);
      expect((await packed.store.has(ALICE, [sha256(data)])).size).toBe(0);
    });
  });

  it("reads a download's chunks with one index lookup and one GET for each run that lies back to back in a pack", async () => {
    let lookups = 0;
    const reads: number[] = [];
    await withPacked({
      packsInFlight: 1,
      index: (index) => ({ ...bound(index, INDEX_METHODS), locateMany: (ownerKey, hashes) => ((lookups += 1), index.locateMany(ownerKey, hashes)) }),
      objects: (bucket) => ({
        ...bound(bucket, PACK_OBJECT_METHODS),
        readChunks: (pack, offset, sizes) => (reads.push(sizes.length), bucket.readChunks(pack, offset, sizes)),
      }),
    }, async (packed) => {
      const owner = ownerKeyOf(`run-${randomUUID()}`);
      const [lead, ...run] = Array.from({ length: 7 }, (_, i) => randomBytes(3000 + i));
      await Promise.all([lead!, ...run].map((c) => packed.store.put(owner, sha256(c), [c])));
      const old = randomBytes(500);
      await packed.bucket.put(owner, sha256(old), [old]);
      const empty = Buffer.alloc(0);
      await packed.store.put(owner, sha256(empty), []);
      expect(await collect(packed.store.getMany(owner, run.map(sha256), 8))).toEqual(run);
      expect([lookups, reads]).toEqual([1, [6]]);
      // A run is at most as many chunks as are read ahead.
      reads.length = 0;
      expect(await collect(packed.store.getMany(owner, run.map(sha256), 4))).toEqual(run);
      expect(reads).toEqual([4, 2]);
      // Out of order, a repeat, a loose chunk, an absent one, the empty chunk: each run as it comes.
      lookups = 0;
      reads.length = 0;
      const absent = sha256(randomBytes(8));
      const order = [run[3]!, run[4]!, run[0]!, old, run[0]!, lead!];
      const got = await collect(packed.store.getMany(owner, [...order.map(sha256), absent, sha256(empty)], 2));
      expect(got).toEqual([...order, undefined, empty]);
      expect([lookups, reads]).toEqual([1, [2, 1, 1, 1, 1]]);
    });
  });

  it("answers DATA_LOSS for a run whose pack holds fewer bytes than its index says", async () => {
    await withPacked({ packsInFlight: 1 }, async (packed) => {
      const [lead, a, b] = [randomBytes(10), randomBytes(4000), randomBytes(4000)];
      await Promise.all([lead, a, b].map((c) => packed.store.put(ALICE, sha256(c), [c])));
      const [, pack] = await packsBySize(packed.bucketName);
      await inspector().putObject(packed.bucketName, pack!, Buffer.concat([a, b.subarray(0, 100)]));
      const got: Buffer[] = [];
      const reading = (async () => {
        for await (const chunk of packed.store.getMany(ALICE, [sha256(a), sha256(b)], 4)) got.push(chunk!);
      })();
      await expect(reading).rejects.toMatchObject({ kind: "data-loss" });
      expect(got).toEqual([a]);
      await expect(packed.store.get(ALICE, sha256(b))).rejects.toMatchObject({ kind: "data-loss" });
    });
  });

  it("answers DATA_LOSS when the pack an entry points into is gone", async () => {
    await withPacked({}, async (packed) => {
    const data = randomBytes(300);
    await packed.store.put(ALICE, sha256(data), [data]);
    const [pack] = await objectNames(packed.bucketName, "packs/");
    await inspector().removeObject(packed.bucketName, pack!);
    await expect(packed.store.get(ALICE, sha256(data))).rejects.toMatchObject({ kind: "data-loss" });
    await expect(collect(packed.store.getMany(ALICE, [sha256(data)], 4))).rejects.toMatchObject({ kind: "data-loss" });
    });
  });

  it("keeps a pack of at most inlinePackBytes in the index: no object written, read, listed, and its row dropped once emptied", async () => {
    const reads: string[] = [];
    await withPacked({
      packsInFlight: 1,
      inlinePackBytes: 8192,
      index: (index) => ({ ...bound(index, INDEX_METHODS), readInline: (pack, offset, sizes) => (reads.push(`inline ${sizes.length}`), index.readInline(pack, offset, sizes)) }),
      objects: (bucket) => ({ ...bound(bucket, PACK_OBJECT_METHODS), readChunks: (pack, offset, sizes) => (reads.push(`object ${sizes.length}`), bucket.readChunks(pack, offset, sizes)) }),
    }, async (packed) => {
      const owner = ownerKeyOf(`inline-${randomUUID()}`);
      const lone = randomBytes(4000);
      await packed.store.put(owner, sha256(lone), [lone.subarray(0, 1000), lone.subarray(1000)]);
      expect(await objectNames(packed.bucketName)).toEqual([]);
      // Put while the lead's pack is written, three small ones leave together: 6 KiB, inline too.
      const [lead, ...small] = [randomBytes(2000), randomBytes(2000), randomBytes(2000), randomBytes(2000)];
      await Promise.all([lead!, ...small].map((c) => packed.store.put(owner, sha256(c), [c])));
      expect(await objectNames(packed.bucketName)).toEqual([]);
      // A pack over the limit is an object.
      const large = randomBytes(9000);
      await packed.store.put(owner, sha256(large), [large]);
      expect(await objectNames(packed.bucketName, "packs/")).toHaveLength(1);

      const all = [lone, lead!, ...small, large];
      expect(Object.fromEntries(await packed.store.has(owner, all.map(sha256)))).toEqual(Object.fromEntries(all.map((c) => [sha256(c), c.length])));
      for (const c of all) expect((await packed.store.get(owner, sha256(c)))!.equals(c)).toBe(true);
      reads.length = 0;
      expect(await collect(packed.store.getMany(owner, [...small, lone, large].map(sha256), 4))).toEqual([...small, lone, large]);
      // The three back to back in one inline pack in one read, as a run of an object is.
      expect(reads).toEqual(["inline 3", "inline 1", "object 1"]);
      expect((await packed.store.list(undefined, 10)).map((c) => c.hash).sort()).toEqual(all.map(sha256).sort());

      // Emptied, the inline packs' rows go (no object to delete); a sparse one stays as it is.
      expect(await packed.store.delete(owner, [lone, lead!, small[0]!].map(sha256))).toBe(3);
      const repacker = new Repacker(packed.index, packed.bucket, settings(), unobserved);
      expect(await repacker.runOnce(new AbortController().signal)).toMatchObject({ packsRepacked: 0, packsEmptied: 2, chunksMoved: 0 });
      expect(await objectNames(packed.bucketName, "packs/")).toHaveLength(1);
      for (const c of [...small.slice(1), large]) expect((await packed.store.get(owner, sha256(c)))!.equals(c)).toBe(true);
      expect(await packed.store.get(owner, sha256(lone))).toBeUndefined();
    });
  });

  it("quarantines a chunk of an inline pack and answers DATA_LOSS for one whose pack holds fewer bytes than its index says", async () => {
    await withPacked({ inlinePackBytes: 8192 }, async (packed) => {
      const owner = ownerKeyOf(`inline-${randomUUID()}`);
      const [bad, cut] = [randomBytes(700), randomBytes(800)];
      await packed.store.put(owner, sha256(bad), [bad]);
      await packed.store.put(owner, sha256(cut), [cut]);
      const before = new Date(Date.now() - 1000);
      expect(await packed.store.quarantine(owner, sha256(bad))).toBe(true);
      expect((await packed.store.has(owner, [sha256(bad)])).size).toBe(0);
      expect((await packed.store.listQuarantined({ ownerKey: "", hash: "", quarantinedAt: before }, 10)).map((q) => q.hash)).toEqual([sha256(bad)]);
      const [name] = await objectNames(packed.bucketName, "quarantine/");
      const parts: Buffer[] = [];
      for await (const part of await inspector().getObject(packed.bucketName, name!)) parts.push(part as Buffer);
      expect(Buffer.concat(parts).equals(bad)).toBe(true);

      const at = await packed.index.locate(owner, sha256(cut));
      expect(at?.inline).toBe(true);
      const db = new pg.Client({ connectionString: packed.databaseUrl });
      await db.connect();
      try {
        await db.query("UPDATE block_packs SET data = substring(data from 1 for 100) WHERE pack = $1", [at!.pack]);
      } finally {
        await db.end();
      }
      await expect(packed.store.get(owner, sha256(cut))).rejects.toMatchObject({ kind: "data-loss" });
      await expect(collect(packed.store.getMany(owner, [sha256(cut)], 4))).rejects.toMatchObject({ kind: "data-loss" });
    });
  });

  it("quarantines a packed chunk: kept aside with its bytes, no longer indexed", async () => {
    await withPacked({}, async (packed) => {
    const owner = ownerKeyOf(`quarantine-${randomUUID()}`);
    const data = randomBytes(700);
    await packed.store.put(owner, sha256(data), [data]);
    const before = new Date(Date.now() - 1000);
    expect(await packed.store.quarantine(owner, sha256(data))).toBe(true);
    expect((await packed.store.has(owner, [sha256(data)])).size).toBe(0);
    const listed = await packed.store.listQuarantined({ ownerKey: "", hash: "", quarantinedAt: before }, 10);
    expect(listed.map((q) => q.hash)).toEqual([sha256(data)]);
    const [name] = await objectNames(packed.bucketName, "quarantine/");
    const kept = await inspector().getObject(packed.bucketName, name!);
    const parts: Buffer[] = [];
    for await (const part of kept) parts.push(part as Buffer);
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    });
  });
});

/** The named methods of `target` bound to it, so that a test can replace one of them. */
function bound<T extends object, K extends keyof T>(target: T, methods: readonly K[]): Pick<T, K> {
  return Object.fromEntries(methods.map((m) => [m, (target[m] as (...args: unknown[]) => unknown).bind(target)])) as Pick<T, K>;
}

const INDEX_METHODS = ["sizes", "locate", "locateMany", "addPack", "readInline", "remove", "list", "check"] as const satisfies readonly (keyof PackIndex)[];
const LOOSE_METHODS = ["has", "put", "get", "getMany", "delete", "quarantine", "listQuarantined", "list", "check", "close"] as const satisfies readonly (keyof ChunkStore)[];
const PACK_OBJECT_METHODS = ["putPack", "readPack", "readChunks", "deletePacks", "listPacks", "quarantineBytes"] as const satisfies readonly (keyof PackObjects)[];

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** The bucket's pack objects, smallest first. */
async function packsBySize(bucket: string): Promise<string[]> {
  const sized: { name: string; size: number }[] = [];
  for await (const item of inspector().listObjectsV2(bucket, "packs/", true)) if (item.name) sized.push({ name: item.name, size: item.size });
  return sized.sort((a, b) => a.size - b.size).map((p) => p.name);
}
