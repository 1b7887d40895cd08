import { createHash, randomUUID } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { CfsError, unavailable } from "#lib/errors.js";
import type { CallIdentity, ServiceIdentity } from "#lib/grpc-client.js";
import { createLogger } from "#lib/logger.js";
import type { CatalogueInspector, ChunkStorage, InspectedChunk, InspectedVersion } from "../ports/peers.js";
import type { VerificationQueue } from "../ports/verification-queue.js";
import type { ClaimedEvent, EventType, Verification } from "./types.js";
import { retryBackoffMs, sampleIndexes, Verifier, VerificationWorker, type Outcome, type VerificationObserver } from "./verifier.js";

const as: CallIdentity = { token: "service-token", requestId: "run-1" };
const sha = (data: Buffer | string) => createHash("sha256").update(data).digest("hex");
const log = createLogger("verifier-test", "silent");

/** Block storage in memory: owner -> hash -> bytes, counting calls. */
class FakeStorage implements ChunkStorage {
  readonly chunks = new Map<string, Map<string, Buffer>>();
  readonly hasBatches: string[][] = [];
  readonly reads: string[] = [];
  /** Hashes whose read block storage refuses with DATA_LOSS. */
  readonly dataLoss = new Set<string>();
  failWith: Error | undefined;

  put(owner: string, data: Buffer, as?: string): string {
    const hash = as ?? sha(data);
    if (!this.chunks.has(owner)) this.chunks.set(owner, new Map());
    this.chunks.get(owner)!.set(hash, data);
    return hash;
  }

  async storedSizes(owner: string, hashes: readonly string[]): Promise<Map<string, number>> {
    if (this.failWith) throw this.failWith;
    expect(hashes.length).toBeLessThanOrEqual(1000);
    this.hasBatches.push([...hashes]);
    const mine = this.chunks.get(owner) ?? new Map<string, Buffer>();
    return new Map(hashes.filter((h) => mine.has(h)).map((h) => [h, mine.get(h)!.length]));
  }

  async read(owner: string, sha256: string, maxBytes: number): Promise<Buffer | undefined> {
    if (this.failWith) throw this.failWith;
    this.reads.push(sha256);
    if (this.dataLoss.has(sha256)) throw new CfsError("data-loss", `block storage ReadChunks: chunk ${sha256} does not match its hash`);
    const data = this.chunks.get(owner)?.get(sha256);
    return data?.subarray(0, maxBytes);
  }
}

/** The metadata service in memory: owner/fileId -> versions. */
class FakeCatalogue implements CatalogueInspector {
  readonly files = new Map<string, InspectedVersion[]>();
  readonly referenced = new Set<string>();
  readonly queued = new Set<string>();
  readonly referenceBatches: string[][] = [];
  inspections = 0;
  /** Runs after each inspection (to delete the file "meanwhile"). */
  afterInspect: (() => void) | undefined;

  add(owner: string, fileId: string, version: InspectedVersion): void {
    const key = `${owner}/${fileId}`;
    this.files.set(key, [...(this.files.get(key) ?? []), version]);
  }

  async inspectFileVersion(owner: string, fileId: string, version: number): Promise<InspectedVersion | undefined> {
    this.inspections += 1;
    const versions = this.files.get(`${owner}/${fileId}`) ?? [];
    const found = version === 0 ? versions.at(-1) : versions.find((v) => v.version === version);
    this.afterInspect?.();
    return found && { ...found, currentVersion: versions.at(-1)!.version };
  }

  async chunkReferences(_owner: string, hashes: readonly string[]) {
    expect(hashes.length).toBeLessThanOrEqual(1000);
    this.referenceBatches.push([...hashes]);
    return { referenced: new Set(hashes.filter((h) => this.referenced.has(h))), queued: new Set(hashes.filter((h) => this.queued.has(h))) };
  }
}

/** Stores `parts` as chunks of `owner` and describes the version they make up. */
function storedVersion(storage: FakeStorage, owner: string, parts: Buffer[], version = 1): InspectedVersion {
  let offset = 0;
  const chunks: InspectedChunk[] = parts.map((data, index) => {
    const chunk = { index, sha256: storage.put(owner, data), size: data.length, offset };
    offset += data.length;
    return chunk;
  });
  return { currentVersion: version, version, size: offset, sha256: sha(Buffer.concat(parts)), numChunks: chunks.length, chunks };
}

