import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PutChunksResponse } from "#gen/cfs/blockstore/v1/blockstore.js";
import { EventStatus, EventType, type SyncEvent } from "#gen/cfs/sync/v1/sync.js";
import { createServiceTokenSource } from "#lib/auth.js";
import { startStack, type RunningStack } from "../../dev/stack.js";
import { auth, call, clientsFor, download, expectStatus, upload, type Clients } from "../support/clients.js";
import { waitFor } from "../support/net.js";

/**
 * The catalogue of issue 11 end to end over gRPC (PGlite, chunks on disk):
 * moves, old versions downloaded and restored, identical re-uploads, the
 * trash, usage and quotas, isolation of every new RPC, their sync events
 * verified in the background, and GetFileSyncStatus right after a commit.
 */
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
let stack: RunningStack;
let dataDir: string;
let c: Clients;
let alice: string;
let bob: string;
let service: () => Promise<string>;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "cfs-catalogue-"));
  stack = await startStack({
    dataDir,
    defaultPorts: false,
    logs: "files",
    env: { CFS_GC_GRACE_SECONDS: "0", CFS_GC_INTERVAL_MS: "200", CFS_OUTBOX_INTERVAL_MS: "200", CFS_VERSIONS_MAX: "3", CFS_VERIFY_INTERVAL_MS: "200" },
  });
  c = clientsFor(stack.addresses);
  alice = await stack.issuer!.userToken("cat-alice");
  bob = await stack.issuer!.userToken("cat-bob");
  service = createServiceTokenSource({ tokenUrl: stack.issuer!.tokenUrl, clientId: "cfs-services", clientSecret: "dev-service-secret", audience: stack.audience });
}, 180_000);

afterAll(async () => {
  c?.close();
  await stack?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}, 60_000);

const names = async (token: string) => (await call(c.metadata.listFiles, c.metadata, { pageSize: 1000, pageToken: "", prefix: "" }, token)).files.map((f) => f.name);
const trash = async (token: string) => (await call(c.metadata.listTrash, c.metadata, { pageSize: 0, pageToken: "" }, token)).files;
const usage = (token: string) => call(c.metadata.getUsage, c.metadata, {}, token);

async function eventsOf(token: string, fileId: string): Promise<SyncEvent[]> {
  return (await call(c.sync.listSyncEvents, c.sync, { pageSize: 100, pageToken: "", fileId, status: 0, eventType: 0 }, token)).events;
}

