import { once } from "node:events";
import type { ChannelOptions, ClientWritableStream } from "@grpc/grpc-js";
import { credentials } from "@grpc/grpc-js";
import type { ChunkReceipt } from "#lib/chunk-receipts.js";
import type { BlockStorageServiceClient, PutChunksRequest, PutChunksResponse, ReadChunksResponse } from "#gen/cfs/blockstore/v1/blockstore.js";
import { BlockStorageClient } from "#lib/bulk-codecs.js";
import type { BufferPool } from "#lib/buffer-pool.js";
import { withHeadroom } from "#lib/grpc-framing.js";
import { MESSAGE_HEADERS_BYTES } from "#lib/limits.js";
import { dataLoss, fromGrpcError } from "#lib/errors.js";
import { boundedDeadline, callUnary, cancelOnAbort, peerCallMetadata, type CallIdentity } from "#lib/grpc-client.js";
import type { ChunkReading, ChunkWriter, ChunkWriting } from "../ports/chunk-storage.js";

/**
 * A chunk stream lasts as long as the upload or download it serves; this
 * only bounds one whose caller set no deadline of its own.
 */
const STREAM_TIMEOUT_MS = 6 * 60 * 60_000;

/** Block storage over gRPC: one PutChunks stream per upload, one ReadChunks stream per batch of reads. */
export class GrpcChunkStorage implements ChunkWriting, ChunkReading {
  readonly client: BlockStorageServiceClient;

  private readonly dataMessageBytes: number;

  /**
   * Memory chunkBuffer() lent for a chunk, which goes back to `pool` once
   * PutChunks has written it (the pool also lends the memory of received
   * messages, which the writer must never give back).
   */
  private readonly lentForChunks = new WeakSet<ArrayBufferLike>();

  /**
   * `maxMessageBytes`: what block storage accepts in one message
   * (CFS_MAX_MESSAGE_BYTES, the same for every service). A chunk that fits
   * with its headers goes as one PutChunks message, a larger one (FastCDC's
   * largest, at 4 × the average, pass a 4 MiB limit) in several.
   */
  constructor(
    address: string,
    options: ChannelOptions,
    maxMessageBytes: number,
    /** Where chunk buffers come from and go back to (lib/buffer-pool.ts); without it each is a fresh allocation. */
    private readonly pool?: BufferPool,
  ) {
    // No retry buffer: grpc-js calls a write of a message that fits its retry
    // buffer back at once and keeps the message for a retry, so only without
    // one does a written callback mean the bytes left (and the chunk's memory
    // is free). A PutChunks stream is never retried once it carried a chunk
    // anyway (its chunks pass the 256 KiB default).
    this.client = new BlockStorageClient(address, credentials.createInsecure(), { ...options, "grpc.per_rpc_retry_buffer_size": 0 });
    this.dataMessageBytes = maxMessageBytes - MESSAGE_HEADERS_BYTES;
  }

  /** Headroom in front lets the codec write the message around the chunk instead of copying it (grpc-framing.ts). */
  chunkBuffer(size: number): Buffer {
    const buffer = withHeadroom(size, this.pool);
    if (this.pool) this.lentForChunks.add(buffer.buffer);
    return buffer;
  }

  async missing(hashes: readonly string[], as: CallIdentity): Promise<Set<string>> {
    const response = await callUnary(this.client.hasChunks.bind(this.client), { sha256s: [...hashes], owner: "" }, as, "block storage HasChunks");
    const present = new Set(response.present.map((c) => c.sha256));
    return new Set(hashes.filter((h) => !present.has(h)));
  }

  openWriter(as: CallIdentity): ChunkWriter {
    return new GrpcChunkWriter(this.client, as, this.dataMessageBytes, (part) => this.releaseOf(part));
  }

  /** What gives `part`'s memory back to the pool once it is written out, when chunkBuffer() lent it. */
  private releaseOf(part: Buffer): (() => void) | undefined {
    const { pool } = this;
    if (!pool || !this.lentForChunks.has(part.buffer)) return undefined;
    return () => {
      this.lentForChunks.delete(part.buffer);
      pool.give(part.buffer);
    };
  }

