import { createHash, randomUUID } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import type { CallIdentity } from "#lib/grpc-client.js";
import type { ChunkInventory } from "../ports/chunk-inventory.js";
import type { CatalogueStore } from "../ports/catalogue-store.js";
import { failure, strictFake } from "../../../../tests/support/strict-fake.js";
import { Catalogue } from "./catalogue.js";
import { ReceiptCheck } from "./chunk-receipts.js";
import { ReceiptKey } from "#lib/chunk-receipts.js";
import type { CommitRequest } from "./commit-validation.js";
import type { ChunkRecord, FileRecord, ListFilesQuery, NewFileVersion } from "./types.js";

const sha = (seed: string) => createHash("sha256").update(seed).digest("hex");
const as: CallIdentity = { token: "user-token", requestId: "req-1" };

/** Block storage holding `stored` (hash -> size), recording each HasChunks batch. */
function fakeInventory(stored: Map<string, number>) {
  const batches: string[][] = [];
  const inventory: ChunkInventory = {
    storedSizes: async (hashes) => {
      batches.push([...hashes]);
      return new Map(hashes.filter((h) => stored.has(h)).map((h) => [h, stored.get(h)!]));
    },
    deleteChunks: async () => {
      throw new Error("unexpected DeleteChunks");
    },
  };
  return { inventory, batches };
}

function commitOf(count: number, size = 10): Omit<CommitRequest, "chunks"> & { chunks: ChunkRecord[] } {
  return {
    name: "big.bin",
    contentType: "",
    size: count * size,
    sha256: sha("whole"),
    chunks: Array.from({ length: count }, (_, index) => ({ index, sha256: sha(`c${index}`), size, offset: index * size })),
  };
}

function fileOf(v: NewFileVersion): FileRecord {
  const now = new Date();
  return { fileId: randomUUID(), name: v.name, size: v.size, sha256: v.sha256, contentType: v.contentType, numChunks: v.chunks.length, version: 1, createdAt: now, updatedAt: now };
}

const RULES = { defaultQuotaBytes: 0, versionsMax: 100, versionsMaxAgeDays: 0 };
/** A metadata without a receipt key: every commit asks block storage. */
const NO_RECEIPTS = new ReceiptCheck(undefined, { checked: () => {} });