describe("moves and versions", () => {
  it("renames and moves a file keeping its id and versions; a taken name is ALREADY_EXISTS", async () => {
    const file = await upload(c, alice, Buffer.from("draft"), { name: "notes/draft.txt" });
    await upload(c, alice, Buffer.from("other"), { name: "notes/other.txt" });
    const moved = await call(c.metadata.moveFile, c.metadata, { fileId: file.fileId, newName: "archive/2025/final.txt" }, alice);
    expect(moved.file).toMatchObject({ fileId: file.fileId, name: "archive/2025/final.txt", version: 1, sha256: file.sha256 });
    expect((await download(c, alice, file.fileId)).data.toString()).toBe("draft");
    await expectStatus(call(c.metadata.moveFile, c.metadata, { fileId: file.fileId, newName: "notes/other.txt" }, alice), status.ALREADY_EXISTS);
    await expectStatus(call(c.metadata.moveFile, c.metadata, { fileId: file.fileId, newName: "../escape" }, alice), status.INVALID_ARGUMENT);
    expect(await names(alice)).toEqual(expect.arrayContaining(["archive/2025/final.txt", "notes/other.txt"]));
    expect(await names(alice)).not.toContain("notes/draft.txt");
  });

  it("adds no version for identical content, restores an old version, and keeps at most CFS_VERSIONS_MAX", async () => {
    const v1 = Buffer.from("version one");
    const file = await upload(c, alice, v1, { name: "versions.txt" });
    expect((await upload(c, alice, v1, { name: "versions.txt" })).version).toBe(1);
    const v2 = Buffer.from("version two");
    await upload(c, alice, v2, { name: "versions.txt" });
    const old = await download(c, alice, file.fileId, { version: 1 });
    expect(old.data.equals(v1)).toBe(true);
    expect(old.file).toMatchObject({ fileId: file.fileId, version: 1, sha256: sha256(v1), size: v1.length });
    expect((await download(c, alice, file.fileId, { version: 1, offset: 8, length: 3 })).data.toString()).toBe("one");
    expect((await download(c, alice, file.fileId, { version: 0 })).data.equals(v2)).toBe(true);
    await expectStatus(download(c, alice, file.fileId, { version: 5 }), status.NOT_FOUND);
    const restored = await call(c.metadata.restoreFileVersion, c.metadata, { fileId: file.fileId, version: 1 }, alice);
    expect(restored.file).toMatchObject({ fileId: file.fileId, version: 3, sha256: sha256(v1), size: v1.length });
    expect((await download(c, alice, file.fileId)).data.equals(v1)).toBe(true);
    await expectStatus(call(c.metadata.restoreFileVersion, c.metadata, { fileId: file.fileId, version: 9 }, alice), status.NOT_FOUND);
    await expectStatus(call(c.metadata.restoreFileVersion, c.metadata, { fileId: file.fileId, version: 0 }, alice), status.INVALID_ARGUMENT);
    await upload(c, alice, Buffer.from("version four"), { name: "versions.txt" });
    const { versions } = await call(c.metadata.listFileVersions, c.metadata, { fileId: file.fileId }, alice);
    expect(versions.map((v) => v.version)).toEqual([4, 3, 2]);
  });
});

describe("the trash", () => {
  it("hides a deleted file at once, lists it in the trash, undeletes it, and purges it for good", async () => {
    const data = randomBytes(3000);
    const file = await upload(c, alice, data, { name: "trash/me.bin" });
    await call(c.metadata.deleteFile, c.metadata, { fileId: file.fileId }, alice);
    await expectStatus(call(c.metadata.getFile, c.metadata, { fileId: file.fileId }, alice), status.NOT_FOUND);
    await expectStatus(download(c, alice, file.fileId), status.NOT_FOUND);
    expect(await names(alice)).not.toContain("trash/me.bin");
    const [trashed] = (await trash(alice)).filter((f) => f.fileId === file.fileId);
    expect(trashed).toMatchObject({ name: "trash/me.bin", deletedAt: expect.any(Date) });

    // The name is free meanwhile; undelete then finds it taken.
    const squatter = await upload(c, alice, Buffer.from("squat"), { name: "trash/me.bin" });
    await expectStatus(call(c.metadata.undeleteFile, c.metadata, { fileId: file.fileId }, alice), status.ALREADY_EXISTS);
    await call(c.metadata.deleteFile, c.metadata, { fileId: squatter.fileId }, alice);
    const back = await call(c.metadata.undeleteFile, c.metadata, { fileId: file.fileId }, alice);
    expect(back.file).toMatchObject({ fileId: file.fileId, name: "trash/me.bin", deletedAt: undefined });
    expect((await download(c, alice, file.fileId)).data.equals(data)).toBe(true);

    await call(c.metadata.deleteFile, c.metadata, { fileId: file.fileId }, alice);
    await call(c.metadata.purgeFile, c.metadata, { fileId: file.fileId }, alice);
    await expectStatus(call(c.metadata.undeleteFile, c.metadata, { fileId: file.fileId }, alice), status.NOT_FOUND);
    await expectStatus(call(c.metadata.purgeFile, c.metadata, { fileId: file.fileId }, alice), status.NOT_FOUND);
    expect((await trash(alice)).map((f) => f.fileId)).not.toContain(file.fileId);
  });
});

