import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { Client as MinioClient } from "minio";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type RunningStack } from "../../dev/stack.js";
import { EventStatus } from "#gen/cfs/sync/v1/sync.js";
import { auth, call, clientsFor, download, expectStatus, upload, uploadBatch, type Clients } from "../support/clients.js";
import { startMinio, type MinioServer } from "../support/minio.js";
import { createTestDatabase } from "../support/postgres.js";
import { chunksOf } from "../support/chunks.js";
import { waitFor } from "../support/net.js";

// The production shape: real PostgreSQL, real MinIO, real JWTs from a JWKS
// served on loopback, four service processes talking gRPC.
const MiB = 1024 * 1024;
let stack: RunningStack;
let minio: MinioServer;
let db: { url: string; drop: () => Promise<void> };
let dataDir: string;
let c: Clients;
let alice: string;
let bob: string;

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "cfs-e2e-"));
  [minio, db] = await Promise.all([startMinio(), createTestDatabase()]);
  stack = await startStack({
    dataDir,
    databaseUrl: db.url,
    s3: { endpoint: minio.endpoint, accessKey: minio.accessKey, secretKey: minio.secretKey, bucket: "cfs-e2e" },
    defaultPorts: false,
    logs: "files",
    env: { CFS_GC_GRACE_SECONDS: "0", CFS_GC_INTERVAL_MS: "200", CFS_OUTBOX_INTERVAL_MS: "200" },
  });
  c = clientsFor(stack.addresses);
  alice = await stack.issuer!.userToken("alice");
  bob = await stack.issuer!.userToken("bob");
});

afterAll(async () => {
  c?.close();
  await stack?.stop();
  await Promise.all([minio?.stop(), db?.drop()]);
  await rm(dataDir, { recursive: true, force: true });
});

/** Every object in the stack's bucket, as an operator lists them. */
async function bucketObjects(): Promise<string[]> {
  const url = new URL(minio.endpoint);
  const client = new MinioClient({ endPoint: url.hostname, port: Number(url.port), useSSL: false, accessKey: minio.accessKey, secretKey: minio.secretKey });
  const names: string[] = [];
  for await (const item of client.listObjectsV2("cfs-e2e", "", true)) if (item.name) names.push(item.name);
  return names;
}