  async *read(chunks: ReadonlyArray<{ sha256: string; size: number }>, as: CallIdentity): AsyncGenerator<Buffer> {
    if (chunks.length === 0) return;
    const what = "block storage ReadChunks";
    const call = this.client.readChunks({ sha256s: chunks.map((c) => c.sha256), owner: "" }, peerCallMetadata(as), {
      deadline: boundedDeadline(as, STREAM_TIMEOUT_MS),
    });
    const stopWatching = cancelOnAbort(call, as.signal);
    let index = 0;
    let parts: Buffer[] = [];
    let received = 0;
    try {
      for await (const message of call as AsyncIterable<ReadChunksResponse>) {
        const expected = chunks[index];
        if (!expected || message.index !== index) throw dataLoss(`${what}: chunk ${message.index} arrived where chunk ${index} was due`);
        received += message.data.length;
        if (received > expected.size) throw dataLoss(`${what}: chunk ${expected.sha256} is longer than its ${expected.size} bytes`);
        parts.push(message.data);
        if (received === expected.size) {
          // A chunk that fits one message is passed on as that message's view.
          yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, received);
          index++;
          parts = [];
          received = 0;
        }
      }
    } catch (err) {
      throw fromGrpcError(err, what);
    } finally {
      stopWatching();
      call.cancel();
    }
    if (index < chunks.length) throw dataLoss(`${what}: the stream ended ${chunks.length - index} chunks early`);
  }

  close(): void {
    this.client.close();
  }
}

/** One PutChunks call; its writes wait while gRPC's send buffer is full. */
class GrpcChunkWriter implements ChunkWriter {
  private readonly call: ClientWritableStream<PutChunksRequest>;
  private readonly response: Promise<PutChunksResponse>;
  private failure: unknown;
  private readonly stopWatching: () => void;

  constructor(
    client: BlockStorageServiceClient,
    as: CallIdentity,
    private readonly dataMessageBytes: number,
    /** For a part in memory chunkBuffer() lent (the uploader sends each such chunk once, whole): what gives it back once written out. */
    private readonly releaseOf: (part: Buffer) => (() => void) | undefined = () => undefined,
  ) {
    let call!: ClientWritableStream<PutChunksRequest>;
    this.response = new Promise((resolve, reject) => {
      call = client.putChunks(peerCallMetadata(as), { deadline: boundedDeadline(as, STREAM_TIMEOUT_MS) }, (err, response) =>
        err ? reject(fromGrpcError(err, "block storage PutChunks")) : resolve(response),
      );
    });
    this.call = call;
    this.response.catch((err: unknown) => (this.failure ??= err));
    this.stopWatching = cancelOnAbort(call, as.signal);
  }

  begin(sha256: string, size: number): Promise<void> {
    return this.send({ payload: { $case: "header", value: { sha256, size, owner: "" } } });
  }

  async data(part: Buffer): Promise<void> {
    // A chunk that fits goes as itself: a slice of it would lose its headroom.
    if (part.length <= this.dataMessageBytes) {
      return this.send({ payload: { $case: "data", value: part } }, this.releaseOf(part));
    }
    for (let offset = 0; offset < part.length; offset += this.dataMessageBytes) {
      await this.send({ payload: { $case: "data", value: part.subarray(offset, offset + this.dataMessageBytes) } });
    }
  }

  async finish(): Promise<{ created: number; stored: number; receipt?: ChunkReceipt | undefined }> {
    if (this.failure === undefined) this.call.end();
    try {
      const { created, stored, receipt } = await this.response;
      return { created, stored, receipt: receipt && { issuedAtMs: receipt.issuedAtUnixMs, mac: receipt.mac } };
    } finally {
      this.stopWatching();
    }
  }

  abort(): void {
    this.call.cancel();
    this.stopWatching();
  }

  /** Writes a message; `written` runs once grpc-js has written it out (never if the write failed). */
  private async send(message: PutChunksRequest, written?: () => void): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    const accepted = written
      ? this.call.write(message, (err?: Error | null) => {
          if (!err) written();
        })
      : this.call.write(message);
    if (!accepted) {
      // The response settles only when the call ends: if it failed meanwhile,
      // "drain" never comes.
      await Promise.race([once(this.call, "drain"), this.response]);
    }
    if (this.failure !== undefined) throw this.failure;
  }
}
