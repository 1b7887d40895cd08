import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { isAfter, isQuarantinedAfter, type ChunkPosition, type ChunkStore, type ListedChunk, type QuarantinedChunk } from "../ports/chunk-store.js";
import { dataLoss } from "#lib/errors.js";
import { MAX_HASHES_PER_CALL } from "#lib/limits.js";
import { ReceiptKey } from "#lib/chunk-receipts.js";
import { BlockService, ownerKeyOf } from "./block-service.js";
import { Quarantine, type FoundBy, type QuarantineObserver } from "./quarantine.js";
import { Scrubber, type PassResult } from "./scrubber.js";

const alice = { subject: "alice", isService: false };
const bob = { subject: "bob", isService: false };
const gc = { subject: "metadata@clients", isService: true };
const MAX = 4 * 1024 * 1024;

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** The port's contract in memory, keyed like the real stores. */
export class MemoryStore implements ChunkStore {
  readonly chunks = new Map<string, Buffer>();
  readonly quarantined: QuarantinedChunk[] = [];

  async quarantine(ownerKey: string, hash: string): Promise<boolean> {
    if (!this.chunks.delete(`${ownerKey}/${hash}`)) return false;
    this.quarantined.push({ ownerKey, hash, quarantinedAt: new Date() });
    return true;
  }

  async listQuarantined(after: QuarantinedChunk, limit: number): Promise<QuarantinedChunk[]> {
    return this.quarantined.filter((e) => isQuarantinedAfter(e, after)).slice(0, limit);
  }

  async list(after: ChunkPosition | undefined, limit: number): Promise<ListedChunk[]> {
    return [...this.chunks.entries()]
      .map(([key, data]) => ({ ownerKey: key.split("/")[0]!, hash: key.split("/")[1]!, size: data.length, storedAt: new Date(0) }))
      .filter((e) => !after || isAfter(e, after))
      .sort((a, b) => (isAfter(a, b) ? 1 : -1))
      .slice(0, limit);
  }

  async has(ownerKey: string, hashes: readonly string[]): Promise<Map<string, number>> {
    const present = new Map<string, number>();
    for (const hash of hashes) {
      const data = this.chunks.get(`${ownerKey}/${hash}`);
      if (data) present.set(hash, data.length);
    }
    return present;
  }

  async put(ownerKey: string, hash: string, parts: readonly Buffer[]): Promise<boolean> {
    const key = `${ownerKey}/${hash}`;
    if (this.chunks.has(key)) return false;
    this.chunks.set(key, Buffer.concat(parts));
    return true;
  }

  async get(ownerKey: string, hash: string): Promise<Buffer | undefined> {
    return this.chunks.get(`${ownerKey}/${hash}`);
  }

  async *getMany(ownerKey: string, hashes: readonly string[]): AsyncGenerator<Buffer | undefined> {
    for (const hash of hashes) yield this.get(ownerKey, hash);
  }

  async delete(ownerKey: string, hashes: readonly string[]): Promise<number> {
    return hashes.filter((hash) => this.chunks.delete(`${ownerKey}/${hash}`)).length;
  }

  async check(): Promise<void> {}
  async close(): Promise<void> {}
}

class Findings implements QuarantineObserver {
  readonly found: Array<{ hash: string; foundBy: FoundBy }> = [];
  quarantined(_ownerKey: string, hash: string, foundBy: FoundBy): void {
    this.found.push({ hash, foundBy });
  }
  quarantineFailed(_ownerKey: string, _hash: string, err: unknown): void {
    throw err;
  }
}

function setup() {
  const store = new MemoryStore();
  const findings = new Findings();
  const quarantine = new Quarantine(store, findings);
  return { store, findings, quarantine, blocks: new BlockService(store, MAX, quarantine) };
}

/** Flips one byte of a stored chunk, as bit rot would. */
function corrupt(store: MemoryStore, owner: string, hash: string): void {
  store.chunks.get(`${ownerKeyOf(owner)}/${hash}`)![0]! ^= 0xff;
}