describe("Catalogue.commitFileVersion", () => {
  it("checks every distinct chunk with block storage in batches of at most 1000, then commits as the caller", async () => {
    const request = commitOf(2500);
    // Chunk 2499 repeats chunk 0: 2499 distinct hashes.
    request.chunks[2499] = { ...request.chunks[2499]!, sha256: request.chunks[0]!.sha256 };
    const { inventory, batches } = fakeInventory(new Map(request.chunks.map((c) => [c.sha256, c.size])));
    const commitFileVersion = vi.fn(async (v: NewFileVersion) => ({ kind: "done" as const, value: fileOf(v) }));
    const storedSizes = vi.spyOn(inventory, "storedSizes");
    const file = await new Catalogue(strictFake<CatalogueStore>({ commitFileVersion }), inventory, RULES, NO_RECEIPTS).commitFileVersion("alice", request, as);

    expect(batches.map((b) => b.length)).toEqual([1000, 1000, 499]);
    expect(new Set(batches.flat()).size).toBe(2499);
    expect(storedSizes.mock.calls.every(([, identity]) => identity === as)).toBe(true);
    expect(commitFileVersion).toHaveBeenCalledOnce();
    expect(commitFileVersion.mock.calls[0]![0]).toMatchObject({ owner: "alice", name: "big.bin", size: 25_000 });
    expect(file.numChunks).toBe(2500);
  });

  it("commits an empty file without asking block storage", async () => {
    const { inventory, batches } = fakeInventory(new Map());
    const commitFileVersion = vi.fn(async (v: NewFileVersion) => ({ kind: "done" as const, value: fileOf(v) }));
    await new Catalogue(strictFake<CatalogueStore>({ commitFileVersion }), inventory, RULES, NO_RECEIPTS).commitFileVersion("alice", commitOf(0), as);
    expect(batches).toEqual([]);
    expect(commitFileVersion).toHaveBeenCalledOnce();
  });

  it("refuses with FAILED_PRECONDITION when a chunk is missing or stored with another size, and commits nothing", async () => {
    const request = commitOf(3);
    const commitFileVersion = vi.fn();
    const missing = fakeInventory(new Map([[sha("c0"), 10], [sha("c2"), 10]])).inventory;
    let err = await failure(new Catalogue(strictFake<CatalogueStore>({ commitFileVersion }), missing, RULES, NO_RECEIPTS).commitFileVersion("alice", request, as));
    expect(err.kind).toBe("failed-precondition");
    expect(err.message).toContain(sha("c1"));

    const resized = fakeInventory(new Map([[sha("c0"), 10], [sha("c1"), 11], [sha("c2"), 10]])).inventory;
    err = await failure(new Catalogue(strictFake<CatalogueStore>({ commitFileVersion }), resized, RULES, NO_RECEIPTS).commitFileVersion("alice", request, as));
    expect(err.kind).toBe("failed-precondition");
    expect(err.message).toMatch(/11 bytes, not 10/);
    expect(commitFileVersion).not.toHaveBeenCalled();
  });

  it("validates before asking block storage", async () => {
    const { inventory, batches } = fakeInventory(new Map());
    const err = await failure(new Catalogue(strictFake<CatalogueStore>({}), inventory, RULES, NO_RECEIPTS).commitFileVersion("alice", { ...commitOf(1), name: "/abs" }, as));
    expect(err.kind).toBe("invalid-argument");
    expect(batches).toEqual([]);
  });
});

describe("Catalogue.commitFileVersions", () => {
  const named = (name: string, seeds: string[]): CommitRequest => {
    const chunks = seeds.map((seed, index) => ({ index, sha256: sha(seed), size: 10, offset: index * 10 }));
    return { name, contentType: "", size: chunks.length * 10, sha256: sha(name), chunks };
  };
  const batch = [named("a", ["x", "y"]), named("b", ["y", "z"]), named("c", [])];

  it("asks block storage once for the batch's distinct chunks, then commits them all in one store call", async () => {
    const { inventory, batches } = fakeInventory(new Map(["x", "y", "z"].map((seed) => [sha(seed), 10])));
    const commitFileVersions = vi.fn(async (vs: readonly NewFileVersion[]) => ({ kind: "done" as const, value: vs.map(fileOf) }));
    const files = await new Catalogue(strictFake<CatalogueStore>({ commitFileVersions }), inventory, RULES, NO_RECEIPTS).commitFileVersions("alice", batch, as);
    expect(files.map((f) => f.name)).toEqual(["a", "b", "c"]);
    expect(batches).toEqual([[sha("x"), sha("y"), sha("z")]]);
    expect(commitFileVersions).toHaveBeenCalledOnce();
    expect(commitFileVersions.mock.calls[0]![0].map((v) => [v.owner, v.name])).toEqual([
      ["alice", "a"],
      ["alice", "b"],
      ["alice", "c"],
    ]);
  });

  it("commits nothing when a chunk is missing or the quota refuses, and asks nobody for an empty batch", async () => {
    const { inventory } = fakeInventory(new Map([[sha("x"), 10], [sha("y"), 10]]));
    const commitFileVersions = vi.fn();
    const missing = await failure(new Catalogue(strictFake<CatalogueStore>({ commitFileVersions }), inventory, RULES, NO_RECEIPTS).commitFileVersions("alice", batch, as));
    expect([missing.kind, missing.message]).toEqual(["failed-precondition", `chunk ${sha("z")} is not in block storage; upload the file again`]);
    expect(commitFileVersions).not.toHaveBeenCalled();

    const full = fakeInventory(new Map(["x", "y", "z"].map((seed) => [sha(seed), 10])));
    const overQuota = vi.fn(async () => ({ kind: "over-quota" as const, usedBytes: 90, quotaBytes: 100, addedBytes: 40 }));
    const refused = await failure(new Catalogue(strictFake<CatalogueStore>({ commitFileVersions: overQuota }), full.inventory, RULES, NO_RECEIPTS).commitFileVersions("alice", batch, as));
    expect(refused.kind).toBe("resource-exhausted");

    const idle = fakeInventory(new Map());
    expect(await new Catalogue(strictFake<CatalogueStore>({}), idle.inventory, RULES, NO_RECEIPTS).commitFileVersions("alice", [], as)).toEqual([]);
    expect(idle.batches).toEqual([]);
  });
});