describe("upload and download", () => {
  it.each([
    ["0 B", 0],
    ["1 B", 1],
    ["exactly 1 MiB", MiB],
    ["1 MiB + 1 B", MiB + 1],
    ["50 MiB", 50 * MiB],
  ])("round-trips %s byte-identical", async (label, size) => {
    const data = randomBytes(size);
    const file = await upload(c, alice, data, { name: `sizes/${label}.bin`, size, sha256: sha256(data) });
    expect(file).toMatchObject({ size, sha256: sha256(data), numChunks: chunksOf(data).length, version: 1 });
    expect(file.fileId).toMatch(/^[0-9a-f-]{36}$/);
    const got = await download(c, alice, file.fileId);
    expect(got.file.fileId).toBe(file.fileId);
    expect(got.data.length).toBe(size);
    expect(sha256(got.data)).toBe(sha256(data));
  });

  it("stores the chunks of an upload in a few pack objects, not one object per chunk", async () => {
    const data = randomBytes(24 * MiB);
    const before = await bucketObjects();
    const file = await upload(c, alice, data, { name: "packed.bin" });
    const added = (await bucketObjects()).filter((name) => !before.includes(name));
    expect(file.numChunks).toBeGreaterThan(12);
    expect(added.length).toBeGreaterThan(0);
    expect(added.every((name) => name.startsWith("packs/"))).toBe(true);
    expect(added.length).toBeLessThan(file.numChunks / 2);
    expect((await download(c, alice, file.fileId)).data.equals(data)).toBe(true);
  });

  it("round-trips content with no cut point, cut at FastCDC's largest chunk size", async () => {
    const zeros = Buffer.alloc(18 * MiB);
    const file = await upload(c, alice, zeros, { name: "zeros.bin", size: zeros.length });
    const chunks = chunksOf(zeros);
    expect(chunks.slice(0, -1).every((k) => k.size === 4 * MiB)).toBe(true);
    expect(file).toMatchObject({ size: zeros.length, numChunks: chunks.length });
    expect((await download(c, alice, file.fileId)).data.equals(zeros)).toBe(true);
  });

  it("serves byte ranges across chunk boundaries", async () => {
    const data = randomBytes(3 * MiB + 100);
    const file = await upload(c, alice, data, { name: "ranges.bin" });
    for (const [offset, length] of [[0, 10], [MiB - 5, 10], [MiB, MiB], [2 * MiB + 1, 0], [3 * MiB + 99, 1], [3 * MiB + 100, 0]]) {
      const got = await download(c, alice, file.fileId, { offset, length });
      const end = length === 0 ? data.length : offset! + length!;
      expect(got.data.equals(data.subarray(offset, end))).toBe(true);
    }
    await expectStatus(download(c, alice, file.fileId, { offset: data.length + 1 }), status.OUT_OF_RANGE);
  });

  it("lists chunk records that describe the content", async () => {
    const data = randomBytes(2 * MiB + 3);
    const file = await upload(c, alice, data, { name: "chunks.bin" });
    const { chunks } = await call(c.metadata.listFileChunks, c.metadata, { fileId: file.fileId, version: 0, pageSize: 0, pageToken: "" }, alice);
    // FastCDC's cut points, the ones every client computes from the same bytes.
    expect(chunks).toEqual(chunksOf(data));
  });

  it.each([
    ["a declared size that is too small", { size: 10 }],
    ["a declared size that is too large", { size: 5000 }],
    ["a declared sha256 of other bytes", { sha256: "0".repeat(64) }],
  ])("rejects %s and no file appears", async (_, declared) => {
    const name = `mismatch-${randomBytes(4).toString("hex")}`;
    await expectStatus(upload(c, alice, randomBytes(4096), { name, ...declared }), status.INVALID_ARGUMENT);
    const { files } = await call(c.metadata.listFiles, c.metadata, { pageSize: 10, pageToken: "", prefix: name }, alice);
    expect(files).toEqual([]);
  });

  it("rejects malformed uploads with INVALID_ARGUMENT", async () => {
    await expectStatus(upload(c, alice, Buffer.alloc(10), { name: "" }), status.INVALID_ARGUMENT);
    await expectStatus(upload(c, alice, Buffer.alloc(10), { name: "../escape" }), status.INVALID_ARGUMENT);
    await expectStatus(upload(c, alice, Buffer.alloc(10), { name: "nul\u0000name" }), status.INVALID_ARGUMENT);
    // Data before metadata.
    await expectStatus(
      new Promise((resolve, reject) => {
        const s = c.chunker.uploadFile(auth(alice), (err, res) => (err ? reject(err) : resolve(res)));
        s.write({ payload: { $case: "data", value: Buffer.from("x") } });
        s.end();
      }),
      status.INVALID_ARGUMENT,
    );
  });

  it("refuses a message over the receive limit with RESOURCE_EXHAUSTED", async () => {
    await expectStatus(upload(c, alice, randomBytes(5 * MiB), { name: "huge-frame.bin", frameSize: 5 * MiB }), status.RESOURCE_EXHAUSTED);
  });
});