describe("quarantine and heal", () => {
  it("quarantines a chunk read corrupt: DATA_LOSS, then absent for has(), and the next upload stores it again", async () => {
    const { store, findings, blocks } = setup();
    const data = randomBytes(2000);
    const header = { sha256: sha256(data), size: data.length, owner: "" };
    await blocks.put(alice, header, partsOf(data));
    corrupt(store, "alice", sha256(data));
    await expect(blocks.get(alice, sha256(data), "")).rejects.toMatchObject({ kind: "data-loss" });
    expect(findings.found).toEqual([{ hash: sha256(data), foundBy: "read" }]);
    expect(await blocks.has(alice, [sha256(data)], "")).toEqual([]);
    await expect(blocks.get(alice, sha256(data), "")).rejects.toMatchObject({ kind: "not-found" });
    // The heal: the same content uploaded again is stored, and reads back.
    expect(await blocks.put(alice, header, partsOf(data))).toBe(true);
    expect(await blocks.get(alice, sha256(data), "")).toEqual(data);
  });

  it("quarantines once when many readers find the same chunk bad, and never an intact one", async () => {
    const { store, findings, blocks, quarantine } = setup();
    const data = randomBytes(500);
    await blocks.put(alice, { sha256: sha256(data), size: data.length, owner: "" }, partsOf(data));
    corrupt(store, "alice", sha256(data));
    const reads = await Promise.allSettled([1, 2, 3, 4].map(() => blocks.get(alice, sha256(data), "")));
    expect(reads.every((r) => r.status === "rejected")).toBe(true);
    expect(findings.found).toHaveLength(1);
    // Healed meanwhile: a late isolation re-reads and leaves it.
    await blocks.put(alice, { sha256: sha256(data), size: data.length, owner: "" }, partsOf(data));
    await quarantine.isolate(ownerKeyOf("alice"), sha256(data), "read");
    expect(await blocks.get(alice, sha256(data), "")).toEqual(data);
    expect(findings.found).toHaveLength(1);
  });
});

describe("Scrubber", () => {
  const passes: PassResult[] = [];
  const observer = { scrubbed: () => undefined, passCompleted: (r: PassResult) => passes.push(r), passFailed: (err: unknown) => { throw err; } };

  it("re-hashes every chunk, quarantines the bad ones, and keeps to its byte rate", async () => {
    const { store, findings, blocks, quarantine } = setup();
    const chunks = [1, 2, 3, 4].map(() => randomBytes(1000));
    for (const [i, data] of chunks.entries()) {
      await blocks.put(i % 2 ? bob : alice, { sha256: sha256(data), size: data.length, owner: "" }, partsOf(data));
    }
    corrupt(store, "alice", sha256(chunks[0]!));
    corrupt(store, "bob", sha256(chunks[3]!));
    const scrubber = new Scrubber(store, quarantine, { bytesPerSecond: 10_000, periodMs: 60_000, pageSize: 3 }, observer);
    const started = Date.now();
    const result = await scrubber.pass(new AbortController().signal);
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    expect(result).toEqual({ chunks: 4, bytes: 4000, bad: 2 });
    expect(findings.found.map((f) => f.foundBy)).toEqual(["scrub", "scrub"]);
    expect(new Set(findings.found.map((f) => f.hash))).toEqual(new Set([sha256(chunks[0]!), sha256(chunks[3]!)]));
    expect(passes.at(-1)).toEqual(result);
    // The next pass finds only the intact ones.
    expect(await scrubber.pass(new AbortController().signal)).toEqual({ chunks: 2, bytes: 2000, bad: 0 });
  });
});

async function* partsOf(...parts: Buffer[]): AsyncGenerator<Buffer> {
  yield* parts;
}

