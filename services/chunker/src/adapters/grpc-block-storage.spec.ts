import { createHash } from "node:crypto";
import type * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import type { PutChunksRequest, PutChunksResponse } from "#gen/cfs/blockstore/v1/blockstore.js";
import { BufferPool } from "#lib/buffer-pool.js";
import { BlockStorageServiceDefinition } from "#lib/bulk-codecs.js";
import { channelOptions } from "#lib/grpc-client.js";
import { zeroCopyFraming } from "#lib/grpc-framing.js";
import { loopbackGrpc } from "#lib/loopback-grpc.spec-support.js";
import { GrpcChunkStorage } from "./grpc-block-storage.js";

const KiB = 1024;
const as = { token: "t" };
let close: (() => void) | undefined;
let storage: GrpcChunkStorage | undefined;
afterEach(() => {
  storage?.close();
  close?.();
});

/**
 * Chunks cut into the pool's memory go back to it once PutChunks has written
 * them, and not before: a block storage on loopback that reads nothing until
 * some chunks were given back (so their bytes wait in HTTP/2's window and the
 * socket while their memory is overwritten and used again), then checks
 * every chunk it got.
 */
describe("GrpcChunkStorage's chunk buffers", () => {
  it("go back to the pool only once written out: every chunk arrives intact although its memory was overwritten and reused", async () => {
    expect(zeroCopyFraming()).toBe(true);
    const CHUNK_BYTES = 8 * KiB;
    const CHUNKS = 64;
    const pool = new BufferPool(64 * KiB, 1 * KiB);
    const memories = new Set<ArrayBufferLike>();
    let given = 0;
    const give = pool.give.bind(pool);
    pool.give = (memory) => {
      new Uint8Array(memory).fill(0xee); // what the next chunk cut into it does
      given += 1;
      give(memory);
    };
    const received: Buffer[] = [];
    const served = await loopbackGrpc<unknown>(BlockStorageServiceDefinition as unknown as grpc.ServiceDefinition, {
      putChunks: (call: grpc.ServerReadableStream<PutChunksRequest, PutChunksResponse>, callback: grpc.sendUnaryData<PutChunksResponse>) => {
        call.pause();
        const resumeOnceGiven = () => (given >= 2 ? call.resume() : setImmediate(resumeOnceGiven));
        resumeOnceGiven();
        call.on("data", (m: PutChunksRequest) => m.payload?.$case === "data" && received.push(Buffer.from(m.payload.value)));
        call.on("end", () => callback(null, { created: 0, stored: 0, receipt: undefined }));
      },
    });
    close = served.close;
    storage = new GrpcChunkStorage(served.address, channelOptions(4 * 1024 * KiB, 4 * 1024 * KiB), 4 * 1024 * KiB, pool);

    const writer = storage.openWriter(as);
    for (let i = 0; i < CHUNKS; i++) {
      const chunk = storage.chunkBuffer(CHUNK_BYTES).fill(i);
      memories.add(chunk.buffer);
      await writer.begin(createHash("sha256").update(chunk).digest("hex"), CHUNK_BYTES);
      await writer.data(chunk);
    }
    await writer.finish();

    expect(received).toHaveLength(CHUNKS);
    received.forEach((chunk, i) => expect(chunk.equals(Buffer.alloc(CHUNK_BYTES, i)), `chunk ${i}`).toBe(true));
    // Memory went round, and only the memory of chunks the writer sent came back.
    expect(memories.size).toBeLessThan(CHUNKS / 2);
    expect(given).toBeGreaterThan(CHUNKS / 2);
    expect(given).toBeLessThanOrEqual(CHUNKS);
  });
});