describe("listing, versions and delete", () => {
  it("pages through a listing with a prefix", async () => {
    const names = ["page/a", "page/b", "page/c", "page/d", "page/e"];
    for (const name of names) await upload(c, alice, Buffer.from(name), { name });
    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const res = await call(c.metadata.listFiles, c.metadata, { pageSize: 2, pageToken, prefix: "page/" }, alice);
      seen.push(...res.files.map((f) => f.name));
      pageToken = res.nextPageToken;
      pages++;
    } while (pageToken && pages < 10);
    expect(seen).toEqual(names);
    expect(pages).toBe(3);
  });

  it("uploading a name again creates a version and download returns the newest", async () => {
    const v1 = await upload(c, alice, Buffer.from("first"), { name: "versioned.txt" });
    const v2 = await upload(c, alice, Buffer.from("second!"), { name: "versioned.txt" });
    expect(v2.fileId).toBe(v1.fileId);
    expect(v2.version).toBe(2);
    const { versions } = await call(c.metadata.listFileVersions, c.metadata, { fileId: v1.fileId }, alice);
    expect(versions.map((v) => [v.version, v.size])).toEqual([[2, 7], [1, 5]]);
    expect((await download(c, alice, v1.fileId)).data.toString()).toBe("second!");
    const got = await call(c.metadata.getFile, c.metadata, { fileId: v1.fileId }, alice);
    expect(got.file).toMatchObject({ version: 2, size: 7 });
  });

  it("delete hides the file at once (to the trash); once purged the collector removes its unshared chunks", async () => {
    // Over FastCDC's largest chunk each, so each part has cut points of its own.
    const shared = randomBytes(5 * MiB);
    const own = randomBytes(5 * MiB);
    const keep = await upload(c, alice, shared, { name: "keep.bin" });
    const gone = await upload(c, alice, Buffer.concat([shared, own]), { name: "gone.bin" });
    await call(c.metadata.deleteFile, c.metadata, { fileId: gone.fileId }, alice);
    await expectStatus(call(c.metadata.getFile, c.metadata, { fileId: gone.fileId }, alice), status.NOT_FOUND);
    await expectStatus(download(c, alice, gone.fileId), status.NOT_FOUND);
    const { files } = await call(c.metadata.listFiles, c.metadata, { pageSize: 1000, pageToken: "", prefix: "gone" }, alice);
    expect(files).toEqual([]);
    await expectStatus(call(c.metadata.deleteFile, c.metadata, { fileId: gone.fileId }, alice), status.NOT_FOUND);
    await call(c.metadata.purgeFile, c.metadata, { fileId: gone.fileId }, alice);

    const present = async (hashes: string[]) =>
      (await call(c.blocks.hasChunks, c.blocks, { sha256s: hashes, owner: "" }, alice)).present.map((p) => p.sha256);
    const kept = new Set(chunksOf(shared).map((k) => k.sha256));
    const unshared = chunksOf(Buffer.concat([shared, own]))
      .map((k) => k.sha256)
      .filter((h) => !kept.has(h));
    expect(unshared.length).toBeGreaterThan(0);
    await waitFor(async () => (await present(unshared)).length === 0, 15_000, "the collector to delete the unshared chunks");
    expect((await present([...kept])).sort()).toEqual([...kept].sort());
    expect((await download(c, alice, keep.fileId)).data.equals(shared)).toBe(true);
  });
});

describe("batch upload (UploadFiles)", () => {
  const listed = async (token: string, prefix: string) =>
    (await call(c.metadata.listFiles, c.metadata, { pageSize: 1000, pageToken: "", prefix }, token)).files.map((f) => f.name);

  it("commits many small files from one call, each byte-identical, verified in the background", async () => {
    const shared = randomBytes(3000);
    const files = [
      ...Array.from({ length: 60 }, (_, i) => ({ name: `batch/one/${i}.txt`, data: randomBytes(1 + i * 97) })),
      { name: "batch/one/empty", data: Buffer.alloc(0) },
      { name: "batch/one/shared-a", data: shared },
      { name: "batch/one/shared-b", data: shared, sha256: sha256(shared) },
      { name: "batch/one/large.bin", data: randomBytes(3 * MiB) },
    ];
    const committed = await uploadBatch(c, alice, files);
    expect(committed.map((f) => [f.name, f.size, f.sha256, f.version])).toEqual(files.map((f) => [f.name, f.data.length, sha256(f.data), 1]));
    expect(await listed(alice, "batch/one/")).toEqual(files.map((f) => f.name).sort());
    for (const [i, file] of committed.entries()) expect((await download(c, alice, file.fileId)).data.equals(files[i]!.data)).toBe(true);
    // Each file has its own sync event, verified like any upload's.
    const last = committed.at(-1)!;
    await waitFor(
      async () => (await call(c.sync.getFileSyncStatus, c.sync, { fileId: last.fileId }, alice)).status === EventStatus.EVENT_STATUS_COMPLETED,
      30_000,
      "verification of the batch's last file",
    );
    // The same batch again, one file changed: a new version of that one, the others unchanged.
    const changed = files.map((f, i) => (i === 3 ? { ...f, data: randomBytes(50) } : f));
    const again = await uploadBatch(c, alice, changed);
    expect(again.map((f) => f.version)).toEqual(files.map((_, i) => (i === 3 ? 2 : 1)));
    expect(again.map((f) => f.fileId)).toEqual(committed.map((f) => f.fileId));
  });

  it("commits nothing of a batch with one refused file, and names the file", async () => {
    const good = (i: number) => ({ name: `batch/refused/${i}.txt`, data: randomBytes(100) });
    const cases: Array<[string, Parameters<typeof uploadBatch>[2], RegExp, Parameters<typeof uploadBatch>[3]?]> = [
      ["a size the bytes do not match", [good(0), good(1), { ...good(2), size: 101 }, good(3)], /^files\[2\]: declared size 101/],
      ["a hash the bytes do not match", [good(0), { ...good(1), sha256: sha256(Buffer.from("other")) }], /^files\[1\]: declared sha256/],
      ["a bad name", [good(0), { name: "batch/refused/../x", data: Buffer.from("x") }], /^files\[1\]: /],
      ["a name twice", [good(0), good(1), good(0)], /^files\[2\]: .*files\[0\]/],
      ["no finish message", [good(0), good(1)], /finish/, { finish: false }],
    ];
    for (const [label, batch, message, options] of cases) {
      const err = await expectStatus(uploadBatch(c, alice, batch, options), status.INVALID_ARGUMENT);
      expect(err.details, label).toMatch(message);
      expect(await listed(alice, "batch/refused/"), label).toEqual([]);
    }
  });

  it("answers a retried batch with the files the first one committed, by idempotency key", async () => {
    const files = Array.from({ length: 5 }, (_, i) => ({ name: `batch/keyed/${i}`, data: randomBytes(10 + i), idempotencyKey: `batch-retry-${i}` }));
    const first = await uploadBatch(c, alice, files);
    const retried = await uploadBatch(c, alice, files.map((f) => ({ ...f, data: randomBytes(20) })));
    expect(retried).toEqual(first);
    expect(await listed(alice, "batch/keyed/")).toHaveLength(5);
    // Another user's batch with the same names and keys is that user's own.
    const carol = await stack.issuer!.userToken("carol");
    const carols = await uploadBatch(c, carol, files);
    expect(carols.map((f) => f.fileId)).not.toEqual(first.map((f) => f.fileId));
    expect(await listed(carol, "batch/keyed/")).toEqual(files.map((f) => f.name));
  });
});

