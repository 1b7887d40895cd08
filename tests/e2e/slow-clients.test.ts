import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { File } from "#gen/cfs/metadata/v1/metadata.js";
import { startStack, type RunningStack } from "../../dev/stack.js";
import { auth, call, clientsFor, download, expectStatus, upload, type Clients } from "../support/clients.js";

// Slow clients (checklist 23) against the real stack, with small limits:
// 5 s without a byte, or under 100 bytes per second over 4 s of waiting.
let stack: RunningStack;
let dataDir: string;
let c: Clients;
let alice: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "cfs-slow-"));
  stack = await startStack({
    dataDir,
    defaultPorts: false,
    logs: "files",
    env: { CFS_STREAM_IDLE_SECONDS: "5", CFS_STREAM_MIN_BYTES_PER_SECOND: "100", CFS_STREAM_RATE_WINDOW_SECONDS: "4" },
    edge: {},
  });
  c = clientsFor(stack.addresses);
  alice = await stack.issuer!.userToken("alice");
});

afterAll(async () => {
  c?.close();
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

async function names(): Promise<string[]> {
  const { files } = await call(c.metadata.listFiles, c.metadata, { pageSize: 1000, pageToken: "", prefix: "" }, alice);
  return files.map((f) => f.name);
}

/** An UploadFile that sends its metadata and then one byte per `everyMs` (never, with 0), until the call ends. */
function trickleUpload(name: string, everyMs: number): Promise<File> {
  return new Promise<File>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const stream = c.chunker.uploadFile(auth(alice), (err, res) => {
      clearInterval(timer);
      if (err) reject(err);
      else resolve(res.file!);
    });
    stream.write({ payload: { $case: "metadata", value: { name, size: 1_000_000, contentType: "" } } });
    if (everyMs > 0) timer = setInterval(() => stream.write({ payload: { $case: "data", value: Buffer.from("x") } }), everyMs);
  });
}

describe("slow gRPC uploads", () => {
  it("a client sending one byte every 3 s is cut off with DEADLINE_EXCEEDED, nothing is committed, and an upload beside it is unaffected", async () => {
    const trickle = trickleUpload("trickle.bin", 3_000);
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const normal = await upload(c, alice, data, { name: "beside.bin" });
    const err = await expectStatus(trickle, grpc.status.DEADLINE_EXCEEDED);
    expect(err.details).toMatch(/less than the minimum of 100 bytes per second/);
    expect((await download(c, alice, normal.fileId)).data.equals(data)).toBe(true);
    const listed = await names();
    expect(listed).toContain("beside.bin");
    expect(listed).not.toContain("trickle.bin");
  });

  it("a client that goes silent mid-upload is cut off after the idle limit, and nothing is committed", async () => {
    const silent = new Promise<File>((resolve, reject) => {
      const stream = c.chunker.uploadFile(auth(alice), (err, res) => (err ? reject(err) : resolve(res.file!)));
      stream.write({ payload: { $case: "metadata", value: { name: "silent.bin", size: 8 * 1024 * 1024, contentType: "" } } });
      stream.write({ payload: { $case: "data", value: randomBytes(2 * 1024 * 1024) } });
    });
    const err = await expectStatus(silent, grpc.status.DEADLINE_EXCEEDED);
    expect(err.details).toBe("no data from the client for 5 s");
    expect(await names()).not.toContain("silent.bin");
  });
});

/** POSTs an upload that declares 1 GB, sends 300 KiB and then nothing; resolves with the answer and whether the server closed the connection. */
function stalledHttpUpload(edgeUrl: string, name: string): Promise<{ status: number; body: string; closed: boolean }> {
  const url = new URL(`${edgeUrl}/v1/files?name=${name}`);
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: "POST",
      headers: { authorization: `Bearer ${alice}`, "content-type": "application/octet-stream", "content-length": String(1_000_000_000) },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      const parts: Buffer[] = [];
      res.on("data", (p: Buffer) => parts.push(p));
      res.on("end", () => {
        const body = Buffer.concat(parts).toString();
        // The server closes the connection after the answer: the socket ends without the client doing anything.
        const socket = res.socket;
        const answer = (closed: boolean) => resolve({ status: res.statusCode!, body, closed });
        if (socket.destroyed) return answer(true);
        const stillOpen = setTimeout(() => answer(false), 10_000);
        socket.once("close", () => {
          clearTimeout(stillOpen);
          answer(true);
        });
      });
    });
    req.write(randomBytes(300 * 1024));
  });
}

describe("slow HTTP uploads at the edge", () => {
  it("an upload that declares 1 GB and goes silent gets 408 from the edge's own limit, and its connection closed", async () => {
    // An edge stricter than the services (1 s): the answer is the edge's own.
    const strict = await stack.startEdge({ bodyLimits: { idleMs: 1_000, minBytesPerSecond: 100, windowMs: 4_000 } });
    try {
      const outcome = await stalledHttpUpload(strict.url, "stalled-edge.bin");
      expect(outcome).toMatchObject({ status: 408, closed: true });
      expect(JSON.parse(outcome.body)).toEqual({ code: grpc.status.DEADLINE_EXCEEDED, message: "request body too slow: no data from the client for 1 s", details: [] });
    } finally {
      await strict.close();
    }
    expect(await names()).not.toContain("stalled-edge.bin");
  });

  it("with the same limits at the edge and the chunker, whichever notices first, the answer is 408 and nothing is committed", async () => {
    const outcome = await stalledHttpUpload(stack.edgeUrl!, "stalled.bin");
    expect(outcome).toMatchObject({ status: 408, closed: true });
    expect(JSON.parse(outcome.body)).toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED, message: expect.stringContaining("no data from the client for 5 s") });
    expect(await names()).not.toContain("stalled.bin");
  });
});