describe("BlockService.put", () => {
  it("stores a chunk sent in one part or in many, under the caller", async () => {
    const { store, blocks } = setup();
    const data = randomBytes(3000);
    expect(await blocks.put(alice, { sha256: sha256(data), size: data.length, owner: "" }, partsOf(data))).toBe(true);
    expect(store.chunks.get(`${ownerKeyOf("alice")}/${sha256(data)}`)).toEqual(data);

    const split = randomBytes(3000);
    const parts = [split.subarray(0, 1), Buffer.alloc(0), split.subarray(1, 2000), split.subarray(2000)];
    expect(await blocks.put(alice, { sha256: sha256(split), size: split.length, owner: "" }, partsOf(...parts))).toBe(true);
    expect(await blocks.get(alice, sha256(split), "")).toEqual(split);
  });

  it("hands the store a chunk's parts as they came, not joined into one buffer", async () => {
    const { store, blocks } = setup();
    const given: Array<readonly Buffer[]> = [];
    const put = store.put.bind(store);
    store.put = (ownerKey, hash, parts) => {
      given.push(parts);
      return put(ownerKey, hash, parts);
    };
    const data = randomBytes(5000);
    const parts = [data.subarray(0, 1777), Buffer.alloc(0), data.subarray(1777, 1778), data.subarray(1778)];
    const header = { sha256: sha256(data), size: data.length, owner: "" };
    expect(await blocks.put(alice, header, partsOf(...parts))).toBe(true);
    async function* stream() {
      yield { header, parts: partsOf(...parts) };
    }
    expect(await blocks.putStream(bob, stream())).toEqual({ created: 1, stored: 1 });
    expect(given).toHaveLength(2);
    for (const received of given) {
      expect(received).toHaveLength(parts.length);
      received.forEach((part, i) => expect(part).toBe(parts[i]));
    }
    expect(await blocks.get(bob, sha256(data), "")).toEqual(data);
  });

  it("stores nothing of a chunk in many parts whose bytes do not match its hash", async () => {
    const { store, blocks } = setup();
    const data = randomBytes(3000);
    const bad = Buffer.from(data);
    bad[2999]! ^= 1;
    const header = { sha256: sha256(data), size: data.length, owner: "" };
    await expect(blocks.put(alice, header, partsOf(bad.subarray(0, 1000), bad.subarray(1000, 2000), bad.subarray(2000)))).rejects.toMatchObject({
      kind: "invalid-argument",
      message: expect.stringMatching(/^chunk bytes do not match sha256/),
    });
    expect(store.chunks.size).toBe(0);
  });

  it("answers created=false for a chunk it already has", async () => {
    const { blocks } = setup();
    const data = randomBytes(10);
    const header = { sha256: sha256(data), size: data.length, owner: "" };
    expect(await blocks.put(alice, header, partsOf(data))).toBe(true);
    expect(await blocks.put(alice, header, partsOf(data))).toBe(false);
  });

  it("stores a 0-byte chunk with or without an empty data part", async () => {
    const { blocks } = setup();
    const empty = Buffer.alloc(0);
    expect(await blocks.put(alice, { sha256: sha256(empty), size: 0, owner: "" }, partsOf())).toBe(true);
    expect(await blocks.put(bob, { sha256: sha256(empty), size: 0, owner: "" }, partsOf(empty))).toBe(true);
    expect(await blocks.get(alice, sha256(empty), "")).toEqual(empty);
  });

  it("rejects bytes that do not match the hash and stores nothing", async () => {
    const { store, blocks } = setup();
    const data = randomBytes(100);
    const other = randomBytes(100);
    await expect(blocks.put(alice, { sha256: sha256(other), size: 100, owner: "" }, partsOf(data))).rejects.toMatchObject({
      kind: "invalid-argument",
      message: expect.stringMatching(/^chunk bytes do not match sha256/),
    });
    expect(store.chunks.size).toBe(0);
  });

  it("rejects the part that goes past the declared size without reading further", async () => {
    const { store, blocks } = setup();
    const data = randomBytes(100);
    let partsRead = 0;
    async function* endless(): AsyncGenerator<Buffer> {
      for (;;) {
        partsRead++;
        yield data;
      }
    }
    await expect(blocks.put(alice, { sha256: sha256(data), size: 150, owner: "" }, endless())).rejects.toMatchObject({
      kind: "invalid-argument",
      message: expect.stringMatching(/more bytes than the declared size/),
    });
    expect(partsRead).toBe(2);
    expect(store.chunks.size).toBe(0);
  });

  it("rejects fewer bytes than declared", async () => {
    const { blocks } = setup();
    const data = randomBytes(100);
    await expect(blocks.put(alice, { sha256: sha256(data), size: 101, owner: "" }, partsOf(data))).rejects.toMatchObject({
      kind: "invalid-argument",
    });
  });

  it("rejects a declared size above the limit, negative or fractional, before reading any part", async () => {
    const { blocks } = setup();
    const hash = "ab".repeat(32);
    for (const size of [MAX + 1, -1, 1.5]) {
      const never = { [Symbol.asyncIterator]: () => { throw new Error("parts were read"); } };
      await expect(blocks.put(alice, { sha256: hash, size, owner: "" }, never)).rejects.toMatchObject({ kind: "invalid-argument" });
    }
  });

  it.each([["uppercase", "AB".repeat(32)], ["too short", "ab".repeat(31)], ["a path", "../".repeat(21) + "a"], ["empty", ""]])(
    "rejects a %s hash",
    async (_, hash) => {
      const { blocks } = setup();
      await expect(blocks.put(alice, { sha256: hash, size: 0, owner: "" }, partsOf())).rejects.toMatchObject({ kind: "invalid-argument" });
    },
  );
});