describe("Catalogue reads and deletes", () => {
  const { inventory } = fakeInventory(new Map());

  it("answers a non-UUID file id with INVALID_ARGUMENT before touching storage", async () => {
    const catalogue = new Catalogue(strictFake<CatalogueStore>({}), inventory, RULES, NO_RECEIPTS);
    for (const call of [
      catalogue.getFile("alice", "not-a-uuid"),
      catalogue.listFileVersions("alice", "../x"),
      catalogue.listFileChunks("alice", "", { version: 0, pageSize: 0, pageToken: "" }),
      catalogue.deleteFile("alice", "1234"),
    ]) {
      const err = await failure(call);
      expect(err.kind).toBe("invalid-argument");
      expect(err.message).toBe("file_id must be a UUID");
    }
  });

  it("answers unknown and other owners' ids with one NOT_FOUND message, querying as the caller", async () => {
    const getFile = vi.fn(async () => undefined);
    const listFileVersions = vi.fn(async () => []);
    const listFileChunks = vi.fn(async () => undefined);
    const trashFile = vi.fn(async () => undefined);
    const catalogue = new Catalogue(strictFake<CatalogueStore>({ getFile, listFileVersions, listFileChunks, trashFile }), inventory, RULES, NO_RECEIPTS);
    const id = randomUUID().toUpperCase();
    const messages = new Set<string>();
    for (const call of [
      catalogue.getFile("alice", id),
      catalogue.listFileVersions("alice", id),
      catalogue.listFileChunks("alice", id, { version: 0, pageSize: 0, pageToken: "" }),
      catalogue.deleteFile("alice", id),
    ]) {
      const err = await failure(call);
      expect(err.kind).toBe("not-found");
      messages.add(err.message);
    }
    expect([...messages]).toEqual(["file not found"]);
    expect(getFile).toHaveBeenCalledWith("alice", id.toLowerCase());
    expect(listFileChunks).toHaveBeenCalledWith("alice", id.toLowerCase(), undefined, { fromIndex: 0, limit: 1001 });
  });

  it("asks for a specific version of the chunks and refuses a negative one", async () => {
    const listFileChunks = vi.fn(async () => undefined);
    const catalogue = new Catalogue(strictFake<CatalogueStore>({ listFileChunks }), inventory, RULES, NO_RECEIPTS);
    const id = randomUUID();
    const err = await failure(catalogue.listFileChunks("alice", id, { version: 3, pageSize: 0, pageToken: "" }));
    expect(err.kind).toBe("not-found");
    expect(err.message).toBe("version 3 of the file not found");
    expect(listFileChunks).toHaveBeenCalledWith("alice", id, 3, { fromIndex: 0, limit: 1001 });
    expect((await failure(catalogue.listFileChunks("alice", id, { version: -1, pageSize: 0, pageToken: "" }))).kind).toBe("invalid-argument");
  });

  it("pages a chunk list on the version the first page resolved, whatever is committed meanwhile", async () => {
    const chunk = (index: number) => ({ index, sha256: "a".repeat(64), size: 10, offset: index * 10 });
    const listFileChunks = vi.fn(async (_o: string, _f: string, version: number | undefined, page: { fromIndex: number; limit: number }) => ({
      version: version ?? 7,
      chunks: [0, 1, 2, 3, 4].map(chunk).slice(page.fromIndex, page.fromIndex + page.limit),
    }));
    const catalogue = new Catalogue(strictFake<CatalogueStore>({ listFileChunks }), inventory, RULES, NO_RECEIPTS);
    const id = randomUUID();
    const first = await catalogue.listFileChunks("alice", id, { version: 0, pageSize: 2, pageToken: "" });
    expect(first.chunks.map((c) => c.index)).toEqual([0, 1]);
    const second = await catalogue.listFileChunks("alice", id, { version: 0, pageSize: 2, pageToken: first.nextPageToken });
    expect(listFileChunks).toHaveBeenLastCalledWith("alice", id, 7, { fromIndex: 2, limit: 3 });
    const third = await catalogue.listFileChunks("alice", id, { version: 0, pageSize: 2, pageToken: second.nextPageToken });
    expect([...second.chunks, ...third.chunks].map((c) => c.index)).toEqual([2, 3, 4]);
    expect(third.nextPageToken).toBe("");
    // A token is bound to its version and refuses tampering.
    expect((await failure(catalogue.listFileChunks("alice", id, { version: 6, pageSize: 2, pageToken: first.nextPageToken }))).kind).toBe("invalid-argument");
    expect((await failure(catalogue.listFileChunks("alice", id, { version: 0, pageSize: 2, pageToken: "bm9wZQ" }))).kind).toBe("invalid-argument");
  });
});

