import { execFile, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type RunningStack } from "../../dev/stack.js";
import { chunksOf } from "../support/chunks.js";
import { auth, call, clientsFor, download, expectStatus, upload, type Clients } from "../support/clients.js";
import { createTestDatabase } from "../support/postgres.js";
import { waitFor } from "../support/net.js";

// Only the bytes that changed travel (issue 9), end to end over real
// processes: the CLI over gRPC, raw REST sessions through the edge, a
// restarted chunker, a killed client. "Bytes on the wire" is what the
// chunker's own metrics say it received.
const CFS = fileURLToPath(new URL("../../cli/bin/cfs", import.meta.url));
const MiB = 1024 * 1024;
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

let stack: RunningStack;
let db: { url: string; drop: () => Promise<void> };
let dir: string;
let c: Clients;
let token: string;
let env: NodeJS.ProcessEnv;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cfs(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(CFS, args, { cwd: dir, env: { ...env, ...extraEnv }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** Content bytes the chunker received in upload messages so far (PutChunks and UploadFile). */
async function bytesReceived(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${stack.metricsPorts.chunker}/metrics`)).text();
  let total = 0;
  for (const line of text.split("\n")) {
    const m = /^cfs_grpc_server_received_bytes_total\{[^}]*method="ChunkerService\/(PutChunks|UploadFile|UploadFileContent)"[^}]*\} (\d+)/.exec(line);
    if (m) total += Number(m[2]);
  }
  return total;
}

/** The bytes `work` made travel into the chunker. */
async function wire(work: () => Promise<unknown>): Promise<number> {
  const before = await bytesReceived();
  await work();
  return (await bytesReceived()) - before;
}

/** Chunk files in block storage (chunks on disk in this stack). */
async function storedChunkCount(): Promise<number> {
  let count = 0;
  const walk = async (d: string) => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      if (entry.name === ".tmp") continue;
      if (entry.isDirectory()) await walk(join(d, entry.name));
      else count++;
    }
  };
  await walk(join(dir, "data", "blocks"));
  return count;
}

async function put(path: string, name: string): Promise<{ fileId: string; version: number; sha256: string; size: number }> {
  const r = await cfs(["put", path, "--name", name, "--progress"]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { fileId: string; version: number; sha256: string; size: number };
}

/** A 1-byte insert in the middle. */
function withInsert(data: Buffer): Buffer {
  const middle = Math.floor(data.length / 2);
  return Buffer.concat([data.subarray(0, middle), Buffer.from([0x42]), data.subarray(middle)]);
}

/** A REST client of the session API, as the web page drives it: returns what it sent. */
async function restSessionUpload(name: string, data: Buffer): Promise<{ file: { fileId: string; sha256: string; version: number }; sent: number }> {
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${stack.edgeUrl}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(init.headers as object) } });
  const { chunkAvgBytes } = (await (await api("/v1/upload-config")).json()) as { chunkAvgBytes: number };
  const chunks = chunksOf(data, chunkAvgBytes);
  const page = (from: number) => chunks.slice(from, from + 1000).map(({ sha256: hash, size }) => ({ sha256: hash, size }));
  const started = (await (
    await api("/v1/uploads", { method: "POST", body: JSON.stringify({ name, size: String(data.length), sha256: sha256(data), chunkCount: chunks.length, chunks: page(0) }) })
  ).json()) as { upload: { uploadId: string }; missing: Array<{ start: number; count: number }> };
  const { uploadId } = started.upload;
  let sent = 0;
  for (const { start, count } of started.missing) {
    const body = data.subarray(chunks[start]!.offset, chunks[start + count - 1]!.offset + chunks[start + count - 1]!.size);
    const response = await api(`/v1/uploads/${uploadId}/chunks/${start}`, { method: "PUT", body, headers: { "content-type": "application/octet-stream" } });
    expect(response.status, await response.clone().text()).toBe(200);
    sent += body.length;
  }
  const finished = await api(`/v1/uploads/${uploadId}/finish`, { method: "POST", body: "{}" });
  expect(finished.status).toBe(200);
  return { file: ((await finished.json()) as { file: { fileId: string; sha256: string; version: number } }).file, sent };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cfs-delta-"));
  db = await createTestDatabase();
  stack = await startStack({
    dataDir: join(dir, "data"),
    databaseUrl: db.url,
    defaultPorts: false,
    logs: "files",
    edge: {},
    env: { CFS_OUTBOX_INTERVAL_MS: "200" },
  });
  c = clientsFor(stack.addresses);
  token = await stack.issuer!.userToken("erin");
  env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    CFS_CHUNKER_ADDR: stack.addresses.chunker,
    CFS_METADATA_ADDR: stack.addresses.metadata,
    CFS_SYNC_ADDR: stack.addresses.sync,
    CFS_STATE_DIR: join(dir, "state"),
    CFS_TOKEN: token,
  };
});

afterAll(async () => {
  c?.close();
  await stack?.stop();
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

describe("cfs put over gRPC", () => {
  const original = randomBytes(64 * MiB);

  it("sends all of a new 64 MiB file once, nothing of it unchanged, and at most 3 chunks after a 1-byte insert", async () => {
    await writeFile(join(dir, "big.bin"), original);
    let file!: Awaited<ReturnType<typeof put>>;
    const first = await wire(async () => (file = await put(join(dir, "big.bin"), "big.bin")));
    expect(file.sha256).toBe(sha256(original));
    expect(first).toBeGreaterThanOrEqual(original.length);
    expect(first).toBeLessThan(original.length * 1.01);

    // Unchanged: the same command sends (well) under 1 % of the bytes.
    const again = await wire(() => put(join(dir, "big.bin"), "big.bin"));
    expect(again).toBeLessThan(original.length / 100);

    // One byte inserted in the middle: at most 3 chunks travel.
    const edited = withInsert(original);
    const before = new Set(chunksOf(original).map((k) => k.sha256));
    const changed = chunksOf(edited).filter((k) => !before.has(k.sha256));
    expect(changed.length).toBeLessThanOrEqual(3);
    await writeFile(join(dir, "big.bin"), edited);
    let v2!: Awaited<ReturnType<typeof put>>;
    const delta = await wire(async () => (v2 = await put(join(dir, "big.bin"), "big.bin")));
    expect(delta).toBeLessThanOrEqual(changed.reduce((total, k) => total + k.size, 0) + 64 * 1024);
    expect(v2).toMatchObject({ fileId: file.fileId, sha256: sha256(edited), size: edited.length });
    expect((await download(c, token, file.fileId)).data.equals(edited)).toBe(true);
  });

  it("resumes an upload whose client was SIGKILLed halfway: the rerun sends at most 60 % and the result is byte-identical", async () => {
    const data = randomBytes(64 * MiB);
    await writeFile(join(dir, "killed.bin"), data);
    const startBytes = await bytesReceived();
    const child = spawn(CFS, ["put", join(dir, "killed.bin"), "--name", "killed.bin", "--progress"], { cwd: dir, env });
    let stderr = "";
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.stderr.on("data", (part: Buffer) => {
      stderr += part.toString();
      // The upload's bar (not the scan's before it) at half: bytes the server confirmed stored.
      const bar = stderr.split(/[\r\n]/).filter((line) => line.startsWith("uploading")).at(-1) ?? "";
      const percent = Number(/ (\d+)% \[/.exec(bar)?.[1] ?? 0);
      if (percent >= 50 && child.exitCode === null) child.kill("SIGKILL");
    });
    await exited;
    expect(child.signalCode, stderr).toBe("SIGKILL");
    expect(await bytesReceived()).toBeLessThan(startBytes + data.length);

    let file!: Awaited<ReturnType<typeof put>>;
    const rerun = await wire(async () => (file = await put(join(dir, "killed.bin"), "killed.bin")));
    expect(rerun).toBeLessThanOrEqual(data.length * 0.6);
    expect(file.sha256).toBe(sha256(data));
    expect((await download(c, token, file.fileId)).data.equals(data)).toBe(true);
  });
});

describe("sessions through the edge (REST)", () => {
  it("sends nothing of an unchanged file, at most 3 chunks after a 1-byte insert, and stores no new chunk for a copy the CLI uploaded", async () => {
    const data = randomBytes(24 * MiB);
    await writeFile(join(dir, "cli-copy.bin"), data);
    await put(join(dir, "cli-copy.bin"), "from-cli.bin");

    const chunksBefore = await storedChunkCount();
    const copy = await restSessionUpload("rest-copy.bin", data);
    expect(copy.sent).toBe(0);
    expect(copy.file.sha256).toBe(sha256(data));
    // The same bytes as a plain REST upload, cut by the server: no new chunk either.
    const raw = await fetch(`${stack.edgeUrl}/v1/files?name=raw-copy.bin`, { method: "POST", body: data, headers: { authorization: `Bearer ${token}` } });
    expect(raw.status).toBe(200);
    expect(await storedChunkCount()).toBe(chunksBefore);

    const edited = withInsert(data);
    const before = new Set(chunksOf(data).map((k) => k.sha256));
    const changed = chunksOf(edited).filter((k) => !before.has(k.sha256));
    const delta = await restSessionUpload("rest-copy.bin", edited);
    expect(changed.length).toBeLessThanOrEqual(3);
    expect(delta.sent).toBe(changed.reduce((total, k) => total + k.size, 0));
    expect(delta.file).toMatchObject({ fileId: copy.file.fileId, sha256: sha256(edited), version: 2 });
    expect((await download(c, token, copy.file.fileId)).data.equals(edited)).toBe(true);
  });
});

describe("sessions over gRPC", () => {
  /** Starts a session for `data` and returns it with the data's chunks. */
  async function start(name: string, data: Buffer, who = token) {
    const chunks = chunksOf(data);
    const response = await call(
      c.chunker.startUpload,
      c.chunker,
      { name, contentType: "", size: data.length, sha256: sha256(data), chunkCount: chunks.length, chunks: chunks.map(({ sha256: hash, size }) => ({ sha256: hash, size })) },
      who,
    );
    return { uploadId: response.upload!.uploadId, missing: response.missing, chunks };
  }

  /** Sends chunks from..to-1 of data in one PutChunks call. */
  function putRun(uploadId: string, data: Buffer, chunks: ReturnType<typeof chunksOf>, from: number, to: number, who = token) {
    return new Promise<void>((resolve, reject) => {
      const stream = c.chunker.putChunks(auth(who), (err) => (err ? reject(err) : resolve()));
      const body = data.subarray(chunks[from]!.offset, chunks[to - 1]!.offset + chunks[to - 1]!.size);
      for (let offset = 0; offset < body.length; offset += MiB) {
        stream.write({ uploadId, index: offset === 0 ? from : undefined, content: { contentType: "", data: body.subarray(offset, offset + MiB), extensions: [] } });
      }
      stream.end();
    });
  }


  it("survives a restarted chunker: the session resumes from the catalogue and commits the right content", async () => {
    const data = randomBytes(12 * MiB);
    const { uploadId, chunks } = await start("restart.bin", data);
    const half = Math.floor(chunks.length / 2);
    await putRun(uploadId, data, chunks, 0, half);
    await stack.kill("chunker", "SIGKILL");
    await stack.start("chunker");
    const status1 = await call(c.chunker.getUpload, c.chunker, { uploadId }, token);
    expect(status1.missing).toEqual([{ start: half, count: chunks.length - half }]);
    await putRun(uploadId, data, chunks, half, chunks.length);
    const { file } = await call(c.chunker.finishUpload, c.chunker, { uploadId }, token);
    expect(file).toMatchObject({ name: "restart.bin", sha256: sha256(data), size: data.length });
    // A retried finish (its reply lost) is the same file and version.
    expect((await call(c.chunker.finishUpload, c.chunker, { uploadId }, token)).file).toEqual(file);
    expect((await download(c, token, file!.fileId)).data.equals(data)).toBe(true);
  });

  it("answers NOT_FOUND for another user's upload id, a stale one, and a malformed one", async () => {
    const data = randomBytes(MiB);
    const { uploadId } = await start("private-upload.bin", data);
    const mallory = await stack.issuer!.userToken("mallory");
    await expectStatus(call(c.chunker.getUpload, c.chunker, { uploadId }, mallory), status.NOT_FOUND);
    await expectStatus(call(c.chunker.finishUpload, c.chunker, { uploadId }, mallory), status.NOT_FOUND);
    await expectStatus(call(c.chunker.cancelUpload, c.chunker, { uploadId }, mallory), status.NOT_FOUND);
    await expectStatus(call(c.chunker.getUpload, c.chunker, { uploadId: "1a2b3c4d-0000-4000-8000-000000000000" }, token), status.NOT_FOUND);
    await expectStatus(call(c.chunker.getUpload, c.chunker, { uploadId: "../etc" }, token), status.INVALID_ARGUMENT);
    await call(c.chunker.cancelUpload, c.chunker, { uploadId }, token);
    await expectStatus(call(c.chunker.getUpload, c.chunker, { uploadId }, token), status.NOT_FOUND);
  });

  it("makes another user send the bytes of chunks only the first stored (no cross-user dedup, no oracle)", async () => {
    const data = randomBytes(6 * MiB);
    await upload(c, token, data, { name: "erins.bin", size: data.length });
    const mallory = await stack.issuer!.userToken("mallory2");
    const theirs = await start("copy.bin", data, mallory);
    expect(theirs.missing).toEqual([{ start: 0, count: theirs.chunks.length }]);
    await expectStatus(call(c.chunker.finishUpload, c.chunker, { uploadId: theirs.uploadId }, mallory), status.FAILED_PRECONDITION);
  });

  it("commits two sessions of one name as two versions in commit order, both downloadable", async () => {
    const [a, b] = [randomBytes(3 * MiB), randomBytes(3 * MiB)];
    const [sa, sb] = await Promise.all([start("raced.bin", a), start("raced.bin", b)]);
    await Promise.all([putRun(sa.uploadId, a, sa.chunks, 0, sa.chunks.length), putRun(sb.uploadId, b, sb.chunks, 0, sb.chunks.length)]);
    const [fa, fb] = await Promise.all([
      call(c.chunker.finishUpload, c.chunker, { uploadId: sa.uploadId }, token),
      call(c.chunker.finishUpload, c.chunker, { uploadId: sb.uploadId }, token),
    ]);
    expect(fa.file!.fileId).toBe(fb.file!.fileId);
    expect(new Set([fa.file!.version, fb.file!.version]).size).toBe(2);
    const { versions } = await call(c.metadata.listFileVersions, c.metadata, { fileId: fa.file!.fileId }, token);
    const bySha = new Map(versions.map((v) => [v.sha256, v.version]));
    expect(bySha.get(sha256(a))).toBe(fa.file!.version);
    expect(bySha.get(sha256(b))).toBe(fb.file!.version);
    const newest = fa.file!.version > fb.file!.version ? a : b;
    expect((await download(c, token, fa.file!.fileId)).data.equals(newest)).toBe(true);
  });

  it("commits a plain upload with an idempotency key once, however often it is retried", async () => {
    const data = randomBytes(200_000);
    const first = await upload(c, token, data, { name: "keyed.bin", idempotencyKey: "retry-me" });
    const second = await upload(c, token, randomBytes(10), { name: "keyed.bin", idempotencyKey: "retry-me" });
    expect(second).toEqual(first);
    const { versions } = await call(c.metadata.listFileVersions, c.metadata, { fileId: first.fileId }, token);
    expect(versions).toHaveLength(1);
  });
});

describe("files of fixed 1 MiB chunks, from before FastCDC", () => {
  it("still download, list and verify, beside FastCDC files of the same content", async () => {
    const data = randomBytes(3 * MiB + 5);
    const fixed = [0, MiB, 2 * MiB, 3 * MiB].map((offset, index) => {
      const part = data.subarray(offset, Math.min(offset + MiB, data.length));
      return { index, offset, size: part.length, sha256: sha256(part), part };
    });
    // Stored and committed the way the chunker of before did: one PutChunks, one commit.
    await new Promise<void>((resolve, reject) => {
      const stream = c.blocks.putChunks(auth(token), (err) => (err ? reject(err) : resolve()));
      for (const k of fixed) {
        stream.write({ payload: { $case: "header", value: { sha256: k.sha256, size: k.size, owner: "" } } });
        stream.write({ payload: { $case: "data", value: k.part } });
      }
      stream.end();
    });
    const { file: old } = await call(
      c.metadata.commitFileVersion,
      c.metadata,
      { name: "legacy.bin", contentType: "", size: data.length, sha256: sha256(data), chunks: fixed.map(({ part: _part, ...k }) => k), chunkReceipts: [] },
      token,
    );
    const fresh = await upload(c, token, data, { name: "fresh.bin", size: data.length });
    expect(old!.numChunks).toBe(4);
    expect(fresh.numChunks).toBe(chunksOf(data).length);
    for (const id of [old!.fileId, fresh.fileId]) expect((await download(c, token, id)).data.equals(data)).toBe(true);
    const range = await download(c, token, old!.fileId, { offset: MiB - 3, length: 10 });
    expect(range.data.equals(data.subarray(MiB - 3, MiB + 7))).toBe(true);
    const listed = await call(c.metadata.listFileChunks, c.metadata, { fileId: old!.fileId, version: 0, pageSize: 0, pageToken: "" }, token);
    expect(listed.chunks.map((k) => k.size)).toEqual([MiB, MiB, MiB, 5]);
    // Background verification completes for both.
    for (const id of [old!.fileId, fresh.fileId]) {
      await waitFor(
        async () => (await call(c.sync.getFileSyncStatus, c.sync, { fileId: id }, token).catch(() => undefined))?.status === 3,
        30_000,
        `verification of ${id}`,
      );
    }
  });

});

describe("cfs sync applies a remote change by fetching only the chunks it lacks", () => {
  it("downloads a 1-byte insert as at most 3 chunks and assembles the new file beside the old", async () => {
    const folder = join(dir, "synced");
    await mkdir(folder, { recursive: true });
    const data = randomBytes(32 * MiB);
    const syncEnv = { CFS_TOKEN: await stack.issuer!.userToken("sync-user") };
    // A user of its own, so the folder mirrors only this file.
    const own = await upload(c, syncEnv.CFS_TOKEN, data, { name: "doc.bin", size: data.length });
    const first = await cfs(["sync", folder, "--once"], syncEnv);
    expect(first.code, first.stderr).toBe(0);
    expect((await readFile(join(folder, "doc.bin"))).equals(data)).toBe(true);

    const edited = withInsert(data);
    await upload(c, syncEnv.CFS_TOKEN, edited, { name: "doc.bin", size: edited.length });
    const before = new Set(chunksOf(data).map((k) => k.sha256));
    const changed = chunksOf(edited).filter((k) => !before.has(k.sha256));
    const second = await cfs(["sync", folder, "--once"], syncEnv);
    expect(second.code, second.stderr).toBe(0);
    // lib/bytes.ts formatBytes: binary units, one decimal below 100 and none from 100 on, so
    // the figure may be up to half its last digit high ("876.9 KiB": 0.05 KiB, "877 KiB": 0.5).
    const fetched = /fetched ([\d.]+) (MiB|KiB|B), reused/.exec(second.stdout);
    expect(fetched, second.stdout).not.toBeNull();
    const unit = { B: 1, KiB: 1024, MiB: 1024 * 1024 }[fetched![2] as "B" | "KiB" | "MiB"];
    const roundedUpBy = fetched![1]!.includes(".") ? 0.05 : 0.5;
    expect((Number(fetched![1]) - roundedUpBy) * unit).toBeLessThanOrEqual(changed.reduce((t, k) => t + k.size, 0));
    expect((await readFile(join(folder, "doc.bin"))).equals(edited)).toBe(true);
    expect(own.fileId).toMatch(/^[0-9a-f-]{36}$/);
  });
});