describe("BlockService.get", () => {
  it("returns the stored bytes and NOT_FOUND for an absent chunk", async () => {
    const { blocks } = setup();
    const data = randomBytes(500);
    await blocks.put(alice, { sha256: sha256(data), size: data.length, owner: "" }, partsOf(data));
    expect(await blocks.get(alice, sha256(data), "")).toEqual(data);
    await expect(blocks.get(alice, sha256(randomBytes(5)), "")).rejects.toMatchObject({ kind: "not-found" });
  });

  it("answers DATA_LOSS naming the chunk when the stored bytes changed, never the bytes", async () => {
    const { store, blocks } = setup();
    const data = randomBytes(500);
    await blocks.put(alice, { sha256: sha256(data), size: data.length, owner: "" }, partsOf(data));
    const stored = store.chunks.get(`${ownerKeyOf("alice")}/${sha256(data)}`)!;
    stored[7] = stored[7]! ^ 0x01;
    await expect(blocks.get(alice, sha256(data), "")).rejects.toMatchObject({
      kind: "data-loss",
      message: expect.stringContaining(sha256(data)),
    });
  });
});

describe("owners", () => {
  const data = randomBytes(64);
  const hash = sha256(data);
  const header = (owner: string) => ({ sha256: hash, size: data.length, owner });

  it("keeps each user's chunks apart", async () => {
    const { blocks } = setup();
    await blocks.put(alice, header(""), partsOf(data));
    expect(await blocks.has(bob, [hash], "")).toEqual([]);
    await expect(blocks.get(bob, hash, "")).rejects.toMatchObject({ kind: "not-found" });
    expect(await blocks.delete(gc, [hash], "bob")).toBe(0);
    expect(await blocks.has(alice, [hash], "")).toEqual([{ sha256: hash, size: data.length }]);
  });

  it("lets a user name itself but no one else", async () => {
    const { store, blocks } = setup();
    expect(await blocks.put(alice, header("alice"), partsOf(data))).toBe(true);
    await expect(blocks.put(bob, header("alice"), partsOf(data))).rejects.toMatchObject({ kind: "permission-denied" });
    await expect(blocks.get(bob, hash, "alice")).rejects.toMatchObject({ kind: "permission-denied" });
    await expect(blocks.has(bob, [hash], "alice")).rejects.toMatchObject({ kind: "permission-denied" });
    await expect(blocks.delete(bob, [hash], "alice")).rejects.toMatchObject({ kind: "permission-denied" });
    expect(store.chunks.size).toBe(1);
  });

  it("lets a service identity act for a named owner, and requires the name", async () => {
    const { blocks } = setup();
    expect(await blocks.put(gc, header("alice"), partsOf(data))).toBe(true);
    expect(await blocks.get(alice, hash, "")).toEqual(data);
    expect(await blocks.has(gc, [hash], "alice")).toEqual([{ sha256: hash, size: data.length }]);
    await expect(blocks.has(gc, [hash], "")).rejects.toMatchObject({ kind: "invalid-argument" });
    await expect(blocks.put(gc, header(""), partsOf(data))).rejects.toMatchObject({ kind: "invalid-argument" });
    await expect(blocks.has(gc, [hash], "x".repeat(513))).rejects.toMatchObject({ kind: "invalid-argument" });
    expect(await blocks.delete(gc, [hash], "alice")).toBe(1);
    await expect(blocks.get(alice, hash, "")).rejects.toMatchObject({ kind: "not-found" });
  });

  it("lets only a service identity delete, even a user's own chunks", async () => {
    const { blocks } = setup();
    await blocks.put(alice, header(""), partsOf(data));
    await expect(blocks.delete(alice, [hash], "")).rejects.toMatchObject({ kind: "permission-denied" });
    expect(await blocks.has(alice, [hash], "")).toEqual([{ sha256: hash, size: data.length }]);
  });

  it("lists every owner's chunks for a service only, and deletes by owner key for the sweep", async () => {
    const { blocks } = setup();
    await blocks.put(alice, header(""), partsOf(data));
    await expect(blocks.list(alice, "", "", 10)).rejects.toMatchObject({ kind: "permission-denied" });
    const listed = await blocks.list(gc, "", "", 0);
    expect(listed.map((c) => [c.ownerKey, c.hash, c.size])).toEqual([[ownerKeyOf("alice"), hash, data.length]]);
    expect(await blocks.list(gc, ownerKeyOf("alice"), hash, 10)).toEqual([]);
    await expect(blocks.list(gc, "bad", hash, 10)).rejects.toMatchObject({ kind: "invalid-argument" });
    await expect(blocks.delete(gc, [hash], "alice", ownerKeyOf("alice"))).rejects.toMatchObject({ kind: "invalid-argument" });
    await expect(blocks.delete(alice, [hash], "", ownerKeyOf("alice"))).rejects.toMatchObject({ kind: "permission-denied" });
    expect(await blocks.delete(gc, [hash], "", ownerKeyOf("alice"))).toBe(1);
  });

  it("lists quarantined chunks for a service only, from a valid place", async () => {
    const { blocks, store } = setup();
    await blocks.put(alice, header(""), partsOf(data));
    await store.quarantine(ownerKeyOf("alice"), hash);
    const epoch = { quarantinedAt: new Date(0), ownerKey: "", hash: "" };
    await expect(blocks.listQuarantined(alice, epoch, 10)).rejects.toMatchObject({ kind: "permission-denied" });
    const listed = await blocks.listQuarantined(gc, epoch, 0);
    expect(listed).toMatchObject([{ ownerKey: ownerKeyOf("alice"), hash }]);
    expect(await blocks.listQuarantined(gc, listed[0]!, 10)).toEqual([]);
    await expect(blocks.listQuarantined(gc, { ...epoch, ownerKey: "bad", hash }, 10)).rejects.toMatchObject({ kind: "invalid-argument" });
    await expect(blocks.listQuarantined(gc, { ...epoch, quarantinedAt: new Date(Number.NaN) }, 10)).rejects.toMatchObject({ kind: "invalid-argument" });
    await expect(blocks.listQuarantined(gc, epoch, MAX_HASHES_PER_CALL + 1)).rejects.toMatchObject({ kind: "invalid-argument" });
  });

  it("derives a fixed-width hex key from any owner", () => {
    expect(ownerKeyOf("../../etc")).toMatch(/^[0-9a-f]{64}$/);
    expect(ownerKeyOf("alice")).not.toBe(ownerKeyOf("bob"));
  });
});