describe("Catalogue.listFiles", () => {
  const names = ["a", "b", "c", "d", "e"];
  const now = new Date();
  const listFiles = vi.fn(async (_owner: string, q: ListFilesQuery) =>
    names
      .filter((n) => n > q.after && n.startsWith(q.prefix))
      .slice(0, q.limit)
      .map((name): FileRecord => ({ fileId: randomUUID(), name, size: 0, sha256: sha(name), contentType: "", numChunks: 0, version: 1, createdAt: now, updatedAt: now })),
  );
  const catalogue = new Catalogue(strictFake<CatalogueStore>({ listFiles }), fakeInventory(new Map()).inventory, RULES, NO_RECEIPTS);

  it("pages with a token until the last page, asking one row more than the page", async () => {
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await catalogue.listFiles("alice", { pageSize: 2, pageToken, prefix: "" });
      seen.push(...page.files.map((f) => f.name));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(seen).toEqual(names);
    expect(listFiles.mock.calls.map(([, q]) => q)).toEqual([
      { prefix: "", after: "", limit: 3 },
      { prefix: "", after: "b", limit: 3 },
      { prefix: "", after: "d", limit: 3 },
    ]);
  });

  it("gives no token when the page is exactly the rest", async () => {
    expect((await catalogue.listFiles("alice", { pageSize: 5, pageToken: "", prefix: "" })).nextPageToken).toBe("");
  });

  it("refuses a token from another prefix", async () => {
    const first = await catalogue.listFiles("alice", { pageSize: 1, pageToken: "", prefix: "" });
    const err = await failure(catalogue.listFiles("alice", { pageSize: 1, pageToken: first.nextPageToken, prefix: "a" }));
    expect(err.kind).toBe("invalid-argument");
  });
});