describe("usage and quotas", () => {
  it("counts newest versions and the trash; an upload over the quota is RESOURCE_EXHAUSTED with nothing committed", async () => {
    const carol = await stack.issuer!.userToken(`cat-carol-${randomUUID()}`);
    const subject = (await import("jose")).decodeJwt(carol).sub!;
    await expectStatus(call(c.metadata.setQuota, c.metadata, { owner: subject, quotaBytes: 10_000 }, carol), status.PERMISSION_DENIED);
    await call(c.metadata.setQuota, c.metadata, { owner: subject, quotaBytes: 10_000 }, await service());
    expect(await usage(carol)).toEqual({ usedBytes: 0, quotaBytes: 10_000, fileCount: 0, trashBytes: 0 });

    const a = await upload(c, carol, randomBytes(4000), { name: "a.bin" });
    await upload(c, carol, randomBytes(3000), { name: "a.bin" });
    const b = await upload(c, carol, randomBytes(5000), { name: "b.bin" });
    await call(c.metadata.deleteFile, c.metadata, { fileId: b.fileId }, carol);
    expect(await usage(carol)).toEqual({ usedBytes: 8000, quotaBytes: 10_000, fileCount: 1, trashBytes: 5000 });

    const err = await expectStatus(upload(c, carol, randomBytes(2001), { name: "c.bin" }), status.RESOURCE_EXHAUSTED);
    expect(err.details).toMatch(/quota/);
    expect(await names(carol)).toEqual(["a.bin"]);
    // A restore counts like an upload: version 1 (4000) instead of 3000 adds 1000.
    await call(c.metadata.restoreFileVersion, c.metadata, { fileId: a.fileId, version: 1 }, carol);
    expect(await usage(carol)).toMatchObject({ usedBytes: 9000 });
    await call(c.metadata.purgeFile, c.metadata, { fileId: b.fileId }, carol);
    expect((await upload(c, carol, randomBytes(2001), { name: "c.bin" })).size).toBe(2001);

    // Concurrent uploads near the limit never commit more than the quota.
    const outcomes = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => upload(c, carol, randomBytes(1000), { name: `race-${i}.bin` })));
    const { usedBytes } = await usage(carol);
    expect(usedBytes).toBeLessThanOrEqual(10_000);
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(Math.floor((10_000 - 6001) / 1000));
  });
});

/** CommitFileVersion(s) calls metadata answered OK so far. */
async function commitCalls(): Promise<{ single: number; batch: number }> {
  const text = await (await fetch(`http://127.0.0.1:${stack.metricsPorts.metadata}/metrics`)).text();
  const lines = text.split("\n");
  const count = (method: string) =>
    lines
      .filter((l) => l.startsWith("cfs_grpc_server_handled_total{") && l.includes(`method="MetadataService/${method}"`) && l.includes('code="OK"'))
      .reduce((total, l) => total + Number(l.split(" ").at(-1)), 0);
  return { single: count("CommitFileVersion"), batch: count("CommitFileVersions") };
}

