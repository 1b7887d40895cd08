import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { BlockStorageServiceService, type ReadChunksRequest, type ReadChunksResponse } from "#gen/cfs/blockstore/v1/blockstore.js";
import { CfsError } from "#lib/errors.js";
import { channelOptions } from "#lib/grpc-client.js";
import { GrpcChunkStorage } from "./grpc-block-storage.js";
import { serveOnLoopback } from "#lib/loopback-grpc.spec-support.js";

const as = { token: "t" };
let stopServer: (() => void) | undefined;
let storage: GrpcChunkStorage | undefined;
afterEach(() => {
  storage?.close();
  stopServer?.();
});

/**
 * Block storage on loopback answering ReadChunks from `stored`: a chunk in
 * messages of at most 3 bytes, NOT_FOUND at the first hash it lacks; the
 * chunk "cut" ends the stream UNAVAILABLE after its first message; at
 * "hang" it sends one message and then nothing (it reports when the caller
 * cancels).
 */
async function serve(stored: Record<string, string>): Promise<{ storage: GrpcChunkStorage; requests: ReadChunksRequest[]; held: Promise<void>; cancelled: Promise<void> }> {
  const requests: ReadChunksRequest[] = [];
  let onHold = () => {};
  let onCancel = () => {};
  const held = new Promise<void>((resolve) => (onHold = resolve));
  const cancelled = new Promise<void>((resolve) => (onCancel = resolve));
  const readChunks = (call: grpc.ServerWritableStream<ReadChunksRequest, ReadChunksResponse>) => {
    requests.push(call.request);
    for (const [index, hash] of call.request.sha256s.entries()) {
      const data = stored[hash];
      if (data === undefined) {
        call.emit("error", { code: grpc.status.NOT_FOUND, details: `chunk ${hash} not found` });
        return;
      }
      if (hash === "hang") {
        call.once("cancelled", onCancel);
        call.write({ index, data: Buffer.from(data.slice(0, 3)) });
        onHold();
        return;
      }
      for (let at = 0; at < data.length; at += 3) {
        call.write({ index, data: Buffer.from(data.slice(at, at + 3)) });
        if (hash === "cut") {
          call.emit("error", { code: grpc.status.UNAVAILABLE, details: "going away" });
          return;
        }
      }
    }
    call.end();
  };
  const server = await serveOnLoopback(BlockStorageServiceService, { readChunks });
  stopServer = server.stop;
  storage = new GrpcChunkStorage(server.address, channelOptions(4 * 1024 * 1024, 4 * 1024 * 1024));
  return { storage, requests, held, cancelled };
}

async function readAll(reading: AsyncIterable<Buffer>): Promise<{ chunks: string[]; error?: CfsError }> {
  const chunks: string[] = [];
  try {
    for await (const data of reading) chunks.push(data.toString());
  } catch (err) {
    return { chunks, error: err as CfsError };
  }
  return { chunks };
}

describe("GrpcChunkStorage.readChunks", () => {
  it("joins each chunk's messages, in order, for the named owner", async () => {
    const { storage, requests } = await serve({ a: "alpha", b: "be", c: "charlie" });
    const read = await readAll(storage.readChunks("alice", [{ sha256: "a", maxBytes: 5 }, { sha256: "b", maxBytes: 5 }, { sha256: "c", maxBytes: 7 }], as));
    expect(read).toEqual({ chunks: ["alpha", "be", "charlie"] });
    expect(requests).toEqual([{ sha256s: ["a", "b", "c"], owner: "alice" }]);
  });

  it("ends with not-found at the first chunk not stored, after the ones before it", async () => {
    const { storage } = await serve({ a: "alpha", c: "charlie" });
    const read = await readAll(storage.readChunks("alice", [{ sha256: "a", maxBytes: 5 }, { sha256: "b", maxBytes: 5 }, { sha256: "c", maxBytes: 7 }], as));
    expect(read.chunks).toEqual(["alpha"]);
    expect(read.error).toMatchObject({ kind: "not-found", message: "block storage ReadChunks: chunk b not found" });
  });

  it("keeps no part of a chunk cut short by a failure other than block storage's verdict on the next", async () => {
    const { storage } = await serve({ a: "alpha", cut: "charlie" });
    const read = await readAll(storage.readChunks("alice", [{ sha256: "a", maxBytes: 5 }, { sha256: "cut", maxBytes: 7 }], as));
    expect(read.chunks).toEqual(["alpha"]);
    expect(read.error).toMatchObject({ kind: "unavailable" });
  });

  it("ends with data-loss at a chunk longer than its maxBytes", async () => {
    const { storage } = await serve({ a: "alpha", b: "bravo" });
    const read = await readAll(storage.readChunks("alice", [{ sha256: "a", maxBytes: 5 }, { sha256: "b", maxBytes: 4 }], as));
    expect(read.chunks).toEqual(["alpha"]);
    expect(read.error).toMatchObject({ kind: "data-loss", message: "block storage ReadChunks: chunk b is longer than 4 bytes" });
  });

  it("cancels the stream when the caller's signal aborts", async () => {
    const { storage, held, cancelled } = await serve({ hang: "hanging" });
    const abort = new AbortController();
    const reading = readAll(storage.readChunks("alice", [{ sha256: "hang", maxBytes: 7 }], { token: "t", signal: abort.signal }));
    await held;
    abort.abort();
    await cancelled;
    expect((await reading).error).toMatchObject({ kind: "cancelled" });
  });
});