describe("Catalogue moves, restores, trash and quotas", () => {
  const { inventory } = fakeInventory(new Map());
  const now = new Date();
  const file: FileRecord = { fileId: randomUUID(), name: "a.txt", size: 1, sha256: sha("a"), contentType: "", numChunks: 1, version: 2, createdAt: now, updatedAt: now };
  const overQuota = { kind: "over-quota" as const, usedBytes: 90, quotaBytes: 100, addedBytes: 20 };

  it("normalizes the new name and answers a taken one with ALREADY_EXISTS", async () => {
    const moveFile = vi.fn(async () => "name-taken" as const);
    const catalogue = new Catalogue(strictFake<CatalogueStore>({ moveFile }), inventory, RULES, NO_RECEIPTS);
    const err = await failure(catalogue.moveFile("alice", file.fileId, "Cafe\u0301.txt"));
    expect(err.kind).toBe("already-exists");
    expect(moveFile).toHaveBeenCalledWith("alice", file.fileId, "Caf\u00e9.txt");
    expect((await failure(catalogue.moveFile("alice", file.fileId, "a//b"))).kind).toBe("invalid-argument");
  });

  it("refuses a restore of version 0 and maps the quota to RESOURCE_EXHAUSTED", async () => {
    const restoreFileVersion = vi.fn(async () => overQuota);
    const catalogue = new Catalogue(strictFake<CatalogueStore>({ restoreFileVersion }), inventory, RULES, NO_RECEIPTS);
    expect((await failure(catalogue.restoreFileVersion("alice", file.fileId, 0))).kind).toBe("invalid-argument");
    const err = await failure(catalogue.restoreFileVersion("alice", file.fileId, 1));
    expect(err.kind).toBe("resource-exhausted");
    expect(err.message).toMatch(/90 of the 100 bytes|90 of 100 bytes/);
    expect(restoreFileVersion).toHaveBeenCalledWith("alice", file.fileId, 1, RULES);
  });

  it("answers trash, undelete and purge of unknown ids with the one NOT_FOUND message", async () => {
    const catalogue = new Catalogue(
      strictFake<CatalogueStore>({ trashFile: async () => undefined, undeleteFile: async () => undefined, purgeFile: async () => undefined }),
      inventory,
      RULES,
      NO_RECEIPTS,
    );
    for (const call of [catalogue.deleteFile("alice", file.fileId), catalogue.undeleteFile("alice", file.fileId), catalogue.purgeFile("alice", file.fileId)]) {
      const err = await failure(call);
      expect([err.kind, err.message]).toEqual(["not-found", "file not found"]);
    }
  });

  it("pages the trash with a token of the last file's deletion time and id", async () => {
    const trashed = (i: number): FileRecord => ({ ...file, fileId: randomUUID(), deletedAt: new Date(now.getTime() - i * 1000) });
    const rows = [trashed(0), trashed(1), trashed(2)];
    const listTrash = vi.fn(async (_owner: string, after: { deletedAt: Date; fileId: string } | undefined) => (after ? rows.slice(2) : rows));
    const catalogue = new Catalogue(strictFake<CatalogueStore>({ listTrash }), inventory, RULES, NO_RECEIPTS);
    const first = await catalogue.listTrash("alice", { pageSize: 2, pageToken: "" });
    expect(first.files).toEqual(rows.slice(0, 2));
    const second = await catalogue.listTrash("alice", { pageSize: 2, pageToken: first.nextPageToken });
    expect(listTrash).toHaveBeenLastCalledWith("alice", { deletedAt: rows[1]!.deletedAt, fileId: rows[1]!.fileId }, 3);
    expect(second).toEqual({ files: rows.slice(2), nextPageToken: "" });
    expect((await failure(catalogue.listTrash("alice", { pageSize: 0, pageToken: "bogus!" }))).kind).toBe("invalid-argument");
  });

  it("lets only a service identity set a quota, and only a non-negative one", async () => {
    const setQuota = vi.fn(async () => undefined);
    const catalogue = new Catalogue(strictFake<CatalogueStore>({ setQuota }), inventory, RULES, NO_RECEIPTS);
    expect((await failure(catalogue.setQuota({ subject: "alice", isService: false }, "alice", 1))).kind).toBe("permission-denied");
    const operator = { subject: "ops", isService: true };
    expect((await failure(catalogue.setQuota(operator, "", 1))).kind).toBe("invalid-argument");
    expect((await failure(catalogue.setQuota(operator, "bob", -1))).kind).toBe("invalid-argument");
    await catalogue.setQuota(operator, "bob", undefined);
    expect(setQuota).toHaveBeenCalledWith("bob", undefined);
  });
});