let seq = 0;
function claimed(overrides: Partial<ClaimedEvent> = {}): ClaimedEvent {
  const now = new Date();
  return {
    seq: ++seq,
    eventId: randomUUID(),
    fileId: randomUUID(),
    owner: "alice",
    eventType: "upload",
    status: "processing",
    attempts: 1,
    errorMessage: "",
    name: "a.bin",
    version: 1,
    size: 0,
    sha256: sha(""),
    createdAt: now,
    updatedAt: now,
    chunkSha256s: [],
    ...overrides,
  };
}

function setup(options: { sampleChunks?: number; laterDeletes?: string[] } = {}) {
  const storage = new FakeStorage();
  const catalogue = new FakeCatalogue();
  const laterDeletes = new Set(options.laterDeletes ?? []);
  const history = { hasLaterDelete: vi.fn(async (_owner: string, fileId: string) => laterDeletes.has(fileId)) };
  const verifier = new Verifier(catalogue, storage, history, { sampleChunks: options.sampleChunks ?? 2, random: () => 0.99 });
  /** An upload event for a stored file of the given chunks. */
  const upload = (parts: Buffer[], overrides: Partial<ClaimedEvent> = {}) => {
    const v = storedVersion(storage, "alice", parts, overrides.version ?? 1);
    const event = claimed({ size: v.size, sha256: v.sha256, ...overrides });
    catalogue.add("alice", event.fileId, v);
    return { event, version: v };
  };
  return { storage, catalogue, history, verifier, laterDeletes, upload };
}

const parts = (...sizes: number[]) => sizes.map((size, i) => Buffer.alloc(size, i + 1));

function expectInconsistent(outcome: Outcome, message: RegExp | string) {
  expect(outcome.kind).toBe("inconsistent");
  if (outcome.kind === "completed") return;
  if (typeof message === "string") expect(outcome.message).toBe(message);
  else expect(outcome.message).toMatch(message);
  expect(outcome.result.syncStatus).toBe("inconsistent");
  expect(outcome.result.action).toBe("");
}