describe("isolation between users", () => {
  it("answers NOT_FOUND to bob for every id of alice's, exactly like a random id", async () => {
    const file = await upload(c, alice, Buffer.from("alice's secret"), { name: "private.txt" });
    const random = "8a7c2d4e-1f3b-4c5d-9e6f-0a1b2c3d4e5f";
    const detailsFor = async (id: string) => {
      const errors = [
        await expectStatus(call(c.metadata.getFile, c.metadata, { fileId: id }, bob), status.NOT_FOUND),
        await expectStatus(call(c.metadata.listFileChunks, c.metadata, { fileId: id, version: 0, pageSize: 0, pageToken: "" }, bob), status.NOT_FOUND),
        await expectStatus(call(c.metadata.listFileVersions, c.metadata, { fileId: id }, bob), status.NOT_FOUND),
        await expectStatus(call(c.metadata.deleteFile, c.metadata, { fileId: id }, bob), status.NOT_FOUND),
        await expectStatus(download(c, bob, id), status.NOT_FOUND),
      ];
      return errors.map((e) => e.details.replaceAll(id, "<id>"));
    };
    expect(await detailsFor(file.fileId)).toEqual(await detailsFor(random));
    const { files } = await call(c.metadata.listFiles, c.metadata, { pageSize: 100, pageToken: "", prefix: "" }, bob);
    expect(files).toEqual([]);
    expect((await download(c, alice, file.fileId)).data.toString()).toBe("alice's secret");
  });

  it("bob cannot read alice's chunk by naming its hash", async () => {
    const data = randomBytes(1000);
    await upload(c, alice, data, { name: "hash-oracle.bin" });
    const { present } = await call(c.blocks.hasChunks, c.blocks, { sha256s: [sha256(data)], owner: "" }, bob);
    expect(present).toEqual([]);
    await expectStatus(
      new Promise((resolve, reject) => {
        const s = c.blocks.getChunk({ sha256: sha256(data), owner: "" }, auth(bob));
        s.on("data", resolve);
        s.on("error", reject);
      }),
      status.NOT_FOUND,
    );
    await expectStatus(call(c.blocks.hasChunks, c.blocks, { sha256s: [sha256(data)], owner: "alice" }, bob), status.PERMISSION_DENIED);
  });
});
