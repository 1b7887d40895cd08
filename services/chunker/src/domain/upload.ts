import { createHash } from "node:crypto";
import type { CallIdentity } from "#lib/grpc-client.js";
import type { Logger } from "#lib/logger.js";
import { cancelled, invalidArgument } from "#lib/errors.js";
import type { BlockStore } from "../ports/block-store.js";
import type { Catalogue } from "../ports/catalogue.js";
import { MAX_CONTENT_TYPE_LENGTH, MAX_NAME_BYTES, SHA256_HEX } from "#lib/limits.js";
import { fixedSizeChunks, sha256Hex } from "./chunking.js";
import type { ChunkRef, StoredFile, UploadHeader } from "./types.js";

export interface UploadLimits {
  chunkSize: number;
  /** Chunks being stored at once; bounds memory to about chunkSize × this. */
  maxChunksInFlight: number;
  maxFileBytes: number;
}

/**
 * Streams an upload into fixed-size SHA-256 addressed chunks, stores the
 * ones block storage lacks (a few at a time: when they are all in flight we
 * stop reading, so a slow store slows the client), then commits the file.
 * Nothing becomes visible unless every chunk is stored and the declared size
 * and hash match.
 */
export class Uploader {
  constructor(
    private readonly blocks: BlockStore,
    private readonly catalogue: Catalogue,
    private readonly limits: UploadLimits,
  ) {}

  /**
   * Uploads and commits. If anything fails after chunks were stored, they are
   * handed to the collector so an abandoned upload leaves no garbage behind.
   */
  async upload(header: UploadHeader, data: AsyncIterable<Uint8Array>, as: CallIdentity, log: Logger): Promise<StoredFile> {
    this.checkHeader(header);
    const stored: string[] = [];
    try {
      return await this.storeAndCommit(header, data, as, stored);
    } catch (err) {
      if (stored.length > 0) {
        await this.catalogue.releaseChunks(stored, as).catch((releaseErr: unknown) => {
          log.warn({ err: releaseErr, chunks: stored.length }, "could not release the chunks of a failed upload");
        });
      }
      throw err;
    }
  }

  private async storeAndCommit(header: UploadHeader, data: AsyncIterable<Uint8Array>, as: CallIdentity, stored: string[]): Promise<StoredFile> {
    const chunks: ChunkRef[] = [];
    const fileHash = createHash("sha256");
    const scheduled = new Set<string>();
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    let size = 0;

    try {
      for await (const chunk of fixedSizeChunks(this.limitedStream(data, header), this.limits.chunkSize)) {
        const sha256 = sha256Hex(chunk);
        fileHash.update(chunk);
        chunks.push({ index: chunks.length, sha256, size: chunk.length, offset: size });
        size += chunk.length;
        // A chunk repeated inside one upload is stored once.
        if (!scheduled.has(sha256)) {
          scheduled.add(sha256);
          const task: Promise<void> = this.storeChunk(sha256, chunk, as)
            .then((wrote) => {
              if (wrote) stored.push(sha256);
            })
            .catch((err: unknown) => {
              failure ??= err;
            })
            .finally(() => inFlight.delete(task));
          inFlight.add(task);
        }
        while (inFlight.size >= this.limits.maxChunksInFlight) await Promise.race(inFlight);
        if (failure !== undefined) break;
      }
    } finally {
      // Also when the stream fails midway: no store may still be running
      // (and unaccounted for in `stored`) once we return.
      await Promise.all(inFlight);
    }
    if (failure !== undefined) throw failure;

    const sha256 = fileHash.digest("hex");
    if (header.size !== undefined && header.size !== size) {
      throw invalidArgument(`declared size ${header.size} but received ${size} bytes`);
    }
    if (header.sha256 !== undefined && header.sha256 !== sha256) {
      throw invalidArgument(`declared sha256 ${header.sha256} but the content hashes to ${sha256}`);
    }
    // A client that cancels may half-close its stream first (Node's HTTP/2
    // client ends the stream before it resets it), so a complete-looking
    // stream is committed only if the call is still wanted.
    if (as.signal?.aborted) throw cancelled("the upload was cancelled");
    return this.catalogue.commit({ name: header.name, contentType: header.contentType, size, sha256, chunks }, as);
  }

  private checkHeader(header: UploadHeader): void {
    // The catalogue owns the full naming rules; these cheap checks fail an
    // obviously bad upload before any byte is streamed.
    if (header.name.length === 0) throw invalidArgument("metadata.name is required");
    if (Buffer.byteLength(header.name) > MAX_NAME_BYTES) throw invalidArgument(`metadata.name is longer than ${MAX_NAME_BYTES} bytes`);
    if (header.contentType.length > MAX_CONTENT_TYPE_LENGTH) {
      throw invalidArgument(`metadata.content_type is longer than ${MAX_CONTENT_TYPE_LENGTH} characters`);
    }
    if (header.size !== undefined) {
      if (!Number.isSafeInteger(header.size) || header.size < 0) throw invalidArgument("metadata.size must be a non-negative integer");
      if (header.size > this.limits.maxFileBytes) {
        throw invalidArgument(`metadata.size ${header.size} exceeds the limit of ${this.limits.maxFileBytes} bytes`);
      }
    }
    if (header.sha256 !== undefined && !SHA256_HEX.test(header.sha256)) {
      throw invalidArgument("metadata.sha256 must be 64 lowercase hex characters");
    }
  }

  /** Passes the data through, failing as soon as it exceeds what is allowed. */
  private async *limitedStream(data: AsyncIterable<Uint8Array>, header: UploadHeader): AsyncGenerator<Uint8Array> {
    const limit = header.size ?? this.limits.maxFileBytes;
    let received = 0;
    for await (const frame of data) {
      received += frame.length;
      if (received > limit) {
        throw header.size !== undefined
          ? invalidArgument(`declared size ${header.size} but more bytes were sent`)
          : invalidArgument(`file exceeds the limit of ${this.limits.maxFileBytes} bytes`);
      }
      yield frame;
    }
  }

  /** Stores the chunk unless block storage has it; true when this upload wrote it. */
  private async storeChunk(sha256: string, chunk: Buffer, as: CallIdentity): Promise<boolean> {
    const missing = await this.blocks.missing([sha256], as);
    if (!missing.has(sha256)) return false;
    await this.blocks.put(sha256, chunk, as);
    return true;
  }
}