describe("Verifier: uploads and updates", () => {
  it("completes an upload whose version and chunks all check out, re-hashing a sample of first + random", async () => {
    const { verifier, upload, storage } = setup();
    const { event, version } = upload(parts(10, 10, 10, 5));
    const outcome = await verifier.verify(event, as);
    expect(outcome).toEqual({
      kind: "completed",
      result: { syncStatus: "synchronized", chunksVerified: 4, totalChunks: 4, action: "upload_synchronized", chunksRehashed: 2 },
    });
    // random() = 0.99 picks the last of the others.
    expect(storage.reads).toEqual([version.chunks[0]!.sha256, version.chunks[3]!.sha256]);
  });

  it("calls an update's result update_synchronized and verifies the event's own version", async () => {
    const { verifier, upload, catalogue } = setup();
    const { event } = upload(parts(3), { eventType: "update", version: 1 });
    // A newer version exists: the event's version 1 is what gets checked.
    catalogue.add("alice", event.fileId, { currentVersion: 2, version: 2, size: 0, sha256: sha(""), numChunks: 0, chunks: [] });
    const outcome = await verifier.verify(event, as);
    expect(outcome).toMatchObject({ kind: "completed", result: { action: "update_synchronized", chunksVerified: 1, totalChunks: 1, chunksRehashed: 1 } });
  });

  it("completes an empty file with no chunks and nothing to read", async () => {
    const { verifier, upload, storage } = setup();
    const { event } = upload([]);
    expect(await verifier.verify(event, as)).toMatchObject({ kind: "completed", result: { chunksVerified: 0, totalChunks: 0, chunksRehashed: 0 } });
    expect(storage.reads).toEqual([]);
  });

  it("asks block storage in batches of at most 1000 distinct hashes and downloads only the sample", async () => {
    const { verifier, upload, storage } = setup({ sampleChunks: 3 });
    const many = Array.from({ length: 2500 }, (_, i) => Buffer.from(`chunk-${i}`));
    many.push(many[0]!); // a repeated chunk is asked for once
    const { event } = upload(many);
    const outcome = await verifier.verify(event, as);
    expect(outcome).toMatchObject({ kind: "completed", result: { chunksVerified: 2501, totalChunks: 2501, chunksRehashed: 3 } });
    expect(storage.hasBatches.map((b) => b.length)).toEqual([1000, 1000, 500]);
    expect(storage.reads).toHaveLength(3);
  });

  it("downloads nothing when sampling is disabled", async () => {
    const { verifier, upload, storage } = setup({ sampleChunks: 0 });
    const { event } = upload(parts(4, 4));
    expect(await verifier.verify(event, as)).toMatchObject({ kind: "completed", result: { chunksRehashed: 0, chunksVerified: 2 } });
    expect(storage.reads).toEqual([]);
  });

  it("fails naming the chunk missing from block storage, counting the chunks that are there", async () => {
    const { verifier, upload, storage } = setup();
    const { event, version } = upload(parts(10, 10, 10, 10));
    const lost = version.chunks[3]!;
    storage.chunks.get("alice")!.delete(lost.sha256);
    const outcome = await verifier.verify(event, as);
    expectInconsistent(outcome, `chunk 3 (sha256 ${lost.sha256}) missing from block storage`);
    expect(outcome.result).toMatchObject({ chunksVerified: 3, totalChunks: 4 });
  });

  it("says how many more chunks are wrong than the one it names", async () => {
    const { verifier, upload, storage } = setup();
    const { event, version } = upload(parts(10, 11, 12));
    storage.chunks.get("alice")!.delete(version.chunks[1]!.sha256);
    storage.chunks.get("alice")!.delete(version.chunks[2]!.sha256);
    expectInconsistent(await verifier.verify(event, as), /^chunk 1 \(sha256 [0-9a-f]{64}\) missing from block storage \(and 1 more\)$/);
  });

  it("fails on a chunk stored with another size", async () => {
    const { verifier, upload, storage } = setup();
    const { event, version } = upload(parts(10, 10, 10));
    storage.put("alice", Buffer.alloc(9), version.chunks[1]!.sha256);
    expectInconsistent(await verifier.verify(event, as), /^chunk 1 \(sha256 [0-9a-f]{64}\) is stored with 9 bytes, expected 10$/);
  });

  it("verifies a file whose every chunk is in the sample by reading them alone, without asking for sizes first", async () => {
    const { verifier, upload, storage } = setup({ sampleChunks: 2 });
    const { event, version } = upload(parts(10, 10));
    expect(await verifier.verify(event, as)).toMatchObject({ kind: "completed", result: { chunksVerified: 2, totalChunks: 2, chunksRehashed: 2 } });
    expect(storage.hasBatches).toEqual([]);
    expect(storage.reads).toHaveLength(2);

    // What the size check would have found, the reads find.
    storage.chunks.get("alice")!.delete(version.chunks[1]!.sha256);
    const missing = await verifier.verify(event, as);
    expectInconsistent(missing, `chunk 1 (sha256 ${version.chunks[1]!.sha256}) missing from block storage`);
    expect(missing.result).toMatchObject({ chunksVerified: 1, totalChunks: 2 });
    storage.put("alice", Buffer.alloc(9), version.chunks[1]!.sha256);
    expectInconsistent(await verifier.verify(event, as), /^chunk 1 \(sha256 [0-9a-f]{64}\) re-hashed to sha256 [0-9a-f]{64} \(9 bytes\)$/);
  });

  it("fails when a sampled chunk re-hashes to something else, or block storage reports it corrupt", async () => {
    const { verifier, upload, storage } = setup({ sampleChunks: 1 });
    const { event, version } = upload(parts(8, 8));
    const first = version.chunks[0]!;
    storage.put("alice", Buffer.alloc(8, 0xff), first.sha256);
    expectInconsistent(await verifier.verify(event, as), new RegExp(`^chunk 0 \\(sha256 ${first.sha256}\\) re-hashed to sha256 ${sha(Buffer.alloc(8, 0xff))}`));

    storage.dataLoss.add(first.sha256);
    expectInconsistent(await verifier.verify(event, as), /^chunk 0 \(sha256 [0-9a-f]{64}\) is corrupt in block storage: .*does not match its hash/);
  });

  it.each([
    ["a gap in the offsets", (v: InspectedVersion) => (v.chunks[1]!.offset += 1), /chunk 1 \(sha256 [0-9a-f]{64}\) starts at offset 11, expected 10/],
    ["a missing index", (v: InspectedVersion) => v.chunks.splice(1, 1), /lists 2 chunks but records 3/],
    [
      "indexes out of order",
      (v: InspectedVersion) => {
        v.chunks[1]!.index = 2;
      },
      /position 1 holds chunk index 2/,
    ],
    [
      "sizes not adding up to the version",
      (v: InspectedVersion) => {
        v.size += 1;
      },
      /metadata has version 1 with 31 bytes/,
    ],
  ])("fails on a chunk list with %s", async (_, damage, message) => {
    const { verifier, upload } = setup();
    const { event, version } = upload(parts(10, 10, 10));
    damage(version);
    expectInconsistent(await verifier.verify(event, as), message);
  });

  it("fails when the chunk sizes do not add up to the version's size", async () => {
    const { verifier, upload } = setup();
    const { event, version } = upload(parts(10, 10));
    version.chunks[1]!.size = 9;
    version.size = 20;
    expectInconsistent(await verifier.verify(event, as), /the chunk sizes add up to 19 bytes, but version 1 has 20/);
  });

  it("fails when metadata's version is not the content the event describes", async () => {
    const { verifier, upload } = setup();
    const { event } = upload(parts(5), { sha256: sha("something else") });
    expectInconsistent(await verifier.verify(event, as), /metadata has version 1 with 5 bytes and sha256 [0-9a-f]{64}, the event says 5 bytes and sha256/);
  });

  it("completes as superseded when the file is gone and a later delete of it is recorded", async () => {
    const { verifier, history, laterDeletes } = setup();
    const event = claimed();
    laterDeletes.add(event.fileId);
    expect(await verifier.verify(event, as)).toEqual({
      kind: "completed",
      result: { syncStatus: "synchronized", chunksVerified: 0, totalChunks: 0, action: "superseded", chunksRehashed: 0 },
    });
    expect(history.hasLaterDelete).toHaveBeenCalledWith("alice", event.fileId, event.seq);
  });

  it("leaves a missing version unsettled (retried) while no later delete explains it", async () => {
    const { verifier } = setup();
    const outcome = await verifier.verify(claimed({ version: 3 }), as);
    expect(outcome).toMatchObject({ kind: "unsettled", result: { syncStatus: "inconsistent" } });
    expect(outcome.kind !== "completed" && outcome.message).toBe("version 3 of the file is not in metadata, and no later delete of it is recorded");
  });

  it("does not blame block storage for chunks collected after the file was deleted meanwhile", async () => {
    const { verifier, upload, storage, catalogue, laterDeletes } = setup();
    const { event, version } = upload(parts(10, 10));
    storage.chunks.get("alice")!.delete(version.chunks[0]!.sha256);
    // The delete lands between the first inspection and the re-check.
    catalogue.afterInspect = () => {
      catalogue.files.clear();
      laterDeletes.add(event.fileId);
    };
    expect(await verifier.verify(event, as)).toMatchObject({ kind: "completed", result: { action: "superseded" } });
    expect(catalogue.inspections).toBe(2);
  });

  it("verifies move, restore, trash and undelete events as the content of their version", async () => {
    for (const eventType of ["move", "restore", "trash", "undelete"] as const) {
      const { verifier, upload } = setup();
      const { event } = upload(parts(4, 4), { eventType });
      expect(await verifier.verify(event, as)).toMatchObject({ kind: "completed", result: { action: `${eventType}_synchronized`, chunksVerified: 2 } });
    }
  });

  it("calls a version the retention pruned superseded when a newer one exists", async () => {
    const { verifier, catalogue } = setup();
    const event = claimed({ version: 1, size: 3, sha256: sha("abc") });
    catalogue.add("alice", event.fileId, { currentVersion: 5, version: 5, size: 0, sha256: sha(""), numChunks: 0, chunks: [] });
    expect(await verifier.verify(event, as)).toMatchObject({ kind: "completed", result: { action: "superseded" } });
    const unknown = claimed({ version: 1, size: 3, sha256: sha("abc") });
    expect((await verifier.verify(unknown, as)).kind).toBe("unsettled");
  });

  it("lets errors reaching a peer through, for the worker to retry", async () => {
    const { verifier, upload, storage } = setup();
    storage.failWith = unavailable("block storage: connection refused");
    // Asking for sizes (more chunks than the sample) and reading every chunk (fewer).
    await expect(verifier.verify(upload(parts(1, 1, 1)).event, as)).rejects.toThrow(/connection refused/);
    await expect(verifier.verify(upload(parts(1)).event, as)).rejects.toThrow(/connection refused/);
  });
});

