import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readdir, readFile, rm, writeFile, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type RunningStack } from "../../dev/stack.js";
import { call, clientsFor, download, expectStatus, upload, type Clients } from "../support/clients.js";
import { chunksOf } from "../support/chunks.js";
import { forgedTokens } from "../support/tokens.js";

// The `make run` shape: PGlite through the pg driver, chunks on local disk.
const run = promisify(execFile);
let stack: RunningStack;
let dataDir: string;
let c: Clients;
let alice: string;

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "cfs-embedded-"));
  stack = await startStack({ dataDir, defaultPorts: false, logs: "files" });
  c = clientsFor(stack.addresses);
  alice = await stack.issuer!.userToken("alice");
});

afterAll(async () => {
  c?.close();
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

async function listAll(token: string) {
  return (await call(c.metadata.listFiles, c.metadata, { pageSize: 1000, pageToken: "", prefix: "" }, token)).files;
}

describe("authentication", () => {
  it("round-trips a file on the embedded stack", async () => {
    const data = randomBytes(3 * 1024 * 1024 + 7);
    const file = await upload(c, alice, data, { name: "embedded.bin", size: data.length, sha256: sha256(data) });
    expect((await download(c, alice, file.fileId)).data.equals(data)).toBe(true);
  });

  it("refuses every forged or invalid token with UNAUTHENTICATED and writes nothing", async () => {
    const before = await listAll(alice);
    const forged = await forgedTokens(stack.issuer!, stack.audience);
    for (const [label, token] of [...forged, ["missing", undefined] as [string, undefined]]) {
      const attempts: Array<[string, () => Promise<unknown>]> = [
        ["UploadFile", () => upload(c, token, Buffer.from("intruder"), { name: `forged-${label}` })],
        ["DownloadFile", () => download(c, token, "8a7c2d4e-1f3b-4c5d-9e6f-0a1b2c3d4e5f")],
        ["ListFiles", () => call(c.metadata.listFiles, c.metadata, { pageSize: 1, pageToken: "", prefix: "" }, token)],
        ["GetFile", () => call(c.metadata.getFile, c.metadata, { fileId: before[0]!.fileId }, token)],
        ["DeleteFile", () => call(c.metadata.deleteFile, c.metadata, { fileId: before[0]!.fileId }, token)],
        ["HasChunks", () => call(c.blocks.hasChunks, c.blocks, { sha256s: [], owner: "" }, token)],
        ["ListSyncEvents", () => call(c.sync.listSyncEvents, c.sync, { pageSize: 1, pageToken: "", fileId: "", status: 0, eventType: 0 }, token)],
      ];
      for (const [method, attempt] of attempts) {
        await expectStatus(attempt(), status.UNAUTHENTICATED).catch((err: Error) => {
          throw new Error(`${label} token on ${method}: ${err.message}`);
        });
      }
    }
    expect(await listAll(alice)).toEqual(before);
  });
});

describe("integrity", () => {
  it("commits an upload without a declared size only after its finish message", async () => {
    const data = randomBytes(2 * 1024 * 1024 + 5);
    // A stream that just ends may be a cancelled call: nothing is committed.
    await expectStatus(upload(c, alice, data, { name: "unfinished.bin", finish: false }), status.INVALID_ARGUMENT);
    expect((await listAll(alice)).map((f) => f.name)).not.toContain("unfinished.bin");
    // With finish, or with a declared size, it is.
    const finished = await upload(c, alice, data, { name: "unfinished.bin" });
    expect(finished.size).toBe(data.length);
    const sized = await upload(c, alice, data, { name: "sized.bin", size: data.length, finish: false });
    expect(sized.sha256).toBe(sha256(data));
    expect((await download(c, alice, finished.fileId)).data.equals(data)).toBe(true);
  });

  it("answers DATA_LOSS instead of returning a chunk whose bytes were changed on disk", async () => {
    // Larger than FastCDC's largest chunk: at least two chunks.
    const data = randomBytes(5 * 1024 * 1024);
    const file = await upload(c, alice, data, { name: "to-corrupt.bin" });
    const [first, second] = chunksOf(data);
    const target = second!.sha256;
    const path = await findFile(join(dataDir, "blocks"), target);
    const stored = await readFile(path);
    stored[100] = stored[100]! ^ 0x01;
    await writeFile(path, stored);
    await expectStatus(download(c, alice, file.fileId), status.DATA_LOSS);
    // The first chunk is intact: a range inside it still works.
    expect((await download(c, alice, file.fileId, { offset: 0, length: first!.size })).data.equals(data.subarray(0, first!.size))).toBe(true);
  });
});

describe("a client we did not write: grpcurl", () => {
  let grpcurl: string;
  beforeAll(async () => {
    grpcurl = (await run("bash", ["scripts/go-tool.sh", "grpcurl"], { timeout: 600_000 })).stdout.trim();
  });

  it("lists every service through reflection, without a token", async () => {
    for (const [name, expected] of [
      ["chunker", "cfs.chunker.v1.ChunkerService"],
      ["metadata", "cfs.metadata.v1.MetadataService"],
      ["block-storage", "cfs.blockstore.v1.BlockStorageService"],
      ["sync", "cfs.sync.v1.SyncService"],
    ] as const) {
      const { stdout } = await run(grpcurl, ["-plaintext", stack.addresses[name], "list"]);
      expect(stdout.split("\n")).toEqual(expect.arrayContaining([expected, "grpc.health.v1.Health"]));
    }
  });

  it("checks health and calls GetFile with a token", async () => {
    const health = await run(grpcurl, ["-plaintext", "-d", '{"service":"cfs.chunker.v1.ChunkerService"}', stack.addresses.chunker, "grpc.health.v1.Health/Check"]);
    expect(JSON.parse(health.stdout)).toEqual({ status: "SERVING" });
    const file = await upload(c, alice, Buffer.from("hello grpcurl"), { name: "grpcurl.txt" });
    const { stdout } = await run(grpcurl, [
      "-plaintext",
      "-H",
      `authorization: Bearer ${alice}`,
      "-d",
      JSON.stringify({ file_id: file.fileId }),
      stack.addresses.metadata,
      "cfs.metadata.v1.MetadataService/GetFile",
    ]);
    expect(JSON.parse(stdout).file).toMatchObject({ fileId: file.fileId, name: "grpcurl.txt", size: "13", version: 1 });
  });

  it("gets UNAUTHENTICATED without a token", async () => {
    const result = await run(grpcurl, ["-plaintext", "-d", "{}", stack.addresses.metadata, "cfs.metadata.v1.MetadataService/ListFiles"]).catch(
      (err: { stderr: string }) => err,
    );
    expect(result.stderr).toContain("Unauthenticated");
  });
});

async function findFile(root: string, name: string): Promise<string> {
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name === name) return join(entry.parentPath, entry.name);
  }
  throw new Error(`${name} not found under ${root}`);
}