describe("group commit", () => {
  it("commits 16 uploads of one token made at once in fewer calls; a name twice becomes two versions, a file over the quota fails alone", async () => {
    const dave = await stack.issuer!.userToken(`cat-dave-${randomUUID()}`);
    const subject = (await import("jose")).decodeJwt(dave).sub!;
    await call(c.metadata.setQuota, c.metadata, { owner: subject, quotaBytes: 40_000 }, await service());
    const before = await commitCalls();
    const contents = Array.from({ length: 16 }, () => randomBytes(1000));
    const namesOf = (i: number) => (i === 15 ? "f-0.bin" : `f-${i}.bin`);
    const files = await Promise.all(contents.map((data, i) => upload(c, dave, data, { name: namesOf(i) })));
    const after = await commitCalls();
    // Commits that arrived while another was on its way went together (as CommitFileVersions).
    expect(after.batch).toBeGreaterThan(before.batch);
    expect(after.single - before.single + (after.batch - before.batch)).toBeLessThan(16);
    // Each caller got its own file; the name sent twice has two versions, one after the other.
    files.forEach((f, i) => expect(f).toMatchObject({ name: namesOf(i), size: 1000, sha256: sha256(contents[i]!) }));
    expect(files.filter((f) => f.name === "f-0.bin").map((f) => f.version).sort()).toEqual([1, 2]);
    expect(await names(dave)).toHaveLength(15);
    for (const f of files.slice(1, 15)) expect((await download(c, dave, f.fileId)).data).toEqual(contents[files.indexOf(f)]);

    // Again 16 at once, one of them larger than the whole quota: that one fails alone.
    const second = Array.from({ length: 16 }, (_, i) => randomBytes(i === 7 ? 40_001 : 500));
    const outcomes = await Promise.allSettled(second.map((data, i) => upload(c, dave, data, { name: `g-${i}.bin` })));
    outcomes.forEach((o, i) => {
      if (i === 7) expect(o).toMatchObject({ status: "rejected", reason: { code: status.RESOURCE_EXHAUSTED } });
      else expect(o).toMatchObject({ status: "fulfilled", value: { name: `g-${i}.bin`, size: 500 } });
    });
    expect(await usage(dave)).toMatchObject({ usedBytes: 15 * 1000 + 15 * 500, fileCount: 30 });
  });
});