describe("Verifier: damage reports", () => {
  it("fails a report while a chunk of the version is quarantined, naming the file and the chunk", async () => {
    const { verifier, upload, storage } = setup();
    const { event, version } = upload(parts(10, 20), { eventType: "damaged", name: "photos/cat.jpg", version: 1 });
    storage.chunks.get("alice")!.delete(version.chunks[1]!.sha256);
    expectInconsistent(
      await verifier.verify(event, as),
      `file "photos/cat.jpg" is damaged (version 1): chunk 1 (sha256 ${version.chunks[1]!.sha256}) missing from block storage; upload its content again to heal it`,
    );
  });

  it("names the file when a sampled chunk reads corrupt too, and shows a deceptive name escaped", async () => {
    const { verifier, upload, storage } = setup();
    const { event, version } = upload(parts(10), { eventType: "damaged", name: "invoice\u202Efdp.exe" });
    storage.dataLoss.add(version.chunks[0]!.sha256);
    expectInconsistent(await verifier.verify(event, as), /^file "invoice\\u\{202E\}fdp\.exe" is damaged \(version 1\): chunk 0 .* is corrupt in block storage/);
  });

  it("completes a report as healed when the version is whole again, and as superseded once the file is gone", async () => {
    const { verifier, upload, laterDeletes } = setup();
    const { event } = upload(parts(10, 20), { eventType: "damaged" });
    expect(await verifier.verify(event, as)).toMatchObject({ kind: "completed", result: { action: "healed", chunksVerified: 2 } });
    const gone = claimed({ eventType: "damaged" });
    laterDeletes.add(gone.fileId);
    expect(await verifier.verify(gone, as)).toMatchObject({ kind: "completed", result: { action: "superseded" } });
  });
});