describe("has and delete", () => {
  it("answer present hashes once, in request order, and ignore absent ones", async () => {
    const { blocks } = setup();
    const a = randomBytes(10);
    const b = randomBytes(20);
    for (const d of [a, b]) await blocks.put(alice, { sha256: sha256(d), size: d.length, owner: "" }, partsOf(d));
    const absent = sha256(randomBytes(1));
    expect(await blocks.has(alice, [sha256(b), absent, sha256(a), sha256(b)], "")).toEqual([
      { sha256: sha256(b), size: 20 },
      { sha256: sha256(a), size: 10 },
    ]);
    expect(await blocks.has(alice, [], "")).toEqual([]);
    expect(await blocks.delete(gc, [sha256(a), absent, sha256(a)], "alice")).toBe(1);
    expect(await blocks.has(alice, [sha256(a), sha256(b)], "")).toEqual([{ sha256: sha256(b), size: 20 }]);
  });

  it("refuse more than the per-call limit and any invalid hash", async () => {
    const { blocks } = setup();
    const many = Array.from({ length: MAX_HASHES_PER_CALL + 1 }, (_, i) => sha256(Buffer.from(String(i))));
    await expect(blocks.has(alice, many, "")).rejects.toMatchObject({ kind: "invalid-argument" });
    await expect(blocks.delete(gc, many, "alice")).rejects.toMatchObject({ kind: "invalid-argument" });
    expect(await blocks.has(alice, many.slice(1), "")).toEqual([]);
    await expect(blocks.has(alice, [sha256(Buffer.from("x")), "nope"], "")).rejects.toMatchObject({
      kind: "invalid-argument",
      message: expect.stringContaining("sha256s[1]"),
    });
  });
});