/** A counter's value in a service's metrics (summed over the lines that hold every one of `labels`). */
async function counter(serviceName: "metadata" | "block-storage", name: string, labels: string[]): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${stack.metricsPorts[serviceName]}/metrics`)).text();
  return text
    .split("\n")
    .filter((l) => l.startsWith(`${name}{`) && labels.every((label) => l.includes(label)))
    .reduce((total, l) => total + Number(l.split(" ").at(-1)), 0);
}

/** Stores `parts` on one PutChunks stream as `token`, and returns block storage's receipt. */
function putChunks(token: string, parts: readonly Buffer[]): Promise<PutChunksResponse> {
  return new Promise((resolve, reject) => {
    const stream = c.blocks.putChunks(auth(token), (err, response) => (err ? reject(err) : resolve(response!)));
    for (const part of parts) {
      stream.write({ payload: { $case: "header", value: { sha256: sha256(part), size: part.length, owner: "" } } });
      stream.write({ payload: { $case: "data", value: part } });
    }
    stream.end();
  });
}

describe("block storage's chunk receipts", () => {
  const hasChunksCalls = () => counter("block-storage", "cfs_grpc_server_handled_total", ['method="BlockStorageService/HasChunks"']);
  const accepted = () => counter("metadata", "cfs_metadata_chunk_receipts_total", ['outcome="accepted"']);

  it("spare a small upload's commit the question to block storage", async () => {
    const [asked, taken] = [await hasChunksCalls(), await accepted()];
    const data = randomBytes(3000);
    const file = await upload(c, alice, data, { name: "receipted.bin" });
    expect(await accepted()).toBe(taken + 1);
    expect(await hasChunksCalls()).toBe(asked);
    expect((await download(c, alice, file.fileId)).data).toEqual(data);
  });

  it("cannot be made up, moved to another owner or stretched to a chunk the stream did not carry", async () => {
    const data = randomBytes(2000);
    const chunk = { index: 0, offset: 0, size: data.length, sha256: sha256(data) };
    const commit = (token: string, name: string, receipt: { issuedAtUnixMs: number; mac: Buffer; chunks: { sha256: string; size: number }[] }) =>
      call(c.metadata.commitFileVersion, c.metadata, { name, contentType: "", size: data.length, sha256: sha256(data), chunks: [chunk], chunkReceipts: [receipt] }, token);
    const claim = [{ sha256: chunk.sha256, size: chunk.size }];
    // Never stored: a receipt of random bytes is ignored and the commit refused.
    await expectStatus(commit(alice, "forged.bin", { issuedAtUnixMs: Date.now(), mac: randomBytes(32), chunks: claim }), status.FAILED_PRECONDITION);
    // Alice's receipt for another chunk does not vouch for this one.
    const other = randomBytes(100);
    const { receipt: otherReceipt } = await putChunks(alice, [other]);
    await expectStatus(commit(alice, "stretched.bin", { ...otherReceipt!, chunks: claim }), status.FAILED_PRECONDITION);
    // Stored for alice: her receipt does nothing for bob, who has no such chunk.
    const { receipt } = await putChunks(alice, [data]);
    await expectStatus(commit(bob, "borrowed.bin", { ...receipt!, chunks: claim }), status.FAILED_PRECONDITION);
    const asked = await hasChunksCalls();
    const { file } = await commit(alice, "own.bin", { ...receipt!, chunks: claim });
    expect(await hasChunksCalls()).toBe(asked);
    expect((await download(c, alice, file!.fileId)).data).toEqual(data);
    expect(await names(bob)).not.toContain("borrowed.bin");
  });
});

describe("names", () => {
  it("refuses bytes that are not UTF-8 and path segments over 255 bytes with INVALID_ARGUMENT, replacing nothing", async () => {
    const file = await upload(c, alice, Buffer.from("named"), { name: "names/ok.txt" });
    // MoveFile with new_name = "a\xFFb": field 1 (file_id), field 2 (new_name) as raw bytes.
    const id = Buffer.from(file.fileId);
    const raw = Buffer.concat([Buffer.from([0x0a, id.length]), id, Buffer.from([0x12, 3, 0x61, 0xff, 0x62])]);
    const err = await expectStatus(
      new Promise((resolve, reject) =>
        c.metadata.makeUnaryRequest(
          "/cfs.metadata.v1.MetadataService/MoveFile",
          (b: Buffer) => b,
          (b: Buffer) => b,
          raw,
          auth(alice),
          (e, v) => (e ? reject(e) : resolve(v)),
        ),
      ),
      status.INVALID_ARGUMENT,
    );
    expect(err.details).toMatch(/UTF-8/);
    // The chunker refuses such a name at the header, by the catalogue's rules,
    // before the content is sent: the client's stream is still open.
    const refusedEarly = await new Promise<Error>((resolve, reject) => {
      const stream = c.chunker.uploadFile(auth(alice), (e) => (e ? resolve(e) : reject(new Error("the upload was accepted"))));
      stream.write({ payload: { $case: "metadata", value: { name: `names/${"b".repeat(256)}`, contentType: "" } } });
    });
    expect(refusedEarly).toMatchObject({ code: status.INVALID_ARGUMENT, details: "a path segment of the name is 256 bytes of UTF-8, the limit is 255" });
    await expectStatus(upload(c, alice, Buffer.from("x"), { name: "lone \ud800 surrogate" }), status.INVALID_ARGUMENT);
    await expectStatus(upload(c, alice, Buffer.from("x"), { name: `names/${"a".repeat(256)}` }), status.INVALID_ARGUMENT);
    await expectStatus(call(c.metadata.moveFile, c.metadata, { fileId: file.fileId, newName: `${"é".repeat(128)}` }, alice), status.INVALID_ARGUMENT);
    // Other content than the refused uploads': their chunk was released, and
    // with no grace period here the collector may delete it during this upload
    // (which then fails FAILED_PRECONDITION, "upload again", as it should).
    expect((await upload(c, alice, Buffer.from("longest name"), { name: `names/${"a".repeat(255)}` })).name).toHaveLength(261);
    // NFC and NFD spellings stay one name.
    const nfc = await upload(c, alice, Buffer.from("one"), { name: "names/caf\u00e9" });
    expect((await upload(c, alice, Buffer.from("two"), { name: "names/cafe\u0301" })).fileId).toBe(nfc.fileId);
    expect(await names(alice)).toContain("names/ok.txt");
  });
});

describe("isolation", () => {
  it("answers bob NOT_FOUND for each new RPC on alice's ids, exactly like a random id", async () => {
    const file = await upload(c, alice, Buffer.from("alice's"), { name: "iso.txt" });
    const trashed = await upload(c, alice, Buffer.from("alice's trash"), { name: "iso-trash.txt" });
    await call(c.metadata.deleteFile, c.metadata, { fileId: trashed.fileId }, alice);
    const detailsFor = async (live: string, inTrash: string) =>
      [
        await expectStatus(call(c.metadata.moveFile, c.metadata, { fileId: live, newName: "stolen.txt" }, bob), status.NOT_FOUND),
        await expectStatus(call(c.metadata.restoreFileVersion, c.metadata, { fileId: live, version: 1 }, bob), status.NOT_FOUND),
        await expectStatus(download(c, bob, live, { version: 1 }), status.NOT_FOUND),
        await expectStatus(call(c.metadata.undeleteFile, c.metadata, { fileId: inTrash }, bob), status.NOT_FOUND),
        await expectStatus(call(c.metadata.purgeFile, c.metadata, { fileId: inTrash }, bob), status.NOT_FOUND),
        await expectStatus(call(c.sync.getFileSyncStatus, c.sync, { fileId: live }, bob), status.NOT_FOUND),
      ].map((e) => e.details);
    expect(await detailsFor(file.fileId, trashed.fileId)).toEqual(await detailsFor(randomUUID(), randomUUID()));
    expect(await trash(bob)).toEqual([]);
    expect((await call(c.metadata.getFile, c.metadata, { fileId: file.fileId }, alice)).file?.name).toBe("iso.txt");
    expect((await trash(alice)).map((f) => f.fileId)).toContain(trashed.fileId);
  });
});

describe("sync", () => {
  it("answers PENDING right after a commit, and verifies move, restore, trash, undelete and purge events", async () => {
    const file = await upload(c, alice, Buffer.from("synced v1"), { name: "sync/a.txt" });
    const right = await call(c.sync.getFileSyncStatus, c.sync, { fileId: file.fileId }, alice);
    expect([EventStatus.EVENT_STATUS_PENDING, EventStatus.EVENT_STATUS_PROCESSING, EventStatus.EVENT_STATUS_COMPLETED]).toContain(right.status);
    await upload(c, alice, Buffer.from("synced v2"), { name: "sync/a.txt" });
    await call(c.metadata.moveFile, c.metadata, { fileId: file.fileId, newName: "sync/b.txt" }, alice);
    await call(c.metadata.restoreFileVersion, c.metadata, { fileId: file.fileId, version: 1 }, alice);
    await call(c.metadata.deleteFile, c.metadata, { fileId: file.fileId }, alice);
    await call(c.metadata.undeleteFile, c.metadata, { fileId: file.fileId }, alice);
    await call(c.metadata.deleteFile, c.metadata, { fileId: file.fileId }, alice);
    await call(c.metadata.purgeFile, c.metadata, { fileId: file.fileId }, alice);
    let events: SyncEvent[] = [];
    await waitFor(
      async () => {
        events = await eventsOf(alice, file.fileId);
        return events.length === 8 && events.every((e) => e.status === EventStatus.EVENT_STATUS_COMPLETED);
      },
      30_000,
      "every event of the file to be verified",
    );
    expect(events.map((e) => e.eventType).reverse()).toEqual([
      EventType.EVENT_TYPE_UPLOAD,
      EventType.EVENT_TYPE_UPDATE,
      EventType.EVENT_TYPE_MOVE,
      EventType.EVENT_TYPE_RESTORE,
      EventType.EVENT_TYPE_TRASH,
      EventType.EVENT_TYPE_UNDELETE,
      EventType.EVENT_TYPE_TRASH,
      EventType.EVENT_TYPE_PURGE,
    ]);
    expect(events.every((e) => e.verification?.syncStatus === "synchronized")).toBe(true);
    expect(events[0]!.chunkSha256s).toEqual([]);
  });
});
