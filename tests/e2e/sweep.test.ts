import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type RunningStack } from "../../dev/stack.js";
import { chunksOf } from "../support/chunks.js";
import { auth, call, clientsFor, download, upload, type Clients } from "../support/clients.js";
import { waitFor } from "../support/net.js";

// The sweep (checklists 33 and 39): chunks nothing refers to are deleted once
// older than the grace period; a chunk of a file, of an upload session in
// flight, or stored within the grace period is never touched.
const GRACE_SECONDS = 4;
let stack: RunningStack;
let dataDir: string;
let c: Clients;
let alice: string;
let carol: string;
const MiB = 1024 * 1024;
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "cfs-sweep-"));
  stack = await startStack({
    dataDir,
    defaultPorts: false,
    logs: "files",
    env: { CFS_GC_GRACE_SECONDS: String(GRACE_SECONDS), CFS_GC_SWEEP_INTERVAL_SECONDS: "1" },
  });
  c = clientsFor(stack.addresses);
  alice = await stack.issuer!.userToken("alice");
  carol = await stack.issuer!.userToken("carol");
});

afterAll(async () => {
  c?.close();
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

/** Stores chunks in block storage as the user, outside any upload: what a killed upload leaves. */
function storeLoose(token: string, parts: Buffer[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const stream = c.blocks.putChunks(auth(token), (err) => (err ? reject(err) : resolve()));
    for (const part of parts) {
      stream.write({ payload: { $case: "header", value: { sha256: sha256(part), size: part.length, owner: "" } } });
      stream.write({ payload: { $case: "data", value: part } });
    }
    stream.end();
  });
}

async function present(token: string, parts: Buffer[]): Promise<number> {
  return (await call(c.blocks.hasChunks, c.blocks, { sha256s: parts.map(sha256), owner: "" }, token)).present.length;
}

async function metric(prefix: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${stack.metricsPorts.metadata}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(prefix));
  return Number(line?.split(" ").pop() ?? 0);
}
const sweptChunks = () => metric('cfs_gc_swept_chunks_total{dry_run="false"');

describe("sweep", () => {
  it("deletes orphans older than the grace period and nothing a file, a session in flight or a young upload refers to", async () => {
    // A file whose chunks an orphan-looking upload of the same user shares.
    const kept = randomBytes(3 * MiB);
    const file = await upload(c, alice, kept, { name: "kept.bin" });
    // A session in flight: its chunk list is declared, half its chunks are stored.
    const inFlight = randomBytes(3 * MiB);
    const chunks = chunksOf(inFlight);
    const started = await call(
      c.chunker.startUpload,
      c.chunker,
      { name: "in-flight.bin", contentType: "", size: inFlight.length, sha256: sha256(inFlight), chunkCount: chunks.length, chunks: chunks.map(({ sha256: h, size }) => ({ sha256: h, size })) },
      alice,
    );
    const sessionParts = chunks.map((k) => inFlight.subarray(k.offset, k.offset + k.size));
    await storeLoose(alice, sessionParts.slice(0, 1));
    // Orphans: alice's, and those of carol, of whom the catalogue knows nothing.
    const orphans = [randomBytes(200_000), randomBytes(300_000)];
    const carolOrphans = [randomBytes(100_000)];
    await storeLoose(alice, orphans);
    await storeLoose(carol, carolOrphans);
    const before = await sweptChunks();

    await waitFor(async () => (await present(alice, orphans)) === 0 && (await present(carol, carolOrphans)) === 0, 60_000, "the orphans swept");
    expect(await sweptChunks()).toBeGreaterThanOrEqual(before + 3);
    // A young orphan, stored after: still there (younger than the grace period) while sweeps run.
    const young = [randomBytes(50_000)];
    await storeLoose(alice, young);
    const storedAt = Date.now() / 1000;
    await waitFor(async () => (await metric("cfs_gc_sweep_last_completed_timestamp_seconds")) > storedAt, 10_000, "a whole sweep after it");
    expect(await present(alice, young)).toBe(1);

    // What is referenced stayed: the file downloads, the session finishes and downloads.
    expect((await download(c, alice, file.fileId)).data.equals(kept)).toBe(true);
    await storeLoose(alice, sessionParts.slice(1));
    const { file: finished } = await call(c.chunker.finishUpload, c.chunker, { uploadId: started.upload!.uploadId }, alice);
    expect((await download(c, alice, finished!.fileId)).data.equals(inFlight)).toBe(true);
    // And the young orphan goes once it is old enough.
    await waitFor(async () => (await present(alice, young)) === 0, 60_000, "the young orphan swept once past the grace period");
  });
});