describe("Verifier: deletes", () => {
  it("completes a purge (no chunk list: bounded) once the file is gone from metadata", async () => {
    const { verifier, catalogue, upload } = setup();
    const purged = claimed({ eventType: "purge", version: 3 });
    expect(await verifier.verify(purged, as)).toMatchObject({ kind: "completed", result: { action: "purge_synchronized", totalChunks: 0 } });
    const { event } = upload(parts(2));
    expect((await verifier.verify({ ...purged, fileId: event.fileId }, as)).kind).toBe("inconsistent");
    expect(catalogue.inspections).toBeGreaterThan(0);
  });

  function deleted(hashes: string[]) {
    return claimed({ eventType: "delete", version: 2, chunkSha256s: hashes });
  }

  it("completes when the file is gone and each chunk is referenced elsewhere, queued, or absent", async () => {
    const { verifier, storage, catalogue } = setup();
    const shared = storage.put("alice", Buffer.from("shared"));
    const queued = storage.put("alice", Buffer.from("queued"));
    const collected = sha("collected");
    catalogue.referenced.add(shared);
    catalogue.queued.add(queued);
    const outcome = await verifier.verify(deleted([shared, queued, collected, shared]), as);
    expect(outcome).toEqual({
      kind: "completed",
      result: { syncStatus: "synchronized", chunksVerified: 3, totalChunks: 3, action: "delete_synchronized", chunksRehashed: 0 },
    });
  });

  it("completes a delete without chunk hashes (an empty file) on the metadata check alone", async () => {
    const { verifier, storage } = setup();
    expect(await verifier.verify(deleted([]), as)).toMatchObject({ kind: "completed", result: { totalChunks: 0, action: "delete_synchronized" } });
    expect(storage.hasBatches).toEqual([]);
  });

  it("fails when metadata still has the file", async () => {
    const { verifier, catalogue } = setup();
    const event = deleted([sha("x")]);
    catalogue.add("alice", event.fileId, { currentVersion: 2, version: 2, size: 0, sha256: sha(""), numChunks: 0, chunks: [] });
    expectInconsistent(await verifier.verify(event, as), "file still present in metadata (version 2)");
  });

  it("leaves a chunk that is stored but neither referenced nor queued unsettled, naming it", async () => {
    const { verifier, storage } = setup();
    const orphan = storage.put("alice", Buffer.from("orphan"));
    const outcome = await verifier.verify(deleted([sha("gone"), orphan]), as);
    expect(outcome).toMatchObject({ kind: "unsettled", result: { syncStatus: "inconsistent", chunksVerified: 1, totalChunks: 2 } });
    expect(outcome.kind !== "completed" && outcome.message).toBe(
      `chunk sha256 ${orphan} is still in block storage, but no file references it and it is not queued for collection`,
    );
  });

  it("asks metadata and block storage in batches of at most 1000", async () => {
    const { verifier, storage, catalogue } = setup();
    const hashes = Array.from({ length: 1500 }, (_, i) => sha(`d${i}`));
    await verifier.verify(deleted(hashes), as);
    expect(catalogue.referenceBatches.map((b) => b.length)).toEqual([1000, 500]);
    expect(storage.hasBatches.map((b) => b.length)).toEqual([1000, 500]);
  });
});