describe("BlockService.putStream", () => {
  async function* chunks(...items: Array<{ data: Buffer; sha256?: string; owner?: string; parts?: number }>) {
    for (const item of items) {
      const header = { sha256: item.sha256 ?? sha256(item.data), size: item.data.length, owner: item.owner ?? "" };
      const n = item.parts ?? 1;
      const step = Math.ceil(item.data.length / n);
      yield { header, parts: partsOf(...Array.from({ length: n }, (_, i) => item.data.subarray(i * step, (i + 1) * step))) };
    }
  }

  it("stores every chunk of a stream, counting those it wrote", async () => {
    const { store, blocks } = setup();
    const [a, b] = [randomBytes(3000), randomBytes(5000)];
    await blocks.put(alice, { sha256: sha256(a), size: a.length, owner: "" }, partsOf(a));
    expect(await blocks.putStream(alice, chunks({ data: a }, { data: b, parts: 3 }))).toEqual({ created: 1, stored: 2 });
    expect(store.chunks.get(`${ownerKeyOf("alice")}/${sha256(b)}`)).toEqual(b);
  });

  it("gives a receipt, dated when the stream began, for every chunk it carried in order, under its key only", async () => {
    const store = new MemoryStore();
    const key = new ReceiptKey("s".repeat(32));
    const blocks = new BlockService(store, MAX, new Quarantine(store, new Findings()), undefined, key);
    const [a, b] = [randomBytes(3000), randomBytes(5000)];
    await blocks.put(alice, { sha256: sha256(a), size: a.length, owner: "" }, partsOf(a));
    const before = Date.now();
    const { receipt } = await blocks.putStream(alice, chunks({ data: b, parts: 2 }, { data: a }));
    expect(receipt!.issuedAtMs).toBeGreaterThanOrEqual(before);
    expect(receipt!.issuedAtMs).toBeLessThanOrEqual(Date.now());
    const carried = [
      { sha256: sha256(b), size: b.length },
      { sha256: sha256(a), size: a.length },
    ];
    expect(key.verifies("alice", carried, receipt!)).toBe(true);
    expect(key.verifies("bob", carried, receipt!)).toBe(false);
    expect(key.verifies("alice", [...carried].reverse(), receipt!)).toBe(false);
    // A stream for another owner (a service's) is that owner's receipt.
    const forAlice = (await blocks.putStream(gc, chunks({ data: a, owner: "alice" }))).receipt!;
    expect(key.verifies("alice", [carried[1]!], forAlice)).toBe(true);
  });

  it("gives no receipt without a key, for an empty stream, or for a failed one", async () => {
    const data = randomBytes(100);
    expect((await setup().blocks.putStream(alice, chunks({ data }))).receipt).toBeUndefined();
    const store = new MemoryStore();
    const blocks = new BlockService(store, MAX, new Quarantine(store, new Findings()), undefined, new ReceiptKey("s".repeat(32)));
    expect(await blocks.putStream(alice, chunks())).toEqual({ created: 0, stored: 0 });
    await expect(blocks.putStream(alice, chunks({ data }, { data, sha256: sha256(randomBytes(1)) }))).rejects.toMatchObject({ kind: "invalid-argument" });
  });

  it("keeps the chunks before a bad one, and refuses the bad one", async () => {
    const { store, blocks } = setup();
    const [good, bad] = [randomBytes(100), randomBytes(100)];
    await expect(blocks.putStream(alice, chunks({ data: good }, { data: bad, sha256: sha256(good) }))).rejects.toMatchObject({ kind: "invalid-argument" });
    expect(store.chunks.has(`${ownerKeyOf("alice")}/${sha256(good)}`)).toBe(true);
    expect(store.chunks.size).toBe(1);
  });

  it("releases a chunk's parts once the store has put it, and never those of a chunk it did not put", async () => {
    const store = new MemoryStore();
    const settled: string[] = [];
    const released: Array<{ parts: readonly Buffer[]; afterPut: boolean }> = [];
    const failing = randomBytes(300);
    const put = store.put.bind(store);
    store.put = async (ownerKey, hash, parts) => {
      if (hash === sha256(failing)) throw new Error("store unavailable");
      const wrote = await put(ownerKey, hash, parts);
      settled.push(hash);
      return wrote;
    };
    const blocks = new BlockService(store, MAX, new Quarantine(store, new Findings()), undefined, undefined, (parts) =>
      released.push({ parts, afterPut: parts.length > 0 && settled.includes(sha256(Buffer.concat(parts))) }),
    );
    const [a, b] = [randomBytes(3000), randomBytes(5000)];
    await blocks.putStream(alice, chunks({ data: a }, { data: b, parts: 3 }, { data: a }));
    // The second a was stored already: its parts are released too, nothing read them.
    expect(released.map((r) => Buffer.concat(r.parts))).toEqual([a, b, a]);
    expect(released.every((r) => r.afterPut)).toBe(true);
    released.length = 0;
    await expect(blocks.putStream(alice, chunks({ data: failing }))).rejects.toThrow("store unavailable");
    expect(released).toEqual([]);
  });

  it("refuses a stream that names two owners, and another owner for a user", async () => {
    const { blocks } = setup();
    const data = randomBytes(10);
    await expect(blocks.putStream(gc, chunks({ data, owner: "alice" }, { data, owner: "bob" }))).rejects.toMatchObject({ kind: "invalid-argument" });
    await expect(blocks.putStream(alice, chunks({ data, owner: "bob" }))).rejects.toMatchObject({ kind: "permission-denied" });
  });

  it("never has more writes in flight than allowed, and none left running when it fails", async () => {
    const store = new MemoryStore();
    let inFlight = 0;
    let most = 0;
    const slow: ChunkStore = Object.assign(Object.create(store) as ChunkStore, {
      put: async (ownerKey: string, hash: string, parts: readonly Buffer[]) => {
        most = Math.max(most, ++inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        return store.put(ownerKey, hash, parts);
      },
    });
    const blocks = new BlockService(slow, MAX, new Quarantine(slow, new Findings()), { writesInFlight: 2, readsAhead: 1 });
    const items = Array.from({ length: 8 }, () => ({ data: randomBytes(50) }));
    await blocks.putStream(alice, chunks(...items));
    expect(most).toBe(2);
    await expect(blocks.putStream(alice, chunks(...items.slice(0, 3), { data: randomBytes(5), sha256: sha256(randomBytes(5)) }))).rejects.toBeDefined();
    expect(inFlight).toBe(0);
  });
});

describe("BlockService.readMany", () => {
  it("yields the chunks in request order, verified, repeats included", async () => {
    const { blocks } = setup();
    const [a, b] = [randomBytes(100), randomBytes(200)];
    for (const d of [a, b]) await blocks.put(alice, { sha256: sha256(d), size: d.length, owner: "" }, partsOf(d));
    const got: Buffer[] = [];
    for await (const chunk of blocks.readMany(alice, [sha256(b), sha256(a), sha256(b)], "")) got.push(chunk);
    expect(got).toEqual([b, a, b]);
  });

  it("ends with NOT_FOUND at a chunk the owner does not have, after the ones before it", async () => {
    const { blocks } = setup();
    const a = randomBytes(100);
    await blocks.put(bob, { sha256: sha256(a), size: a.length, owner: "" }, partsOf(a));
    const got: Buffer[] = [];
    const reading = (async () => {
      for await (const chunk of blocks.readMany(alice, [sha256(a)], "")) got.push(chunk);
    })();
    await expect(reading).rejects.toMatchObject({ kind: "not-found" });
    expect(got).toEqual([]);
  });

  it("ends with DATA_LOSS at a corrupted chunk, never yielding its bytes", async () => {
    const { store, blocks } = setup();
    const a = randomBytes(100);
    await blocks.put(alice, { sha256: sha256(a), size: a.length, owner: "" }, partsOf(a));
    store.chunks.get(`${ownerKeyOf("alice")}/${sha256(a)}`)![0]! ^= 1;
    const reading = (async () => {
      for await (const chunk of blocks.readMany(alice, [sha256(a)], "")) void chunk;
    })();
    await expect(reading).rejects.toMatchObject({ kind: "data-loss" });
  });

  it("quarantines the chunk whose read failed with DATA_LOSS, the one the store's iteration was at", async () => {
    const { store } = setup();
    const findings = new Findings();
    const [a, b] = [randomBytes(100), randomBytes(100)];
    for (const d of [a, b]) await store.put(ownerKeyOf("alice"), sha256(d), [d]);
    // Quarantine reads a chunk once more before it moves it: b is bad there too.
    store.chunks.get(`${ownerKeyOf("alice")}/${sha256(b)}`)![0]! ^= 1;
    const failing = Object.assign(Object.create(store) as MemoryStore, {
      async *getMany(ownerKey: string, hashes: readonly string[]): AsyncGenerator<Buffer | undefined> {
        yield store.get(ownerKey, hashes[0]!);
        throw dataLoss("pack shorter than its index says");
      },
    });
    const blocks = new BlockService(failing, MAX, new Quarantine(failing, findings));
    const got: Buffer[] = [];
    const reading = (async () => {
      for await (const chunk of blocks.readMany(alice, [sha256(a), sha256(b)], "")) got.push(chunk);
    })();
    await expect(reading).rejects.toMatchObject({ kind: "data-loss" });
    expect(got).toEqual([a]);
    expect(findings.found).toEqual([{ hash: sha256(b), foundBy: "read" }]);
  });

  it("stops the store's reads when the caller stops taking chunks", async () => {
    const { store } = setup();
    let stopped = false;
    const data = Array.from({ length: 4 }, () => randomBytes(10));
    for (const d of data) await store.put(ownerKeyOf("alice"), sha256(d), [d]);
    const watched = Object.assign(Object.create(store) as MemoryStore, {
      async *getMany(ownerKey: string, hashes: readonly string[]): AsyncGenerator<Buffer | undefined> {
        try {
          for (const hash of hashes) yield store.get(ownerKey, hash);
        } finally {
          stopped = true;
        }
      },
    });
    const blocks = new BlockService(watched, MAX, new Quarantine(watched, new Findings()));
    for await (const chunk of blocks.readMany(alice, data.map(sha256), "")) {
      expect(chunk).toEqual(data[0]);
      break;
    }
    expect(stopped).toBe(true);
  });

  it("refuses more than MAX_HASHES_PER_CALL hashes and malformed ones", async () => {
    const { blocks } = setup();
    const drain = async (hashes: string[]) => {
      for await (const chunk of blocks.readMany(alice, hashes, "")) void chunk;
    };
    await expect(drain(Array.from({ length: MAX_HASHES_PER_CALL + 1 }, () => sha256(randomBytes(4))))).rejects.toMatchObject({ kind: "invalid-argument" });
    await expect(drain(["nope"])).rejects.toMatchObject({ kind: "invalid-argument" });
  });
});
