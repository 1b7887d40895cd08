import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "minio";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DiskChunkStore } from "../../services/block-storage/src/adapters/disk-chunk-store.js";
import { MinioChunkStore, type MinioChunkStoreOptions } from "../../services/block-storage/src/adapters/minio-chunk-store.js";
import { ownerKeyOf } from "../../services/block-storage/src/domain/block-service.js";
import type { ChunkAllocator } from "../../services/block-storage/src/ports/chunk-store.js";
import { startMinio, type MinioServer } from "../support/minio.js";
import { freePort } from "../support/net.js";
import { describeChunkStoreContract } from "./chunk-store.contract.js";

const MAX_CHUNK_BYTES = 4 * 1024 * 1024;
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
const ALICE = ownerKeyOf("alice");

let diskRoot: string;
let minio: MinioServer;

beforeAll(async () => {
  diskRoot = await mkdtemp(join(tmpdir(), "cfs-blocks-"));
  minio = await startMinio();
});

afterAll(async () => {
  await minio?.stop();
  if (diskRoot) await rm(diskRoot, { recursive: true, force: true });
});

async function openDisk(root = join(diskRoot, randomUUID())): Promise<{ store: DiskChunkStore; root: string }> {
  return { store: await DiskChunkStore.open({ root, maxChunkBytes: MAX_CHUNK_BYTES }), root };
}

function minioOptions(bucket = `cfs-test-${randomUUID()}`): MinioChunkStoreOptions {
  return {
    endpoint: minio.endpoint,
    accessKey: minio.accessKey,
    secretKey: minio.secretKey,
    bucket,
    region: "us-east-1",
    maxChunkBytes: MAX_CHUNK_BYTES,
  };
}

/** A plain client to look at the bucket the way an operator would. */
function inspector(): Client {
  const url = new URL(minio.endpoint);
  return new Client({ endPoint: url.hostname, port: Number(url.port), useSSL: false, accessKey: minio.accessKey, secretKey: minio.secretKey });
}

describeChunkStoreContract("local disk", async () => {
  const { store, root } = await openDisk();
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(root, { recursive: true, force: true });
    },
  };
});

describeChunkStoreContract("MinIO", async () => {
  const store = await MinioChunkStore.open(minioOptions());
  return { store, cleanup: () => store.close() };
});

/**
 * A read chunk is read into the buffer the store's allocator gives (block
 * storage's main passes one with headroom, so the gRPC codec writes the
 * message around it instead of copying it): both stores, same bytes.
 */
describe.each([
  ["local disk", (allocate: ChunkAllocator) => DiskChunkStore.open({ root: join(diskRoot, randomUUID()), maxChunkBytes: MAX_CHUNK_BYTES, allocate })],
  ["MinIO", (allocate: ChunkAllocator) => MinioChunkStore.open({ ...minioOptions(), allocate })],
] as const)("%s reads into its allocator's buffers", (_, open) => {
  it("returns the very buffer it was given, filled with the chunk", async () => {
    const given: Buffer[] = [];
    const store = await open((size) => {
      const buffer = Buffer.allocUnsafe(size);
      given.push(buffer);
      return buffer;
    });
    try {
      const data = randomBytes(1024 * 1024 + 7);
      await store.put(ALICE, sha256(data), [data]);
      const read = await store.get(ALICE, sha256(data));
      expect(given.map((b) => b.length)).toEqual([data.length]);
      expect(read).toBe(given[0]);
      expect(read!.equals(data)).toBe(true);
    } finally {
      await store.close();
    }
  });
});

describe("DiskChunkStore", () => {
  it("lays chunks out as <root>/<sha256(owner)>/<hash[0:2]>/<hash> and leaves no temp files", async () => {
    const { store, root } = await openDisk();
    const data = randomBytes(1000);
    const hash = sha256(data);
    await store.put(ALICE, hash, [data]);
    expect(await readFile(join(root, ALICE, hash.slice(0, 2), hash))).toEqual(data);
    expect(await readdir(join(root, ".tmp"))).toEqual([]);
  });

  it("answers DATA_LOSS instead of reading a file larger than any chunk", async () => {
    const { root } = await openDisk();
    const store = await DiskChunkStore.open({ root, maxChunkBytes: 1024 });
    const data = randomBytes(1024);
    await store.put(ALICE, sha256(data), [data]);
    await writeFile(join(root, ALICE, sha256(data).slice(0, 2), sha256(data)), randomBytes(1025));
    await expect(store.get(ALICE, sha256(data))).rejects.toMatchObject({ kind: "data-loss" });
  });

  it("sweeps stale temp files at start and leaves young ones to their writer", async () => {
    const { root } = await openDisk();
    const stale = join(root, ".tmp", "stale.part");
    const young = join(root, ".tmp", "young.part");
    await writeFile(stale, "partial");
    await writeFile(young, "partial");
    const hourAgo = new Date(Date.now() - 3_600_000);
    await utimes(stale, hourAgo, hourAgo);
    await DiskChunkStore.open({ root, maxChunkBytes: MAX_CHUNK_BYTES });
    await expect(stat(stale)).rejects.toMatchObject({ code: "ENOENT" });
    await expect(stat(young)).resolves.toBeDefined();
  });

  it("fails its health check when the root is gone", async () => {
    const { store, root } = await openDisk();
    await rm(root, { recursive: true, force: true });
    await expect(store.check()).rejects.toThrow();
  });
});

describe("MinioChunkStore", () => {
  it("creates its bucket when missing, and opens an existing one", async () => {
    const options = minioOptions();
    const first = await MinioChunkStore.open(options);
    expect(await inspector().bucketExists(options.bucket)).toBe(true);
    await first.close();
    const second = await MinioChunkStore.open(options);
    await second.check();
    await second.close();
  });

  it("names objects <sha256(owner)>/<hash[0:2]>/<hash>", async () => {
    const options = minioOptions();
    const store = await MinioChunkStore.open(options);
    const data = randomBytes(100);
    const hash = sha256(data);
    await store.put(ALICE, hash, [data]);
    expect((await inspector().statObject(options.bucket, `${ALICE}/${hash.slice(0, 2)}/${hash}`)).size).toBe(100);
    await store.close();
  });

  it("answers DATA_LOSS instead of reading an object larger than any chunk", async () => {
    const options = minioOptions();
    const store = await MinioChunkStore.open({ ...options, maxChunkBytes: 1024 });
    const hash = sha256(randomBytes(8));
    await inspector().putObject(options.bucket, `${ALICE}/${hash.slice(0, 2)}/${hash}`, randomBytes(300_000));
    await expect(store.get(ALICE, hash)).rejects.toMatchObject({ kind: "data-loss" });
    await store.close();
  });

  it("fails its health check when the bucket disappears", async () => {
    const options = minioOptions();
    const store = await MinioChunkStore.open(options);
    await inspector().removeBucket(options.bucket);
    await expect(store.check()).rejects.toThrow(/does not exist/);
    await store.close();
  });

  it("reports an unreachable server as UNAVAILABLE", async () => {
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    await expect(MinioChunkStore.open({ ...minioOptions(), endpoint })).rejects.toMatchObject({
      kind: "unavailable",
      message: expect.stringContaining("ECONNREFUSED"),
    });
  });
});