describe("sampleIndexes", () => {
  it("takes chunk 0 and distinct random others, never more than there are", () => {
    let r = 0;
    const random = () => (r = (r + 0.37) % 1);
    for (const [n, k] of [
      [0, 2],
      [1, 2],
      [2, 2],
      [10, 2],
      [10, 10],
      [10, 50],
      [5, 0],
    ] as const) {
      const picked = sampleIndexes(n, k, random);
      expect(picked).toHaveLength(Math.min(n, k));
      if (picked.length > 0) expect(picked[0]).toBe(0);
      expect(new Set(picked).size).toBe(picked.length);
      expect(picked.every((i) => i >= 0 && i < n)).toBe(true);
    }
  });
});

/** The queue port's contract in memory: transitions out of processing happen only from processing. */
class MemoryQueue implements VerificationQueue {
  readonly events = new Map<number, ClaimedEvent & { nextAttemptAt: number }>();
  readonly log: string[] = [];

  add(event: ClaimedEvent): void {
    this.events.set(event.seq, { ...event, status: "pending", attempts: 0, nextAttemptAt: 0 });
  }

  async recoverInterrupted(maxAttempts: number, message: string) {
    let requeued = 0;
    const failed: EventType[] = [];
    for (const e of this.events.values()) {
      if (e.status !== "processing") continue;
      if (e.attempts >= maxAttempts) {
        Object.assign(e, { status: "failed", errorMessage: message });
        failed.push(e.eventType);
      } else {
        Object.assign(e, { status: "pending", nextAttemptAt: 0 });
        requeued += 1;
      }
    }
    return { requeued, failed };
  }

  async claimDue(now: Date, limit: number): Promise<ClaimedEvent[]> {
    const due = [...this.events.values()]
      .filter((e) => e.status === "pending" && e.nextAttemptAt <= now.getTime())
      .sort((a, b) => a.seq - b.seq)
      .slice(0, limit);
    for (const e of due) Object.assign(e, { status: "processing", attempts: e.attempts + 1 });
    return due.map((e) => ({ ...e }));
  }

  private leave(seq: number, change: Partial<ClaimedEvent & { nextAttemptAt: number }>, what: string): boolean {
    const e = this.events.get(seq);
    if (e?.status !== "processing") return false;
    Object.assign(e, change);
    this.log.push(`${what} ${seq}`);
    return true;
  }

  async complete(seq: number, verification: Verification) {
    return this.leave(seq, { status: "completed", errorMessage: "", verification }, "complete");
  }

  async fail(seq: number, message: string, verification: Verification | undefined) {
    return this.leave(seq, { status: "failed", errorMessage: message, verification }, "fail");
  }

  async retryLater(seq: number, message: string, nextAttemptAt: Date) {
    return this.leave(seq, { status: "pending", errorMessage: message, nextAttemptAt: nextAttemptAt.getTime() }, "retry");
  }