describe("Catalogue commits with block storage's receipts", () => {
  const KEY = new ReceiptKey("r".repeat(40));
  const receipts = new ReceiptCheck(KEY, { checked: () => {} });
  const receiptFor = (owner: string, chunks: readonly { sha256: string; size: number }[], issuedAtMs = Date.now()) => {
    const listed = chunks.map(({ sha256, size }) => ({ sha256, size }));
    return { issuedAtMs, mac: KEY.macOf(owner, issuedAtMs, listed)!, chunks: listed };
  };
  const committing = () => vi.fn(async (v: NewFileVersion) => ({ kind: "done" as const, value: fileOf(v) }));

  it("does not ask block storage about chunks a valid receipt covers", async () => {
    const request = commitOf(3);
    const { inventory, batches } = fakeInventory(new Map());
    const commitFileVersion = committing();
    await new Catalogue(strictFake<CatalogueStore>({ commitFileVersion }), inventory, RULES, receipts).commitFileVersion(
      "alice",
      { ...request, chunkReceipts: [receiptFor("alice", request.chunks)] },
      as,
    );
    expect(batches).toEqual([]);
    expect(commitFileVersion).toHaveBeenCalledOnce();
  });

  it("asks about the chunks no receipt covers, and about every chunk when the receipt does not hold", async () => {
    const request = commitOf(3);
    const stored = new Map(request.chunks.map((c) => [c.sha256, c.size]));
    const { inventory, batches } = fakeInventory(stored);
    const catalogue = new Catalogue(strictFake<CatalogueStore>({ commitFileVersion: committing() }), inventory, RULES, receipts);
    const [c0, c1, c2] = request.chunks.map((c) => c.sha256);

    await catalogue.commitFileVersion("alice", { ...request, chunkReceipts: [receiptFor("alice", request.chunks.slice(0, 2))] }, as);
    expect(batches.pop()).toEqual([c2]);
    // Another owner's receipt, a stale one, one naming another size: asked as if none had come.
    const wrongSize = request.chunks.map((c) => ({ ...c, size: c.size + 1 }));
    for (const receipt of [receiptFor("bob", request.chunks), receiptFor("alice", request.chunks, Date.now() - 60_000), receiptFor("alice", wrongSize)]) {
      await catalogue.commitFileVersion("alice", { ...request, chunkReceipts: [receipt] }, as);
      expect(batches.pop()).toEqual([c0, c1, c2]);
    }
  });

  it("a receipt for a chunk block storage lacks is refused like none: FAILED_PRECONDITION, nothing committed", async () => {
    const request = commitOf(1);
    const { inventory } = fakeInventory(new Map());
    const commitFileVersion = committing();
    const forged = { ...receiptFor("alice", request.chunks), mac: Buffer.alloc(32, 7) };
    const err = await failure(
      new Catalogue(strictFake<CatalogueStore>({ commitFileVersion }), inventory, RULES, receipts).commitFileVersion("alice", { ...request, chunkReceipts: [forged] }, as),
    );
    expect(err.kind).toBe("failed-precondition");
    expect(commitFileVersion).not.toHaveBeenCalled();
  });

  it("in a batch, a receipt given with any file counts for every file's chunks", async () => {
    const first = { ...commitOf(2), name: "a.bin" };
    const second = { ...commitOf(2), name: "b.bin", chunks: commitOf(2).chunks.map((c) => ({ ...c, sha256: sha(`b${c.index}`) })) };
    const { inventory, batches } = fakeInventory(new Map());
    const commitFileVersions = vi.fn(async (vs: readonly NewFileVersion[]) => ({ kind: "done" as const, value: vs.map(fileOf) }));
    await new Catalogue(strictFake<CatalogueStore>({ commitFileVersions }), inventory, RULES, receipts).commitFileVersions(
      "alice",
      [{ ...first, chunkReceipts: [receiptFor("alice", [...first.chunks, ...second.chunks])] }, second],
      as,
    );
    expect(batches).toEqual([]);
    expect(commitFileVersions).toHaveBeenCalledOnce();
  });
});