  async hasLaterDelete(): Promise<boolean> {
    return false;
  }
}

function recordingObserver() {
  const calls: string[] = [];
  const observer: VerificationObserver = {
    completed: (type, action) => calls.push(`completed ${type} ${action}`),
    failed: (type, reason) => calls.push(`failed ${type} ${reason}`),
    retried: (type) => calls.push(`retried ${type}`),
  };
  return { observer, calls };
}

describe("VerificationWorker", () => {
  const options = { concurrency: 2, maxAttempts: 3, retryBaseMs: 1000, maxBackoffMs: 60_000 };
  const signal = new AbortController().signal;
  const NOW = new Date("2030-01-01T00:00:00Z");

  function worker(verify: (event: ClaimedEvent) => Promise<Outcome>, identity: ServiceIdentity = async () => as) {
    const queue = new MemoryQueue();
    const { observer, calls } = recordingObserver();
    let clock = NOW.getTime();
    const verifier = { verify: vi.fn(verify) } as unknown as Verifier;
    const w = new VerificationWorker(queue, verifier, identity, observer, log, options, () => new Date(clock));
    return { queue, calls, w, verifier, advance: (ms: number) => (clock += ms) };
  }
  const completed: Outcome = {
    kind: "completed",
    result: { syncStatus: "synchronized", chunksVerified: 1, totalChunks: 1, action: "upload_synchronized", chunksRehashed: 1 },
  };

  it("claims the oldest due events, verifies them and completes each exactly once", async () => {
    const { queue, calls, w } = worker(async () => completed);
    const events = [claimed(), claimed(), claimed()];
    events.forEach((e) => queue.add(e));
    expect(await w.runOnce(signal)).toBe(true); // a full batch: more may wait
    expect(await w.runOnce(signal)).toBe(false);
    expect(await w.runOnce(signal)).toBe(false);
    expect(queue.log).toEqual(events.map((e) => `complete ${e.seq}`));
    expect([...queue.events.values()].map((e) => [e.status, e.attempts, e.verification?.verifiedAt])).toEqual(
      events.map(() => ["completed", 1, NOW]),
    );
    expect(calls).toEqual(events.map(() => "completed upload upload_synchronized"));
  });

  it("fails an event on an inconsistency at once, with the message and the result", async () => {
    const { queue, calls, w } = worker(async () => ({
      kind: "inconsistent",
      message: "chunk 3 (sha256 ab) missing from block storage",
      result: { syncStatus: "inconsistent", chunksVerified: 3, totalChunks: 4, action: "", chunksRehashed: 0 },
    }));
    const event = claimed();
    queue.add(event);
    await w.runOnce(signal);
    expect(queue.events.get(event.seq)).toMatchObject({
      status: "failed",
      attempts: 1,
      errorMessage: "chunk 3 (sha256 ab) missing from block storage",
      verification: { syncStatus: "inconsistent", chunksVerified: 3, totalChunks: 4, verifiedAt: NOW },
    });
    expect(calls).toEqual(["failed upload inconsistent"]);
  });

  it("retries transient errors with exponential backoff, then fails with the last error", async () => {
    let n = 0;
    const { queue, calls, w, advance } = worker(async () => {
      throw unavailable(`metadata InspectFileVersion: connection refused #${++n}`);
    });
    const event = claimed();
    queue.add(event);
    await w.runOnce(signal);
    expect(queue.events.get(event.seq)).toMatchObject({ status: "pending", attempts: 1, nextAttemptAt: NOW.getTime() + 1000 });
    expect(queue.events.get(event.seq)!.errorMessage).toMatch(/connection refused #1/);
    // Not due yet: nothing is claimed.
    expect(await w.runOnce(signal)).toBe(false);
    advance(1000);
    await w.runOnce(signal);
    expect(queue.events.get(event.seq)).toMatchObject({ status: "pending", attempts: 2, nextAttemptAt: NOW.getTime() + 1000 + 2000 });
    advance(2000);
    await w.runOnce(signal);
    expect(queue.events.get(event.seq)).toMatchObject({
      status: "failed",
      attempts: 3,
      errorMessage: "metadata InspectFileVersion: connection refused #3 (gave up after 3 attempts)",
      verification: undefined,
    });
    expect(calls).toEqual(["retried upload", "retried upload", "failed upload retries_exhausted"]);
  });

  it("retries an unsettled finding and fails it as an inconsistency if it persists", async () => {
    const { queue, calls, w, advance } = worker(async () => ({
      kind: "unsettled",
      message: "chunk sha256 ab is still in block storage, but no file references it and it is not queued for collection",
      result: { syncStatus: "inconsistent", chunksVerified: 1, totalChunks: 2, action: "", chunksRehashed: 0 },
    }));
    const event = claimed({ eventType: "delete" });
    queue.add(event);
    for (let i = 0; i < 3; i++) {
      await w.runOnce(signal);
      advance(60_000);
    }
    expect(queue.events.get(event.seq)).toMatchObject({ status: "failed", attempts: 3, verification: { syncStatus: "inconsistent", totalChunks: 2 } });
    expect(queue.events.get(event.seq)!.errorMessage).toMatch(/not queued for collection \(gave up after 3 attempts\)$/);
    expect(calls).toEqual(["retried delete", "retried delete", "failed delete inconsistent"]);
  });

  it("passes its signal to the calls, and an event whose calls stopping cancelled is due again at once, not retried with backoff", async () => {
    const stopping = new AbortController();
    let seen: AbortSignal | undefined;
    const { queue, calls, w } = worker(
      // A peer that never answers: only the cancellation ends the call.
      () =>
        new Promise<Outcome>((_, reject) => {
          seen?.addEventListener("abort", () => reject(new Error("InspectFileVersion: call cancelled")), { once: true });
          stopping.abort();
        }),
      async (signal) => {
        seen = signal;
        return { ...as, signal };
      },
    );
    const event = claimed();
    queue.add(event);
    expect(await w.runOnce(stopping.signal)).toBe(false);
    expect(seen).toBe(stopping.signal);
    expect(queue.events.get(event.seq)).toMatchObject({
      status: "pending",
      attempts: 1,
      nextAttemptAt: NOW.getTime(),
      errorMessage: "verification was interrupted (the sync service stopped during it)",
    });
    expect(calls).toEqual([]);
  });

  it("claims nothing while the service identity is unavailable", async () => {
    const { queue, w, verifier } = worker(
      async () => completed,
      async () => Promise.reject(new Error("service token request failed: HTTP 503")),
    );
    const event = claimed();
    queue.add(event);
    await expect(w.runOnce(signal)).rejects.toThrow(/HTTP 503/);
    expect(queue.events.get(event.seq)).toMatchObject({ status: "pending", attempts: 0 });
    expect(verifier.verify).not.toHaveBeenCalled();
  });

  it("takes events a crashed run left processing again, and fails those interrupted too often", async () => {
    const { queue, calls, w } = worker(async () => completed);
    const interrupted = claimed();
    const crashLoop = claimed({ eventType: "delete" });
    queue.add(interrupted);
    queue.add(crashLoop);
    Object.assign(queue.events.get(interrupted.seq)!, { status: "processing", attempts: 1 });
    Object.assign(queue.events.get(crashLoop.seq)!, { status: "processing", attempts: 3 });
    await w.recover();
    expect(queue.events.get(crashLoop.seq)).toMatchObject({ status: "failed" });
    expect(queue.events.get(crashLoop.seq)!.errorMessage).toMatch(/interrupted 3 times/);
    await w.runOnce(signal);
    expect(queue.events.get(interrupted.seq)).toMatchObject({ status: "completed", attempts: 2 });
    expect(calls).toEqual(["failed delete interrupted", "completed upload upload_synchronized"]);
  });

  it("stops claiming once aborted", async () => {
    const { queue, w } = worker(async () => completed);
    queue.add(claimed());
    const aborted = new AbortController();
    aborted.abort();
    expect(await w.runOnce(aborted.signal)).toBe(false);
    expect([...queue.events.values()][0]!.status).toBe("pending");
  });
});

describe("retryBackoffMs", () => {
  it("doubles from the base per failed attempt up to the cap", () => {
    const o = { retryBaseMs: 1000, maxBackoffMs: 10_000 };
    expect([1, 2, 3, 4, 5, 100].map((n) => retryBackoffMs(o, n))).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
  });
});
